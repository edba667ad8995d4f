-- jitgen.current_user_id(): PostgREST / Supabase claims, else the older claim setting, else
-- jitgen.user_id; NULL (never an error) when unset or not a uuid.
SELECT jitgen.current_user_id() AS unset;
SET jitgen.user_id = '11111111-1111-1111-1111-111111111111';
SELECT jitgen.current_user_id() AS own_setting;
SET request.jwt.claim.sub = '22222222-2222-2222-2222-222222222222';
SELECT jitgen.current_user_id() AS older_claim;
SET request.jwt.claims = '{"sub": "33333333-3333-3333-3333-333333333333", "role": "authenticated"}';
SELECT jitgen.current_user_id() AS jwt_claims;
SET request.jwt.claims = '{not json';
SELECT jitgen.current_user_id() AS bad_claims_fall_through;
RESET request.jwt.claims;
RESET request.jwt.claim.sub;
SET jitgen.user_id = 'not-a-uuid';
SELECT jitgen.current_user_id() AS not_a_uuid;
RESET jitgen.user_id;

-- Two users, one table: each sees only its own rows.
CREATE ROLE jitgen_identity_app NOLOGIN;
CREATE TABLE notes (user_id uuid NOT NULL, body text NOT NULL);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON notes USING (user_id = (SELECT jitgen.current_user_id()))
    WITH CHECK (user_id = (SELECT jitgen.current_user_id()));
GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO jitgen_identity_app;
INSERT INTO notes VALUES ('11111111-1111-1111-1111-111111111111', 'alice'), ('22222222-2222-2222-2222-222222222222', 'bob');
SET ROLE jitgen_identity_app;
SET jitgen.user_id = '11111111-1111-1111-1111-111111111111';
SELECT body FROM notes;
DELETE FROM notes WHERE body = 'bob';
INSERT INTO notes VALUES ('22222222-2222-2222-2222-222222222222', 'forged');
SET request.jwt.claims = '{"sub": "22222222-2222-2222-2222-222222222222"}';
SELECT body FROM notes;
RESET request.jwt.claims;
RESET jitgen.user_id;
SELECT count(*) AS anonymous_sees FROM notes;
RESET ROLE;
SELECT body FROM notes ORDER BY body;
DROP TABLE notes;
DROP ROLE jitgen_identity_app;
