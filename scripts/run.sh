#!/usr/bin/env bash
# One command from a fresh clone to a running Quorum: installs what is missing, builds the web
# app and the server, and serves both with demo data on SQLite at http://127.0.0.1:8080.
# Extra arguments go to `quorum serve` (e.g. --addr 0.0.0.0:8080 or --database-url postgres://…).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build-web.sh
cargo build --release -p quorum-server
exec "${CARGO_TARGET_DIR:-target}/release/quorum" serve --demo --addr 127.0.0.1:8080 \
  --database-url "${QUORUM_DATABASE_URL:-sqlite://quorum.db?mode=rwc}" --web-dir dist "$@"
