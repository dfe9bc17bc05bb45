#!/usr/bin/env bash
# Checks the deployment files with the tools that read them, and fails
# loudly on the first problem:
#   - systemd-analyze verify on deploy/systemd's units;
#   - kubectl kustomize on the Kubernetes base and the example overlay;
#   - docker compose config on deploy/compose (skipped, with a note, where
#     Docker Compose is not installed; it needs no Docker daemon).
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
note "all packaging checks passed"
