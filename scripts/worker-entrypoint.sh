#!/bin/sh
# The worker image's entry point: pulls the models named in MODELS (comma- or space-separated
# catalogue names or owner/repo, e.g. MODELS="large-v3-turbo,base") that the models directory does
# not hold yet, then runs the worker. A failed pull stops the start: a worker that cannot run what
# it was told to run should not take jobs.
set -eu
for name in $(printf '%s' "${MODELS:-}" | tr ',' ' '); do
  worker models pull --if-missing "$name"
done
exec worker "$@"
