#!/usr/bin/env bash
# Installs what Quorum needs to build and test, skipping whatever is already there.
#   scripts/setup.sh            toolchain for building and running (wasm target, Trunk,
#                               wasm-bindgen CLI, wasm-opt from npm)
#   scripts/setup.sh --browser  also Chromium + ChromeDriver and playwright-core for browser tests
# The recipe (versions, why not Debian's wasm-opt) is in docs/toolchain.md.
set -euo pipefail
cd "$(dirname "$0")/.."

TRUNK_VERSION=0.21.14
want_browser=0
[[ "${1:-}" == "--browser" ]] && want_browser=1

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

if ! command -v cargo >/dev/null; then
  echo "Rust is not installed: install it from https://rustup.rs first" >&2
  exit 1
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [[ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ]]; then
  say "installing trunk $TRUNK_VERSION (takes ~12 minutes once)"
  cargo install trunk --version "$TRUNK_VERSION" --locked
fi

# The CLI must match the wasm-bindgen crate in Cargo.lock exactly.
bindgen_version=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $bindgen_version" ]]; then
  say "installing wasm-bindgen-cli $bindgen_version"
  # Without --locked: its own lockfile names a crate version the registry no longer has.
  cargo install wasm-bindgen-cli --version "$bindgen_version"
fi

if [[ $want_browser == 1 ]] && ! { command -v chromium && command -v chromedriver; } >/dev/null; then
  say "installing Chromium and ChromeDriver from Debian"
  sudo_cmd=""
  [[ $(id -u) != 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq chromium chromium-driver
fi

# wasm-opt (binaryen 132) and playwright-core come from npm, pinned by tests/package-lock.json.
if [[ -f tests/package.json ]]; then
  if [[ ! -x tests/node_modules/.bin/wasm-opt ]] || [[ tests/package-lock.json -nt tests/node_modules/.package-lock.json ]]; then
    say "installing npm packages in tests/ (wasm-opt, playwright-core)"
    (cd tests && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
say "toolchain ready"
