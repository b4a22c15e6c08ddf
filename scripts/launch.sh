#!/usr/bin/env bash
# Sets up a fresh machine, builds Cairn and runs it end to end on the bundled sample
# documents in assets/samples: index them, then answer a search from the index.
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
echo
echo "Index: $DATA    Try: $CAIRN --data-dir $DATA search \"your question\"" >&2
