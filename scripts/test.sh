#!/usr/bin/env bash
# Runs the whole test suite against the local PostgreSQL and Redis, installing what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

# Each test drops the database it makes (testkit::TestBackends); remove those a killed run left.
psql -h 127.0.0.1 -U postgres -d postgres -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'test\_%'" |
  while read -r db; do psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS \"$db\"" >/dev/null; done

# Release mode: the speech tests run real models, and it shares the build with scripts/up.sh.
cargo test --release --workspace --no-fail-fast "$@"
