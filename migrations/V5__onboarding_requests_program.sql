-- Seed 002: completing onboarding requests the user's program. The profile write never fails
-- because of generation: a refused request becomes a WARNING (inside its own subtransaction),
-- and the job itself runs only after the profile write commits. Completing onboarding twice
-- in one transaction yields one job (one active program.generate job per user).
CREATE OR REPLACE FUNCTION profiles_request_program() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM jitgen.request_program(NEW.user_id);
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'no program was requested for user %: %', NEW.user_id, SQLERRM
            USING HINT = 'SELECT jitgen.request_program(user_id) requests it again.';
    END;
    RETURN NULL;
END
$$;

CREATE TRIGGER profiles_completed_on_insert
    AFTER INSERT ON profiles
    FOR EACH ROW WHEN (NEW.onboarding_completed)
    EXECUTE FUNCTION profiles_request_program();

CREATE TRIGGER profiles_completed_on_update
    AFTER UPDATE OF onboarding_completed ON profiles
    FOR EACH ROW WHEN (NEW.onboarding_completed AND NOT OLD.onboarding_completed)
    EXECUTE FUNCTION profiles_request_program();
