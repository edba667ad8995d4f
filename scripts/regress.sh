#!/usr/bin/env bash
# Runs extension/tests/pg_regress (the `cargo pgrx regress` layout) with pg_regress against the
# cluster in $PGHOST/$PGPORT. `cargo pgrx regress` cannot start its server as root, CI is root.
#   scripts/regress.sh          compare with expected/
#   scripts/regress.sh --accept copy new results into expected/ (review the diff!)
source "$(dirname "$0")/lib.sh"
dir="$JG_ROOT/extension/tests/pg_regress"
out="$(mktemp -d /tmp/jitgen-regress.XXXXXX)"
chmod 777 "$out"
tests=(setup)
for f in "$dir"/sql/*.sql; do
    t="$(basename "$f" .sql)"; [ "$t" = setup ] || tests+=("$t")
done
psql -X -q -c "DROP DATABASE IF EXISTS jitgen_regress" >/dev/null
psql -X -q -c "CREATE DATABASE jitgen_regress" >/dev/null
status=0
PGOPTIONS="-c client_min_messages=warning" \
"$("$JG_PG_CONFIG" --pkglibdir)/pgxs/src/test/regress/pg_regress" \
    --use-existing --dbname=jitgen_regress --host="$PGHOST" --port="$PGPORT" --user=postgres \
    --inputdir="$dir" --outputdir="$out" "${tests[@]}" || status=$?
if [ "${1:-}" = --accept ]; then
    cp "$out"/results/*.out "$dir/expected/"
    log "accepted results into $dir/expected"
    status=0
elif [ $status -ne 0 ]; then
    cat "$out/regression.diffs" >&2 || true
fi
rm -rf "$out"
exit $status
