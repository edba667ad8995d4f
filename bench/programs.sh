#!/usr/bin/env bash
# bench/programs: program generation through `jitgen run` (8 workers) against `jitgen dev-llm`,
# a scripted OpenAI-compatible server that answers a realistic program (about 10 KB)
# after a fixed latency. Prints, against the named baseline measured or fixed in the same run:
#   throughput as a ratio of the ideal, workers ÷ LLM latency (target ≥ 0.85);
#   the pipeline's own p50/p99 time per program beyond the LLM latency (target p50 ≤ 10 ms).
#   bench/programs.sh [programs=1000] [workers=8] [latency_ms=200]
source "$(dirname "$0")/../scripts/lib.sh"
PROGRAMS="${1:-1000}"
WORKERS="${2:-8}"
LATENCY_MS="${3:-200}"
bench_prepare
cd "$JG_ROOT"
cargo build --release -p jitgen-sidecar
JITGEN_LOG=warn target/release/jitgen migrate >/dev/null

llm_out="$(mktemp /tmp/jitgen-dev-llm.XXXXXX)"
target/release/jitgen dev-llm --latency-ms "$LATENCY_MS" >"$llm_out" &
llm=$!
worker=""
stop_children() {
    kill $worker "$llm" 2>/dev/null || true
    wait $worker "$llm" 2>/dev/null || true
    rm -f "$llm_out"
}
trap 'stop_children; stop_cluster' EXIT
for _ in $(seq 1 200); do [ -s "$llm_out" ] && break; sleep 0.05; done
url="$(head -1 "$llm_out")"
[ -n "$url" ] || die "jitgen dev-llm printed no URL"
JITGEN_LOG=warn JITGEN_METRICS_ADDR=off JITGEN_WORKERS="$WORKERS" JITGEN_WORKER_ID=bench-programs \
    LLM_API_KEY=bench-key LLM_API_ENDPOINT="$url" target/release/jitgen run &
worker=$!
for _ in $(seq 1 200); do
    [ "$(psql -X -At -c "SELECT count(*) FROM jitgen.workers WHERE id = 'bench-programs' AND heartbeat_at > now() - interval '5 s'")" = 1 ] && break
    sleep 0.05
done

log "requesting $PROGRAMS programs in one transaction; $WORKERS workers, LLM latency $LATENCY_MS ms"
psql -X -q -v ON_ERROR_STOP=1 -v n="$PROGRAMS" -f bench/programs.sql
deadline=$((SECONDS + 600))
while :; do
    left="$(psql -X -At -c "SELECT count(*) FROM jitgen.jobs WHERE kind = 'program.generate' AND state IN ('queued', 'running')")"
    [ "$left" = 0 ] && break
    [ "$SECONDS" -lt "$deadline" ] || die "$left programs still pending after 600 s"
    sleep 0.5
done
# Baseline in the same run: echo jobs that sleep as long as the LLM answers, through the same
# worker, so the queue's own per-job cost is measured next to the program pipeline's.
log "baseline: $((PROGRAMS / 2)) echo jobs sleeping $LATENCY_MS ms"
psql -X -q -v ON_ERROR_STOP=1 -c "SELECT count(jitgen.enqueue('echo', jsonb_build_object('sleep_ms', $LATENCY_MS, 'i', i))) FROM generate_series(1, $((PROGRAMS / 2))) i" >/dev/null
deadline=$((SECONDS + 600))
until [ "$(psql -X -At -c "SELECT count(*) FROM jitgen.jobs WHERE kind = 'echo' AND state IN ('queued', 'running')")" = 0 ]; do
    [ "$SECONDS" -lt "$deadline" ] || die "echo jobs still pending after 600 s"
    sleep 0.5
done
psql -X -v ON_ERROR_STOP=1 -v workers="$WORKERS" -v latency_ms="$LATENCY_MS" <<'SQL'
\pset footer off
SELECT count(*) FILTER (WHERE (result->>'success')::boolean) AS programs,
       count(*) FILTER (WHERE NOT coalesce((result->>'success')::boolean, false)) AS not_programs,
       (SELECT round(avg(octet_length(program_details::text))) FROM training_programs) AS avg_program_bytes
FROM jitgen.jobs WHERE kind = 'program.generate';
WITH span AS (
    SELECT count(*) AS n, extract(epoch FROM max(a.finished_at) - min(a.started_at)) AS seconds
    FROM jitgen.job_attempts a JOIN jitgen.jobs j ON j.id = a.job_id
    WHERE j.kind = 'program.generate' AND a.outcome = 'complete')
SELECT n AS programs, round(seconds::numeric, 2) AS seconds, round((n / seconds)::numeric, 2) AS programs_per_s,
       round((:workers / (:latency_ms / 1000.0))::numeric, 2) AS ideal_per_s_baseline,
       round(((n / seconds) / (:workers / (:latency_ms / 1000.0)))::numeric, 3) AS ratio_to_ideal
FROM span;
-- Time per job beyond the LLM's (or the echo's) fixed 200 ms.
SELECT j.kind AS pipeline,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.finished_at - a.started_at) * 1000 - :latency_ms)::numeric, 2) AS overhead_p50_ms,
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM a.finished_at - a.started_at) * 1000 - :latency_ms)::numeric, 2) AS overhead_p99_ms
FROM jitgen.job_attempts a JOIN jitgen.jobs j ON j.id = a.job_id
WHERE a.outcome = 'complete' GROUP BY j.kind ORDER BY j.kind DESC;
SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms)::numeric, 2) AS llm_call_p50_ms,
       :latency_ms AS llm_server_latency_ms
FROM jitgen.llm_calls WHERE component_id = 'program.generate';
SQL
stop_children
