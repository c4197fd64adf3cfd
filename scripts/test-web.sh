#!/usr/bin/env bash
#! Browser tests: builds the app (scripts/build-web.sh) and the server, then runs tests/e2e with
#! node's test runner, driving Debian's Chromium through playwright-core. Screenshots land in
#! target/screenshots/. Fails on any failing test.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x /usr/bin/chromium ] || { echo "test-web: /usr/bin/chromium missing (run scripts/setup.sh --browser)" >&2; exit 1; }
(cd tests && { [ -d node_modules/playwright-core ] && [ -d node_modules/axe-core ] || npm ci --no-audit --no-fund; })

scripts/build-web.sh
cargo build -p quorum-server
mkdir -p target/screenshots

QUORUM_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/quorum" node --test --test-concurrency=1 tests/e2e/
