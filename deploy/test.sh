#!/usr/bin/env bash
# Runs every test of the workspace against real PostgreSQL and RabbitMQ,
# starting (or installing) them first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/services.sh
exec cargo test --workspace --locked
