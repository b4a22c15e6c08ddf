#!/bin/sh
# Rebuild tests/eval/corpus/ from the Debian 12 (bookworm) packages it was
# copied from, then check every file against the sha256 recorded below.
#
#   sudo sh tests/eval/fetch_corpus.sh            # install packages, copy, verify
#   sh tests/eval/fetch_corpus.sh --verify-only   # only compare checksums
#
# Other Debian releases ship other versions of these documents; the checksums
# (and so the page numbers in qrels.tsv) only hold for the versions listed in
# LICENSES.md.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
corpus="$here/corpus"

if [ "${1:-}" != "--verify-only" ]; then
    apt-get install -y --no-install-recommends \
        bzip2-doc libtasn1-doc camlidl-doc freefem-doc shared-mime-info \
        sqlite3-doc libjansson-doc
    mkdir -p "$corpus"
    zcat /usr/share/doc/bzip2/manual.pdf.gz >"$corpus/bzip2-manual.pdf"
    cp /usr/share/doc/libtasn1-doc/libtasn1.pdf "$corpus/libtasn1-manual.pdf"
    cp /usr/share/doc/camlidl/camlidl-1.04.doc.pdf "$corpus/camlidl-manual.pdf"
    cp /usr/share/doc/freefem-doc/freefem.pdf "$corpus/freefem-manual.pdf"
    cp /usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf "$corpus/shared-mime-info-spec.pdf"
    for page in autoinc gencol stricttables lang_vacuum wal; do
        cp "/usr/share/doc/sqlite3/$page.html" "$corpus/sqlite-$page.html"
    done
    for page in conformance threadsafety upgrading; do
        cp "/usr/share/doc/libjansson-dev/html/$page.html" "$corpus/jansson-$page.html"
    done
fi

cd "$corpus"
sha256sum -c <<'EOF'
1dd1f12b3dcb0894481708881ed8d052c769f3820c06839c702c8cfad973d7d3  bzip2-manual.pdf
29df28a0ebbf3677ccc1b20ff36cf66a0a2b32ca61525f48df6da7f31c600e6f  camlidl-manual.pdf
9ac5d2e38e36ea00b73d568242a7018f90e4d3e665fcd0fa3e459c2e829aa206  freefem-manual.pdf
b008daafa7d99edad0a4fb1aa08a7de2f3214dbe6cd8b8f2661916cfbee4e68a  jansson-conformance.html
47e80d3d1a1f3e0691fede33ea286044a266c130f486b55033fadac48e656af3  jansson-threadsafety.html
5287924e222a1636c4c5b074841f1e993f752afcdc3f6b39b7def0783c9c9f7b  jansson-upgrading.html
3917eb460d87e275f9792b3597029873fd77890ed3ccebe40bbc5a3a7ee516d3  libtasn1-manual.pdf
4d9666c46b4d367a12e2922f4f3b114396c377106c57bbc934d03320e6888002  shared-mime-info-spec.pdf
0d816b1766a77d048ac46814cfd573f602bc587399f67346815bfa02f21f1b2c  sqlite-autoinc.html
a3b1eb26d62e76920dcb8991c5845e2d8c36893c5c0c0ecb42fc97b3f97e2f9b  sqlite-gencol.html
a3538f97def4dcb979752ceaf60e3fc3fc7f2fd425ec02987fa76e9c5eba3e31  sqlite-lang_vacuum.html
3111b70e738cfcaaf570e8ccc9676a47b201485a43c1bf17852398913953632b  sqlite-stricttables.html
6de416a73b7754fd7a752ec04913eb6423d15b387fe6995f6a78bd148657f36f  sqlite-wal.html
EOF
