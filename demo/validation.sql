\set VERBOSITY verbose
\pset pager off
\set ECHO none
CREATE TEMP TABLE fixture AS SELECT :'program'::jsonb AS program;
\set ECHO queries
\echo '--- the schemas jitgen knows'
SELECT name, version, builtin, created_at::date FROM jitgen.schemas ORDER BY name, version;

\echo '--- a real generated training program is stored; its name and length are extracted'
INSERT INTO training_programs (user_id, program_details)
SELECT '00000000-0000-0000-0000-000000000001', program FROM fixture
RETURNING program_name, total_duration_weeks;

\echo '--- the same program with a day 9 and mismatched phase lengths: the CHECK refuses it'
SELECT jitgen.validate('training_program',
    jsonb_set(jsonb_set(program, '{phases,0,weeks,1,days,2,dayOfWeek}', '9'), '{durationWeeksTotal}', '12'))
FROM fixture;
INSERT INTO training_programs (user_id, program_details)
SELECT '00000000-0000-0000-0000-000000000001', jsonb_set(program, '{phases,0,weeks,1,days,2,dayOfWeek}', '9')
FROM fixture;

\echo '--- an LLM session adjustment (seed 000): good, then one that breaks every rule'
SELECT jitgen.validate('jit_adjustment', '{"intensityModifier":0.95,"setModifier":-1,"skipMainLift":false,
  "auxOverrides":[{"exercise":"Leg Press","action":"skip","anchorOverride":null}],
  "rationale":["Quads 7/10 sore: one set fewer"],"confidence":"medium"}');
SELECT d->>'path' AS path, d->>'code' AS code, d->>'message' AS message
FROM jsonb_array_elements(jitgen.validate('jit_adjustment',
  '{"intensityModifier":0.10,"setModifier":5,"skipMainLift":"no","auxOverrides":{"Leg Press":"drop"},
    "rationale":["a","b","c","d","e","f"],"confidence":"certain"}')->'details') AS d;

\echo '--- a node posts its voice commands (seed 004): the 400 body, raised as 22023'
SELECT jitgen.assert_valid_commands('[
  {"command_name":"weather","description":"Weather forecast","parameters":[
     {"name":"city","type":"str","required":true},{"name":"days","type":"array<decimal>","required":false}],
   "examples":[{"voice_command":"weather in Paris","expected_parameters":{"city":"Paris","zip":"75001"}}]},
  {"command_name":"timer","description":"Start a timer","parameters":[],"examples":[]},
  {"command_name":"weather","description":"duplicate","parameters":[],"examples":[{"expected_parameters":{}}]}
]');

\echo '--- an app registers its own schema; new versions replace cached validators at once'
SELECT jitgen.register_schema('meal_plan', '{"type":"object","required":["meals"],
  "properties":{"meals":{"type":"array","maxItems":3,"items":{"type":"string"}}}}') AS version;
SELECT jitgen.validate('meal_plan', '{"meals":["a","b","c","d"]}');
SELECT jitgen.register_schema('meal_plan', '{"type":"object","required":["meals"],
  "properties":{"meals":{"type":"array","maxItems":5,"items":{"type":"string"}}}}') AS version;
SELECT jitgen.validate('meal_plan', '{"meals":["a","b","c","d"]}');

\echo '--- bad input gets a specific SQLSTATE with DETAIL and HINT'
SELECT jitgen.validate('meal_plans', '{}');
SELECT jitgen.validate('meal_plan', (repeat('[', 10000) || repeat(']', 10000))::jsonb);
