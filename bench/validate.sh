#!/usr/bin/env bash
# bench/validate: cost of CHECK (jitgen.is_valid('training_program', doc)) per inserted row,
# against (a) the same table without the check and (b) a check that compiles the schema on
# every call (jitgen.matches_schema, which is what pg_jsonschema's json_matches_schema does).
#   bench/validate.sh [rows=20000] [repeats=3]
# Needs the release extension; installs it and starts a throwaway cluster like the demo.
source "$(dirname "$0")/../scripts/lib.sh"
ROWS="${1:-20000}"
REPEATS="${2:-3}"
bench_prepare
psql -X -q -c "CREATE EXTENSION jitgen"
PGOPTIONS="-c bench.repeats=$REPEATS" psql -X -q -v ON_ERROR_STOP=1 -v rows="$ROWS" -v repeats="$REPEATS" \
    -v program="$(cat "$JG_ROOT/core/tests/fixtures/training_program.json")" -f "$JG_ROOT/bench/validate.sql"
