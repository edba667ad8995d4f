-- jitgen finalize: runs last in CREATE EXTENSION, after every function exists.

INSERT INTO jitgen.schemas (name, version, schema, builtin, assert_formats)
SELECT name, 1, schema, true, true FROM jitgen._builtin_schemas();

CREATE FUNCTION jitgen._schemas_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM jitgen._invalidate_schema_cache();
    RETURN NULL;
END
$$;

-- Any write to the registry invalidates every backend's compiled validators at commit.
CREATE TRIGGER schemas_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON jitgen.schemas
    FOR EACH STATEMENT EXECUTE FUNCTION jitgen._schemas_changed();

-- ---------------------------------------------------------------- privileges
-- The README's privilege model; extension/tests/pg_regress/sql/privileges.sql lists the result
-- and fails on any change. PUBLIC (every app and node role) gets: the schema, the pure
-- functions, reads that row-level security filters, and the functions that check their caller.
-- Everything else is the owner's (the sidecar) and the operators' it is granted to.
GRANT USAGE ON SCHEMA jitgen TO PUBLIC;
GRANT SELECT ON jitgen.schemas, jitgen.job_kinds, jitgen.jobs, jitgen.job_summary TO PUBLIC;

-- Internal helpers run as the owner (from the checked functions, triggers and the sidecar).
-- _node_member stays callable: row-level security policies evaluate it as the querying role;
-- so does _serves_all_users, which program_result evaluates as its caller.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
             WHERE p.pronamespace = 'jitgen'::regnamespace AND p.proname LIKE '\_%' AND p.proname NOT IN ('_node_member', '_serves_all_users')
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END $$;

-- Operators' functions: they write shared tables or the queue and check nothing themselves.
REVOKE ALL ON FUNCTION jitgen.retry_job(bigint), jitgen.register_node(text, text, text, name, int, text, jsonb),
    jitgen.grant_enqueue(text, name), jitgen.revoke_enqueue(text, name), jitgen.ensure_queue(),
    jitgen.register_schema(text, jsonb, boolean), jitgen.clear_content_cache(uuid),
    jitgen.issue_node_token(text, interval, text), jitgen.revoke_node_token(bigint), jitgen.revoke_node_tokens(text) FROM PUBLIC;

-- The oracle (seed 001) is configured and operated by operators; apps get EXECUTE on
-- jitgen.invoke from an operator (GRANT EXECUTE ON FUNCTION jitgen.invoke(text, text, jsonb) TO app).
REVOKE ALL ON FUNCTION jitgen.register_component(text, text, text, jsonb, jsonb, text), jitgen.set_rule(jsonb),
    jitgen.set_app_defaults(text, text, boolean),
    jitgen.effective_rule(text, text), jitgen.trigger_jit(text, text), jitgen.evaluate_oracle(),
    jitgen.approve_jit(text, text, text), jitgen.reject_jit(text, text, text, text), jitgen.rollback_jit(text, text, text),
    jitgen.invoke(text, text, jsonb) FROM PUBLIC;
