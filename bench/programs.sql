-- bench/programs: :n users with completed onboarding (written without the trigger, so the
-- requests below are the only ones), then one request each in a single transaction.
SET session_replication_role = replica;
INSERT INTO profiles (user_id, onboarding_responses, onboarding_completed)
SELECT gen_random_uuid(),
       jsonb_build_object('primaryGoal', 'Muscle Gain: General',
                          'experienceLevel', (ARRAY['Beginner (<6 months)', 'Intermediate (6mo-2yr)', 'Advanced (2+ years)'])[1 + i % 3],
                          'trainingFrequencyDays', 2 + i % 2, 'sessionDuration', '45-60 minutes',
                          'equipment', (ARRAY['["Dumbbells"]', '["Full Gym (Barbells, Racks, Machines)"]', '["Kettlebells", "Resistance Bands"]'])[1 + i % 3]::jsonb),
       true
FROM generate_series(1, :n) AS i;
RESET session_replication_role;
BEGIN;
SELECT count(jitgen.request_program(user_id)) AS requested FROM profiles;
COMMIT;
