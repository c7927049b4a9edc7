#!/usr/bin/env bash
# Installs what this project needs on a fresh Debian machine and starts PostgreSQL and Redis.
# Idempotent: every step checks first, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

# --- Debian packages -------------------------------------------------------------------------
PACKAGES=(pkg-config clang libclang-dev libavcodec-dev libavformat-dev libavutil-dev
  libswresample-dev libswscale-dev libavfilter-dev libavdevice-dev ffmpeg curl unzip
  python3-venv espeak-ng)
command -v pg_ctlcluster >/dev/null 2>&1 || PACKAGES+=(postgresql)
command -v redis-server >/dev/null 2>&1 || PACKAGES+=(redis-server)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- PostgreSQL and Redis --------------------------------------------------------------------
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  log "starting PostgreSQL"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start || true
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432 -q || { log "PostgreSQL is not reachable on 127.0.0.1:5432"; exit 1; }
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  log "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
fi
redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null || { log "Redis is not reachable on 127.0.0.1:6379"; exit 1; }

# --- libtorch from the torch wheel -----------------------------------------------------------
TORCH_VERSION=2.13.0
if [ ! -x .venv/bin/python ]; then
  log "creating the Python virtual environment .venv"
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  log "installing torch==$TORCH_VERSION (libtorch for tch); this downloads a few GB once"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q "torch==$TORCH_VERSION"
fi
# The OpenAI SDK drives the OpenAI-compatible endpoint in the API tests.
if ! .venv/bin/python -c "import openai" 2>/dev/null; then
  log "installing the openai SDK (for the API tests)"
  .venv/bin/pip install -q "openai>=1.50,<3"
fi
# Located without importing torch: quicker, and silent.
TORCH_DIR=$(.venv/bin/python -c "import importlib.util, os; print(os.path.dirname(importlib.util.find_spec('torch').origin))")
if [ "$(readlink libtorch 2>/dev/null)" != "$TORCH_DIR" ]; then
  ln -sfn "$TORCH_DIR" libtorch
fi

# --- models ----------------------------------------------------------------------------------
scripts/setup-models.sh

# --- Rust toolchain --------------------------------------------------------------------------
command -v cargo >/dev/null || { log "cargo is missing: install Rust with rustup"; exit 1; }
log "ready"
