#!/usr/bin/env bash
# Runs candle (examples/llm_bench.rs) and llama.cpp (llama_cpp_bench.py) on the
# same GGUF files, prompt and thread count, alternating engines per model, and
# prints a Markdown table of medians. Run on a quiet machine.
#
#   crates/llm/bench/side_by_side.sh [MODELS_DIR] [RUNS]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
models="${1:-$HOME/.cache/cairn/models}"
runs="${2:-3}"
threads=2
export RAYON_NUM_THREADS=$threads
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}"
RUSTFLAGS="-C target-cpu=native" cargo build --release -q -p cairn-llm --example llm_bench
bench="$CARGO_TARGET_DIR/release/examples/llm_bench"
out="$(mktemp)"
for m in SmolLM2-135M-Instruct.Q4_1.gguf qwen2.5-coder-0.5b-instruct-q4_k_m.gguf gemma-3-270m-q4_k_m.gguf; do
  "$bench" "$models/$m" --runs "$runs" >>"$out"
  if [ "$m" = SmolLM2-135M-Instruct.Q4_1.gguf ]; then
    # The same file without load-time re-quantization, to show what Q4_1 costs in candle.
    "$bench" "$models/$m" --runs "$runs" --no-requant | sed 's/"engine":"candle"/"engine":"candle (Q4_1 as stored)"/' >>"$out"
  fi
  python3 "$here/llama_cpp_bench.py" "$models/$m" --runs "$runs" --threads $threads >>"$out"
done
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
groups = {}
for r in rows:
    groups.setdefault((r["model"], r["engine"]), []).append(r)
print("| model | engine | prompt tok | prefill tok/s | decode tok/s | TTFT ms | peak RSS MB |")
print("|---|---|---:|---:|---:|---:|---:|")
for (model, engine), rs in groups.items():
    med = lambda k: statistics.median(r[k] for r in rs)
    print(f"| {model} | {engine} | {rs[0]['prompt_tokens']} | {med('prefill_tok_s'):.0f} | {med('decode_tok_s'):.1f} | {med('ttft_ms'):.0f} | {max(r['peak_rss_mb'] for r in rs):.0f} |")
PY
