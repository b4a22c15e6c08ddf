#!/usr/bin/env python3
"""Fit the answerability calibration (crates/engine/src/answerability.rs) on
the public evaluation set, and report its precision/recall trade-off.

Input: the JSON report of

    cairn --data-dir /tmp/evaldata eval --qrels tests/eval/qrels.tsv \
        --answers --signals --out /tmp/signals.json

which holds, for every question of the set, its signals (the model's P(yes)
after the check question, the probability that its answer starts like the
refusal, the coverage of the question's words by the evidence, the best
passage's cosine) and whether the documents answer it (the question's part of
the set: unanswerable.jsonl or not). Questions the off-topic gate refused have
no model signals; they are refused either way and are left out of the fit.

The model is a logistic regression over
    logit(p_yes), logit(p_refusal_start), coverage, best cosine
fitted by gradient descent with a small L2 penalty. Because the same set
chooses the weights and the threshold, every share printed here is from
5-fold cross-validation (each question scored by a model that did not see it),
and the final weights are then fitted on all questions.

Usage:
    python3 scripts/calibrate_answerability.py /tmp/signals.json [--features p_yes,coverage,...]

Prints the cross-validated table, the recommended threshold (the one refusing
the most unanswerable questions while falsely refusing at most 10 % of the
answerable ones: a wrongly refused question costs a user more than a marked,
cited answer to an unanswerable one) and the Rust constant.
Python 3 standard library only.
"""

import argparse
import json
import math
import random
import sys

ALL_FEATURES = ["p_yes", "p_refusal_start", "coverage", "vector", "evidence"]


def logit(p):
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def features(signals, names):
    out = []
    for n in names:
        if n == "p_yes":
            out.append(logit(signals["p_yes"]))
        elif n == "p_refusal_start":
            out.append(logit(signals["p_refusal_start"]))
        elif n == "coverage":
            out.append(signals["coverage"])
        elif n == "vector":
            out.append(signals.get("best_vector_score") or 0.0)
        elif n == "evidence":
            out.append(signals.get("evidence_score") or 0.0)
    return out


def sigmoid(x):
    if x < -40:
        return 0.0
    return 1.0 / (1.0 + math.exp(-x))


def fit(xs, ys, l2=0.01, steps=4000, lr=0.1):
    n, d = len(xs), len(xs[0])
    # Standardise for the descent, then map the weights back.
    mean = [sum(x[j] for x in xs) / n for j in range(d)]
    std = [max(1e-6, math.sqrt(sum((x[j] - mean[j]) ** 2 for x in xs) / n)) for j in range(d)]
    zs = [[(x[j] - mean[j]) / std[j] for j in range(d)] for x in xs]
    w = [0.0] * d
    b = 0.0
    # Balance the classes: each class weighs half.
    pos = sum(ys)
    neg = n - pos
    cw = [0.5 / max(neg, 1), 0.5 / max(pos, 1)]
    for _ in range(steps):
        gw = [l2 * wj for wj in w]
        gb = 0.0
        for z, y in zip(zs, ys):
            p = sigmoid(b + sum(wj * zj for wj, zj in zip(w, z)))
            e = (p - y) * cw[y]
            gb += e
            for j in range(d):
                gw[j] += e * z[j]
        b -= lr * gb
        w = [wj - lr * g for wj, g in zip(w, gw)]
    weights = [w[j] / std[j] for j in range(d)]
    bias = b - sum(w[j] * mean[j] / std[j] for j in range(d))
    return bias, weights


def predict(model, x):
    bias, weights = model
    return sigmoid(bias + sum(wj * xj for wj, xj in zip(weights, x)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("report")
    ap.add_argument("--features", default=",".join(ALL_FEATURES))
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args()
    names = [f for f in args.features.split(",") if f]
    report = json.load(open(args.report))
    rows = []
    gated = {"answerable": 0, "unanswerable": 0}
    for g in report["grades"]:
        a = g.get("answerability")
        answerable = g["category"] != "unanswerable"
        needs_model = any(f in names for f in ("p_yes", "p_refusal_start"))
        if not a or (needs_model and a["signals"].get("p_yes") is None):
            gated["answerable" if answerable else "unanswerable"] += 1
            continue
        rows.append((features(a["signals"], names), 1 if answerable else 0, g["id"]))
    if not rows:
        sys.exit("no question has model signals: run eval with --signals")
    pos = sum(r[1] for r in rows)
    print(f"{len(rows)} questions with signals ({pos} answerable, {len(rows) - pos} not); "
          f"refused by the off-topic gate before the model: {gated}")
    # Cross-validated scores.
    idx = list(range(len(rows)))
    random.Random(7).shuffle(idx)
    scores = [0.0] * len(rows)
    for f in range(args.folds):
        test = set(idx[f::args.folds])
        train = [rows[i] for i in range(len(rows)) if i not in test]
        model = fit([r[0] for r in train], [r[1] for r in train])
        for i in test:
            scores[i] = predict(model, rows[i][0])
    total_pos = pos + gated["answerable"]
    total_neg = len(rows) - pos + gated["unanswerable"]
    print(f"\ncross-validated ({args.folds} folds), features {names}, over the whole set "
          f"({total_pos} answerable, {total_neg} unanswerable; gate refusals included):")
    print("| threshold | unanswerable refused | answerable falsely refused |")
    print("|---:|---:|---:|")
    best = None
    for t in [i / 20 for i in range(1, 20)]:
        refused_neg = sum(1 for s, r in zip(scores, rows) if r[1] == 0 and s < t) + gated["unanswerable"]
        refused_pos = sum(1 for s, r in zip(scores, rows) if r[1] == 1 and s < t) + gated["answerable"]
        rn = refused_neg / max(total_neg, 1)
        fp = refused_pos / max(total_pos, 1)
        print(f"| {t:.2f} | {rn:.3f} ({refused_neg}/{total_neg}) | {fp:.3f} ({refused_pos}/{total_pos}) |")
        key = (fp <= 0.10, rn if fp <= 0.10 else -fp)
        if best is None or key > best[0]:
            best = (key, t, rn, fp)
    _, t, rn, fp = best
    print(f"\nchosen threshold {t:.2f}: refuses {rn:.3f} of unanswerable, {fp:.3f} of answerable (cross-validated)")
    bias, weights = fit([r[0] for r in rows], [r[1] for r in rows])
    w = dict(zip(names, weights))
    print("\npub const CALIBRATION: Calibration = Calibration {")
    print(f"    bias: {bias:.4f},")
    print(f"    p_yes: {w.get('p_yes', 0.0):.4f},")
    print(f"    p_refusal_start: {w.get('p_refusal_start', 0.0):.4f},")
    print(f"    coverage: {w.get('coverage', 0.0):.4f},")
    print(f"    vector: {w.get('vector', 0.0):.4f},")
    print(f"    evidence: {w.get('evidence', 0.0):.4f},")
    print("};")
    print(f"pub const DEFAULT_THRESHOLD: f32 = {t:.2f};")


if __name__ == "__main__":
    main()
