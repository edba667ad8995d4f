-- psql-visible behaviour of program requests (seed 002); the sidecar's generation is covered
-- end to end by tests/programs*.rs.
-- Before jitgen migrate created the app's tables.
SELECT jitgen.request_program('11111111-1111-1111-1111-111111111111');

-- The tables as the migrations make them (the columns these functions use).
CREATE TABLE profiles (user_id uuid PRIMARY KEY, onboarding_responses jsonb,
                       onboarding_completed boolean NOT NULL DEFAULT false);
CREATE TABLE training_programs (id uuid PRIMARY KEY, user_id uuid NOT NULL, program_details jsonb NOT NULL,
                                ai_model_version text);

SELECT jitgen.request_program('11111111-1111-1111-1111-111111111111', '["not", "an", "object"]');
SELECT jitgen.program_result(NULL);
SELECT jitgen.program_result(-1);

-- Decided at once: no identity, no onboarding.
SELECT jitgen.program_result(jitgen.request_program()) AS no_identity;
SELECT jitgen.program_result(jitgen.request_program('11111111-1111-1111-1111-111111111111')) AS no_onboarding;

-- An app role acts for its current user only, and sees only the jobs its role requested.
SELECT max(id) AS last_job FROM jitgen.jobs \gset
CREATE ROLE jitgen_programs_app NOLOGIN;
SET ROLE jitgen_programs_app;
SET jitgen.user_id = '22222222-2222-2222-2222-222222222222';
SELECT jitgen.request_program('11111111-1111-1111-1111-111111111111');
SELECT jitgen.program_result(:last_job);
-- It cannot raise its own limit.
SET jitgen.program_daily_limit = 1000;
RESET jitgen.user_id;
RESET ROLE;
DROP ROLE jitgen_programs_app;
DROP TABLE profiles, training_programs;
