-- The real base model (SmolLM2-135M-Instruct behind `jitgen serve`) as the LLM of every LLM
-- path. A 135M model is far below what these prompts are written for: the point is what jitgen
-- does with what it gets — valid answers are used, invalid ones re-asked, and the rest fall
-- back or fail with the reason, never stored unchecked.
\pset pager off
\set input '{"sessionId":"demo-llm","weekNumber":1,"blockNumber":1,"primaryLift":"squat","intensityType":"heavy","oneRmKg":140,"sorenessRatings":{"quads":6},"weeklyVolumeToDate":{"quads":16},"activeAuxiliaries":["Romanian Deadlift","Leg Press"]}'
SET jitgen.llm_endpoint = :'endpoint';
SET jitgen.llm_model = 'smollm2-135m-instruct';
-- jitgen serve runs without an API key here; the session path still wants one configured.
SET jitgen.llm_api_key = 'local';
-- Two cores decode about 20 tokens/s: give the model time to finish the adjustment.
SET jitgen.llm_timeout_ms = 90000;

\echo '--- session JIT (seed 000), llm and hybrid: the model''s adjustment passes the hard constraints, or the formula stands in and says why'
SELECT m AS requested, s->>'jit_strategy' AS strategy, s->'fallback_reason' AS fallback_reason,
       s->'mainLiftSets'->0->>'weight_kg' AS first_set_kg, jsonb_array_length(s->'mainLiftSets') AS sets
FROM unnest(ARRAY['llm', 'hybrid']) AS m, LATERAL jitgen.generate_session(:'input', m) AS s;

\echo '--- a program (seed 002) for a third user: the worker asks the model, re-asks once with the problems, then falls back to the template'
SET jitgen.user_id = 'cccccccc-cccc-4ccc-8ccc-cccccccccccc';
INSERT INTO profiles (user_id, onboarding_responses, onboarding_completed) VALUES ('cccccccc-cccc-4ccc-8ccc-cccccccccccc',
  '{"primaryGoal": "Hypertrophy", "experienceLevel": "Beginner (<6 months)", "trainingFrequencyDays": 3,
    "equipment": ["Dumbbells"]}', true);
RESET jitgen.user_id;
SELECT j->>'state' AS state, j->'result'->>'success' AS success, j->'result'->>'ai_model_version' AS model,
       j->'result'->>'code' AS error_code, left(j->'result'->>'last_invalid', 160) AS last_invalid_reply
FROM jitgen.await_job((SELECT id FROM jitgen.jobs WHERE kind = 'program.generate'
                       AND key = 'cccccccc-cccc-4ccc-8ccc-cccccccccccc'), 300000) AS j;

\echo '--- learning content (seed 003): atoms the validator accepts are saved, the rest are counted as rejected'
-- The request commits first: a job queued in a transaction is invisible to workers until commit.
SELECT jitgen.request_content('c0000000-0000-4000-8000-000000000001', 'user_request', ARRAY['explanation']) AS content_job \gset
SELECT j->>'state' AS state, j->'result'->>'saved' AS saved, jsonb_array_length(j->'result'->'errors') AS rejected,
       j->'result'->'errors'->0->>'error' AS first_rejection, j->'error'->'failure'->>'message' AS llm_error
FROM jitgen.await_job(:content_job, 180000) AS j;

\echo '--- the oracle''s coder (seed 001): the 135M model is asked for a handler and its tests; whatever it writes runs only in the sandbox, and only tested, agreeing code is activated'
SELECT jitgen.register_component('demo', 'length', 'Count the characters of the text.',
    '{"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}',
    '{"type": "object", "required": ["length"], "properties": {"length": {"type": "integer"}}}') ->> 'handler_type' AS handler;
SELECT jitgen.trigger_jit('demo', 'length') AS coder_job \gset
SELECT j ->> 'state' AS state, coalesce(j -> 'result' ->> 'outcome', j -> 'error' ->> 'kind') AS outcome,
       left(coalesce(j -> 'result' ->> 'pytest', j -> 'error' ->> 'message'), 300) AS detail
FROM jitgen.await_job(:coder_job, 300000) AS j;
SELECT handler_type FROM jitgen.components WHERE app_id = 'demo';

\echo '--- every call, as jitgen.llm_calls recorded it'
SELECT component_id, model, outcome, prompt_tokens, completion_tokens, latency_ms
FROM jitgen.llm_calls WHERE model = 'smollm2-135m-instruct' ORDER BY id;
