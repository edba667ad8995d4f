-- psql-visible behaviour of schema validation. VERBOSITY default shows DETAIL and HINT.
SELECT name, version, builtin FROM jitgen.schemas ORDER BY name;

-- jit_adjustment: valid record form, valid array form, and one of each error code.
SELECT jitgen.validate('jit_adjustment', '{"intensityModifier":0.95,"setModifier":-1,"skipMainLift":false,
  "auxOverrides":{"Leg Press":"skip"},"rationale":["sore quads"],"confidence":"medium"}');
SELECT jitgen.validate('jit_adjustment', '{"intensityModifier":0.95,"setModifier":-1,"skipMainLift":false,
  "auxOverrides":[{"exercise":"Leg Press","action":"reduce","anchorOverride":{"weightKg":80,"reason":"grip"}}],
  "rationale":[],"confidence":"low","restAdjustments":{"mainLift":30}}');
SELECT d->>'path' AS path, d->>'code' AS code, d->>'message' AS message
FROM jsonb_array_elements(jitgen.validate('jit_adjustment', '{"intensityModifier":0.10,"setModifier":2.5,
  "skipMainLift":"no","auxOverrides":{"Leg Press":"drop"},"rationale":["a","b","c","d","e","f"],
  "confidence":"certain"}')->'details') AS d;
SELECT jitgen.is_valid('jit_adjustment', '{}');

-- seed 004: the 400 body for the equivalent bad payload.
WITH cmd(i) AS (SELECT generate_series(0, 5)),
commands AS (
  SELECT jsonb_agg(jsonb_build_object(
    'command_name', 'cmd' || i, 'description', 'command ' || i,
    'parameters', jsonb_build_array(
        jsonb_build_object('name', 'city', 'type', 'str', 'required', true),
        jsonb_build_object('name', 'days', 'type', 'int', 'required', false),
        jsonb_build_object('name', 'at', 'type', CASE WHEN i = 1 THEN 'array<decimal>' ELSE 'array<float>' END, 'required', false)),
    'examples', CASE
        WHEN i = 5 THEN '[]'::jsonb
        WHEN i = 3 THEN '[{"expected_parameters":{}}]'::jsonb
        ELSE '[{"voice_command":"weather in Paris","expected_parameters":{"city":"Paris"},"is_primary":true}]'::jsonb END)
    ORDER BY i) AS doc
  FROM cmd)
SELECT jitgen.validate_commands(doc) - 'valid' AS body FROM commands;

-- user schemas: versions, idempotence, the cache following a new version.
SELECT jitgen.register_schema('workout_plan', '{"type":"object","required":["days"],
  "properties":{"days":{"type":"integer","minimum":1,"maximum":7}}}');
SELECT jitgen.register_schema('workout_plan', '{"type":"object","required":["days"],
  "properties":{"days":{"type":"integer","minimum":1,"maximum":7}}}');
SELECT jitgen.validate('workout_plan', '{"days":9}');
SELECT jitgen.register_schema('workout_plan', '{"type":"object","required":["days"],
  "properties":{"days":{"type":"integer","minimum":1,"maximum":14}}}');
SELECT jitgen.validate('workout_plan', '{"days":9}');
SELECT name, version FROM jitgen.schemas WHERE NOT builtin ORDER BY version;

-- errors
SELECT jitgen.validate('no_such_schema', '{}');
SELECT jitgen.register_schema('broken', '{"type":"strnig"}');
SELECT jitgen.register_schema('training_program', '{}');
SELECT jitgen.is_valid('jit_adjustment', NULL);
SELECT jitgen.assert_valid('workout_plan', '{"days":"seven"}');
SELECT jitgen.validate('workout_plan', (repeat('[', 10000) || repeat(']', 10000))::jsonb);
SELECT jitgen.validate('workout_plan', jsonb_build_object('days', repeat('x', 10 * 1024 * 1024)));

-- CHECK constraints
CREATE TABLE plans (doc jsonb NOT NULL CHECK (jitgen.is_valid('workout_plan', doc)));
INSERT INTO plans VALUES ('{"days":3}');
INSERT INTO plans VALUES ('{"days":0}');
SELECT count(*) FROM plans;

-- `format` follows the draft: an annotation in 2020-12 unless asserted, asserted in draft 7.
SELECT jitgen.register_schema('contact', '{"type":"object","properties":{"email":{"type":"string","format":"email"}}}');
SELECT jitgen.is_valid('contact', '{"email":"not-an-email"}') AS annotation_only;
SELECT jitgen.register_schema('contact', '{"type":"object","properties":{"email":{"type":"string","format":"email"}}}', assert_formats => true);
SELECT jitgen.is_valid('contact', '{"email":"not-an-email"}') AS asserted, jitgen.validate('contact', '{"email":"not-an-email"}');
SELECT jitgen.matches_schema('{"format":"date"}', '"31/12"') AS d2020,
       jitgen.matches_schema('{"format":"date"}', '"31/12"', assert_formats => true) AS d2020_asserted,
       jitgen.matches_schema('{"$schema":"http://json-schema.org/draft-07/schema#","format":"date"}', '"31/12"') AS draft7;
