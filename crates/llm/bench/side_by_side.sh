#!/usr/bin/env bash
# Runs candle (examples/llm_bench.rs) and llama.cpp (llama_cpp_bench.py) on the
# same GGUF files, prompt and thread count, alternating engines per model, and
# prints a Markdown table of medians. Run on a quiet machine: with other work on
# the cores, both engines' thread pools stall and the numbers mean little.
#
#   [MODELS="a.gguf b.gguf"] crates/llm/bench/side_by_side.sh [MODELS_DIR] [THREADS] [RUNS]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
models="${1:-$HOME/.cache/cairn/models}"
threads="${2:-2}"
runs="${3:-2}"
export RAYON_NUM_THREADS=$threads
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}"
# An explicit --target keeps these native-CPU artifacts apart from the
# ordinary release build in the shared target dir (no rebuild ping-pong).
host="$(rustc -vV | sed -n 's/^host: //p')"
RUSTFLAGS="-C target-cpu=native" cargo build --release -q --target "$host" -p cairn-llm --example llm_bench
bench="$CARGO_TARGET_DIR/$host/release/examples/llm_bench"
requant="$(mktemp -d)"
out="$(mktemp)"
trap 'rm -rf "$requant" "$out"' EXIT
for m in ${MODELS:-SmolLM2-135M-Instruct.Q4_1.gguf qwen2.5-coder-0.5b-instruct-q4_k_m.gguf gemma-3-270m-q4_k_m.gguf}; do
  # Write the Q8_0 copy of slow tensors once, outside the measurement.
  "$bench" "$models/$m" --runs 1 --gen 2 --prompt-words 10 --requant-dir "$requant" >/dev/null
  for rep in 1 2; do
    "$bench" "$models/$m" --runs "$runs" --requant-dir "$requant" >>"$out"
    python3 "$here/llama_cpp_bench.py" "$models/$m" --runs "$runs" --threads "$threads" >>"$out"
  done
  # The file as stored, to show what candle's missing Q4_1/Q5_0 kernels cost.
  "$bench" "$models/$m" --runs "$runs" --no-requant |
    sed 's/"engine":"candle"/"engine":"candle (weights as stored)"/' >>"$out"
done
python3 "$here/summarize.py" "$out"
