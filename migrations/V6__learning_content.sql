-- Seed 003's app tables: concepts, their learning atoms, and learners' answers. A wrong answer
-- runs the remediation check in the writer's transaction: fewer than 3 atoms of the concept
-- queue a content.generate job (failed_question) that fills it up to 5. Recording the answer
-- never fails because of it: a refused request becomes a WARNING.
CREATE TABLE IF NOT EXISTS concepts (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    cluster_id  uuid,
    name        text        NOT NULL,
    source_text text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS concepts_cluster ON concepts (cluster_id);

CREATE TABLE IF NOT EXISTS learning_atoms (
    id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    concept_id        uuid        NOT NULL REFERENCES concepts ON DELETE CASCADE,
    card_id           text,
    atom_type         text        NOT NULL,
    front             text        NOT NULL,
    back              text,
    knowledge_type    text,
    tags              text[]      NOT NULL DEFAULT '{}',
    is_hydrated       boolean,
    fidelity_type     text,
    source_fact_basis text,
    quality_score     real,
    content           jsonb,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS learning_atoms_concept ON learning_atoms (concept_id);

CREATE TABLE IF NOT EXISTS learner_answers (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    learner_id  text        NOT NULL,
    concept_id  uuid        NOT NULL REFERENCES concepts ON DELETE CASCADE,
    atom_id     uuid,
    correct     boolean     NOT NULL,
    fail_mode   text,
    answered_at timestamptz DEFAULT now()
);

CREATE OR REPLACE FUNCTION learner_answers_remediate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM jitgen.remediation_check(NEW.concept_id, NEW.fail_mode, NEW.learner_id);
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'no remediation content was requested for concept %: %', NEW.concept_id, SQLERRM
            USING HINT = 'SELECT jitgen.remediation_check(concept_id, fail_mode, learner_id) requests it again.';
    END;
    RETURN NULL;
END
$$;

CREATE TRIGGER learner_answers_remediate
    AFTER INSERT ON learner_answers
    FOR EACH ROW WHEN (NOT NEW.correct)
    EXECUTE FUNCTION learner_answers_remediate();

-- The concept's atoms now, those whose type suits the fail mode first (then by quality),
-- queuing a just-in-time job when fewer than 3 exist. Runs as the caller.
CREATE OR REPLACE FUNCTION jitgen.remediation_atoms(concept_id uuid, fail_mode text DEFAULT NULL, learner_id text DEFAULT NULL)
RETURNS SETOF public.learning_atoms
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    suited text[] := jitgen.atom_types_for(fail_mode);
BEGIN
    PERFORM jitgen.remediation_check(remediation_atoms.concept_id, fail_mode, learner_id);
    RETURN QUERY
    SELECT a.* FROM public.learning_atoms a
    WHERE a.concept_id = remediation_atoms.concept_id
    ORDER BY a.atom_type = ANY (suited) DESC, a.quality_score DESC NULLS LAST, a.created_at, a.id;
END
$$;

-- Total atoms, the just-in-time ones and their share, and counts by trigger.
CREATE OR REPLACE VIEW jitgen.generation_stats WITH (security_invoker = true) AS
SELECT count(*) AS total_atoms,
       count(*) FILTER (WHERE 'jit_generated' = ANY (tags)) AS jit_generated,
       round(100.0 * count(*) FILTER (WHERE 'jit_generated' = ANY (tags)) / greatest(count(*), 1), 1) AS jit_share_percent,
       count(*) FILTER (WHERE 'trigger:failed_question' = ANY (tags)) AS failed_question,
       count(*) FILTER (WHERE 'trigger:missing_coverage' = ANY (tags)) AS missing_coverage,
       count(*) FILTER (WHERE 'trigger:user_request' = ANY (tags)) AS user_request,
       count(*) FILTER (WHERE 'trigger:proactive' = ANY (tags)) AS proactive
FROM public.learning_atoms;
GRANT SELECT ON jitgen.generation_stats TO PUBLIC;
