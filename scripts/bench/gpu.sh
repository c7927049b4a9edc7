#!/usr/bin/env bash
# The CUDA path checked in one command, on a machine with an NVIDIA GPU set up by scripts/setup.sh
# (its torch==2.13.0 wheel is the CUDA build; speech::cuda loads libtorch_cuda.so at run time).
# Never run yet: no session so far had a GPU. Under 8 minutes from a warm build.
#
#   scripts/bench/gpu.sh                    # build, speech tests on CUDA, ours beside faster-whisper
#   scripts/bench/gpu.sh --no-build         # use target/release as it is
#   scripts/bench/gpu.sh --no-tests         # only the benchmark (or --no-bench: only the tests)
#   scripts/bench/gpu.sh --models tiny.en,base --configs batch,seq --budget 300
#   scripts/bench/gpu.sh --self-check       # the report code on made-up numbers (no GPU needed)
#   scripts/bench/gpu.sh --report FILE.json # the tables again from a saved run (no GPU needed)
#
# 1. Refuses (exit 2) without an NVIDIA GPU: nvidia-smi missing, failing or listing none.
# 2. cargo build --release -p worker -p speech (nothing CUDA-specific at build time).
# 3. SPEECH_TEST_DEVICE=cuda cargo test --release -p speech --test whisper: the Whisper tests on
#    the first GPU in float16.
# 4. gpu.py bench: RTF and peak GPU memory (nvidia-smi, every 100 ms) of `worker transcribe
#    --device cuda --compute-type float16` beside faster-whisper (CTranslate2, cuda, float16) on
#    var/bench/long-10min.wav, for tiny.en, base and the random large-v3(-turbo) of
#    scripts/bench/large-shapes.sh when made; tables on stdout and in var/bench/gpu/latest.md
#    (JSON beside it). --budget (default 300 s) bounds all runs, --timeout (120 s) each.
# Exits 1 when the tests or a run failed (the table says why), 0 when all passed.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PY=$ROOT/.venv/bin/python
OUT=${BENCH_DIR:-$ROOT/var/bench}/gpu
log() { printf '\033[1m[gpu]\033[0m %s\n' "$*" >&2; }
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

build=1 tests=1 bench=1 bench_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --no-tests) tests=0 ;;
    --no-bench) bench=0 ;;
    --models | --configs | --budget | --timeout | --threads)
      [ $# -ge 2 ] || { echo "$1 needs a value" >&2; exit 2; }
      bench_args+=("$1" "$2"); shift ;;
    --self-check) exec "$PY" scripts/bench/gpu.py selftest ;;
    --report)
      [ $# -ge 2 ] || { echo "--report needs a JSON file" >&2; exit 2; }
      exec "$PY" scripts/bench/gpu.py report "$2" ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

# 1. An NVIDIA GPU, or nothing to measure.
if ! command -v nvidia-smi > /dev/null; then
  log "no NVIDIA GPU: nvidia-smi is not installed, so there is no NVIDIA driver here."
  log "This script measures the CUDA path; run it on a machine with an NVIDIA GPU (CPU figures: scripts/bench/run.sh)."
  exit 2
fi
if ! gpus=$(nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader 2>&1); then
  log "no NVIDIA GPU usable: nvidia-smi failed: $gpus"
  exit 2
fi
if ! grep -q '^[0-9]' <<< "$gpus"; then
  log "no NVIDIA GPU: nvidia-smi lists none (${gpus:-no output})"
  exit 2
fi
log "GPUs: $(tr '\n' ';' <<< "$gpus")"

# libtorch's CUDA half, which speech::cuda loads at run time: only the CUDA torch wheel has it.
if [ ! -e libtorch/lib/libtorch_cuda.so ]; then
  log "libtorch/lib/libtorch_cuda.so is missing: the torch in .venv is a CPU build; run scripts/setup.sh"
  exit 1
fi
export LD_LIBRARY_PATH="$ROOT/libtorch/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
failed=0

# 2. The normal build.
if [ "$build" = 1 ]; then
  log "cargo build --release -p worker -p speech"
  cargo build --release -p worker -p speech || { log "the build failed"; exit 1; }
fi

# 3. The Whisper tests on the GPU.
if [ "$tests" = 1 ]; then
  log "SPEECH_TEST_DEVICE=cuda cargo test --release -p speech --test whisper"
  if SPEECH_TEST_DEVICE=cuda cargo test --release -p speech --test whisper; then
    log "speech tests on CUDA: passed"
  else
    log "speech tests on CUDA: FAILED (above)"
    failed=1
  fi
fi

# 4. Ours beside faster-whisper.
if [ "$bench" = 1 ]; then
  scripts/bench/setup.sh || { log "scripts/bench/setup.sh failed (faster-whisper for the reference rows)"; exit 1; }
  mkdir -p "$OUT"
  if ! "$PY" scripts/bench/gpu.py bench --json "$OUT/latest.json" "${bench_args[@]}"; then
    log "the benchmark stopped (above)"
    failed=1
  elif grep -q '"unavailable"' "$OUT/latest.json"; then
    log "some runs did not complete: their rows say why ($OUT/latest.md)"
    failed=1
  fi
fi
exit $failed
