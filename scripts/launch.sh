#!/usr/bin/env bash
# Sets up a fresh machine, builds Cairn and opens the desktop app.
# With no graphical display (DISPLAY / WAYLAND_DISPLAY unset, e.g. over SSH), it
# runs the same engine end to end through the `cairn` command-line tool instead:
# index the samples in assets/samples, search them and answer a question.
# Extra arguments are used as that question.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}"
export PATH="$HOME/.cache/cairn/tools/bin:$HOME/.cargo/bin:$PATH"

echo "==> building the UI" >&2
bash scripts/build-ui.sh
# The same build as the test command (dependencies optimised, see Cargo.toml), so a
# machine that ran the tests rebuilds nothing.
echo "==> building cairn" >&2
cargo build --workspace --all-targets --locked

if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
  echo "==> starting Cairn (index: ${CAIRN_DATA_DIR:-~/.local/share/cairn})" >&2
  exec "$CARGO_TARGET_DIR/debug/cairn-desktop"
fi

echo "==> no graphical display: running the command-line demo instead" >&2
CAIRN="$CARGO_TARGET_DIR/debug/cairn"
DATA="${CAIRN_DATA_DIR:-$HOME/.cache/cairn/demo-data}"
"$CAIRN" --data-dir "$DATA" ingest assets/samples
"$CAIRN" --data-dir "$DATA" docs
QUERY="${*:-How do I tell the shared MIME database about a new file type?}"
echo "==> cairn search \"$QUERY\"" >&2
"$CAIRN" --data-dir "$DATA" search "$QUERY" -k 3
echo "==> cairn ask \"$QUERY\" (local model, streamed)" >&2
"$CAIRN" --data-dir "$DATA" ask "$QUERY"
echo
echo "Index: $DATA    Try: $CAIRN --data-dir $DATA search \"your question\"" >&2
echo "The desktop window needs a display: run this script from a desktop session." >&2
