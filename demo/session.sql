\set VERBOSITY verbose
\pset pager off
\echo '--- seed 000: the formula session for a squat day (1RM 140 kg, block 1, heavy)'
\set input '{"sessionId":"demo-1","weekNumber":1,"blockNumber":1,"primaryLift":"squat","intensityType":"heavy","oneRmKg":140,"sorenessRatings":{"quads":6},"weeklyVolumeToDate":{"quads":16},"activeAuxiliaries":["Romanian Deadlift","Leg Press"]}'
SELECT s->'mainLiftSets' AS main, s->'auxiliaryWork'->0->>'exercise' AS first_aux, s->'warnings' AS warnings
FROM jitgen.formula_session(:'input') AS s;

\echo '--- an LLM adjustment is applied, then the hard constraints hold it (MRV, over-reaction guard)'
SELECT s->'mainLiftSets' AS main, s->'warnings' AS warnings
FROM jitgen.apply_adjustment(:'input', '{"intensityModifier":0.80,"setModifier":2,"skipMainLift":false,
  "auxOverrides":[{"exercise":"Leg Press","action":"skip","anchorOverride":null}],"rationale":["push it"],"confidence":"high"}') AS s;

\echo '--- no LLM configured here: llm falls back to the formula and says why'
SELECT s->>'jit_strategy' AS strategy, s->'fallback_reason' AS reason
FROM jitgen.generate_session(:'input', 'llm') AS s;

\echo '--- the app writes a sessions row; its trigger fills the session'
INSERT INTO sessions (user_id, jit_input, requested_strategy)
VALUES ('00000000-0000-0000-0000-000000000001', :'input', 'auto')
RETURNING jit_strategy, jit_generated_at IS NOT NULL AS generated, session->'mainLiftSets'->0->>'weight_kg' AS kg;

\echo '--- bad input gets 22023 with the field and a hint'
SELECT jitgen.formula_session((:'input')::jsonb || '{"blockNumber":4}');
