#!/usr/bin/env bash
# The benchmark, in one command: our Whisper engine beside faster-whisper on the same weights.
#
#   scripts/bench/run.sh                 # set-up, build, ASR accuracy + speed (10-minute input)
#   scripts/bench/run.sh --memory        # also peak RSS of ours on the 1-hour and 4-hour inputs
#   scripts/bench/run.sh --no-build      # use the worker binary as it is (or WORKER_BIN)
#   scripts/bench/run.sh --words         # also word timing vs faster-whisper (words.py) and the cost
#                                        # of word timestamps (cost.py)
#   scripts/bench/run.sh --diarization   # also DER (der.py) and the cost of diarization (cost.py),
#                                        # each for resemblyzer and for HIGH_ACCURACY's campplus
#   scripts/bench/run.sh --only words,diarization   # just these parts (any of asr, speed, memory,
#                                        # words, diarization), without the full ASR/speed run
#   ASR_ARGS="--fw-compute float32,int8" SPEED_ARGS="--models tiny.en,base" scripts/bench/run.sh
#   (MEMORY_ARGS likewise for --memory: e.g. "--memory-systems ours,faster-whisper"; WORDS_ARGS,
#   COST_ARGS and DER_ARGS for words.py, cost.py and der.py: e.g. COST_ARGS="--repeats 5")
#
# Prints the tables and writes them to var/bench/latest.md (JSON beside it: asr.json, speed.json,
# words.json, cost.json).
# Our engine is `worker transcribe` (WORKER_BIN, default target/release/worker); when it cannot be
# built or fails, its rows say so and faster-whisper's reference rows are still measured.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PY=$ROOT/.venv/bin/python
OUT=${BENCH_DIR:-$ROOT/var/bench}
log() { printf '\033[1m[bench]\033[0m %s\n' "$*" >&2; }

build=1 memory=0 words=0 diarization=0 only=""
args=("$@")
i=0
while [ $i -lt ${#args[@]} ]; do
  a=${args[$i]}
  case "$a" in
    --no-build) build=0 ;;
    --memory) memory=1 ;;
    --words) words=1 ;;
    --diarization) diarization=1 ;;
    --only=*) only=${a#--only=} ;;
    --only) i=$((i + 1)); only=${args[$i]:-} ;;
    -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) log "unknown option $a"; exit 2 ;;
  esac
  i=$((i + 1))
done
# the parts to run: asr and speed by default, plus what the flags add; --only replaces the list
asr=1 speed=1
if [ -n "$only" ]; then
  asr=0 speed=0 memory=0 words=0 diarization=0
  for p in ${only//,/ }; do
    case "$p" in
      asr) asr=1 ;; speed) speed=1 ;; memory) memory=1 ;; words) words=1 ;; diarization) diarization=1 ;;
      *) log "--only: unknown part $p (asr, speed, memory, words, diarization)"; exit 2 ;;
    esac
  done
fi

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
  echo "Command: \`${ASR_ARGS:+ASR_ARGS=\"$ASR_ARGS\" }${SPEED_ARGS:+SPEED_ARGS=\"$SPEED_ARGS\" }${MEMORY_ARGS:+MEMORY_ARGS=\"$MEMORY_ARGS\" }${WORDS_ARGS:+WORDS_ARGS=\"$WORDS_ARGS\" }${COST_ARGS:+COST_ARGS=\"$COST_ARGS\" }${DER_ARGS:+DER_ARGS=\"$DER_ARGS\" }scripts/bench/run.sh${*:+ $*}\`. $build_note."
  echo
} >"$tmp"

sep=""
if [ "$asr" = 1 ]; then
  log "ASR accuracy"
  # shellcheck disable=SC2086
  "$PY" scripts/bench/asr.py --json "$OUT/asr.json" ${ASR_ARGS:-} >>"$tmp" || echo "(asr.py failed: exit $?)" >>"$tmp"
  sep=1
fi
if [ "$speed" = 1 ]; then
  [ -n "$sep" ] && echo >>"$tmp"
  log "speed"
  # shellcheck disable=SC2086
  "$PY" scripts/bench/speed.py --json "$OUT/speed.json" ${SPEED_ARGS:-} >>"$tmp" || echo "(speed.py failed: exit $?)" >>"$tmp"
  sep=1
fi
if [ "$memory" = 1 ]; then
  [ -n "$sep" ] && echo >>"$tmp"
  log "memory (1-hour and 4-hour inputs)"
  # shellcheck disable=SC2086
  "$PY" scripts/bench/speed.py --memory --json "$OUT/memory.json" ${MEMORY_ARGS:-} >>"$tmp" || echo "(speed.py --memory failed: exit $?)" >>"$tmp"
  sep=1
fi
if [ "$words" = 1 ]; then
  [ -n "$sep" ] && echo >>"$tmp"
  log "word timing vs faster-whisper"
  # shellcheck disable=SC2086
  "$PY" scripts/bench/words.py --json "$OUT/words.json" ${WORDS_ARGS:-} >>"$tmp" || echo "(words.py failed: exit $?)" >>"$tmp"
  sep=1
fi
if [ "$diarization" = 1 ]; then
  [ -n "$sep" ] && echo >>"$tmp"
  log "diarization error rate"
  echo "### Diarization error rate (der.py)" >>"$tmp"
  echo >>"$tmp"
  der_build=()
  [ "$build" = 1 ] || der_build=(--no-build)
  # shellcheck disable=SC2086
  "$PY" scripts/bench/der.py "${der_build[@]}" ${DER_ARGS:-} >>"$tmp" || echo "(der.py failed: exit $?)" >>"$tmp"
  echo >>"$tmp"
  log "diarization error rate with campplus (HIGH_ACCURACY's speaker model)"
  # shellcheck disable=SC2086
  "$PY" scripts/bench/der.py --no-build --example-args=--campplus ${DER_ARGS:-} >>"$tmp" || echo "(der.py --campplus failed: exit $?)" >>"$tmp"
  sep=1
fi
if [ "$words" = 1 ] || [ "$diarization" = 1 ]; then
  what=$([ "$words" = 1 ] && printf words)$([ "$words" = 1 ] && [ "$diarization" = 1 ] && printf ,)$([ "$diarization" = 1 ] && printf diarization)
  [ -n "$sep" ] && echo >>"$tmp"
  log "cost of $what"
  # shellcheck disable=SC2086
  "$PY" scripts/bench/cost.py --what "$what" --json "$OUT/cost.json" ${COST_ARGS:-} >>"$tmp" || echo "(cost.py failed: exit $?)" >>"$tmp"
fi
if [ "$diarization" = 1 ]; then
  echo >>"$tmp"
  log "cost of HIGH_ACCURACY's diarization (campplus)"
  # HIGH_ACCURACY's transcription settings, without its word timestamps.
  # shellcheck disable=SC2086
  "$PY" scripts/bench/cost.py --what diarization --inputs long10 --fw "" --models base --batch-size 4 --beam-size 5 \
    --speaker-model campplus --json "$OUT/cost-campplus.json" ${COST_ARGS:-} >>"$tmp" || echo "(cost.py --speaker-model campplus failed: exit $?)" >>"$tmp"
fi
cp "$tmp" "$OUT/latest.md"
cat "$OUT/latest.md"
log "written to $OUT/latest.md"
