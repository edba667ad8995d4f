-- The optimisation oracle (seed 001): a component answered by its prompt until a rule says it
-- is worth replacing, then by generated code that passed its tests in the sandbox and agreed
-- with every recorded answer. The LLM and the coder here are `jitgen dev-llm` (scripted: it
-- counts characters and writes that one handler; not a model); demo/real_llm.sql shows what
-- the real 135M model makes of the coder's task.
\pset pager off
SET jitgen.llm_endpoint = :'endpoint';
SET jitgen.llm_model = 'jitgen-dev-llm';
SET jitgen.llm_api_key = 'local';
SET jitgen.jit_endpoint = :'jit_endpoint';

\echo '--- register a component: its prompt and both schemas'
SELECT jitgen.register_component('shop', 'length', 'Count the characters of the text.',
    '{"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}',
    '{"type": "object", "required": ["length"], "properties": {"length": {"type": "integer"}}}') ->> 'handler_type' AS handler;

\echo '--- the app invokes it through the prompt; every call is measured (the LLM answers after 200 ms)'
SELECT i, jitgen.invoke('shop', 'length', jsonb_build_object('text', repeat('ab', i))) AS answer FROM generate_series(1, 5) i;
\echo '--- bad input never reaches the model: 22023 with the report'
SELECT jitgen.invoke('shop', 'length', '{"txt": 1}');

\echo '--- a rule: slower than 100 ms and called at least once every 20 minutes over the last hour'
SELECT jitgen.set_rule('{"scope": "global", "min_latency_ms": 100, "min_calls_per_minute": 0.05}') ->> 'scope' AS rule_scope;
SELECT decision, reasons -> 'conditions' AS conditions, (reasons ->> 'job_id')::bigint AS generation_job
FROM jitgen.evaluate_oracle() WHERE app_id = 'shop' \gset
\echo decision: :decision, jit.generate job :generation_job

\echo '--- jit.generate: the coder''s code and tests, pytest in the sandbox, shadow replay of the recorded calls'
SELECT j ->> 'state' AS state, j -> 'result' ->> 'outcome' AS outcome, j -> 'result' ->> 'shadow_agreement' AS agreement,
       j -> 'result' ->> 'samples' AS samples, j -> 'result' ->> 'pytest' AS pytest
FROM jitgen.await_job(:generation_job, 120000) AS j;
SELECT version, kind, path, length(content) AS bytes FROM jitgen.jit_artifacts ORDER BY version, kind;
SELECT handler_type, active_version, task_details FROM jitgen.components WHERE app_id = 'shop';
SELECT decision, reasons - 'conditions' AS reasons FROM jitgen.oracle_decisions WHERE app_id = 'shop' ORDER BY id;

\echo '--- the same call now runs the generated code in a warm sandboxed worker'
SELECT i, jitgen.invoke('shop', 'length', jsonb_build_object('text', repeat('generated ', i))) AS answer FROM generate_series(1, 5) i;
SELECT handler_type, version, count(*) AS calls, round(avg(latency_ms)::numeric, 1) AS avg_ms,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms)::numeric, 1) AS p50_ms
FROM jitgen.component_metrics WHERE app_id = 'shop' GROUP BY 1, 2 ORDER BY 1;
SELECT llm_calls, jit_calls, synthesis_cost, break_even_calls FROM jitgen.component_savings WHERE app_id = 'shop';
