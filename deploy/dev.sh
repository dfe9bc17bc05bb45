#!/usr/bin/env bash
# Sets everything up and runs Herald with its Teams emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null 2>&1 || { echo "Herald needs a Rust toolchain (cargo): see https://rustup.rs" >&2; exit 1; }
bash deploy/services.sh
exec cargo run --release --locked -p herald -- emulator "$@"
