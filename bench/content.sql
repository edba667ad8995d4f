-- bench/content: find_gaps over :concepts concepts and ~10 × as many atoms, against a plain
-- GROUP BY count of the same answer; remediation_atoms per call. Times in ms, best of :reps.
INSERT INTO concepts (id, cluster_id, name, source_text)
SELECT md5('c' || i)::uuid, md5('k' || (i % 100))::uuid, 'concept ' || i, 'source text ' || i
FROM generate_series(1, :concepts) AS i;
-- Concept i has i % 20 atoms: 5% have none, 15% fewer than 3, ~9.5 on average.
INSERT INTO learning_atoms (concept_id, atom_type, front, back, quality_score)
SELECT md5('c' || i)::uuid, (ARRAY['flashcard', 'mcq', 'cloze', 'true_false'])[1 + k % 4], 'front ' || i || '.' || k, 'back', (k % 100)
FROM generate_series(1, :concepts) AS i, generate_series(1, i % 20) AS k;
ANALYZE concepts;
ANALYZE learning_atoms;
ANALYZE concept_atom_counts;
SELECT (SELECT count(*) FROM concepts) AS concepts, (SELECT count(*) FROM learning_atoms) AS atoms;

CREATE TEMP TABLE timings (variant text, rep int, ms double precision);
DO $$
DECLARE
    reps int := current_setting('bench.repeats')::int;
    t0 timestamptz; r int; n bigint; i int; ids uuid[];
BEGIN
    -- Concepts with 3 to 19 atoms, spread over the table: the read path, no job queued.
    SELECT array_agg(md5('c' || (20 * ((g * 7919) % (current_setting('bench.concepts')::int / 20 - 1)) + 3 + g % 17))::uuid)
    INTO ids FROM generate_series(1, 1000) g;
    FOR r IN 1..reps LOOP
        t0 := clock_timestamp();
        SELECT count(*) INTO n FROM (SELECT c.id FROM concepts c LEFT JOIN learning_atoms a ON a.concept_id = c.id
                                     GROUP BY c.id HAVING count(a.id) < 3) x;
        INSERT INTO timings VALUES ('plain GROUP BY count (baseline)', r, extract(epoch FROM clock_timestamp() - t0) * 1000);
        t0 := clock_timestamp();
        SELECT count(*) INTO n FROM jitgen.find_gaps(3);
        INSERT INTO timings VALUES ('jitgen.find_gaps(3)', r, extract(epoch FROM clock_timestamp() - t0) * 1000);
        t0 := clock_timestamp();
        FOR i IN 1..1000 LOOP
            PERFORM count(*) FROM jitgen.remediation_atoms(ids[i], 'encoding');
        END LOOP;
        INSERT INTO timings VALUES ('remediation_atoms, per call', r, extract(epoch FROM clock_timestamp() - t0));
    END LOOP;
END $$;
SELECT variant, round(min(ms)::numeric, 3) AS best_ms, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 3) AS median_ms
FROM timings GROUP BY variant ORDER BY variant DESC;
SELECT round((SELECT min(ms) FROM timings WHERE variant = 'jitgen.find_gaps(3)')::numeric
             / (SELECT min(ms) FROM timings WHERE variant LIKE 'plain%')::numeric, 3) AS find_gaps_over_baseline;
