#!/usr/bin/env bash
# Stops what scripts/up.sh started.
cd "$(dirname "$0")/.."
for name in worker api; do
  pidfile="var/run/$name.pid"
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    echo "stopped $name ($pid)"
  fi
  rm -f "$pidfile"
done
