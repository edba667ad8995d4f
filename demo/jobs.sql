\pset pager off
\echo '--- enqueue jobs in a transaction: a rolled-back one leaves nothing'
BEGIN;
SELECT jitgen.enqueue('echo', '{"note":"never runs"}');
ROLLBACK;
SELECT jitgen.enqueue('echo', '{"hello":"world"}') AS echo_job \gset
SELECT jitgen.enqueue('echo', '{"fail_times":2}') AS flaky_job \gset
SELECT jitgen.enqueue('echo', '{"fail_times":9}', max_attempts => 2) AS doomed_job \gset
SELECT jitgen.enqueue('no.such.kind', '{}') AS unknown_job \gset
SELECT jitgen.enqueue('session.generate',
    jsonb_build_object('session_id', (SELECT id FROM sessions LIMIT 1)::text, 'strategy', 'formula')) AS session_job \gset
\echo '--- wait for them (await_job returns when a job leaves queued/running)'
SELECT j->>'id' AS id, j->>'kind' AS kind, j->>'state' AS state, j->>'attempts' AS attempts, j->'error'->>'kind' AS error
FROM unnest(ARRAY[:echo_job, :flaky_job, :doomed_job, :unknown_job, :session_job]) AS id,
     LATERAL jitgen.await_job(id, 20000) AS j;
SELECT job_id, attempt, outcome, error->>'message' AS error FROM jitgen.job_attempts ORDER BY job_id, attempt;
SELECT * FROM jitgen.job_summary ORDER BY kind, state;
SELECT id, kind, attempts, error->>'kind' AS error FROM jitgen.dead_jobs;
