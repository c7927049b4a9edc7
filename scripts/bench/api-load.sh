#!/usr/bin/env bash
# Load benchmark of the API on this machine: job submission (JSON path input) and status reads,
# each at 200 connections for 30 s with wrk. Uses its own database and Redis prefix, removed after.
#   scripts/bench/api-load.sh [DURATION] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-30s}
CONNECTIONS=${2:-200}
PORT=${BENCH_PORT:-18080}
DB=transcribe_bench
PREFIX="bench:$$:"
scripts/setup.sh >/dev/null
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
cargo build --release -q -p api

mkdir -p var/bench/inputs
cp samples/jfk.flac var/bench/inputs/jfk.flac
psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $DB" >/dev/null
export APP_DATABASE__URL="postgres://postgres@127.0.0.1:5432/$DB" APP_REDIS__KEY_PREFIX="$PREFIX" \
  APP_INPUTS__PATH_ROOTS="$PWD/var/bench/inputs" APP_API__PORT="$PORT" APP_STORAGE__DIR="$PWD/var/bench/audio" RUST_LOG=warn
export BENCH_INPUT="$PWD/var/bench/inputs/jfk.flac"
target/release/api >var/bench/api.log 2>&1 &
API_PID=$!
cleanup() {
  kill "$API_PID" 2>/dev/null || true
  wait "$API_PID" 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
  redis-cli -h 127.0.0.1 --scan --pattern "${PREFIX}*" | xargs -r redis-cli -h 127.0.0.1 del >/dev/null
}
trap cleanup EXIT
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do curl -fsS "$BASE/ready" >/dev/null 2>&1 && break; sleep 0.2; done

run() { # name, wrk args...
  local name=$1; shift
  local out; out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "$@")
  echo "$out" >"var/bench/wrk-$name.txt"
  local rps p50 p99 non2xx
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  printf '| %s | %s | %s | %s | %s |\n' "$name" "$rps" "$p50" "$p99" "${non2xx:-0}"
}

wrk -t2 -c50 -d3s -s scripts/bench/wrk-submit.lua "$BASE/v1/jobs" >/dev/null # warm-up
echo "API load, $CONNECTIONS connections, $DURATION each, wrk -t2 on $(nproc) cores ($(date -u +%F))"
echo
echo "| workload | requests/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|"
run submit -s scripts/bench/wrk-submit.lua "$BASE/v1/jobs"
id=$(curl -fsS -H 'Content-Type: application/json' -d "{\"path\": \"$BENCH_INPUT\"}" "$BASE/v1/jobs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
run status "$BASE/v1/jobs/$id"
jobs=$(psql -h 127.0.0.1 -U postgres -d "$DB" -Atc "SELECT count(*) FROM jobs")
stream=$(redis-cli -h 127.0.0.1 XLEN "${PREFIX}jobs")
echo
echo "jobs stored: $jobs; stream entries: $stream"
