-- Seed 002: program generation. Two app users complete onboarding; the profiles trigger
-- requests their programs; `jitgen run` asks the LLM (here `jitgen dev-llm`, a scripted
-- OpenAI-compatible server: no model is reachable from this machine), validates the reply and
-- stores it under row-level security.
\pset pager off
\set alice 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'
\set bob 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'
DROP ROLE IF EXISTS jitgen_demo_app;
CREATE ROLE jitgen_demo_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON profiles, training_programs TO jitgen_demo_app;

\echo '--- as the app, for alice, then bob: completing onboarding requests a program'
SET ROLE jitgen_demo_app;
SET jitgen.user_id = :'alice';
INSERT INTO profiles (user_id, onboarding_responses, onboarding_completed) VALUES (:'alice',
  '{"primaryGoal": "Strength Gain: General", "experienceLevel": "Intermediate (6mo-2yr)",
    "trainingFrequencyDays": 4, "sessionDuration": "60-75 minutes",
    "equipment": ["Full Gym (Barbells, Racks, Machines)"]}', true);
SET jitgen.user_id = :'bob';
INSERT INTO profiles (user_id, onboarding_responses, onboarding_completed) VALUES (:'bob',
  '{"primaryGoal": "General Fitness: Foundational Strength", "experienceLevel": "Beginner (<6 months)",
    "trainingFrequencyDays": 3, "equipment": ["Dumbbells"]}', true);
\echo '--- bob asking for alice is refused'
SELECT jitgen.request_program(:'alice');
RESET ROLE;
RESET jitgen.user_id;

SELECT id AS alice_job FROM jitgen.jobs WHERE kind = 'program.generate' AND key = :'alice' \gset
SELECT id AS bob_job FROM jitgen.jobs WHERE kind = 'program.generate' AND key = :'bob' \gset
\echo '--- wait for both jobs'
SELECT j->>'id' AS job, j->>'state' AS state, j->'result'->>'ai_model_version' AS model
FROM unnest(ARRAY[:alice_job, :bob_job]) AS id, LATERAL jitgen.await_job(id, 30000) AS j;

\echo '--- alice reads her result (the origin''s union) and sees only her own program'
SET ROLE jitgen_demo_app;
SET jitgen.user_id = :'alice';
SELECT r->>'success' AS success, r->'program'->>'programName' AS program,
       r->'program'->>'durationWeeksTotal' AS weeks, r->'program'->'requiredEquipment' AS equipment
FROM jitgen.program_result(:alice_job) AS r;
SELECT user_id, program_name, total_duration_weeks, ai_model_version FROM training_programs;
\echo '--- and not bob''s result'
SELECT jitgen.program_result(:bob_job);
RESET ROLE;
RESET jitgen.user_id;

\echo '--- the operator''s view: both programs, and what each LLM call cost'
SELECT user_id, program_name, total_duration_weeks, ai_model_version,
       onboarding_data_snapshot->>'experienceLevel' AS experience
FROM training_programs ORDER BY program_name;
SELECT component_id, model, outcome, prompt_tokens, completion_tokens FROM jitgen.llm_calls
WHERE component_id LIKE 'program.%' ORDER BY id;
DROP OWNED BY jitgen_demo_app;
DROP ROLE jitgen_demo_app;
