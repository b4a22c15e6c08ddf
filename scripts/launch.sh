#!/usr/bin/env bash
# Sets up a fresh machine, builds Cairn and runs it end to end on the bundled sample
# documents in assets/samples: index them, search them, and answer a question with
# the local model, citing its sources.
# Extra arguments are passed to `cairn search` as the query.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}"
export PATH="$HOME/.cargo/bin:$PATH"

# The same build as the test command (dependencies optimised, see Cargo.toml), so a
# machine that ran the tests rebuilds nothing.
echo "==> building cairn" >&2
cargo build --workspace --all-targets --locked
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
