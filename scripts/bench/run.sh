#!/usr/bin/env bash
# The benchmark, in one command: our Whisper engine beside faster-whisper on the same weights.
#
#   scripts/bench/run.sh                 # set-up, build, ASR accuracy + speed (10-minute input)
#   scripts/bench/run.sh --memory        # also peak RSS of ours on the 1-hour and 4-hour inputs
#   scripts/bench/run.sh --no-build      # use the worker binary as it is (or WORKER_BIN)
#   ASR_ARGS="--fw-compute float32,int8" SPEED_ARGS="--models tiny.en,base" scripts/bench/run.sh
#   (MEMORY_ARGS likewise for --memory: e.g. "--memory-systems ours,faster-whisper")
#
# Prints the tables and writes them to var/bench/latest.md (JSON beside it: asr.json, speed.json).
# Our engine is `worker transcribe` (WORKER_BIN, default target/release/worker); when it cannot be
# built or fails, its rows say so and faster-whisper's reference rows are still measured.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PY=$ROOT/.venv/bin/python
OUT=${BENCH_DIR:-$ROOT/var/bench}
log() { printf '\033[1m[bench]\033[0m %s\n' "$*" >&2; }

build=1 memory=0
for a in "$@"; do
  case "$a" in
    --no-build) build=0 ;;
    --memory) memory=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) log "unknown option $a"; exit 2 ;;
  esac
done

scripts/bench/setup.sh || { log "set-up failed"; exit 1; }
mkdir -p "$OUT"
"$PY" scripts/bench/make_long_audio.py --minutes 10 >/dev/null || { log "cannot build the long inputs"; exit 1; }

build_note=""
if [ -n "${WORKER_BIN:-}" ]; then
  build_note="our engine: WORKER_BIN=$WORKER_BIN (not built here)"
elif [ "$build" = 1 ]; then
  log "cargo build --release -p worker (log: $OUT/build.log)"
  if cargo build --release -p worker >"$OUT/build.log" 2>&1; then
    build_note="our engine: target/release/worker built from $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!scripts/bench' || echo ' + uncommitted changes')"
  else
    tail -n 15 "$OUT/build.log" >&2
    build_note="our engine: cargo build --release -p worker FAILED (see var/bench/build.log); its rows below say so"
    log "$build_note"
    # a stale binary would be measured as if it were the current code
    [ -x target/release/worker ] && export WORKER_BIN="$OUT/no-worker-build-failed"
  fi
else
  build_note="our engine: existing ${WORKER_BIN:-target/release/worker} (--no-build)"
fi
log "$build_note"

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
{
  echo "# Whisper benchmark — $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)"
  echo
  echo "Command: \`${ASR_ARGS:+ASR_ARGS=\"$ASR_ARGS\" }${SPEED_ARGS:+SPEED_ARGS=\"$SPEED_ARGS\" }${MEMORY_ARGS:+MEMORY_ARGS=\"$MEMORY_ARGS\" }scripts/bench/run.sh${*:+ $*}\`. $build_note."
  echo
} >"$tmp"

log "ASR accuracy"
# shellcheck disable=SC2086
"$PY" scripts/bench/asr.py --json "$OUT/asr.json" ${ASR_ARGS:-} >>"$tmp" || echo "(asr.py failed: exit $?)" >>"$tmp"
echo >>"$tmp"
log "speed"
# shellcheck disable=SC2086
"$PY" scripts/bench/speed.py --json "$OUT/speed.json" ${SPEED_ARGS:-} >>"$tmp" || echo "(speed.py failed: exit $?)" >>"$tmp"
if [ "$memory" = 1 ]; then
  echo >>"$tmp"
  log "memory (1-hour and 4-hour inputs)"
  "$PY" scripts/bench/speed.py --memory --json "$OUT/memory.json" ${MEMORY_ARGS:-} >>"$tmp" || echo "(speed.py --memory failed: exit $?)" >>"$tmp"
fi
cp "$tmp" "$OUT/latest.md"
cat "$OUT/latest.md"
log "written to $OUT/latest.md"
