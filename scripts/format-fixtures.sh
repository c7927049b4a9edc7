#!/usr/bin/env bash
# Makes the installed whisper-tiny.en (CTranslate2 float16) in the other weight formats the loader
# reads, for speech/tests/formats.rs. Idempotent: a format is remade only when missing or when
# this script or scripts/format_fixtures.py changed. Usage: scripts/format-fixtures.sh [OUT_DIR]
#
#   OUT/openai/tiny.en.pt            openai-whisper checkpoint (format_fixtures.py pt)
#   OUT/transformers/                transformers directory, safetensors (format_fixtures.py hf)
#   OUT/ct2-float32|int8|int8_float16|int8_float32/  ct2-transformers-converter of that directory
#                                    (the transformers weights are float16, so int8 keeps float16
#                                    for what it does not quantise; int8_float32 gives float32)
#
# Tools come from PyPI into a venv of their own (var/formats-venv: ctranslate2, transformers,
# safetensors, numpy); torch is the one scripts/setup.sh installed in .venv, reached through a
# .pth file rather than downloaded again.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-var/formats}
MODELS=${MODELS_DIR:-models}
SRC="$MODELS/whisper-tiny.en"
VENV=var/formats-venv
log() { printf '\033[1m[formats]\033[0m %s\n' "$*" >&2; }

[ -s "$SRC/model.bin" ] || { echo "missing $SRC/model.bin: run scripts/setup-models.sh" >&2; exit 1; }
BASE_SITE=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null) ||
  { echo ".venv has no Python with torch: run scripts/setup.sh" >&2; exit 1; }

# The venv, remade when its package list changes.
PACKAGES="ctranslate2==4.8.5 transformers==4.57.6 safetensors==0.8.0 numpy==2.4.6"
if [ "$(cat "$VENV/.packages" 2>/dev/null)" != "$PACKAGES" ]; then
  log "installing $PACKAGES into $VENV"
  rm -rf "$VENV"
  "$(.venv/bin/python -c 'import sys; print(sys._base_executable)')" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check $PACKAGES
  site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "$(realpath "$BASE_SITE")" > "$site/base-torch.pth"
  echo "$PACKAGES" > "$VENV/.packages"
fi
PY="$VENV/bin/python"
export PYTHONWARNINGS="${PYTHONWARNINGS:+$PYTHONWARNINGS,}ignore::UserWarning,ignore::FutureWarning"

# A format is current when its stamp holds the hash of the scripts and the source weights' size.
version=$(cat "$0" scripts/format_fixtures.py | sha256sum | cut -c1-16)-$(stat -c %s "$SRC/model.bin")
current() { [ "$(cat "$1/.made-by" 2>/dev/null)" = "$version" ]; }
finish() { echo "$version" > "$2/.made-by"; rm -rf "$1"; mv "$2" "$1"; }
mkdir -p "$OUT"

if ! current "$OUT/openai"; then
  log "writing the openai-whisper checkpoint"
  rm -rf "$OUT/openai.partial"; mkdir -p "$OUT/openai.partial"
  "$PY" scripts/format_fixtures.py pt "$SRC" "$OUT/openai.partial/tiny.en.pt"
  finish "$OUT/openai" "$OUT/openai.partial"
fi

if ! current "$OUT/transformers"; then
  log "writing the transformers directory"
  rm -rf "$OUT/transformers.partial"
  "$PY" scripts/format_fixtures.py hf "$OUT/openai/tiny.en.pt" "$SRC" "$OUT/transformers.partial"
  finish "$OUT/transformers" "$OUT/transformers.partial"
fi

for q in float32 int8 int8_float16 int8_float32; do
  if ! current "$OUT/ct2-$q"; then
    log "converting to CTranslate2 $q"
    rm -rf "$OUT/ct2-$q.partial"
    "$VENV/bin/ct2-transformers-converter" --model "$OUT/transformers" --output_dir "$OUT/ct2-$q.partial" \
      --quantization "$q" --copy_files tokenizer.json >&2
    finish "$OUT/ct2-$q" "$OUT/ct2-$q.partial"
  fi
done
