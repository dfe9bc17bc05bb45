#!/usr/bin/env bash
# Checks the deployment files with the tools that read them, and fails
# loudly on the first problem:
#   - systemd-analyze verify on deploy/systemd's units;
#   - kubectl kustomize on the Kubernetes base and the example overlay;
#   - docker compose config on deploy/compose (skipped, with a note, where
#     Docker Compose is not installed; it needs no Docker daemon);
#   - the container image: deploy/docker/Dockerfile's runtime stage built
#     with podman (no daemon) on a Debian base made here by debootstrap and
#     the release binary, which it runs (`herald --version`, `herald
#     healthcheck --help`) as RUN steps of its `check` stage. Skipped, with a
#     note, where podman or debootstrap is missing (deploy/services.sh
#     installs both). No registry is reachable where CI runs, hence the
#     offline base and the binary built outside the image.
# The Rust test `cargo test -p herald-tests --test packaging` checks what the
# files say against Herald's settings. deploy/test.sh runs both;
# deploy/services.sh installs kubectl when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

note() { printf 'check-packaging: %s\n' "$*" >&2; }
fail() { printf 'check-packaging: FAILED: %s\n' "$*" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- systemd ---------------------------------------------------------------
command -v systemd-analyze >/dev/null 2>&1 \
  || fail "systemd-analyze is missing (Debian package systemd)"
# `systemd-analyze verify` refuses a unit whose ExecStart= program does not
# exist, and /usr/local/bin/herald is not installed where CI runs. So it
# verifies copies in which ExecStart= names a stand-in executable (verify
# only checks that the path is an executable file; it runs nothing, so no
# build of herald is needed). Everything else in the copies is as committed.
# The copies keep their names, side by side, so that the units' references
# to each other (Wants=herald-migrate.service) resolve among them; the
# template is verified as an instance (herald-send@9466.service), which is
# what gets started. verify prints unknown keys and bad values as warnings
# and still exits 0, so any output at all is a failure.
mkdir -p "$work/units" "$work/bin"
printf '#!/bin/sh\nexit 0\n' > "$work/bin/herald"
chmod +x "$work/bin/herald"
units=()
for unit in deploy/systemd/*.service deploy/systemd/*.target; do
  name=$(basename "$unit")
  name=${name/@.service/@9466.service}
  sed "s|/usr/local/bin/herald|$work/bin/herald|g" "$unit" > "$work/units/$name"
  units+=("$work/units/$name")
done
if ! output=$(systemd-analyze verify --man=no "${units[@]}" 2>&1) || [ -n "$output" ]; then
  printf '%s\n' "$output" >&2
  fail "systemd-analyze verify deploy/systemd"
fi
note "systemd units verified: ${units[*]##*/}"

# --- Kubernetes ------------------------------------------------------------
command -v kubectl >/dev/null 2>&1 \
  || fail "kubectl is missing: run bash deploy/services.sh (as root), which installs it"
for dir in deploy/kubernetes/base deploy/kubernetes/overlays/example; do
  kubectl kustomize "$dir" > "$work/rendered.yaml" || fail "kubectl kustomize $dir"
  note "$dir renders: $(grep -c '^kind:' "$work/rendered.yaml") objects"
done

# --- Docker Compose --------------------------------------------------------
# The secrets compose asks for at run time, and the example in place of the
# env file the person makes from it.
# Compose v2 only: v1 (Debian's docker-compose 1.29) refuses the top-level
# `name`.
compose=()
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif [[ $(docker-compose version --short 2>/dev/null) == [2-9]* ]]; then
  compose=(docker-compose)
fi
if ((${#compose[@]})); then
  ENV_FILE=herald.env.example POSTGRES_PASSWORD=check RABBITMQ_PASSWORD=check \
    MICROSOFT_APP_SECRET=check "${compose[@]}" -f deploy/compose/compose.yaml config --quiet \
    || fail "${compose[*]} config deploy/compose/compose.yaml"
  note "deploy/compose/compose.yaml is valid for ${compose[*]}"
else
  note "NOTE: skipped docker compose config: Docker Compose v2 is not installed here (the packaging test still reads compose.yaml)"
fi
# --- container image -------------------------------------------------------
# podman builds without a daemon; `--isolation chroot` and the vfs storage
# driver are what work inside CI's own container (running a container does
# not: crun cannot set up cgroups there, so the checks are RUN steps). The
# runtime base is Debian bookworm's minbase from deb.debian.org, tarred once
# into ~/.cache/herald and imported into a podman store kept there too, so a
# rerun only builds herald and the image's last layers.
if ! command -v podman >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
  note "NOTE: skipped the container image build: podman and debootstrap are needed (bash deploy/services.sh, as root, installs them)"
else
  cache=${XDG_CACHE_HOME:-$HOME/.cache}/herald
  base_tar="$cache/debian-bookworm-minbase.tar"
  base_image=localhost/herald-check-base:bookworm
  # The same runroot every time: podman records it in the store.
  podman=(podman --storage-driver vfs --root "$cache/containers" --runroot "$cache/containers-run")
  mkdir -p "$cache"
  started=$SECONDS
  if [ ! -s "$base_tar" ]; then
    [ "$(id -u)" = 0 ] || fail "debootstrap needs root to assemble the base image (once; it is cached in $base_tar)"
    note "assembling a Debian bookworm minbase with debootstrap (cached in $base_tar)"
    debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
      || { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap bookworm"; }
    tar -C "$work/rootfs" --numeric-owner -cf "$base_tar.part" . && mv "$base_tar.part" "$base_tar"
    rm -rf "$work/rootfs"
  fi
  if ! "${podman[@]}" image exists "$base_image"; then
    "${podman[@]}" import --quiet "$base_tar" "$base_image" >/dev/null || fail "podman import $base_tar"
  fi
  note "base image ready in $((SECONDS - started))s"
  started=$SECONDS
  cargo build --release --locked -p herald || fail "cargo build --release -p herald"
  target_dir=$(cargo metadata --format-version 1 --no-deps --locked | sed -E 's/.*"target_directory":"([^"]+)".*/\1/')
  note "release build ready in $((SECONDS - started))s"
  # The build context is the binary alone: the Dockerfile's `prebuilt`
  # stage copies it, where the `build` stage (whose Rust base cannot be
  # pulled here) would compile it.
  mkdir -p "$work/context"
  cp "$target_dir/release/herald" "$work/context/herald"
  started=$SECONDS
  # Docker's image format keeps HEALTHCHECK (OCI's has no place for it).
  # Intermediate images are pruned afterwards: vfs stores every layer as a
  # full copy of the base.
  "${podman[@]}" build --isolation chroot --pull=never --format docker \
    --build-arg RUNTIME_BASE="$base_image" --build-arg BINARY_FROM=prebuilt \
    --target check -f deploy/docker/Dockerfile -t localhost/herald-check:latest "$work/context" >"$work/build.log" 2>&1 \
    || { cat "$work/build.log" >&2; fail "podman build deploy/docker/Dockerfile (target check)"; }
  "${podman[@]}" rmi --force localhost/herald-check:latest >/dev/null 2>&1 || true
  "${podman[@]}" image prune --force >/dev/null 2>&1 || true
  note "inside the image: $(grep -m1 '^herald ' "$work/build.log" || echo '(no version printed)')"
  note "deploy/docker/Dockerfile's runtime stage builds and runs herald --version and herald healthcheck --help (podman build in $((SECONDS - started))s)"
fi
note "all packaging checks passed"
