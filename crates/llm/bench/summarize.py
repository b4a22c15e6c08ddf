#!/usr/bin/env python3
"""Median table (Markdown) from JSON lines written by llm_bench and llama_cpp_bench.py."""
import json
import statistics
import sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
groups = {}
for r in rows:
    groups.setdefault((r["model"], r["engine"], r.get("threads")), []).append(r)
print("| model | engine | threads | runs | prompt tok | prefill tok/s | decode tok/s | TTFT ms | peak RSS MB |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for (model, engine, threads), rs in sorted(groups.items(), key=lambda kv: (kv[0][2] or 0, kv[0][0], kv[0][1])):
    med = lambda k: statistics.median(r[k] for r in rs)
    print(
        f"| {model} | {engine} | {threads or ''} | {len(rs)} | {rs[0]['prompt_tokens']} | {med('prefill_tok_s'):.0f} | "
        f"{med('decode_tok_s'):.1f} | {med('ttft_ms'):.0f} | {max(r['peak_rss_mb'] for r in rs):.0f} |"
    )
