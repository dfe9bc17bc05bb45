#!/usr/bin/env bash
# Runs every test of the workspace against real PostgreSQL and RabbitMQ,
# starting (or installing) them first, after the deployment files' checks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/services.sh
bash deploy/check-packaging.sh
exec cargo test --workspace --locked
