#!/usr/bin/env bash
# Runs every check and test: formatting, lints, the wasm build of the core, unit, property and
# integration tests (SQLite always; PostgreSQL too when QUORUM_TEST_DATABASE_URL is set), and the
# browser tests in headless Chromium. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

scripts/setup.sh --browser

step "format"
cargo fmt --all --check

step "lint (native)"
cargo clippy --workspace --all-targets -- -D warnings

step "lint (web app, wasm32)"
cargo clippy -p quorum-web --target wasm32-unknown-unknown -- -D warnings

step "core builds for wasm32"
cargo check -p quorum-core --target wasm32-unknown-unknown

step "unit, property and integration tests"
if [[ -n "${QUORUM_TEST_DATABASE_URL:-}" ]]; then
  echo "PostgreSQL tests enabled: $QUORUM_TEST_DATABASE_URL"
else
  echo "PostgreSQL tests skipped: set QUORUM_TEST_DATABASE_URL=postgres://user@host:5432/db to run them"
fi
cargo test --workspace

if [[ -x scripts/test-web.sh ]]; then
  step "browser tests (headless Chromium)"
  scripts/test-web.sh
fi
step "all tests passed"
