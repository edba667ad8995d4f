-- The privilege audit: every table, view, sequence and function in schema jitgen with what
-- PUBLIC, an app role and a node role may do with it. Any new object or grant changes this
-- output, so nothing arrives with a silent grant. The README's privilege model explains it.
CREATE ROLE jitgen_audit_app NOLOGIN;
CREATE ROLE jitgen_audit_node NOLOGIN;
SELECT jitgen.grant_enqueue('echo', 'jitgen_audit_app');

CREATE FUNCTION pg_temp.privs(r text, o oid, k text) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(p, ',' ORDER BY n), '-')
    FROM unnest(CASE k WHEN 'function' THEN '{EXECUTE}'::text[] WHEN 'sequence' THEN '{USAGE,SELECT,UPDATE}'
                ELSE '{SELECT,INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER}' END) WITH ORDINALITY AS t(p, n)
    WHERE CASE k WHEN 'function' THEN has_function_privilege(r, o, p)
                 WHEN 'sequence' THEN has_sequence_privilege(r, o, p)
                 ELSE has_table_privilege(r, o, p) OR (p <> 'TRUNCATE' AND p <> 'TRIGGER' AND p <> 'DELETE'
                                                       AND has_any_column_privilege(r, o, p)) END
$$;

WITH objects AS (
    SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view' WHEN 'S' THEN 'sequence' END AS kind,
           c.relname::text AS name, c.oid,
           CASE WHEN c.relrowsecurity THEN 'rls' WHEN c.relkind = 'v' AND 'security_invoker=true' = ANY (c.reloptions) THEN 'invoker' ELSE '' END AS mode
    FROM pg_class c WHERE c.relnamespace = 'jitgen'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'S')
    UNION ALL
    SELECT 'function', p.oid::regprocedure::text, p.oid, CASE WHEN p.prosecdef THEN 'definer' ELSE '' END
    FROM pg_proc p WHERE p.pronamespace = 'jitgen'::regnamespace
)
SELECT kind, name, mode,
       pg_temp.privs('public', oid, kind) AS public,
       pg_temp.privs('jitgen_audit_app', oid, kind) AS app,
       pg_temp.privs('jitgen_audit_node', oid, kind) AS node
FROM objects ORDER BY kind, name;

-- Nothing SECURITY DEFINER is executable by PUBLIC, and every such function pins search_path.
SELECT p.oid::regprocedure AS definer_callable_by_public FROM pg_proc p
WHERE p.pronamespace = 'jitgen'::regnamespace AND p.prosecdef AND has_function_privilege('public', p.oid, 'EXECUTE');
SELECT p.oid::regprocedure AS definer_without_search_path FROM pg_proc p
WHERE p.pronamespace = 'jitgen'::regnamespace AND p.prosecdef
  AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%');

-- Kinds, and who is granted which.
SELECT kind, internal, reached_by FROM jitgen.job_kinds ORDER BY kind;
SELECT kind, grantee FROM jitgen.job_kind_grants ORDER BY kind, grantee;

-- As a node role and as an app role: internal kinds, metric rows and settings are refused.
SET ROLE jitgen_audit_node;
SELECT jitgen.enqueue('adapter.train', '{}', key => 'victim', delay => '100 years');
SELECT jitgen.enqueue('echo', '{}');
SELECT jitgen._record_llm_call('app', 'c', 'm', 1, 0, 0, NULL, 'ok', NULL);
SET jitgen.llm_endpoint = 'http://127.0.0.1:9/steal';
SET jitgen.llm_model = 'gpt-4-32k';
SET jitgen.app_id = 'someone-else';
SELECT count(*) FROM jitgen.llm_calls;
SELECT count(*) FROM jitgen.workers;
SET ROLE jitgen_audit_app;
SELECT jitgen.enqueue('session.generate', '{"session_id": "00000000-0000-0000-0000-000000000000"}');
SELECT jitgen.grant_enqueue('adapter.train', 'jitgen_audit_app');
RESET ROLE;
SELECT jitgen.grant_enqueue('adapter.train', 'jitgen_audit_app');

DELETE FROM jitgen.job_kind_grants;
DROP ROLE jitgen_audit_app;
DROP ROLE jitgen_audit_node;
