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
log "demo finished; the throwaway cluster is removed on exit"
