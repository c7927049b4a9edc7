#!/usr/bin/env bash
# large-v3 and large-v3-turbo proven without their weights: random-weight models of their exact
# shapes (128 mel bins, d_model 1280, 20 heads, 32 encoder layers, 32 or 4 decoder layers, the v3
# vocabulary of 51866 tokens with <|yue|>) through our loader and faster-whisper, compared.
#
#   scripts/bench/large-shapes.sh [--no-build] [--no-worker] [MODEL...]   (default: both)
#
# Per model (one at a time: each is 3 GB on disk, ~6 GB in f32):
#   1. large_shapes.py build: transformers WhisperForConditionalGeneration, random (seed 0),
#      float16 safetensors; ct2-transformers-converter --quantization float16. Kept under
#      var/bench/large-shapes/MODEL/ct2 and reused (remade when large_shapes.py changes).
#   2. faster-whisper (CPU, compute_type float32, cpu_threads 2) and ours (speech's example
#      encoder_probe, 2 threads) on samples/jfk.flac: encoder outputs' cosine (each on its own
#      mel, and ours on faster-whisper's mel), the first 20 greedy tokens from
#      <|startoftranscript|><|en|><|transcribe|><|notimestamps|>, load time, peak RSS
#      (/usr/bin/time -v).
#   3. (large-v3) `worker transcribe samples/jfk.flac --model DIR` end to end: exit 0 (the text is
#      garbage), wall time, peak RSS.
# Prints a table (also var/bench/large-shapes/results/report.md); exits 1 when a cosine is under
# 0.999 or the tokens differ.
#
# The v3 tokenizer comes from PyPI's openai-whisper==20250625 (whisper/assets/multilingual.tiktoken,
# 100 languages) converted by transformers' TikTokenConverter (transformers==4.57.6); checked to
# give openai-whisper's own ids. Python: a venv of its own (var/large-shapes-venv) holding
# faster-whisper==1.2.1, openai-whisper==20250625 (no deps: only its tokenizer is used),
# tiktoken==0.12.0, av==16.0.1; it sees var/formats-venv (ctranslate2 4.8.5, transformers,
# from scripts/format-fixtures.sh) and .venv (torch) through a .pth file.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=1
WORKER=1
MODELS=()
for a in "$@"; do
  case "$a" in
    --no-build) BUILD=0 ;;
    --no-worker) WORKER=0 ;;
    large-v3 | large-v3-turbo) MODELS+=("$a") ;;
    *) echo "usage: $0 [--no-build] [--no-worker] [large-v3] [large-v3-turbo]" >&2; exit 2 ;;
  esac
done
[ ${#MODELS[@]} -gt 0 ] || MODELS=(large-v3 large-v3-turbo)
WORK=var/bench/large-shapes
RESULTS=$WORK/results
VENV=var/large-shapes-venv
FORMATS_VENV=var/formats-venv
AUDIO=samples/jfk.flac
N_TOKENS=20
log() { printf '\033[1m[large-shapes]\033[0m %s\n' "$*" >&2; }

# The formats venv (ctranslate2, transformers) is scripts/format-fixtures.sh's; make it the same way.
if [ ! -x "$FORMATS_VENV/bin/ct2-transformers-converter" ]; then
  echo "missing $FORMATS_VENV: run scripts/format-fixtures.sh once (it installs ctranslate2 and transformers)" >&2
  exit 1
fi
PACKAGES="faster-whisper==1.2.1 openai-whisper==20250625 tiktoken==0.12.0 av==16.0.1"
if [ "$(cat "$VENV/.packages" 2>/dev/null)" != "$PACKAGES" ]; then
  log "installing $PACKAGES into $VENV"
  rm -rf "$VENV"
  "$(.venv/bin/python -c 'import sys; print(sys._base_executable)')" -m venv "$VENV"
  site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  for v in "$FORMATS_VENV" .venv; do
    "$v/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'
  done | xargs realpath > "$site/shared.pth"
  # faster-whisper's and openai-whisper's other dependencies (ctranslate2, tokenizers,
  # huggingface_hub, tqdm, torch) are the shared ones; openai-whisper's numba is not needed.
  "$VENV/bin/pip" install -q --disable-pip-version-check tiktoken==0.12.0 av==16.0.1
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps faster-whisper==1.2.1 openai-whisper==20250625
  echo "$PACKAGES" > "$VENV/.packages"
fi
PY="$VENV/bin/python"
export PYTHONWARNINGS="${PYTHONWARNINGS:+$PYTHONWARNINGS,}ignore::UserWarning,ignore::FutureWarning"
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 RAYON_NUM_THREADS=2
export LD_LIBRARY_PATH="$ROOT/libtorch/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

if [ "$BUILD" = 1 ]; then
  log "cargo build --release -p speech --example encoder_probe; -p worker"
  cargo build --release -q -p speech --example encoder_probe
  [ "$WORKER" = 0 ] || cargo build --release -q -p worker
fi
PROBE=target/release/examples/encoder_probe
WORKER_BIN=${WORKER_BIN:-target/release/worker}

# Made files are current while the model-making part of large_shapes.py is unchanged.
version=$(sed -n '/^# >>> models/,/^# <<< models/p' scripts/bench/large_shapes.py | sha256sum | cut -c1-16)
mkdir -p "$WORK" "$RESULTS"
if [ "$(cat "$WORK/tokenizer/.made-by" 2>/dev/null)" != "$version" ]; then
  log "v3 tokenizer.json from openai-whisper's multilingual.tiktoken"
  rm -rf "$WORK/tokenizer"
  "$PY" scripts/bench/large_shapes.py tokenizer "$WORK/tokenizer"
  echo "$version" > "$WORK/tokenizer/.made-by"
fi

for m in "${MODELS[@]}"; do
  dir=$WORK/$m
  if [ "$(cat "$dir/ct2/.made-by" 2>/dev/null)" != "$version" ]; then
    rm -rf "$dir"
    mkdir -p "$dir"
    log "$m: random transformers model (float16 safetensors)"
    "$PY" scripts/bench/large_shapes.py build "$m" "$WORK/tokenizer" "$dir/hf"
    log "$m: ct2-transformers-converter --quantization float16"
    "$FORMATS_VENV/bin/ct2-transformers-converter" --model "$dir/hf" --output_dir "$dir/ct2.partial" \
      --quantization float16 --copy_files tokenizer.json preprocessor_config.json >&2
    # The transformers copy is only the converter's input: 3 GB less on disk.
    rm -rf "$dir/hf"
    echo "$version" > "$dir/ct2.partial/.made-by"
    mv "$dir/ct2.partial" "$dir/ct2"
  fi
  out=$RESULTS/$m
  rm -rf "$out"
  mkdir -p "$out"
  log "$m: faster-whisper"
  /usr/bin/time -v -o "$out/fw.time" "$PY" scripts/bench/large_shapes.py fw "$m" "$dir/ct2" "$AUDIO" "$out/fw" "$N_TOKENS" \
    > "$out/fw.json"
  log "$m: ours"
  /usr/bin/time -v -o "$out/ours.time" "$PROBE" --model "$dir/ct2" --audio "$AUDIO" --out "$out/ours" \
    --mel "$out/fw/mel.f32" --tokens "$N_TOKENS" --threads 2 \
    --suppress "$("$PY" scripts/bench/large_shapes.py suppress "$dir/ct2")" > "$out/ours.json"
done

rm -f "$RESULTS/worker.time" "$RESULTS/worker.json"
if [ "$WORKER" = 1 ] && [[ " ${MODELS[*]} " == *" large-v3 "* ]]; then
  log "large-v3: worker transcribe $AUDIO (greedy, English, no timestamps)"
  /usr/bin/time -v -o "$RESULTS/worker.time" "$WORKER_BIN" transcribe "$AUDIO" --model "$WORK/large-v3/ct2" \
    --device cpu --compute-type float32 --beam-size 1 --language en --without-timestamps --format json \
    > "$RESULTS/worker.json"
fi

"$PY" scripts/bench/large_shapes.py report "$RESULTS" "${MODELS[@]}"
