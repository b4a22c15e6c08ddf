#!/usr/bin/env bash
# Sets up a fresh machine and runs every check: formatting, lints and all tests,
# including the desktop app's end-to-end tests (real binary, WebDriver, Xvfb).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}"
export PATH="$HOME/.cache/cairn/tools/bin:$HOME/.cargo/bin:$PATH"
UI_TARGET="${CAIRN_UI_TARGET_DIR:-$HOME/.cache/cairn/ui-target}"

echo "==> cargo fmt --check" >&2
cargo fmt --all -- --check
cargo fmt --manifest-path ui/Cargo.toml -- --check
echo "==> build the UI (trunk, wasm32)" >&2
bash scripts/build-ui.sh
echo "==> cargo clippy" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings
CARGO_TARGET_DIR="$UI_TARGET" cargo clippy --manifest-path ui/Cargo.toml --target wasm32-unknown-unknown --locked -- -D warnings
echo "==> cargo test" >&2
cargo test --workspace --locked
echo "==> the Debian package, installed and used offline (scripts/test-package.sh)" >&2
bash scripts/test-package.sh
