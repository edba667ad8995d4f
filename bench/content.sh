#!/usr/bin/env bash
# bench/content: jitgen.find_gaps over 100,000 concepts and ~1,000,000 atoms against a plain
# GROUP BY count of the same concepts (the baseline, same run), and jitgen.remediation_atoms per
# call (1,000 concepts with 3 or more atoms, so no job is queued). Targets: find_gaps ≤ 150 ms
# and no slower than the baseline; remediation_atoms ≤ 1 ms per call.
#   bench/content.sh [concepts=100000] [repeats=5]
source "$(dirname "$0")/../scripts/lib.sh"
CONCEPTS="${1:-100000}"
REPEATS="${2:-5}"
bench_prepare
cd "$JG_ROOT"
cargo build --release -p jitgen-sidecar
JITGEN_LOG=warn target/release/jitgen migrate >/dev/null
PGOPTIONS="-c bench.repeats=$REPEATS -c bench.concepts=$CONCEPTS" \
    psql -X -q -v ON_ERROR_STOP=1 -v concepts="$CONCEPTS" -f bench/content.sql
