-- bench/ingest: jitgen.train_adapter with 200 commands × 10 examples (2000 pairs, the seed's
-- ceiling) against a plain INSERT of the same JSON into a jsonb column, in the same run.
-- Every train_adapter call goes to a fresh node, so each one validates, assembles, hashes,
-- stores and enqueues (none is answered by dataset_hash reuse).

-- Realistic commands: four typed parameters (one a date, one an enum), rules, keywords. No
-- antipatterns and no look-alike names, so the 2000 examples make exactly 2000 pairs.
SELECT jsonb_agg(jsonb_build_object(
    'command_name', 'command_' || c,
    'description', 'Does task number ' || c || ' for the household: lights, timers, music or calendar.',
    'keywords', jsonb_build_array('task' || c),
    'parameters', jsonb_build_array(
        jsonb_build_object('name', 'target', 'type', 'str', 'required', true, 'description', 'What to act on'),
        jsonb_build_object('name', 'amount', 'type', 'int', 'required', false),
        jsonb_build_object('name', 'day', 'type', 'date', 'required', false),
        jsonb_build_object('name', 'mode', 'type', 'str', 'required', false, 'enum_values', '["fast","slow"]'::jsonb)),
    'rules', jsonb_build_array('Ask before acting on more than one room.'),
    'examples', (SELECT jsonb_agg(jsonb_build_object(
        'voice_command', 'run task ' || c || ' on the kitchen light variant ' || e || CASE WHEN e % 3 = 0 THEN ' tomorrow' ELSE '' END,
        'expected_parameters', jsonb_build_object('target', 'kitchen ' || e, 'amount', e,
                                                  'day', CASE WHEN e % 3 = 0 THEN 'tomorrow' END),
        'is_primary', e = 0)) FROM generate_series(0, 9) AS e)
    ) ORDER BY c) AS doc
FROM generate_series(0, 199) AS c \gset
SELECT pg_column_size(:'doc'::jsonb) AS payload_bytes, jsonb_array_length(:'doc'::jsonb) AS commands;

CREATE TABLE plain (id bigint GENERATED ALWAYS AS IDENTITY, node_id text, payload jsonb);
CREATE TABLE timings (variant text, rep int, ms double precision);
SELECT set_config('bench.doc', :'doc', false) IS NOT NULL AS doc_set \g /dev/null

DO $$
DECLARE
    doc jsonb := current_setting('bench.doc')::jsonb;
    iters int := current_setting('bench.iterations')::int;
    reps int := current_setting('bench.repeats')::int;
    t0 timestamptz; r int; i int; node int := 0; dummy jsonb;
BEGIN
    FOR r IN 1..reps LOOP
        t0 := clock_timestamp();
        FOR i IN 1..iters LOOP
            INSERT INTO plain (node_id, payload) VALUES ('n' || i, doc);
        END LOOP;
        INSERT INTO timings VALUES ('plain INSERT of the payload', r, extract(epoch FROM clock_timestamp() - t0) * 1000 / iters);

        t0 := clock_timestamp();
        FOR i IN 1..iters LOOP
            dummy := jitgen.validate_commands(doc);
        END LOOP;
        INSERT INTO timings VALUES ('validate_commands', r, extract(epoch FROM clock_timestamp() - t0) * 1000 / iters);

        t0 := clock_timestamp();
        FOR i IN 1..iters LOOP
            dummy := jitgen._assemble_adapter_dataset('n', 'tiny-llama', doc, '{}', '2026-11-23', 'UTC');
        END LOOP;
        INSERT INTO timings VALUES ('validate + assemble + hash', r, extract(epoch FROM clock_timestamp() - t0) * 1000 / iters);

        FOR i IN 1..iters LOOP
            node := node + 1;
            PERFORM jitgen.register_node('bench-' || node, 'bench', 'tiny-llama');
        END LOOP;
        node := node - iters;
        t0 := clock_timestamp();
        FOR i IN 1..iters LOOP
            node := node + 1;
            dummy := jitgen.train_adapter('bench-' || node, 'tiny-llama', doc);
        END LOOP;
        INSERT INTO timings VALUES ('train_adapter (all of it)', r, extract(epoch FROM clock_timestamp() - t0) * 1000 / iters);
    END LOOP;
END $$;

SELECT count(*) AS adapter_jobs_made, min((counts->>'positives')::int + (counts->>'negatives')::int + (counts->>'confusion')::int) AS pairs
FROM jitgen.adapter_jobs;

WITH best AS (SELECT variant, min(ms) AS ms FROM timings GROUP BY variant),
     base AS (SELECT ms FROM best WHERE variant = 'plain INSERT of the payload')
SELECT b.variant, round(b.ms::numeric, 2) AS ms_per_call,
       round((b.ms / base.ms)::numeric, 1) AS x_plain_insert,
       CASE WHEN b.variant LIKE 'train_adapter%' THEN CASE WHEN b.ms <= 200 THEN 'meets ≤ 200 ms' ELSE 'MISSES ≤ 200 ms' END END AS target
FROM best b, base ORDER BY b.ms;
