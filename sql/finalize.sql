-- jitgen finalize: runs last in CREATE EXTENSION, after every function exists.

INSERT INTO jitgen.schemas (name, version, schema, builtin)
SELECT name, 1, schema, true FROM jitgen._builtin_schemas();

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

GRANT USAGE ON SCHEMA jitgen TO PUBLIC;
GRANT SELECT ON jitgen.schemas TO PUBLIC;
REVOKE ALL ON FUNCTION jitgen._invalidate_schema_cache() FROM PUBLIC;
REVOKE ALL ON FUNCTION jitgen._builtin_schemas() FROM PUBLIC;
GRANT SELECT ON jitgen.llm_calls TO PUBLIC;
REVOKE ALL ON FUNCTION jitgen._jsonb_identity(jsonb) FROM PUBLIC;
GRANT SELECT ON jitgen.job_summary, jitgen.workers TO PUBLIC;
