#!/usr/bin/env python3
"""Records llama.cpp's outputs on the models make_models.py writes, as the
reference Cairn is tested against (crates/llm/tests/it/conformance.rs).

    python3 reference.py MODELS_DIR > reference.json

For each model: the logits after a fixed prompt of token ids, and the greedy
continuation (12 tokens) with, at each step, the margin between the best and
the second-best logit (steps with a tiny margin may tie differently in any two
engines, so the test only holds both to the same token where the margin is
clear). Needs llama-cpp-python (built from PyPI) and numpy.
"""

import ctypes
import hashlib
import json
import sys
from pathlib import Path

import llama_cpp
import numpy as np

PROMPT = [262, 84, 271, 71, 68, 266, 264, 83, 272, 76, 69, 273, 269, 78, 82, 275]
STEPS = 12


def logits_last(ctx, n_vocab):
    ptr = llama_cpp.llama_get_logits_ith(ctx, -1)
    return np.ctypeslib.as_array(ptr, shape=(n_vocab,)).astype(np.float64).copy()


def run(path: Path):
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=128, n_batch=128, n_threads=2, verbose=False)
    n_vocab = llm.n_vocab()
    llm.reset()
    llm.eval(PROMPT)
    first = logits_last(llm.ctx, n_vocab)
    greedy, margins = [], []
    logits = first
    for _ in range(STEPS):
        order = np.argsort(-logits)
        greedy.append(int(order[0]))
        margins.append(float(logits[order[0]] - logits[order[1]]))
        llm.eval([int(order[0])])
        logits = logits_last(llm.ctx, n_vocab)
    return {
        "file": path.name,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "prompt": PROMPT,
        "logits": [round(float(v), 4) for v in first],
        "greedy": greedy,
        "margins": [round(m, 4) for m in margins],
    }


def main():
    models = Path(sys.argv[1])
    out = {
        "llama_cpp_python": llama_cpp.__version__,
        "models": {p.stem.removeprefix("tiny-"): run(p) for p in sorted(models.glob("tiny-*.gguf"))},
    }
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
