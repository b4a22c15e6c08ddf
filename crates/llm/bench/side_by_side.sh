#!/usr/bin/env bash
# Runs Cairn (examples/llm_bench.rs: candle with Cairn's kernels) and llama.cpp
# (llama_cpp_bench.py) on the same GGUF files, prompt and thread count,
# alternating engines per model, and prints a Markdown table of medians. Run on a
# quiet machine: with other work on the cores, both engines' thread pools stall
# and the numbers mean little.
#
# Cairn is built as it ships: a plain release build, no `-C target-cpu=native`
# (its kernels pick AVX2 or AVX-512 at run time). llama.cpp comes from
# llama-cpp-python, which builds for the native CPU. Python: $PYTHON, default
# ~/.cache/cairn/bench-venv (pip install llama-cpp-python numpy).
#
#   [MODELS="a.gguf b.gguf"] crates/llm/bench/side_by_side.sh [MODELS_DIR] [THREADS] [RUNS]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
models="${1:-$HOME/.cache/cairn/models}"
threads="${2:-2}"
runs="${3:-2}"
python="${PYTHON:-$HOME/.cache/cairn/bench-venv/bin/python}"
export RAYON_NUM_THREADS=$threads
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}"
# The workspace's examples, built like the shipped binaries (same profile and
# features, so the dependencies are the release build's, not rebuilt).
cargo build --release -q --workspace --examples --locked
bench="$CARGO_TARGET_DIR/release/examples/llm_bench"
requant="$(mktemp -d)"
out="$(mktemp)"
trap 'rm -rf "$requant" "$out"' EXIT
for m in ${MODELS:-SmolLM2-135M-Instruct.Q4_1.gguf qwen2.5-coder-0.5b-instruct-q4_k_m.gguf qwen2.5-coder-1.5b-instruct-q4_k_m.gguf gemma-3-270m-q4_k_m.gguf}; do
  [ -f "$models/$m" ] || { echo "skipping $m (not installed)" >&2; continue; }
  for rep in 1 2; do
    "$bench" "$models/$m" --runs "$runs" --requant-dir "$requant" >>"$out"
    "$python" "$here/llama_cpp_bench.py" "$models/$m" --runs "$runs" --threads "$threads" >>"$out"
  done
done
python3 "$here/summarize.py" "$out"
