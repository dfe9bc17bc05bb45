#!/usr/bin/env bash
# Sets everything up and runs Herald: PostgreSQL and RabbitMQ (installed or
# started when needed), then `herald up`, which runs the migrations, every
# role, and the Teams emulator when no Microsoft credentials are configured.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null 2>&1 || { echo "Herald needs a Rust toolchain (cargo): see https://rustup.rs" >&2; exit 1; }
bash deploy/services.sh
exec cargo run --release --locked -p herald -- up "$@"
