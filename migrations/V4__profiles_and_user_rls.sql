-- Seed 002's per-user tables: a profile with the onboarding answers, and row-level security on
-- profiles and training_programs by jitgen.current_user_id() (the PostgREST/Supabase JWT `sub`,
-- else the jitgen.user_id setting). The sidecar owns the tables and is not restricted; app
-- roles see and write only their user's rows. Wrapping the call in a sub-select evaluates it
-- once per statement rather than per row.
CREATE TABLE IF NOT EXISTS profiles (
    user_id              uuid        PRIMARY KEY,
    onboarding_responses jsonb,
    onboarding_completed boolean     NOT NULL DEFAULT false,
    updated_at           timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE profiles ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_profile ON profiles
    USING (user_id = (SELECT jitgen.current_user_id()))
    WITH CHECK (user_id = (SELECT jitgen.current_user_id()));

ALTER TABLE training_programs ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_programs ON training_programs
    USING (user_id = (SELECT jitgen.current_user_id()))
    WITH CHECK (user_id = (SELECT jitgen.current_user_id()));
