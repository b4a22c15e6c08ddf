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
# poppler-utils: tests generate and inspect PDFs.
APT_PACKAGES=(build-essential pkg-config protobuf-compiler curl ca-certificates python3 python3-venv qpdf poppler-utils)
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

log "installing model files"
bash models/fetch.sh
