#!/usr/bin/env bash
# Installs what is missing, builds, starts the API and one worker in the background, and
# transcribes samples/jfk.flac through the API to show it works. Stop with scripts/down.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
log() { printf '\033[1m[up]\033[0m %s\n' "$*" >&2; }

log "building (release)"
cargo build --release -p api -p worker

mkdir -p var/log var/run var/inputs
scripts/down.sh >/dev/null 2>&1 || true
PORT=${APP_API__PORT:-8000}
log "starting the API on 127.0.0.1:$PORT and one worker (logs in var/log/)"
nohup target/release/api >var/log/api.log 2>&1 &
echo $! >var/run/api.pid
nohup target/release/worker >var/log/worker.log 2>&1 &
echo $! >var/run/worker.pid

BASE="http://127.0.0.1:$PORT"
for _ in $(seq 1 60); do curl -fsS "$BASE/ready" >/dev/null 2>&1 && break; sleep 0.5; done
curl -fsS "$BASE/ready" >/dev/null || { log "the API did not become ready; see var/log/api.log"; tail -n 20 var/log/api.log; exit 1; }

log "submitting samples/jfk.flac"
id=$(curl -fsS -F file=@samples/jfk.flac "$BASE/v1/jobs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
log "job $id queued; waiting for it"
status=queued
for _ in $(seq 1 600); do
  status=$(curl -fsS "$BASE/v1/jobs/$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
  case "$status" in succeeded|failed|canceled) break ;; esac
  sleep 0.5
done
log "job $id: $status"
curl -fsS "$BASE/v1/jobs/$id" | python3 -m json.tool
if [ "$status" = succeeded ]; then
  log "result as SRT:"
  curl -fsS "$BASE/v1/jobs/$id/result?format=srt"
fi
cat >&2 <<MSG

The service is running:
  API and Swagger UI   $BASE/docs
  logs                 var/log/api.log, var/log/worker.log
  stop                 scripts/down.sh
MSG
[ "$status" = succeeded ]
