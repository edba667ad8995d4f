-- jitgen node tokens: bearer tokens for the sidecar's HTTP API (seed 004's JCC routes,
-- `jitgen api`). A device holds a token instead of a Postgres login. The sidecar looks the
-- token up, then runs the request in a transaction as the node's owner_role, so the same
-- grants and row-level security decide as for a node that speaks SQL.
--
-- Only a SHA-256 of each secret is stored: the secret is shown once, by issue_node_token, and
-- cannot be read back. Tokens are owner-only (operators: members of the owner role); no tenant
-- can list or use another node's token.

CREATE TABLE jitgen.node_tokens (
    token_id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    node_id       text        NOT NULL REFERENCES jitgen.nodes ON DELETE CASCADE,
    secret_sha256 bytea       NOT NULL UNIQUE CHECK (length(secret_sha256) = 32),
    label         text,
    issued_by     name        NOT NULL DEFAULT current_user,
    issued_at     timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    -- Refreshed at most once a minute, so a busy node does not write on every request.
    last_used_at  timestamptz
);
CREATE INDEX node_tokens_node ON jitgen.node_tokens (node_id);
COMMENT ON TABLE jitgen.node_tokens IS
    'Bearer tokens of the HTTP API for nodes (seed 004): hashes only; issue_node_token shows each secret once.';

-- Operators: issue a token for a node. The secret is 'jgn_' and 64 hex digits from two
-- gen_random_uuid() calls (pg_strong_random, 244 random bits).
CREATE FUNCTION jitgen.issue_node_token(node_id text, valid_for interval DEFAULT interval '365 days',
                                        label text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    secret text;
BEGIN
    IF node_id IS NULL OR valid_for IS NULL THEN
        RAISE EXCEPTION 'node_id and valid_for must not be NULL' USING ERRCODE = '22004',
            HINT = 'SELECT jitgen.issue_node_token(''kitchen-1'', interval ''90 days'');';
    END IF;
    IF valid_for <= interval '0' THEN
        RAISE EXCEPTION 'valid_for must be positive' USING ERRCODE = '22023',
            DETAIL = format('Got %s.', valid_for),
            HINT = 'SELECT jitgen.issue_node_token(''kitchen-1'', interval ''90 days'');';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM jitgen.nodes n WHERE n.node_id = issue_node_token.node_id) THEN
        RAISE EXCEPTION 'node "%" is not registered', node_id USING ERRCODE = '42704',
            HINT = format('SELECT jitgen.register_node(%L, ''<tenant>'', ''<base model>'', ''<node role>''); then issue the token.', node_id);
    END IF;
    secret := 'jgn_' || replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '');
    INSERT INTO jitgen.node_tokens (node_id, secret_sha256, label, expires_at)
    VALUES (node_id, sha256(convert_to(secret, 'UTF8')), label, now() + valid_for);
    RETURN secret;
END $$;
COMMENT ON FUNCTION jitgen.issue_node_token(text, interval, text) IS
    'Operators: a bearer token for the node''s HTTP API calls, shown once and stored as a hash.';

-- Operators: revoke one token (by the token_id shown in jitgen.node_tokens).
CREATE FUNCTION jitgen.revoke_node_token(token_id bigint) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    r jsonb;
BEGIN
    UPDATE jitgen.node_tokens t SET revoked_at = coalesce(t.revoked_at, now())
    WHERE t.token_id = revoke_node_token.token_id
    RETURNING jsonb_build_object('token_id', t.token_id, 'node_id', t.node_id, 'revoked_at', t.revoked_at) INTO r;
    IF r IS NULL THEN
        RAISE EXCEPTION 'node token % does not exist', token_id USING ERRCODE = '42704',
            HINT = 'SELECT token_id, node_id, label, issued_at, expires_at, revoked_at FROM jitgen.node_tokens ORDER BY token_id DESC;';
    END IF;
    RETURN r;
END $$;

-- Operators: revoke every token of a node (a lost or compromised device). Returns how many.
CREATE FUNCTION jitgen.revoke_node_tokens(node_id text) RETURNS int
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
    WITH revoked AS (
        UPDATE jitgen.node_tokens t SET revoked_at = now()
        WHERE t.node_id = revoke_node_tokens.node_id AND t.revoked_at IS NULL
        RETURNING 1)
    SELECT count(*)::int FROM revoked;
$$;

-- The sidecar: the node and role a bearer token acts as, or no row (unknown, revoked, expired).
-- The caller then sets the role for its transaction. last_used_at is refreshed with SKIP
-- LOCKED so concurrent requests of one node never wait on each other here.
CREATE FUNCTION jitgen._authenticate_node_token(token text)
RETURNS TABLE (node_id text, role name) LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    t record;
BEGIN
    SELECT k.token_id, k.node_id, n.owner_role, k.last_used_at INTO t
    FROM jitgen.node_tokens k JOIN jitgen.nodes n ON n.node_id = k.node_id
    WHERE k.secret_sha256 = sha256(convert_to(token, 'UTF8')) AND k.revoked_at IS NULL AND k.expires_at > now();
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute' THEN
        UPDATE jitgen.node_tokens k SET last_used_at = now()
        WHERE k.token_id = (SELECT x.token_id FROM jitgen.node_tokens x WHERE x.token_id = t.token_id
                            FOR NO KEY UPDATE SKIP LOCKED);
    END IF;
    node_id := t.node_id;
    role := t.owner_role;
    RETURN NEXT;
END $$;
