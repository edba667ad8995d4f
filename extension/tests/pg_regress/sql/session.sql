-- psql-visible behaviour of the training-session JIT (seed 000).
\set input '{"sessionId":"s1","weekNumber":1,"blockNumber":1,"primaryLift":"squat","intensityType":"heavy","oneRmKg":140}'

-- The reference example: squat 1RM 140, block 1 heavy, male → 2 × 5 @ 112.5 kg.
SELECT s->>'jit_strategy' AS strategy, jsonb_array_length(s->'mainLiftSets') AS sets,
       s->'mainLiftSets'->0->>'reps' AS reps, s->'mainLiftSets'->0->>'weight_kg' AS kg,
       s->'restSeconds' AS rest
FROM jitgen.formula_session(:'input') AS s;

-- An adjustment: −1 set at 0.95 (a cut of both is held by the over-reaction guard).
SELECT s->'mainLiftSets' AS sets, s->'warnings' AS warnings
FROM jitgen.apply_adjustment(:'input', '{"intensityModifier":0.95,"setModifier":-1,"skipMainLift":false,
  "auxOverrides":{},"rationale":["tired"],"confidence":"low"}') AS s;

-- Quads at MRV: the main lift is skipped whatever the adjustment says.
SELECT s->>'skippedMainLift' AS skipped, s->'warnings' AS warnings
FROM jitgen.apply_adjustment((:'input')::jsonb || '{"weeklyVolumeToDate":{"quads":20}}',
  '{"intensityModifier":1.0,"setModifier":0,"skipMainLift":false,"auxOverrides":{},"rationale":[],"confidence":"high"}') AS s;

-- Rehab cap rounded up to the increment.
SELECT s->'mainLiftSets'->0->>'weight_kg' AS kg, s->'warnings' AS warnings
FROM jitgen.formula_session((:'input')::jsonb || '{"rehabCaps":[{"lift":"squat","capKg":82.5}],"weightIncrementKg":5}') AS s;

SELECT jitgen.resolve_strategy('auto', true) AS online, jitgen.resolve_strategy('auto', false) AS offline,
       jitgen.resolve_strategy('hybrid', false) AS hybrid;
SELECT sets, jitgen.volume_status(sets, 8, 20) FROM unnest(ARRAY[4, 8, 18, 20, 21]) AS sets;
SELECT rpe, jitgen.rpe_set_multiplier(rpe) FROM unnest(ARRAY[5, 6, 6.5, 7, 7.5, 8, 8.5, 9, 10, NULL]::numeric[]) AS rpe;
SELECT jitgen.mrv_mev_config('female', 'advanced')->'quads' AS quads;
SELECT jsonb_object_keys(jitgen.build_jit_context((:'input')::jsonb || '{"warmupConfig":{"preset":"minimal"}}')) AS context_keys ORDER BY 1;

-- Offline generate_session: llm falls back, the reason says why.
SELECT s->>'jit_strategy' AS strategy, s->'fallback_reason'->>'code' AS reason
FROM jitgen.generate_session(:'input', 'llm', false) AS s;

-- Bad input
SELECT jitgen.formula_session((:'input')::jsonb || '{"primaryLift":"curl"}');
SELECT jitgen.formula_session((:'input')::jsonb || '{"blockNumber":4}');
SELECT jitgen.formula_session((:'input')::jsonb || '{"oneRmKg":-1}');
SELECT jitgen.formula_session((:'input')::jsonb || '{"sorenessRatings":{"quads":11}}');
SELECT jitgen.apply_adjustment(:'input', '{"intensityModifier":0.10}');
SELECT jitgen.resolve_strategy('fastest', true);
