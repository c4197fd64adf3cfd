#!/usr/bin/env bash
#! Builds the browser app into dist/ with Trunk (release, wasm-release profile) and prints the
#! gzipped size of its wasm + js + css against the 400 KB budget. Self-contained and idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target/web}"

need() { command -v "$1" >/dev/null || { echo "build-web: missing $1 (run scripts/setup.sh)" >&2; exit 1; }; }
need trunk
need wasm-bindgen
need cargo
need node

# wasm-opt must be binaryen 132 from npm: Debian's 108 produces a wasm that fails at load.
if [ ! -x tests/node_modules/.bin/wasm-opt ]; then
  (cd tests && npm ci --no-audit --no-fund)
fi

# Trunk has no option to pick a package, and the workspace's default member is the server, so a
# thin cargo shim adds `-p quorum-web` to Trunk's wasm builds (and only to those).
REAL_CARGO="$(command -v cargo)"
SHIM="$CARGO_TARGET_DIR/trunk-shim"
mkdir -p "$SHIM"
cat > "$SHIM/cargo" <<SH
#!/usr/bin/env bash
if [ "\${1:-}" = build ] && [[ " \$* " == *" --target=wasm32-unknown-unknown "* ]]; then
  shift; exec "$REAL_CARGO" build -p quorum-web "\$@"
fi
exec "$REAL_CARGO" "\$@"
SH
chmod +x "$SHIM/cargo"
export PATH="$SHIM:$ROOT/tests/node_modules/.bin:$PATH"

trunk build --release

total=0
for f in dist/*.wasm dist/*.js dist/*.css; do
  [ -e "$f" ] || continue
  n=$(gzip -9 -c "$f" | wc -c)
  printf 'build-web: %-50s %7d bytes gzipped\n' "$f" "$n"
  total=$((total + n))
done
kb=$(( (total + 1023) / 1024 ))
echo "build-web: wasm+js+css gzipped = ${kb} KB (budget 400 KB)"
if [ "$kb" -gt 400 ]; then
  echo "build-web: over the size budget" >&2
  exit 1
fi
