#!/usr/bin/env bash
# Builds the desktop UI (ui/, Leptos compiled to WebAssembly) into ui/dist with
# trunk, offline, using the tools scripts/setup.sh installed. The app binary
# embeds ui/dist, so this runs before `cargo build` of src-tauri.
set -euo pipefail
cd "$(dirname "$0")/../ui"
export PATH="$HOME/.cache/cairn/tools/bin:$HOME/.cargo/bin:$PATH"
# Its own target dir: the UI is a separate wasm32 workspace and must not wait on
# (or invalidate) the native build's lock and artifacts.
export CARGO_TARGET_DIR="${CAIRN_UI_TARGET_DIR:-$HOME/.cache/cairn/ui-target}"
for tool in trunk wasm-bindgen; do
  command -v "$tool" >/dev/null || { echo "error: $tool not found; run scripts/setup.sh" >&2; exit 1; }
done
# --locked: the UI's Cargo.lock is committed like the workspace's.
trunk build --release --offline --locked "$@"
