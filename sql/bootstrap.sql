-- jitgen bootstrap: tables the functions below rely on. Runs first in CREATE EXTENSION.

-- Every registered version of every schema; the highest version of a name is the current one.
CREATE TABLE jitgen.schemas (
    name        text        NOT NULL CHECK (name ~ '^[a-z][a-z0-9_.-]{0,62}$'),
    version     int         NOT NULL CHECK (version >= 1),
    schema      jsonb       NOT NULL,
    builtin     boolean     NOT NULL DEFAULT false,
    -- false: `format` follows the schema's draft (an annotation in 2020-12); true: asserted.
    assert_formats boolean  NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  name        NOT NULL DEFAULT current_user,
    PRIMARY KEY (name, version)
);
COMMENT ON TABLE jitgen.schemas IS
    'JSON Schemas known to jitgen.validate/is_valid/assert_valid; write through jitgen.register_schema().';

-- User-registered schemas survive pg_dump/pg_restore; built-ins are recreated by the extension.
SELECT pg_catalog.pg_extension_config_dump('jitgen.schemas', 'WHERE NOT builtin');

-- One row per LLM call (feeds cost and latency monitoring and the optimisation oracle).
CREATE TABLE jitgen.llm_calls (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app_id            text        NOT NULL,
    component_id      text        NOT NULL,
    model             text        NOT NULL,
    latency_ms        integer     NOT NULL CHECK (latency_ms >= 0),
    prompt_tokens     integer     NOT NULL DEFAULT 0,
    completion_tokens integer     NOT NULL DEFAULT 0,
    cost_estimate_usd numeric,
    outcome           text        NOT NULL
        CHECK (outcome IN ('ok', 'timeout', 'http_error', 'parse_error', 'schema_error')),
    error             jsonb,
    created_by        name        NOT NULL DEFAULT session_user,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX llm_calls_component ON jitgen.llm_calls (app_id, component_id, created_at);
COMMENT ON TABLE jitgen.llm_calls IS 'One row per LLM call; never holds prompts, replies or keys.';

-- Only the owner records calls: the sidecar, and generate_session on behalf of the backend that
-- made the call. Nobody else can write (or forge) a metric row.
CREATE FUNCTION jitgen._record_llm_call(
    app_id text, component_id text, model text, latency_ms integer, prompt_tokens integer,
    completion_tokens integer, cost_estimate_usd numeric, outcome text, error jsonb)
RETURNS void LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO jitgen.llm_calls (app_id, component_id, model, latency_ms, prompt_tokens,
                                  completion_tokens, cost_estimate_usd, outcome, error)
    VALUES (app_id, component_id, model, latency_ms, prompt_tokens, completion_tokens,
            cost_estimate_usd, outcome, error);
$$;
