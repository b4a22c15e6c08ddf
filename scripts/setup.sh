#!/usr/bin/env bash
# Installs everything Cairn needs to build, test and run on Debian/Ubuntu, idempotently:
# system packages, the pinned Rust toolchain, and the model files (models/fetch.sh).
# Re-running it is cheap: each step checks before it acts. Caches live in ~/.cache/cairn.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "error: run as root or install sudo to install system packages" >&2; exit 1
  fi
fi

# Build and test dependencies. protobuf-compiler: LanceDB's build; qpdf and
# poppler-utils: tests generate and inspect PDFs. tesseract-ocr(-eng) reads scans
# and images at run time (poppler's pdftoppm renders PDF pages for it); img2pdf
# lets the tests build image-only PDFs. The desktop app (Tauri v2) needs
# WebKitGTK and friends; xvfb, webkit2gtk-driver, xdotool and python3-gi run its
# end-to-end tests (a headless display, WebDriver, and a real drag-and-drop source).
APT_PACKAGES=(build-essential pkg-config protobuf-compiler curl ca-certificates python3 python3-venv qpdf poppler-utils
  tesseract-ocr tesseract-ocr-eng img2pdf
  libwebkit2gtk-4.1-dev libgtk-3-dev librsvg2-dev libsoup-3.0-dev
  xvfb xauth webkit2gtk-driver xdotool python3-gi gir1.2-gtk-3.0 strace util-linux)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v rustup >/dev/null; then
  log "installing rustup"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain none
  export PATH="$HOME/.cargo/bin:$PATH"
fi
# rust-toolchain.toml pins the version and components; this installs them if needed.
rustup show active-toolchain >/dev/null 2>&1 || rustup toolchain install
rustup component add rustfmt clippy >/dev/null 2>&1 || true

rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown || {
  log "adding the wasm32-unknown-unknown target (the UI is compiled to WebAssembly)"
  rustup target add wasm32-unknown-unknown
}

# Build tools for the desktop app, at the versions the UI crate pins (trunk fetches
# a wasm-bindgen from the internet when the one on PATH does not match, which fails
# offline). Installed once into ~/.cache/cairn/tools with their own target dir.
TOOLS="$HOME/.cache/cairn/tools"
tool() { # tool BINARY CRATE VERSION [cargo install flags...]
  local bin=$1 crate=$2 version=$3; shift 3
  # cargo's own record of what it installed (tauri-driver has no --version).
  if [ -x "$TOOLS/bin/$bin" ] && grep -q "^\"$crate $version " "$TOOLS/.crates.toml" 2>/dev/null; then return; fi
  log "installing $crate $version (first time only)"
  CARGO_TARGET_DIR="$HOME/.cache/cairn/tools-target" \
    cargo install --quiet --root "$TOOLS" --version "=$version" "$@" "$crate"
}
tool trunk trunk 0.21.14 --locked
tool wasm-bindgen wasm-bindgen-cli 0.2.130
tool tauri-driver tauri-driver 2.1.0 --locked

log "installing model files"
bash models/fetch.sh

# numpy and gguf at pinned versions for the llama.cpp conformance test's model
# generator (crates/llm/tests/conformance), in the same venv as the export tools.
venv="$HOME/.cache/cairn/venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if ! cmp -s models/requirements-tests.txt "$venv/.cairn-test-requirements"; then
  log "installing the conformance test's tools (numpy, gguf) into $venv"
  "$venv/bin/python" -m pip install --disable-pip-version-check -q -r models/requirements-tests.txt
  cp models/requirements-tests.txt "$venv/.cairn-test-requirements"
fi
