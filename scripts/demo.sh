#!/usr/bin/env bash
# The demo: installs what is missing, builds and installs the extension, starts a throwaway
# Postgres 15 on a free port, runs `jitgen migrate`, then shows each capability on real data.
source "$(dirname "$0")/lib.sh"
setup_all
cd "$JG_ROOT"
cargo build --release -p jitgen-sidecar
install_extension release
start_cluster
trap stop_cluster EXIT

log "jitgen migrate"
target/release/jitgen migrate

log "schema validation"
psql -X -v ON_ERROR_STOP=0 -v VERBOSITY=verbose -e -f demo/validation.sql \
    -v program="$(cat core/tests/fixtures/training_program.json)"

log "training-session JIT (seed 000)"
psql -X -v ON_ERROR_STOP=0 -e -f demo/session.sql

log "jobs: the sidecar worker processes what SQL enqueues"
metrics_port="$(free_port)"
JITGEN_METRICS_ADDR="127.0.0.1:$metrics_port" JITGEN_RETRY_BASE_MS=200 target/release/jitgen run &
worker=$!
psql -X -v ON_ERROR_STOP=1 -e -f demo/jobs.sql
target/release/jitgen status
log "GET /metrics"
curl -s "http://127.0.0.1:$metrics_port/metrics" | grep -v '^#'
kill -TERM "$worker"; wait "$worker" || true
log "demo finished; the throwaway cluster is removed on exit"
