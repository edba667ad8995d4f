#!/usr/bin/env bash
# Runs every test layer, installing what is missing first:
#   1. core unit + property tests         (cargo test -p jitgen-core), trainer tests with
#      libtorch, parity checked against transformers and PEFT (cargo test -p jitgen-trainer)
#   2. extension #[pg_test]s             (cargo pgrx test, in a pgrx-managed cluster)
#   3. psql-visible output               (pg_regress on extension/tests/pg_regress)
#   4. end to end                        (real binary, real Postgres + extension + pgmq)
#   5. the torch-free build               (jitgen --no-default-features: no libtorch linked)
#   6. HTTP API fuzzing                  (schemathesis from the OpenAPI document, bounded)
source "$(dirname "$0")/lib.sh"
# CI builds once: incremental state would only add gigabytes to target/.
[ -n "${CI:-}" ] && export CARGO_INCREMENTAL=0
disk_report "before setup"
setup_all
cd "$JG_ROOT"
disk_report "after setup"

log "1/6 core unit and property tests; trainer tests (libtorch, transformers/PEFT parity)"
cargo test -p jitgen-core
cargo test -p jitgen-trainer

log "2/6 extension #[pg_test]s"
pgrx_dir="$(mktemp -d /tmp/jitgen-pgrx-test.XXXXXX)"
chmod 755 "$pgrx_dir"; as_root chown postgres "$pgrx_dir"
(cd extension && cargo pgrx test pg15 --runas postgres --pgdata "$pgrx_dir/data")
rm -rf "$pgrx_dir"

# cargo pgrx test installed a pg_test build; install the plain one the other layers use.
install_extension debug
cargo build -p jitgen-sidecar
start_cluster
trap stop_cluster EXIT

disk_report "after the builds"
log "3/6 pg_regress output"
"$JG_ROOT/scripts/regress.sh"

log "4/6 end-to-end tests"
JITGEN_TEST_DATABASE_URL="$DATABASE_URL" cargo test -p jitgen-sidecar

log "5/6 the torch-free build: jitgen without libtorch, run without LD_LIBRARY_PATH"
(
    unset LD_LIBRARY_PATH LIBTORCH_USE_PYTORCH
    cargo build -p jitgen-sidecar --no-default-features
    if ldd target/debug/jitgen | grep -i torch; then die "the torch-free jitgen links libtorch"; fi
    JITGEN_TEST_DATABASE_URL="$DATABASE_URL" cargo test -p jitgen-sidecar --no-default-features --test e2e_jobs a_build_without_training
)

log "6/6 HTTP API fuzzing (schemathesis), against the torch-free jitgen"
env -u LD_LIBRARY_PATH "$JG_ROOT/scripts/fuzz_api.sh"
