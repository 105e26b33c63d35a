#!/usr/bin/env bash
# The web page.
#   scripts/web.sh build         static files in web/dist/ (wasm, page, bundled tokenizer), with sizes
#   scripts/web.sh serve [PORT]  serves web/dist/ on http://127.0.0.1:PORT (8080)
#   scripts/web.sh test [OUT]    builds, then drives the page in headless Chromium (tests/web)
#   scripts/web.sh bench [OUT] [ROUNDS]  the same, ROUNDS (3) times: median training speeds
#   scripts/web.sh venv          makes the test's Python venv (Playwright, Pillow) if missing
# Needs the wasm32-unknown-unknown target and wasm-bindgen-cli of the version in Cargo.lock
# (`cargo install wasm-bindgen-cli --version X`; the build says which X when it is missing).
# The test needs Chromium (Debian's `chromium`) and makes a Python venv with Playwright and
# Pillow in ~/.cache/beyond-web-venv (or $BEYOND_WEB_VENV) when it has none.
# The wasm build goes to $BEYOND_WEB_TARGET_DIR when set (else $CARGO_TARGET_DIR, else target),
# so it can run beside a native build without waiting for its lock.
set -euo pipefail
cd "$(dirname "$0")/.."
dist=web/dist

wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

build() {
  local want target
  want="$(wasm_bindgen_version)"
  if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $want"; then
    echo "wasm-bindgen $want is needed: cargo install wasm-bindgen-cli --version $want" >&2
    exit 1
  fi
  target="${BEYOND_WEB_TARGET_DIR:-${CARGO_TARGET_DIR:-target}}"
  cargo build --release --target wasm32-unknown-unknown --no-default-features --features web \
    --bin beyond-web --target-dir "$target"
  rm -rf "$dist"
  mkdir -p "$dist/assets/tokenizers/llama2"
  wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section \
    --out-dir "$dist" \
    "$target/wasm32-unknown-unknown/release/beyond-web.wasm"
  cp web/index.html "$dist/"
  cp assets/tokenizers/llama2/tokenizer.json "$dist/assets/tokenizers/llama2/"
  sizes | tee "$dist/sizes.txt"
}

# Bytes of each file as served, and gzip-compressed (what a server with compression sends).
sizes() {
  local total=0 total_gz=0 bytes gz
  printf '%-45s %12s %12s\n' file bytes gzipped
  while IFS= read -r f; do
    bytes=$(stat -c %s "$f")
    gz=$(gzip -9 -c "$f" | wc -c)
    total=$((total + bytes))
    total_gz=$((total_gz + gz))
    printf '%-45s %12d %12d\n' "${f#"$dist"/}" "$bytes" "$gz"
  done < <(find "$dist" -type f ! -name sizes.txt | sort)
  printf '%-45s %12d %12d\n' total "$total" "$total_gz"
}

# The Python venv of the browser test (Playwright, Pillow), made when missing; prints its path.
make_venv() {
  local venv="${BEYOND_WEB_VENV:-$HOME/.cache/beyond-web-venv}"
  if ! "$venv/bin/python" -c "import playwright, PIL" 2>/dev/null; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q playwright pillow >&2
  fi
  echo "$venv"
}

# The lesson in the browser (WebGPU and the CPU fallback) against the desktop's CPU run; with
# ROUNDS > 1 (`scripts/web.sh bench`), the training speeds' medians over that many rounds.
web_test() {
  local out="${1:-${CARGO_TARGET_DIR:-target}/web-test}" rounds="${2:-1}" steps=20
  local venv
  venv="$(make_venv)"
  # A caller that has just built the page (the CI) skips the second build.
  [ -n "${BEYOND_WEB_BUILT:-}" ] || build
  cargo build --quiet --bin beyond
  "$venv/bin/python" tests/web/browser_test.py --dist "$dist" --steps "$steps" \
    --beyond "${CARGO_TARGET_DIR:-target}/debug/beyond" --out "$out" --rounds "$rounds" \
    --chromium "${BEYOND_CHROMIUM:-/usr/lib/chromium/chromium}"
}

case "${1:-}" in
  build) build ;;
  serve)
    [ -f "$dist/index.html" ] || { echo "no $dist/index.html: run scripts/web.sh build first" >&2; exit 1; }
    port="${2:-8080}"
    echo "serving $dist on http://127.0.0.1:$port/"
    exec python3 -m http.server --bind 127.0.0.1 --directory "$dist" "$port"
    ;;
  venv) make_venv >/dev/null ;;
  test) web_test "${2:-}" 1 ;;
  bench) web_test "${2:-}" "${3:-3}" ;;
  *) echo "usage: scripts/web.sh build | serve [PORT] | test [OUT] | bench [OUT] [ROUNDS] | venv" >&2; exit 2 ;;
esac
