-- App table of seed 002: generated training programs, validated by the database itself.
CREATE TABLE IF NOT EXISTS training_programs (
    id                       uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id                  uuid        NOT NULL,
    program_details          jsonb       NOT NULL
        CONSTRAINT program_details_is_training_program
        CHECK (jitgen.is_valid('training_program', program_details)),
    program_name             text,
    total_duration_weeks     int,
    ai_model_version         text,
    onboarding_data_snapshot jsonb,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    is_active                boolean     NOT NULL DEFAULT true,
    status                   text        NOT NULL DEFAULT 'active'
);

CREATE INDEX IF NOT EXISTS training_programs_details_gin ON training_programs USING gin (program_details);
CREATE INDEX IF NOT EXISTS training_programs_user ON training_programs (user_id);

-- Extracted columns always agree with the document they come from.
CREATE OR REPLACE FUNCTION training_programs_extract() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.program_name := NEW.program_details->>'programName';
    NEW.total_duration_weeks := (NEW.program_details->>'durationWeeksTotal')::int;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

CREATE TRIGGER training_programs_extract
    BEFORE INSERT OR UPDATE OF program_details ON training_programs
    FOR EACH ROW EXECUTE FUNCTION training_programs_extract();
