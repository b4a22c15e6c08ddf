#!/usr/bin/env python3
"""llama.cpp (llama-cpp-python) side of the benchmark in examples/llm_bench.rs.

Same prompt text, same greedy decoding of a fixed number of tokens (stop
tokens ignored), same thread count. Prints one JSON object per run.

    python3 crates/llm/bench/llama_cpp_bench.py MODEL.gguf [--prompt-words N] [--gen N] [--runs N] [--threads 2]
"""
import argparse
import ctypes
import json
import resource
import time
from itertools import cycle, islice
from pathlib import Path

import llama_cpp
import numpy as np

FILLER = (
    "The committee reviewed the annual report on water quality in the northern district. "
    "It found that nitrate levels had fallen for the third year in a row, while phosphate levels stayed flat. "
    "The report recommends more frequent sampling near the two treatment plants and a public summary every quarter. "
)


def prompt_text(words: int) -> str:
    return " ".join(islice(cycle(FILLER.split()), words))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--prompt-words", type=int, default=400)
    ap.add_argument("--gen", type=int, default=64)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()

    t = time.perf_counter()
    llm = llama_cpp.Llama(
        model_path=a.model,
        n_ctx=4096,
        n_batch=512,
        n_threads=a.threads,
        n_threads_batch=a.threads,
        logits_all=False,
        verbose=False,
    )
    load_ms = (time.perf_counter() - t) * 1e3
    ids = llm.tokenize(prompt_text(a.prompt_words).encode(), add_bos=True, special=False)
    n_vocab = llm.n_vocab()
    for run in range(a.runs):
        llm.reset()  # n_past = 0: eval() drops the old KV entries
        start = time.perf_counter()
        llm.eval(ids)
        prefill_s = time.perf_counter() - start

        def next_token() -> int:
            ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
            logits = np.ctypeslib.as_array(ptr, shape=(n_vocab,))
            return int(np.argmax(logits))

        tok = next_token()
        first = time.perf_counter()
        ttft_ms = (first - start) * 1e3
        generated = 1
        while generated < a.gen:
            llm.eval([tok])
            tok = next_token()
            generated += 1
        decode_s = time.perf_counter() - first
        print(json.dumps({
            "engine": "llama.cpp",
            "model": Path(a.model).name,
            "run": run,
            "load_ms": load_ms,
            "prompt_tokens": len(ids),
            "generated_tokens": generated,
            "prefill_tok_s": len(ids) / prefill_s,
            "decode_tok_s": (generated - 1) / decode_s,
            "ttft_ms": ttft_ms,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "threads": a.threads,
        }))


if __name__ == "__main__":
    main()
