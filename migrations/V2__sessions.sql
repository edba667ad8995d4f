-- App table of seed 000: one row per training session, generated just in time.
-- Write jit_input (a JITInput) and optionally requested_strategy; the trigger fills the session
-- and the jit_* columns in the same statement. Rewriting jit_input regenerates the session.
CREATE TABLE IF NOT EXISTS sessions (
    id                  uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id             uuid        NOT NULL,
    scheduled_for       date,
    jit_input           jsonb       NOT NULL,
    requested_strategy  text        NOT NULL DEFAULT 'auto'
        CHECK (requested_strategy IN ('auto', 'formula', 'llm', 'hybrid')),
    session             jsonb,
    jit_strategy        text
        CHECK (jit_strategy IN ('formula', 'llm', 'hybrid', 'formula_fallback')),
    jit_generated_at    timestamptz,
    jit_input_snapshot  jsonb,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id, scheduled_for);

CREATE OR REPLACE FUNCTION sessions_generate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.session := jitgen.generate_session(NEW.jit_input, NEW.requested_strategy);
    NEW.jit_strategy := NEW.session->>'jit_strategy';
    NEW.jit_generated_at := clock_timestamp();
    NEW.jit_input_snapshot := NEW.jit_input;
    RETURN NEW;
END
$$;

CREATE TRIGGER sessions_generate
    BEFORE INSERT OR UPDATE OF jit_input, requested_strategy ON sessions
    FOR EACH ROW EXECUTE FUNCTION sessions_generate();
