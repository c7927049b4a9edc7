#!/usr/bin/env bash
# Chaos run (issue 20): at least 200 short jobs through the api and N workers while workers are
# SIGKILLed, Redis is wiped twice and PostgreSQL crashes once, each on its own loopback instance
# in a temporary directory; then lost jobs, duplicated results, 5xx answers and recovery times.
# About 5-8 minutes. Options go to chaos.py (--jobs, --workers, --duration, --kills, --drain,
# --preset, --seed, --keep, --json FILE); see scripts/bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${BENCH_VENV:-$PWD/var/bench-venv}
# The benchmark client's own environment (not .venv, which holds torch); a second run installs nothing.
if ! "$VENV/bin/python" -c 'import requests' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q requests
fi
for tool in redis-server redis-cli; do
  command -v "$tool" >/dev/null || { echo "chaos: $tool is missing (scripts/setup.sh installs it)" >&2; exit 2; }
done
exec "$VENV/bin/python" scripts/bench/chaos.py "$@"
