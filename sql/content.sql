-- jitgen content: seed 003's just-in-time learning content. The tables are the app's
-- (public.concepts, public.learning_atoms, public.learner_answers, created by jitgen migrate);
-- these functions find gaps, queue content.generate jobs and pick remediation atoms. The
-- mappings (content_types_for, atom_types_for) are Rust (extension/src/content.rs).

INSERT INTO jitgen.job_kinds (kind, internal, reached_by, description) VALUES
    ('content.generate', true, 'jitgen.request_content(concept_id, trigger)', 'Generates learning atoms for a concept with the LLM.');

-- The dedup cache of content requests: one entry per {concept}:{trigger}:{content types}
-- while its job is queued or running, or completed less than jitgen.content_cache_ttl ago.
CREATE TABLE jitgen.content_cache (
    key        text        PRIMARY KEY,
    concept_id uuid        NOT NULL,
    job_id     bigint      NOT NULL REFERENCES jitgen.jobs (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX content_cache_concept ON jitgen.content_cache (concept_id);
COMMENT ON TABLE jitgen.content_cache IS 'content.generate requests by dedup key; jitgen.clear_content_cache(concept) empties it.';

-- jitgen.request_content's privileged half, run as the owner once the caller was seen to read
-- the concept and the number of atoms to generate was found above zero
-- (core::content::Trigger::atoms_to_generate). Concurrent requests for one key serialise on a
-- transaction lock, so they get one job.
CREATE FUNCTION jitgen._request_content(concept_id uuid, trigger text, key text, content_types text[],
                                        atom_types text[], wanted int, learner_id text, fail_mode text,
                                        caller oid, ttl_seconds int)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    cached   record;
    job_id   bigint;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('jitgen.content:' || key, 0));
    SELECT c.job_id, c.created_at, j.state INTO cached
    FROM jitgen.content_cache c JOIN jitgen.jobs j ON j.id = c.job_id WHERE c.key = key;
    IF FOUND AND (cached.state IN ('queued', 'running')
                  OR (cached.state = 'complete' AND cached.created_at > clock_timestamp() - make_interval(secs => ttl_seconds))) THEN
        RETURN cached.job_id;
    END IF;
    DELETE FROM jitgen.content_cache c WHERE c.key = key;
    job_id := jitgen._enqueue('content.generate',
        jsonb_strip_nulls(jsonb_build_object('concept_id', concept_id, 'trigger', trigger, 'content_types', content_types,
                                             'atom_types', atom_types, 'count', wanted, 'learner_id', learner_id,
                                             'fail_mode', fail_mode)),
        key => key, enqueued_by => pg_catalog.pg_get_userbyid(caller));
    INSERT INTO jitgen.content_cache (key, concept_id, job_id) VALUES (key, concept_id, job_id);
    RETURN job_id;
END $$;

-- Empties the request cache (of one concept, or all): the next request generates again.
CREATE FUNCTION jitgen.clear_content_cache(concept_id uuid DEFAULT NULL) RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    n int;
BEGIN
    DELETE FROM jitgen.content_cache c WHERE concept_id IS NULL OR c.concept_id = concept_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- Concepts with fewer than min_atoms atoms, fewest first.
CREATE FUNCTION jitgen.find_gaps(min_atoms int DEFAULT 3, cluster_id uuid DEFAULT NULL)
RETURNS TABLE (concept_id uuid, concept_name text, atom_count int, missing int)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    IF min_atoms IS NULL OR min_atoms < 1 THEN
        RAISE EXCEPTION 'min_atoms must be at least 1, got %', coalesce(min_atoms::text, 'NULL') USING ERRCODE = '22023',
            HINT = 'SELECT * FROM jitgen.find_gaps(3);';
    END IF;
    -- public.concept_atom_counts is kept by triggers on learning_atoms (migration V7).
    RETURN QUERY
    SELECT c.id, c.name, coalesce(n.atoms, 0), find_gaps.min_atoms - coalesce(n.atoms, 0)
    FROM public.concepts c
    LEFT JOIN public.concept_atom_counts n ON n.concept_id = c.id
    WHERE (find_gaps.cluster_id IS NULL OR c.cluster_id = find_gaps.cluster_id)
      AND coalesce(n.atoms, 0) < find_gaps.min_atoms
    ORDER BY coalesce(n.atoms, 0), c.name, c.id;
END $$;

-- The remediation check of a failed answer: fewer than 3 atoms → a failed_question request.
-- Job id, or NULL when the concept has enough atoms or the fail mode asks for none (fatigue).
CREATE FUNCTION jitgen.remediation_check(concept_id uuid, fail_mode text DEFAULT NULL, learner_id text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
BEGIN
    IF (SELECT count(*) FROM public.learning_atoms a WHERE a.concept_id = concept_id) >= 3 THEN
        RETURN NULL;
    END IF;
    RETURN jitgen.request_content(concept_id, 'failed_question', NULL, 3, learner_id, fail_mode);
END $$;

-- Proactive generation for a learner's upcoming concepts: the first 3 distinct concepts
-- passed are considered, and those with fewer than 3 atoms get a job (request_content queues
-- none for the others).
CREATE FUNCTION jitgen.proactive_generation(learner_id text, concept_ids uuid[])
RETURNS TABLE (concept_id uuid, job_id bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    c uuid;
    j bigint;
BEGIN
    FOR c IN SELECT x.id FROM (SELECT DISTINCT ON (u.id) u.id, u.n FROM unnest(concept_ids) WITH ORDINALITY AS u(id, n)
                               WHERE u.id IS NOT NULL ORDER BY u.id, u.n) x ORDER BY x.n LIMIT 3 LOOP
        j := jitgen.request_content(c, 'proactive', NULL, 3, learner_id, NULL);
        IF j IS NOT NULL THEN
            concept_id := c;
            job_id := j;
            RETURN NEXT;
        END IF;
    END LOOP;
END $$;
