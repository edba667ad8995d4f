#!/usr/bin/env bash
# bench/ingest: ms per jitgen.train_adapter call with 200 commands × 10 examples (validate,
# assemble 2000 pairs, hash, store, enqueue) against a plain INSERT of the same JSON, measured
# in the same run; best of the repeats. Target: ≤ 200 ms per call.
#   bench/ingest.sh [iterations=20] [repeats=3]
source "$(dirname "$0")/../scripts/lib.sh"
ITERATIONS="${1:-20}"
REPEATS="${2:-3}"
bench_prepare
(cd "$JG_ROOT" && cargo build --release -q -p jitgen-sidecar)
JITGEN_LOG=warn "$JG_ROOT/target/release/jitgen" migrate >/dev/null
PGOPTIONS="-c bench.iterations=$ITERATIONS -c bench.repeats=$REPEATS" \
    psql -X -q -v ON_ERROR_STOP=1 -f "$JG_ROOT/bench/ingest.sql"
