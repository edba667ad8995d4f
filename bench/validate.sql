-- Realistic generated programs: the fixture's structure with 1–2 phases of 1–4 weeks, 3–4 days
-- and 4–6 exercises a day, names and numbers varied per row, so sizes spread like LLM output.
CREATE TABLE docs AS
WITH base AS (SELECT :'program'::jsonb AS p)
SELECT i, jsonb_set(jsonb_set(jsonb_set(base.p,
          '{programName}', to_jsonb('Program #' || i)),
          '{phases}', (
            SELECT jsonb_agg(jsonb_set(jsonb_set(ph, '{durationWeeks}', to_jsonb(nweeks)),
                   '{weeks}', (SELECT jsonb_agg(jsonb_set(w, '{days}', (
                        SELECT jsonb_agg(jsonb_set(d, '{exercises}', (
                            SELECT coalesce(jsonb_agg(jsonb_set(e, '{sets}', to_jsonb(2 + (i + k) % 3))), '[]')
                            FROM jsonb_array_elements(d->'exercises') WITH ORDINALITY AS x(e, k)
                            WHERE k <= 4 + (i % 3))))
                        FROM jsonb_array_elements(w->'days') WITH ORDINALITY AS y(d, j)
                        WHERE j <= 3 + (i % 2))))
                   FROM jsonb_array_elements(ph->'weeks') WITH ORDINALITY AS z(w, n) WHERE n <= nweeks)))
            FROM jsonb_array_elements(base.p->'phases') WITH ORDINALITY AS q(ph, m),
                 LATERAL (SELECT 1 + (i + m::int) % 4 AS nweeks) nw
            WHERE m <= 1 + i % 2)),
          '{durationWeeksTotal}', '0') AS doc
FROM base, generate_series(1, :rows) AS i;
-- make the cross-field rule hold
UPDATE docs SET doc = jsonb_set(doc, '{durationWeeksTotal}',
    (SELECT to_jsonb(sum((ph->>'durationWeeks')::int)) FROM jsonb_array_elements(doc->'phases') ph));
ANALYZE docs;

SELECT count(*) AS rows,
       round(avg(length(doc::text))) AS avg_doc_chars,
       min(length(doc::text)) AS min_chars, max(length(doc::text)) AS max_chars,
       bool_and(jitgen.is_valid('training_program', doc)) AS all_valid
FROM docs \gset
\echo rows=:rows avg_doc_chars=:avg_doc_chars (min :min_chars, max :max_chars) all_valid=:all_valid

CREATE TABLE t_plain    (doc jsonb NOT NULL);
CREATE TABLE t_jitgen   (doc jsonb NOT NULL CHECK (jitgen.is_valid('training_program', doc)));
DO $$ BEGIN
  EXECUTE format('CREATE TABLE t_compile (doc jsonb NOT NULL CHECK (jitgen.matches_schema(%L::jsonb, doc)))',
                 (SELECT schema FROM jitgen.schemas WHERE name = 'training_program'));
END $$;
CREATE TABLE timings (variant text, rep int, ms double precision);

-- Variants interleave within each repeat so machine noise hits all of them alike.
DO $$
DECLARE r int; v text; t0 timestamptz;
BEGIN
  FOR r IN 1..current_setting('bench.repeats')::int LOOP
    FOREACH v IN ARRAY ARRAY['t_plain', 't_jitgen', 't_compile'] LOOP
      EXECUTE format('TRUNCATE %I', v);
      t0 := clock_timestamp();
      EXECUTE format('INSERT INTO %I SELECT doc FROM docs', v);
      INSERT INTO timings VALUES (v, r, extract(epoch FROM clock_timestamp() - t0) * 1000);
    END LOOP;
  END LOOP;
END $$;

WITH best AS (SELECT variant, min(ms) AS ms FROM timings GROUP BY variant),
p AS (SELECT ms FROM best WHERE variant = 't_plain'),
per AS (
  SELECT b.variant, b.ms, (b.ms - p.ms) * 1000.0 / :rows AS added_us_per_row
  FROM best b, p)
SELECT variant, round(ms::numeric, 1) AS best_ms,
       round((ms * 1000.0 / :rows)::numeric, 2) AS us_per_row,
       round(added_us_per_row::numeric, 2) AS added_us_per_row
FROM per ORDER BY ms;

WITH best AS (SELECT variant, min(ms) AS ms FROM timings GROUP BY variant)
SELECT round(((j.ms - p.ms) / (c.ms - p.ms))::numeric, 3) AS ratio_jitgen_added_over_compile_added,
       round(((j.ms - p.ms) * 1000.0 / :rows)::numeric, 2) AS jitgen_added_us_per_row,
       ((j.ms - p.ms) / (c.ms - p.ms)) <= 1.0 / 3 AND (j.ms - p.ms) * 1000.0 / :rows <= 50 AS meets_target
FROM best j, best c, best p
WHERE j.variant = 't_jitgen' AND c.variant = 't_compile' AND p.variant = 't_plain';
