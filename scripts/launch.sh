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
# The release build the package carries (the same one scripts/test.sh packages, so a
# machine that ran the tests rebuilds nothing).
echo "==> building cairn (release)" >&2
cargo build --release --workspace --bins --locked

# Install it as a package (scripts/package.sh) when it is missing or older than this build,
# then run the installed app, as a person who downloaded the .deb would. Installing needs
# root or password-less sudo; without either, the build is run in place.
DESKTOP="$CARGO_TARGET_DIR/release/cairn-desktop"
CAIRN="$CARGO_TARGET_DIR/release/cairn"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
if [ "${CAIRN_NO_INSTALL:-}" != 1 ] && command -v dpkg-deb >/dev/null && $SUDO true 2>/dev/null; then
  echo "==> packaging" >&2
  mapfile -t debs < <(bash scripts/package.sh)
  if ! cmp -s /usr/lib/cairn/build-id dist/build-id 2>/dev/null; then
    echo "==> installing ${debs[*]}" >&2
    $SUDO dpkg -i "${debs[@]}" >&2 || { $SUDO apt-get install -f -y -qq >&2 && $SUDO dpkg -i "${debs[@]}" >&2; }
  fi
  DESKTOP=/usr/bin/cairn-desktop
  CAIRN=/usr/bin/cairn
else
  echo "==> not installing the package (needs root or sudo); running the build in place" >&2
fi

if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
  echo "==> starting Cairn, $DESKTOP (index: ${CAIRN_DATA_DIR:-~/.local/share/cairn})" >&2
  exec "$DESKTOP"
fi

echo "==> no graphical display: running the command-line demo instead" >&2
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
