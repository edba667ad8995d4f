-- Varied, realistic inputs: every lift, block and intensity, both sexes, soreness, weekly
-- volume, recent logs and an auxiliary list; adjustments in both auxOverrides forms.
CREATE TABLE inputs AS
SELECT g,
  jsonb_build_object(
    'sessionId', 's' || g, 'weekNumber', 1 + g % 4, 'blockNumber', 1 + g % 3,
    'primaryLift', (ARRAY['squat','bench','deadlift'])[1 + g % 3],
    'intensityType', (ARRAY['heavy','explosive','rep','deload'])[1 + (g / 3) % 4],
    'oneRmKg', 60 + g % 140, 'biologicalSex', CASE WHEN g % 5 = 0 THEN 'female' ELSE 'male' END,
    'sorenessRatings', jsonb_build_object('quads', 1 + g % 8, 'chest', 1 + (g / 7) % 6),
    'weeklyVolumeToDate', jsonb_build_object('quads', g % 19, 'chest', g % 15, 'hamstrings', g % 12),
    'activeAuxiliaries', '["Romanian Deadlift","Leg Press","Barbell Row"]'::jsonb,
    'recentLogs', jsonb_build_array(jsonb_build_object('sessionDate', '2026-11-20',
        'lift', (ARRAY['squat','bench','deadlift'])[1 + g % 3],
        'sets', jsonb_build_array(jsonb_build_object('weightKg', 100, 'reps', 5, 'rpe', 7 + g % 3)))),
    'activeDisruptions', '[]'::jsonb) AS input,
  jsonb_build_object('intensityModifier', 0.85 + (g % 30) / 100.0, 'setModifier', -1 + g % 3,
    'skipMainLift', false, 'confidence', 'medium', 'rationale', '["bench"]'::jsonb,
    'auxOverrides', CASE WHEN g % 2 = 0 THEN '{"Leg Press":"reduce"}'::jsonb
                         ELSE '[{"exercise":"Leg Press","action":"skip","anchorOverride":null}]'::jsonb END) AS adjustment
FROM generate_series(1, :calls) AS g;
ANALYZE inputs;

CREATE TABLE timings (variant text, rep int, ms double precision);
DO $$
DECLARE r int; v text; t0 timestamptz; n bigint;
  variants text[] := ARRAY[
    'jitgen._jsonb_identity(input)',
    'jitgen.formula_session(input)',
    'jitgen.apply_adjustment(input, adjustment)',
    'jitgen.generate_session(input, ''formula'')'];
BEGIN
  FOR r IN 1..current_setting('bench.repeats')::int LOOP
    FOREACH v IN ARRAY variants LOOP
      t0 := clock_timestamp();
      EXECUTE format('SELECT count(%s) FROM inputs', v) INTO n;
      INSERT INTO timings VALUES (v, r, extract(epoch FROM clock_timestamp() - t0) * 1000);
    END LOOP;
  END LOOP;
END $$;

WITH best AS (SELECT variant, min(ms) AS ms FROM timings GROUP BY variant),
base AS (SELECT ms FROM best WHERE variant LIKE 'jitgen._jsonb_identity%')
SELECT variant, round((best.ms * 1000 / :calls)::numeric, 2) AS us_per_call,
       round((best.ms / base.ms)::numeric, 2) AS ratio_to_identity,
       CASE WHEN variant LIKE 'jitgen.generate_session%' THEN best.ms * 1000 / :calls <= 30 END AS meets_30us_target
FROM best, base ORDER BY best.ms;
