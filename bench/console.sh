#!/usr/bin/env bash
# bench/console: the console's Jobs page over a ledger of 100,000 jobs, against the same data
# read by `jitgen status` (the baseline) in the same run. Target: the page in <= 200 ms (p50).
#   bench/console.sh [jobs=100000] [requests=21]
source "$(dirname "$0")/../scripts/lib.sh"
JOBS="${1:-100000}"
REQUESTS="${2:-21}"
bench_prepare
cd "$JG_ROOT"
cargo build --release -q -p jitgen-sidecar
JITGEN_LOG=warn target/release/jitgen migrate >/dev/null
psql -X -q -v ON_ERROR_STOP=1 <<SQL
INSERT INTO jitgen.jobs (kind, state, attempts, progress, error, created_at)
SELECT (ARRAY['echo', 'program.generate', 'content.generate', 'session.generate'])[1 + i % 4],
       (ARRAY['complete', 'complete', 'complete', 'failed', 'dead', 'queued', 'running', 'canceled'])[1 + i % 8],
       1 + i % 3, (i % 100) / 100.0,
       CASE WHEN i % 8 IN (3, 4) THEN jsonb_build_object('kind', 'bench', 'message', 'failure ' || i) END,
       now() - i * interval '1 s'
FROM generate_series(1, $JOBS) i;
ANALYZE jitgen.jobs;
DROP ROLE IF EXISTS jitgen_bench_operator; CREATE ROLE jitgen_bench_operator;
DO \$\$ BEGIN EXECUTE format('GRANT %I TO jitgen_bench_operator', current_user); END \$\$;
SQL
token="bench-console-token-$(date +%s)"
out="$(mktemp /tmp/jitgen-console.XXXXXX)"
JITGEN_CONSOLE_TOKEN="$token" JITGEN_CONSOLE_ROLE=jitgen_bench_operator JITGEN_LOG=warn \
    target/release/jitgen console --listen 127.0.0.1:0 >"$out" &
console=$!
trap 'kill $console 2>/dev/null || true; rm -f "$out"; stop_cluster' EXIT
for _ in $(seq 1 200); do [ -s "$out" ] && break; sleep 0.05; done
url="$(head -1 "$out")"
[ -n "$url" ] || die "the console printed no URL"
curl -fsS -o /dev/null -H "Authorization: Bearer $token" "$url/jobs"   # warm up
page_ms() { curl -fsS -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $token" "$url/jobs" | awk '{ printf "%.1f\n", $1 * 1000 }'; }
status_ms() { local t0; t0=$(date +%s%N); target/release/jitgen status >/dev/null; echo "$(( ($(date +%s%N) - t0) / 100000 ))" | awk '{ printf "%.1f\n", $1 / 10 }'; }
p50() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
page="$(for _ in $(seq 1 "$REQUESTS"); do page_ms; done | p50)"
status="$(for _ in $(seq 1 "$REQUESTS"); do status_ms; done | p50)"
echo "jobs page over $JOBS jobs, $REQUESTS requests: p50 $page ms (target <= 200 ms)"
echo "jitgen status over the same data (baseline): p50 $status ms"
awk -v a="$page" -v b="$status" 'BEGIN { printf "ratio page / status: %.2f\n", a / b }'
