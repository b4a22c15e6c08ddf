#!/usr/bin/env bash
# Measures the desktop app's cold start (process start to a usable window: the
# UI mounted and its first call answered) and its memory at idle, on a virtual
# display: as it starts (the answer model loads when a question is typed), or,
# with CAIRN_PRELOAD_MODEL=1, with the default answer model loaded at start.
# Method in docs/BENCHMARKS.md.
# Usage: [CAIRN_PRELOAD_MODEL=1] [CAIRN_BENCH_IDLE_S=80] [CAIRN_DESKTOP=BINARY] scripts/bench-desktop.sh [RUNS]
# (the release build that launch.sh and test.sh make, unless CAIRN_DESKTOP names another)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-3}"
# Seconds to wait further before reading idle memory again (0: once, at 5 s).
IDLE_S="${CAIRN_BENCH_IDLE_S:-80}"
BIN="${CAIRN_DESKTOP:-${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}/release/cairn-desktop}"
[ -x "$BIN" ] || { echo "error: $BIN not built; run scripts/launch.sh or scripts/test.sh" >&2; exit 1; }
DISPLAY_NUM=:$((150 + RANDOM % 50))
Xvfb "$DISPLAY_NUM" -screen 0 1600x1000x24 -nolisten tcp >/dev/null 2>&1 &
XVFB=$!
trap 'kill $XVFB 2>/dev/null || true' EXIT
sleep 1
DATA=$(mktemp -d)

# Resident memory of a process and all its descendants (WebKit runs the page in
# child processes), in MiB.
tree_rss() {
  local pids=($1) queue=($1) p kids
  while [ ${#queue[@]} -gt 0 ]; do
    p=${queue[0]}; queue=("${queue[@]:1}")
    kids=$(pgrep -P "$p" || true)
    for k in $kids; do pids+=("$k"); queue+=("$k"); done
  done
  local total=0 kb
  for p in "${pids[@]}"; do
    kb=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    total=$((total + ${kb:-0}))
  done
  echo $((total / 1024))
}

for run in $(seq "$RUNS"); do
  LOG=$(mktemp)
  DISPLAY=$DISPLAY_NUM NO_AT_BRIDGE=1 CAIRN_DATA_DIR="$DATA" CAIRN_LOG=info "$BIN" 2>"$LOG" &
  APP=$!
  for _ in $(seq 600); do
    grep -q "window ready" "$LOG" && { [ "${CAIRN_PRELOAD_MODEL:-}" != 1 ] || grep -q "model ready" "$LOG"; } && break
    sleep 0.1
  done
  ready=$(grep -o "window ready: [0-9]* ms" "$LOG" | grep -o "[0-9]*" || echo "?")
  model=$(grep -o "model ready: .*" "$LOG" | head -1 || echo "model not loaded (it loads when a question is typed; CAIRN_PRELOAD_MODEL=1 loads it at start)")
  sleep 5  # let start-up work settle before reading idle memory
  app_mib=$(( $(awk '/^VmRSS/ {print $2}' /proc/$APP/status) / 1024 ))
  all_mib=$(tree_rss "$APP")
  echo "run $run: window usable after ${ready} ms; $model; RSS 5 s after: app ${app_mib} MiB, app + WebKit processes ${all_mib} MiB"
  if [ "$IDLE_S" -gt 0 ]; then
    # An idle window drops the embedding model a minute after its last use
    # (cairn_engine::EMBEDDER_KEEP_ALIVE, checked every 15 s).
    sleep "$IDLE_S"
    app_mib=$(( $(awk '/^VmRSS/ {print $2}' /proc/$APP/status) / 1024 ))
    all_mib=$(tree_rss "$APP")
    echo "run $run: idle RSS after $((IDLE_S + 5)) s: app ${app_mib} MiB, app + WebKit processes ${all_mib} MiB"
  fi
  kill "$APP"; wait "$APP" 2>/dev/null || true
  rm -f "$LOG"
done
rm -rf "$DATA"
