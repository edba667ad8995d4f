#!/usr/bin/env bash
# Fuzzes `jitgen api` from its OpenAPI document with schemathesis, bounded: every generated
# request (valid and invalid) must get no 5xx, a documented status code and content type, and
# a body matching the documented schema. Runs against the cluster of $DATABASE_URL in a
# throwaway database, with the node `kitchen-1` of the document's example and its token.
#   scripts/fuzz_api.sh [max_examples=100]
source "$(dirname "$0")/lib.sh"
MAX_EXAMPLES="${1:-100}"
ensure_schemathesis
cd "$JG_ROOT"
bin="${JITGEN_BIN:-target/debug/jitgen}"
[ -x "$bin" ] || die "$bin not built: cargo build -p jitgen-sidecar"
db="jitgen_fuzz_api_$$"
role="jitgen_fuzz_node_$$"
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $db"
db_url="$(DB="$db" python3 -c 'import os,urllib.parse as u; p=u.urlsplit(os.environ["DATABASE_URL"]); print(u.urlunsplit(p._replace(path="/"+os.environ["DB"])))')"
api_out="$(mktemp /tmp/jitgen-api.XXXXXX)"
api=""
cleanup() {
    [ -n "$api" ] && kill "$api" 2>/dev/null && wait "$api" 2>/dev/null
    rm -rf "$api_out" "${work:-}"
    psql -X -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1 || true
}
trap cleanup EXIT
DATABASE_URL="$db_url" JITGEN_LOG=warn "$bin" migrate >/dev/null
token="$(psql -X -At -v ON_ERROR_STOP=1 -d "$db_url" <<SQL | tail -1
CREATE ROLE $role;
SELECT jitgen.register_node('kitchen-1', 'acme', 'smollm2-135m', '$role', 1000);
SELECT jitgen.issue_node_token('kitchen-1', interval '1 hour', 'schemathesis');
SQL
)"
[[ "$token" == jgn_* ]] || die "no token issued: $token"
DATABASE_URL="$db_url" JITGEN_LOG=warn "$bin" api --listen 127.0.0.1:0 >"$api_out" &
api=$!
for _ in $(seq 1 200); do [ -s "$api_out" ] && break; sleep 0.05; done
base="$(head -1 "$api_out")"
[ -n "$base" ] || die "jitgen api printed no URL"
log "schemathesis against $base (max $MAX_EXAMPLES examples per operation)"
# Its crash cache goes to the working directory: a temporary one, not the clone.
work="$(mktemp -d /tmp/jitgen-schemathesis.XXXXXX)"
cd "$work"
"$JG_SCHEMATHESIS_VENV/bin/schemathesis" run "$base/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
    --max-examples "$MAX_EXAMPLES" --seed 4004 --phases examples,coverage,fuzzing --no-color \
    --generation-database none -H "Authorization: Bearer $token" --request-timeout 30
