#!/usr/bin/env bash
# bench/session: µs per call of formula_session, apply_adjustment and the formula path of
# generate_session over realistic varied inputs, against jitgen._jsonb_identity (the same
# jsonb argument/result conversions, no work) measured in the same run.
#   bench/session.sh [calls=100000] [repeats=3]
source "$(dirname "$0")/../scripts/lib.sh"
CALLS="${1:-100000}"
REPEATS="${2:-3}"
bench_prepare
psql -X -q -c "CREATE EXTENSION jitgen"
PGOPTIONS="-c bench.repeats=$REPEATS" psql -X -q -v ON_ERROR_STOP=1 -v calls="$CALLS" -f "$JG_ROOT/bench/session.sql"
