#!/usr/bin/env bash
# Builds Cairn's Debian packages into dist/ (or $CAIRN_DIST):
#
#   cairn_<version>_<arch>.deb         the desktop app (/usr/bin/cairn-desktop), the `cairn`
#                                      command, the applications-menu entry and icons
#   cairn-models_<mversion>_<arch>.deb the embedder (all-MiniLM-L6-v2 + ONNX Runtime) and the
#                                      default answer models, read-only in /usr/lib/cairn/models
#
# Two packages, because the models (~600 MB, incompressible) change far less often than the
# app: an upgrade of the app does not carry them again, and `cairn` depends on `cairn-models`
# so `apt install ./cairn_*.deb ./cairn-models_*.deb` installs both. Nothing in either package
# is written to at run time: the index, settings and any model a person adds live in their
# own XDG folders (~/.local/share/cairn, ~/.cache/cairn/models).
#
# The binaries are a release build (Cargo.toml's [profile.release]: no LTO, stripped; no
# -C target-cpu=native: the kernels pick AVX2/AVX-512 at run time), kept in the shared
# target directory beside the dev build the tests use, so only a changed crate rebuilds.
# Prints the two package paths.
#
#   scripts/package.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}"
export PATH="$HOME/.cache/cairn/tools/bin:$HOME/.cargo/bin:$PATH"
models="${CAIRN_MODELS_DIR:-$HOME/.cache/cairn/models}"
dist="${CAIRN_DIST:-$PWD/dist}"
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)"
# The models package's version moves only when the set of packaged models changes.
models_version="2"
arch="$(dpkg --print-architecture)"

echo "==> building the release binaries" >&2
[ -f ui/dist/index.html ] || bash scripts/build-ui.sh >&2
cargo build --release --workspace --bins --locked >&2
bin="$CARGO_TARGET_DIR/release"

stage="$CARGO_TARGET_DIR/deb-stage"
rm -rf "$stage"
mkdir -p "$stage" "$dist"

# --- cairn: the app ---------------------------------------------------------------------
app="$stage/cairn"
install -d "$app/DEBIAN" "$app/usr/bin" "$app/usr/share/applications" \
  "$app/usr/share/doc/cairn" "$app/usr/lib/cairn"
for b in cairn cairn-desktop; do
  objcopy --strip-all "$bin/$b" "$app/usr/bin/$b"
  chmod 0755 "$app/usr/bin/$b"
done
# The parse worker (PDF and zip formats in a process with limits), found by
# both programs in ../lib/cairn.
objcopy --strip-all "$bin/cairn-load-worker" "$app/usr/lib/cairn/cairn-load-worker"
chmod 0755 "$app/usr/lib/cairn/cairn-load-worker"
for size in 32x32:32x32.png 128x128:128x128.png 256x256:128x128@2x.png 512x512:icon.png; do
  install -D -m 0644 "icons/${size#*:}" "$app/usr/share/icons/hicolor/${size%%:*}/apps/cairn.png"
done
cat >"$app/usr/share/applications/cairn.desktop" <<'EOF'
[Desktop Entry]
Type=Application
Name=Cairn
GenericName=Document question answering
Comment=Ask questions about your own files, answered on this computer with citations
Exec=cairn-desktop
TryExec=cairn-desktop
Icon=cairn
Terminal=false
Categories=Office;Utility;
Keywords=search;documents;pdf;questions;answers;
StartupNotify=true
StartupWMClass=cairn-desktop
EOF
cat >"$app/usr/share/doc/cairn/copyright" <<EOF
Cairn $version: private question answering over your own files.
License: MIT OR Apache-2.0 (see the source repository's LICENSE files).
The bundled models and ONNX Runtime come with the cairn-models package under their own licences.
EOF
# What launch.sh compares to decide whether the installed package is stale.
build_id="$(cat "$app/usr/bin/cairn" "$app/usr/bin/cairn-desktop" "$app/usr/lib/cairn/cairn-load-worker" scripts/package.sh | sha256sum | cut -c1-16)"
echo "$build_id" >"$app/usr/lib/cairn/build-id"
cat >"$app/DEBIAN/control" <<EOF
Package: cairn
Version: $version
Architecture: $arch
Maintainer: Cairn developers <cairn@localhost>
Installed-Size: $(du -sk --exclude=DEBIAN "$app" | cut -f1)
Depends: cairn-models (>= $models_version), libc6 (>= 2.35), libgcc-s1, libgtk-3-0, libwebkit2gtk-4.1-0, libjavascriptcoregtk-4.1-0, libsoup-3.0-0, libglib2.0-0, libcairo2, libgdk-pixbuf-2.0-0, libdbus-1-3, tesseract-ocr, tesseract-ocr-eng, poppler-utils
Section: utils
Priority: optional
Description: private question answering over your own files
 Cairn indexes documents on this computer (PDF, scans and images by OCR,
 Markdown, HTML, text, code, DOCX, PPTX, XLSX, ODS, CSV, EPUB) and answers
 questions about them with a local language model, citing
 the file and page of every claim. Nothing leaves the machine: no network
 access, no telemetry.
EOF

# --- cairn-models: the embedder, ONNX Runtime and the answer models -----------------------
mstage="$stage/cairn-models"
mroot="$mstage/usr/lib/cairn/models"
install -d "$mstage/DEBIAN" "$mroot" "$mstage/usr/share/doc/cairn-models"
# The embedder ships as its int8 graph only (what Cairn runs); the fp32 export it was derived
# from stays in the build machine's models folder.
shipped="all-minilm-l6-v2/model-int8.onnx all-minilm-l6-v2/tokenizer.json all-minilm-l6-v2/config.json
  all-minilm-l6-v2/special_tokens_map.json all-minilm-l6-v2/tokenizer_config.json
  onnxruntime/libonnxruntime.so qwen2.5-coder-0.5b-instruct-q4_k_m.gguf SmolLM2-135M-Instruct.Q4_1.gguf"
for need in $shipped; do
  [ -e "$models/$need" ] || { echo "missing $models/$need: run models/fetch.sh" >&2; exit 1; }
done
install -d "$mroot/onnxruntime" "$mroot/all-minilm-l6-v2"
# Hard links where the stage is on the models' file system (no 600 MB copy), else copies.
for f in $shipped; do
  ln "$models/$f" "$mroot/$f" 2>/dev/null || cp "$models/$f" "$mroot/$f"
done
cat >"$mstage/usr/share/doc/cairn-models/copyright" <<'EOF'
all-MiniLM-L6-v2: Apache-2.0 (sentence-transformers).
ONNX Runtime: MIT (Microsoft).
Qwen2.5-Coder-0.5B-Instruct: Apache-2.0 (Alibaba Cloud).
SmolLM2-135M-Instruct: Apache-2.0 (Hugging Face).
EOF
cat >"$mstage/DEBIAN/control" <<EOF
Package: cairn-models
Version: $models_version
Architecture: $arch
Maintainer: Cairn developers <cairn@localhost>
Installed-Size: $(du -sk --exclude=DEBIAN "$mstage" | cut -f1)
Depends: libc6 (>= 2.28), libstdc++6, libgcc-s1
Section: utils
Priority: optional
Description: models for Cairn, the private document question answering app
 The embedding model (all-MiniLM-L6-v2 with ONNX Runtime) and the default
 answer models (Qwen2.5-Coder-0.5B-Instruct, SmolLM2-135M-Instruct) that Cairn
 runs on this computer.
EOF

echo "==> writing packages" >&2
deb="$dist/cairn_${version}_${arch}.deb"
mdeb="$dist/cairn-models_${models_version}_${arch}.deb"
dpkg-deb --root-owner-group -Zzstd -z3 --build "$app" "$deb" >&2
# Rebuilt only when missing: the models do not change with the app.
if [ ! -f "$mdeb" ]; then
  dpkg-deb --root-owner-group -Zzstd -z3 --build "$mstage" "$mdeb" >&2
fi
echo "$build_id" >"$dist/build-id"
rm -rf "$stage"
echo "$deb"
echo "$mdeb"
