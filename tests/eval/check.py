#!/usr/bin/env python3
"""Verify the Cairn public evaluation set in this directory.

Checks, for every line of qrels.tsv, that the file exists inside corpus/,
that the PDF page exists, and that every `answer` string of the query occurs
(case- and whitespace-insensitively) in the text of at least one of the
query's score-2 units.  Also validates queries.jsonl / unanswerable.jsonl
(including the optional `near` units and `why` note of an unanswerable
question) and conversations.jsonl (multi-turn questions whose every fact must
occur in one of the turn's gold units), and prints statistics about the set.

Needs only python3 (stdlib) and the `pdftotext` CLI from poppler-utils.

Usage:
    python3 tests/eval/check.py            # verify and print stats
    python3 tests/eval/check.py --find "BZ_NO_STDIO"
                                           # list units whose text contains it
    python3 tests/eval/check.py --dump DIR # write each unit's text to DIR

Exit status: 0 when everything passes, 1 when any check fails.
"""

import argparse
import html.parser
import json
import os
import re
import subprocess
import sys
import unicodedata
from collections import Counter, defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
QUERIES = os.path.join(HERE, "queries.jsonl")
UNANSWERABLE = os.path.join(HERE, "unanswerable.jsonl")
CONVERSATIONS = os.path.join(HERE, "conversations.jsonl")
QRELS = os.path.join(HERE, "qrels.tsv")

KINDS = ("lexical", "paraphrase", "identifier")
HTML_EXT = (".html", ".htm")
TEXT_EXT = (".txt", ".md")
MAX_CORPUS_BYTES = 6 * 1024 * 1024

# Typographic characters that PDF fonts and HTML pages use in place of plain
# ASCII; folding them lets an answer typed with ASCII quotes match.
FOLD = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u00a0": " ",
        "\u00b6": " ",  # Sphinx heading permalink marker
    }
)


def normalise(text):
    """Case-fold, fold typography, collapse whitespace."""
    text = unicodedata.normalize("NFKC", text).translate(FOLD).lower()
    return re.sub(r"\s+", " ", text).strip()


def squash(text):
    """The normalised text with all whitespace removed (second chance match
    for answers like `solve(u,-1)` that PDF layout may space differently)."""
    return re.sub(r"\s+", "", text)


def _pattern(needle):
    """Regex for a normalised needle that must not start or end inside a
    word: `BER` must not match `number`, `31` must not match `2031`."""
    pat = re.escape(needle)
    if needle[:1].isalnum():
        pat = r"(?<![0-9a-z])" + pat
    if needle[-1:].isalnum():
        pat += r"(?![0-9a-z])"
    return re.compile(pat)


def contains(haystack_norm, needle):
    """True when `needle` occurs in the normalised text, compared case- and
    whitespace-insensitively and on word boundaries at its two ends."""
    n = normalise(needle)
    if not n:
        return False
    return bool(_pattern(n).search(haystack_norm) or _pattern(squash(n)).search(squash(haystack_norm)))


class _HtmlText(html.parser.HTMLParser):
    """Visible text of an HTML page: drop <script>/<style>, keep the rest,
    with block-level tags turned into line breaks."""

    BLOCK = {"p", "div", "br", "li", "tr", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "dt", "dd", "table"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def html_text(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        parser = _HtmlText()
        parser.feed(f.read())
        parser.close()
    return "".join(parser.parts)


def pdf_pages(path):
    """Text of each page, index 0 = page 1.  pdftotext ends every page with a
    form feed, so splitting on it gives exactly one element per page."""
    try:
        out = subprocess.run(
            ["pdftotext", "-enc", "UTF-8", path, "-"],
            check=True,
            capture_output=True,
        ).stdout.decode("utf-8", errors="replace")
    except FileNotFoundError:
        sys.exit("pdftotext not found: install poppler-utils")
    pages = out.split("\f")
    if pages and pages[-1].strip() == "":
        pages.pop()
    return pages


class Corpus:
    """Lazily extracted, cached text of corpus units."""

    def __init__(self, root):
        self.root = root
        self._pdf = {}
        self._file = {}

    def files(self):
        out = []
        for dirpath, _, names in os.walk(self.root):
            for n in names:
                out.append(os.path.relpath(os.path.join(dirpath, n), self.root))
        return sorted(out)

    def path(self, rel):
        full = os.path.normpath(os.path.join(self.root, rel))
        if not full.startswith(self.root + os.sep):
            return None
        return full

    def pages(self, rel):
        if rel not in self._pdf:
            self._pdf[rel] = [normalise(p) for p in pdf_pages(self.path(rel))]
        return self._pdf[rel]

    def file_text(self, rel):
        if rel not in self._file:
            full = self.path(rel)
            if rel.lower().endswith(HTML_EXT):
                raw = html_text(full)
            else:
                with open(full, encoding="utf-8", errors="replace") as f:
                    raw = f.read()
            self._file[rel] = normalise(raw)
        return self._file[rel]

    def units(self):
        """Every retrievable unit as (corpus-id, normalised text)."""
        for rel in self.files():
            low = rel.lower()
            if low.endswith(".pdf"):
                for i, text in enumerate(self.pages(rel), start=1):
                    yield f"{rel}#p{i}", text
            elif low.endswith(HTML_EXT + TEXT_EXT):
                yield rel, self.file_text(rel)


def load_jsonl(path, errors, with_answer):
    rows = []
    if not os.path.exists(path):
        errors.append(f"{os.path.basename(path)}: missing")
        return rows
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            where = f"{os.path.basename(path)}:{lineno}"
            if not line.strip():
                errors.append(f"{where}: blank line")
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                errors.append(f"{where}: bad JSON: {e}")
                continue
            qid, text, kind = row.get("_id"), row.get("text"), row.get("kind")
            if not isinstance(qid, str) or not qid:
                errors.append(f"{where}: missing _id")
                continue
            if not isinstance(text, str) or len(text.strip()) < 8:
                errors.append(f"{where} {qid}: missing or too short text")
            if kind not in KINDS:
                errors.append(f"{where} {qid}: kind must be one of {KINDS}, got {kind!r}")
            answer = row.get("answer")
            if with_answer:
                if (
                    not isinstance(answer, list)
                    or not 1 <= len(answer) <= 3
                    or not all(isinstance(a, str) and a.strip() for a in answer)
                ):
                    errors.append(f"{where} {qid}: answer must be a list of 1-3 non-empty strings")
                    row["answer"] = []
            elif answer is not None:
                errors.append(f"{where} {qid}: unanswerable questions must not carry an answer")
            allowed = {"_id", "text", "kind", "answer"}
            if not with_answer:
                # Unanswerable questions may say which units come closest
                # (`near`, corpus-ids checked in main) and why they do not
                # answer (`why`).
                allowed |= {"near", "why"}
                near, why = row.get("near"), row.get("why")
                if near is not None and (
                    not isinstance(near, list)
                    or not near
                    or not all(isinstance(n, str) and n.strip() for n in near)
                ):
                    errors.append(f"{where} {qid}: near must be a non-empty list of corpus-ids")
                    row["near"] = None
                if why is not None and (not isinstance(why, str) or len(why.strip()) < 8):
                    errors.append(f"{where} {qid}: why must be a non-empty sentence")
            extra = set(row) - allowed
            if extra:
                errors.append(f"{where} {qid}: unknown fields {sorted(extra)}")
            row["_line"] = where
            rows.append(row)
    return rows


def load_qrels(path, errors):
    rows = []
    if not os.path.exists(path):
        errors.append("qrels.tsv: missing")
        return rows
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or lines[0] != "query-id\tcorpus-id\tscore":
        errors.append("qrels.tsv: first line must be 'query-id\\tcorpus-id\\tscore'")
        return rows
    seen = set()
    for lineno, line in enumerate(lines[1:], start=2):
        where = f"qrels.tsv:{lineno}"
        cols = line.split("\t")
        if len(cols) != 3:
            errors.append(f"{where}: expected 3 tab-separated columns, got {len(cols)}")
            continue
        qid, cid, score = cols
        if score not in ("1", "2"):
            errors.append(f"{where}: score must be 1 or 2, got {score!r}")
            continue
        if (qid, cid) in seen:
            errors.append(f"{where}: duplicate pair {qid} {cid}")
        seen.add((qid, cid))
        rows.append((where, qid, cid, int(score)))
    return rows


def _fact_list(facts):
    """True for 1-3 facts, each a non-empty list of non-empty strings."""
    return (
        isinstance(facts, list)
        and 1 <= len(facts) <= 3
        and all(
            isinstance(f, list) and f and all(isinstance(a, str) and a.strip() for a in f)
            for f in facts
        )
    )


def load_conversations(path, errors):
    """conversations.jsonl: {"_id", "turns": [{"text", "standalone", "facts",
    "gold"}, ...]} with 2-3 turns.  Schema only; gold units and facts are
    checked against the corpus in main()."""
    rows = []
    if not os.path.exists(path):
        errors.append(f"{os.path.basename(path)}: missing")
        return rows
    seen = set()
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            where = f"{os.path.basename(path)}:{lineno}"
            if not line.strip():
                errors.append(f"{where}: blank line")
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                errors.append(f"{where}: bad JSON: {e}")
                continue
            if not isinstance(row, dict):
                errors.append(f"{where}: not a JSON object")
                continue
            cid = row.get("_id")
            if not isinstance(cid, str) or not cid:
                errors.append(f"{where}: missing _id")
                continue
            if cid in seen:
                errors.append(f"{where}: duplicate _id {cid}")
            seen.add(cid)
            extra = set(row) - {"_id", "turns"}
            if extra:
                errors.append(f"{where} {cid}: unknown fields {sorted(extra)}")
            turns = row.get("turns")
            if not isinstance(turns, list) or not 2 <= len(turns) <= 3:
                errors.append(f"{where} {cid}: turns must be a list of 2-3 turns")
                continue
            good = []
            for n, turn in enumerate(turns, start=1):
                tw = f"{where} {cid} turn {n}"
                if not isinstance(turn, dict):
                    errors.append(f"{tw}: not a JSON object")
                    continue
                extra = set(turn) - {"text", "standalone", "facts", "gold"}
                if extra:
                    errors.append(f"{tw}: unknown fields {sorted(extra)}")
                text, standalone = turn.get("text"), turn.get("standalone")
                if not isinstance(text, str) or not text.strip():
                    errors.append(f"{tw}: missing or empty text")
                if not isinstance(standalone, str) or len(standalone.strip()) < 8:
                    errors.append(f"{tw}: missing or too short standalone")
                elif n == 1 and isinstance(text, str) and standalone != text:
                    errors.append(f"{tw}: the first turn's standalone must equal its text")
                if not _fact_list(turn.get("facts")):
                    errors.append(
                        f"{tw}: facts must be 1-3 facts, each a non-empty list of non-empty strings"
                    )
                    turn["facts"] = []
                gold = turn.get("gold")
                if not isinstance(gold, list) or not gold or not all(
                    isinstance(g, str) and g.strip() for g in gold
                ):
                    errors.append(f"{tw}: gold must be a non-empty list of corpus-ids")
                    turn["gold"] = []
                elif len(set(gold)) != len(gold):
                    errors.append(f"{tw}: duplicate gold unit")
                good.append(turn)
            row["turns"] = good
            row["_line"] = where
            rows.append(row)
    return rows


def resolve(corpus, cid, where, errors):
    """Normalised text of one corpus-id, or None (with an error recorded)."""
    m = re.fullmatch(r"(.+)#p([1-9][0-9]*)", cid)
    rel, page = (m.group(1), int(m.group(2))) if m else (cid, None)
    full = corpus.path(rel)
    if full is None:
        errors.append(f"{where}: {cid}: path escapes corpus/")
        return None
    if not os.path.isfile(full):
        errors.append(f"{where}: {cid}: no such file in corpus/")
        return None
    if rel.lower().endswith(".pdf"):
        if page is None:
            errors.append(f"{where}: {cid}: a PDF needs a #pN page suffix")
            return None
        pages = corpus.pages(rel)
        if page > len(pages):
            errors.append(f"{where}: {cid}: page {page} > {len(pages)} pages")
            return None
        return pages[page - 1]
    if page is not None:
        errors.append(f"{where}: {cid}: only PDFs take a #pN suffix")
        return None
    return corpus.file_text(rel)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--find", metavar="TEXT", help="list corpus units containing TEXT and exit")
    ap.add_argument("--dump", metavar="DIR", help="write the text of every unit to DIR and exit")
    ap.add_argument("-v", "--verbose", action="store_true", help="per-query detail")
    args = ap.parse_args()

    corpus = Corpus(CORPUS)

    if args.find:
        hits = [cid for cid, text in corpus.units() if contains(text, args.find)]
        print("\n".join(hits) if hits else "(no unit contains it)")
        return 0
    if args.dump:
        os.makedirs(args.dump, exist_ok=True)
        for cid, text in corpus.units():
            name = cid.replace("/", "__").replace("#", "__")
            with open(os.path.join(args.dump, name + ".txt"), "w", encoding="utf-8") as f:
                f.write(text + "\n")
        return 0

    errors = []
    queries = load_jsonl(QUERIES, errors, with_answer=True)
    unanswerable = load_jsonl(UNANSWERABLE, errors, with_answer=False)
    qrels = load_qrels(QRELS, errors)
    conversations = load_conversations(CONVERSATIONS, errors)

    by_id = {}
    for row in queries + unanswerable:
        if row["_id"] in by_id:
            errors.append(f"{row['_line']}: duplicate _id {row['_id']}")
        by_id[row["_id"]] = row
    texts = Counter(normalise(r.get("text", "")) for r in queries + unanswerable)
    for t, n in texts.items():
        if n > 1:
            errors.append(f"question text used {n} times: {t!r}")
    answerable = {r["_id"] for r in queries}
    unans_ids = {r["_id"] for r in unanswerable}

    judged = defaultdict(list)  # qid -> [(cid, score, text)]
    for where, qid, cid, score in qrels:
        if qid in unans_ids:
            errors.append(f"{where}: {qid} is in unanswerable.jsonl and must have no qrels")
            continue
        if qid not in answerable:
            errors.append(f"{where}: unknown query-id {qid}")
            continue
        text = resolve(corpus, cid, where, errors)
        if text is not None:
            judged[qid].append((cid, score, text))

    for q in queries:
        qid = q["_id"]
        units = judged.get(qid, [])
        best = [(cid, text) for cid, score, text in units if score == 2]
        if not best:
            errors.append(f"{q['_line']} {qid}: no qrels line with score 2")
            continue
        for ans in q["answer"]:
            found = [cid for cid, text in best if contains(text, ans)]
            if not found:
                errors.append(
                    f"{q['_line']} {qid}: answer {ans!r} not found in its score-2 units "
                    f"{[cid for cid, _ in best]}"
                )
            elif args.verbose:
                print(f"{qid}: {ans!r} found in {found}")

    # Unanswerable questions: every `near` unit must exist.
    near_files = Counter()
    for q in unanswerable:
        near = q.get("near") or []
        for cid in near:
            resolve(corpus, cid, f"{q['_line']} {q['_id']} near", errors)
        for f in {cid.split("#p")[0] for cid in near}:
            near_files[f] += 1

    # Conversations: every gold unit exists and every fact (one of its
    # spellings) occurs in at least one of the turn's gold units.
    conv_files = Counter()  # file -> turns with a gold unit in it
    for c in conversations:
        if c["_id"] in by_id:
            errors.append(f"{c['_line']}: _id {c['_id']} is also a query id")
        for n, turn in enumerate(c["turns"], start=1):
            tw = f"{c['_line']} {c['_id']} turn {n}"
            gold = [(cid, resolve(corpus, cid, tw, errors)) for cid in turn["gold"]]
            gold = [(cid, text) for cid, text in gold if text is not None]
            for f in {cid.split("#p")[0] for cid, _ in gold}:
                conv_files[f] += 1
            if len(gold) != len(turn["gold"]):
                continue
            for fact in turn["facts"]:
                found = [cid for cid, text in gold if any(contains(text, a) for a in fact)]
                if not found:
                    errors.append(
                        f"{tw}: no spelling of fact {fact!r} found in its gold units "
                        f"{[cid for cid, _ in gold]}"
                    )
                elif args.verbose:
                    print(f"{c['_id']}.{n}: {fact!r} found in {found}")

    # Statistics.
    files = corpus.files()
    pdfs = [f for f in files if f.lower().endswith(".pdf")]
    htmls = [f for f in files if f.lower().endswith(HTML_EXT)]
    others = [f for f in files if f not in pdfs and f not in htmls]
    total_bytes = sum(os.path.getsize(corpus.path(f)) for f in files)
    if total_bytes > MAX_CORPUS_BYTES:
        errors.append(f"corpus is {total_bytes} bytes, over the {MAX_CORPUS_BYTES} limit")
    all_units = list(corpus.units())
    total_pages = sum(len(corpus.pages(f)) for f in pdfs)

    kinds = Counter(q.get("kind") for q in queries)
    ukinds = Counter(q.get("kind") for q in unanswerable)
    per_file = Counter()
    for qid, units in judged.items():
        for f in {cid.split("#p")[0] for cid, score, _ in units if score == 2}:
            per_file[f] += 1
    unused = [f for f in files if f not in per_file]
    judged_units = {cid for units in judged.values() for cid, _, _ in units}
    scores = Counter(score for _, _, _, score in qrels)

    # How distinctive is each answer?  Number of units in the whole corpus that
    # contain every answer string: 1 means only the judged unit(s) can answer.
    spread = {}
    for q in queries:
        if q["answer"]:
            spread[q["_id"]] = sum(
                1 for _, text in all_units if all(contains(text, a) for a in q["answer"])
            )

    print("Cairn evaluation set")
    print(f"  corpus: {len(files)} files, {total_bytes / 1e6:.2f} MB "
          f"({len(pdfs)} PDF with {total_pages} pages, {len(htmls)} HTML, {len(others)} other)")
    def more(f):
        return (f", {near_files.get(f, 0)} unanswerable near, "
                f"{conv_files.get(f, 0)} conversation turns")

    for f in pdfs:
        print(f"    {f}: {len(corpus.pages(f))} pages, {per_file.get(f, 0)} queries{more(f)}")
    for f in htmls + others:
        print(f"    {f}: {per_file.get(f, 0)} queries{more(f)}")
    print(f"  queries: {len(queries)} ("
          + ", ".join(f"{k} {kinds.get(k, 0)}" for k in KINDS) + ")")
    print(f"  unanswerable: {len(unanswerable)} ("
          + ", ".join(f"{k} {ukinds.get(k, 0)}" for k in KINDS if ukinds.get(k)) + "; "
          + f"{sum(1 for q in unanswerable if q.get('near'))} with near units, "
          + f"{sum(1 for q in unanswerable if q.get('why'))} with why)")
    nturns = Counter(len(c["turns"]) for c in conversations)
    print(f"  conversations: {len(conversations)} ("
          + ", ".join(f"{k}-turn {nturns[k]}" for k in sorted(nturns)) + "), "
          f"{sum(nturns[k] * k for k in nturns)} turns, "
          f"{sum(len(t['facts']) for c in conversations for t in c['turns'])} facts, "
          f"{sum(1 for c in conversations if len({g.split('#p')[0] for t in c['turns'] for g in t['gold']}) > 1)}"
          " spanning more than one file")
    print(f"  qrels: {len(qrels)} lines (score 2: {scores.get(2, 0)}, score 1: {scores.get(1, 0)}), "
          f"{len(judged_units)} distinct units judged out of {len(all_units)}")
    multi = sum(1 for units in judged.values() if len({c.split('#p')[0] for c, s, _ in units if s == 2}) > 1)
    print(f"  queries answered by more than one file: {multi}")
    if spread:
        if args.verbose:
            for qid, n in spread.items():
                print(f"  {qid}: {n} unit(s) contain all its answer strings")
        vals = sorted(spread.values())
        print(f"  units containing all answers of a query: min {vals[0]}, "
              f"median {vals[len(vals) // 2]}, max {vals[-1]} "
              f"(unique to one unit: {sum(1 for v in vals if v == 1)})")
    if unused:
        print(f"  warning: corpus files with no score-2 query: {unused}")

    if errors:
        print(f"\nFAILED: {len(errors)} problem(s)")
        for e in errors:
            print("  " + e)
        return 1
    print("\nOK: every qrels line resolves and every answer is in a score-2 unit; "
          "every conversation fact is in a gold unit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
