-- jitgen oracle (seed 001): components an app hands to an LLM prompt, their metrics, the rules
-- that decide when generated code should replace the prompt, the generated artifacts, and
-- every decision. All tables are the owner's; operators are granted what they need. Apps call
-- jitgen.invoke (EXECUTE granted per role), which records metrics as the owner.

INSERT INTO jitgen.job_kinds (kind, internal, reached_by, description) VALUES
    ('jit.generate', true, 'jitgen.trigger_jit(app_id, component_id), jitgen.evaluate_oracle()',
     'Asks the coder LLM for a component''s code and tests, runs them in the sandbox, replays samples, activates.');

-- Per-app defaults: the target language components are generated in (overridable per
-- component) and whether candidates wait for review.
CREATE TABLE jitgen.oracle_apps (
    app_id          text    PRIMARY KEY CHECK (app_id ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$'),
    target_language text    NOT NULL DEFAULT 'python' CHECK (target_language IN ('python')),
    require_review  boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE jitgen.oracle_apps IS 'Per-app oracle defaults: target language, review of candidates.';

CREATE TABLE jitgen.components (
    app_id          text        NOT NULL CHECK (app_id ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$'),
    component_id    text        NOT NULL CHECK (component_id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$'),
    handler_type    text        NOT NULL DEFAULT 'llm' CHECK (handler_type IN ('llm', 'jit')),
    prompt          text        NOT NULL CHECK (prompt <> ''),
    input_schema    jsonb       NOT NULL,
    output_schema   jsonb       NOT NULL,
    target_language text        NOT NULL DEFAULT 'python' CHECK (target_language IN ('python')),
    -- {"script": "_jit_code/<component>/<version>/handler.py", "function": "handle_request"}
    task_details    jsonb,
    active_version  text,
    -- A candidate that passed its tests and shadow replay, held for jitgen.approve_jit.
    pending_version text,
    require_review  boolean     NOT NULL DEFAULT false,
    registered_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (app_id, component_id),
    CHECK (handler_type = 'llm' OR (active_version IS NOT NULL AND task_details IS NOT NULL))
);
COMMENT ON TABLE jitgen.components IS 'LLM components of apps (seed 001); handler_type jit once generated code is active.';

CREATE TABLE jitgen.component_metrics (
    app_id            text        NOT NULL,
    component_id      text        NOT NULL,
    at                timestamptz NOT NULL DEFAULT clock_timestamp(),
    handler_type      text        NOT NULL CHECK (handler_type IN ('llm', 'jit')),
    version           text,
    latency_ms        real        NOT NULL CHECK (latency_ms >= 0),
    prompt_tokens     int         NOT NULL DEFAULT 0,
    completion_tokens int         NOT NULL DEFAULT 0,
    cost              numeric     NOT NULL DEFAULT 0 CHECK (cost >= 0),
    outcome           text        NOT NULL CHECK (outcome IN ('ok', 'error', 'timeout', 'invalid_output')),
    error             text,
    FOREIGN KEY (app_id, component_id) REFERENCES jitgen.components ON DELETE CASCADE
);
CREATE INDEX component_metrics_window ON jitgen.component_metrics (app_id, component_id, at);
COMMENT ON TABLE jitgen.component_metrics IS 'One row per jitgen.invoke, LLM or JIT.';

-- Per-minute sums of the metrics, so that evaluate_oracle reads thousands of rows, not
-- millions. Filled incrementally by jitgen._rollup_metrics (run by evaluate_oracle) for minutes
-- that ended more than five minutes ago: an invoke still committing a metric row stamped in an
-- older minute would otherwise be missed. The raw rows stay (the console and the savings view
-- read them).
CREATE TABLE jitgen.component_minutes (
    app_id       text        NOT NULL,
    component_id text        NOT NULL,
    handler_type text        NOT NULL,
    version      text        NOT NULL DEFAULT '',
    minute       timestamptz NOT NULL,
    calls        bigint      NOT NULL,
    latency_sum  float8      NOT NULL,
    cost_sum     float8      NOT NULL,
    errors       bigint      NOT NULL,
    PRIMARY KEY (minute, app_id, component_id, handler_type, version)
);
COMMENT ON TABLE jitgen.component_minutes IS 'component_metrics summed per minute up to jitgen.metric_rollup.horizon; read by evaluate_oracle.';

CREATE TABLE jitgen.metric_rollup (
    one     boolean     PRIMARY KEY DEFAULT true CHECK (one),
    horizon timestamptz NOT NULL
);
INSERT INTO jitgen.metric_rollup (horizon) VALUES ('-infinity');

-- Adds the complete minutes since the last horizon to component_minutes; returns the new
-- horizon (raw rows at or after it are read raw). Callers hold evaluate_oracle's lock.
CREATE FUNCTION jitgen._rollup_metrics() RETURNS timestamptz
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    old timestamptz;
    new timestamptz := date_trunc('minute', clock_timestamp() - interval '5 minutes');
BEGIN
    SELECT r.horizon INTO old FROM jitgen.metric_rollup r FOR UPDATE;
    IF new <= old THEN
        RETURN old;
    END IF;
    INSERT INTO jitgen.component_minutes AS cm (app_id, component_id, handler_type, version, minute, calls, latency_sum, cost_sum, errors)
    SELECT m.app_id, m.component_id, m.handler_type, coalesce(m.version, ''), date_trunc('minute', m.at),
           count(*), sum(m.latency_ms::float8), sum(m.cost::float8), count(*) FILTER (WHERE m.outcome <> 'ok')
    FROM jitgen.component_metrics m
    WHERE m.at >= old AND m.at < new
    GROUP BY 1, 2, 3, 4, 5
    ON CONFLICT (minute, app_id, component_id, handler_type, version) DO UPDATE
        SET calls = cm.calls + EXCLUDED.calls, latency_sum = cm.latency_sum + EXCLUDED.latency_sum,
            cost_sum = cm.cost_sum + EXCLUDED.cost_sum, errors = cm.errors + EXCLUDED.errors;
    UPDATE jitgen.metric_rollup SET horizon = new;
    RETURN new;
END $$;

CREATE TABLE jitgen.component_samples (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app_id       text        NOT NULL,
    component_id text        NOT NULL,
    at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    request      jsonb       NOT NULL,
    response     jsonb       NOT NULL,
    FOREIGN KEY (app_id, component_id) REFERENCES jitgen.components ON DELETE CASCADE
);
CREATE INDEX component_samples_newest ON jitgen.component_samples (app_id, component_id, id DESC);
COMMENT ON TABLE jitgen.component_samples IS 'The newest successful LLM invocations per component (jitgen.sample_limit), replayed against candidates.';

CREATE TABLE jitgen.optimization_rules (
    id                         bigint   GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope                      text     NOT NULL CHECK (scope IN ('global', 'app', 'component')),
    app_id                     text,
    component_id               text,
    enabled                    boolean  NOT NULL DEFAULT true,
    min_latency_ms             numeric  CHECK (min_latency_ms >= 0),
    min_cost_per_call          numeric  CHECK (min_cost_per_call >= 0),
    min_calls_per_minute       numeric  CHECK (min_calls_per_minute >= 0),
    max_error_rate             numeric  CHECK (max_error_rate BETWEEN 0 AND 1),
    "window"                   interval NOT NULL DEFAULT '1 hour' CHECK ("window" > '0'),
    prefer_llm_for_flexibility boolean  NOT NULL DEFAULT false,
    severe_factor              numeric  NOT NULL DEFAULT 3 CHECK (severe_factor >= 1),
    require_review             boolean  NOT NULL DEFAULT false,
    min_shadow_agreement       numeric  NOT NULL DEFAULT 0.95 CHECK (min_shadow_agreement BETWEEN 0 AND 1),
    CHECK ((scope = 'global' AND app_id IS NULL AND component_id IS NULL)
        OR (scope = 'app' AND app_id IS NOT NULL AND component_id IS NULL)
        OR (scope = 'component' AND app_id IS NOT NULL AND component_id IS NOT NULL))
);
CREATE UNIQUE INDEX optimization_rules_one_per_scope
    ON jitgen.optimization_rules (scope, coalesce(app_id, ''), coalesce(component_id, ''));
COMMENT ON TABLE jitgen.optimization_rules IS 'When to generate code for a component; component > app > global, whole rule.';

CREATE TABLE jitgen.jit_artifacts (
    app_id       text        NOT NULL,
    component_id text        NOT NULL,
    version      text        NOT NULL CHECK (version ~ '^v[1-9][0-9]*$'),
    kind         text        NOT NULL CHECK (kind IN ('code', 'test')),
    path         text        NOT NULL,
    content      text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (app_id, component_id, version, kind),
    FOREIGN KEY (app_id, component_id) REFERENCES jitgen.components ON DELETE CASCADE
);
COMMENT ON TABLE jitgen.jit_artifacts IS 'Generated code and tests per attempt: _jit_code/<component>/<version>/handler.py and test_handler.py.';

CREATE TABLE jitgen.oracle_decisions (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app_id       text        NOT NULL,
    component_id text        NOT NULL,
    at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    decision     text        NOT NULL CHECK (decision IN
                     ('trigger', 'recommend', 'none', 'activate', 'pending_review', 'approve', 'reject', 'rollback', 'candidate_failed')),
    reasons      jsonb       NOT NULL DEFAULT '{}',
    metrics      jsonb       NOT NULL DEFAULT '{}',
    FOREIGN KEY (app_id, component_id) REFERENCES jitgen.components ON DELETE CASCADE
);
CREATE INDEX oracle_decisions_newest ON jitgen.oracle_decisions (app_id, component_id, id DESC);
COMMENT ON TABLE jitgen.oracle_decisions IS 'Every oracle evaluation that changed something, trigger, activation, review and rollback, with reasons.';

-- ---------------------------------------------------------------- registration

-- Registers (or updates the prompt and schemas of) a component; the schemas must compile.
CREATE FUNCTION jitgen.register_component(app_id text, component_id text, prompt text,
    input_schema jsonb, output_schema jsonb, target_language text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    row jitgen.components;
BEGIN
    IF app_id IS NULL OR component_id IS NULL OR prompt IS NULL OR input_schema IS NULL OR output_schema IS NULL THEN
        RAISE EXCEPTION 'app_id, component_id, prompt and both schemas are required' USING ERRCODE = '22004',
            HINT = 'SELECT jitgen.register_component(''shop'', ''sentiment'', ''Classify …'', ''{"type":"object"}'', ''{"type":"object"}'');';
    END IF;
    target_language := coalesce(target_language,
        (SELECT a.target_language FROM jitgen.oracle_apps a WHERE a.app_id = register_component.app_id), 'python');
    IF target_language <> 'python' THEN
        RAISE EXCEPTION 'unsupported target language "%"', target_language USING ERRCODE = '22023',
            DETAIL = 'Generated code runs in the Python sandbox.', HINT = 'Pass target_language => ''python'' (the default).';
    END IF;
    PERFORM jitgen._check_component_schema(input_schema, 'input_schema');
    PERFORM jitgen._check_component_schema(output_schema, 'output_schema');
    INSERT INTO jitgen.components AS c (app_id, component_id, prompt, input_schema, output_schema, target_language)
    VALUES (app_id, component_id, prompt, input_schema, output_schema, target_language)
    ON CONFLICT ON CONSTRAINT components_pkey DO UPDATE
        SET prompt = EXCLUDED.prompt, input_schema = EXCLUDED.input_schema,
            output_schema = EXCLUDED.output_schema, target_language = EXCLUDED.target_language,
            updated_at = clock_timestamp()
    RETURNING c.* INTO row;
    RETURN to_jsonb(row);
END $$;

CREATE FUNCTION jitgen._component(app_id text, component_id text, function_name text)
RETURNS jitgen.components LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    row jitgen.components;
BEGIN
    SELECT c.* INTO row FROM jitgen.components c WHERE c.app_id = app_id AND c.component_id = component_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown component "%" of app "%"', component_id, app_id USING ERRCODE = '42704',
            DETAIL = format('%s found no row in jitgen.components.', function_name),
            HINT = 'Register it first: SELECT jitgen.register_component(app_id, component_id, prompt, input_schema, output_schema);';
    END IF;
    RETURN row;
END $$;

-- An app's defaults for components registered after it (target_language) and for every
-- candidate of its components (require_review).
CREATE FUNCTION jitgen.set_app_defaults(app_id text, target_language text DEFAULT 'python', require_review boolean DEFAULT false)
RETURNS jsonb LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO jitgen.oracle_apps AS a (app_id, target_language, require_review)
    VALUES ($1, coalesce($2, 'python'), coalesce($3, false))
    ON CONFLICT (app_id) DO UPDATE SET target_language = EXCLUDED.target_language, require_review = EXCLUDED.require_review
    RETURNING to_jsonb(a);
$$;

-- ---------------------------------------------------------------- rules

-- Creates or replaces the rule of one scope from a JSON object: {"scope": "component",
-- "app_id": …, "component_id": …, "min_latency_ms": …, …}. Accepts the origin's spelling
-- prefer_llm_flexibility; an unknown key is an error (a typo must not silently drop a condition).
CREATE FUNCTION jitgen.set_rule(rule jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    known text[] := ARRAY['scope', 'app_id', 'component_id', 'enabled', 'min_latency_ms', 'min_cost_per_call',
        'min_calls_per_minute', 'max_error_rate', 'window', 'prefer_llm_for_flexibility', 'prefer_llm_flexibility',
        'severe_factor', 'require_review', 'min_shadow_agreement'];
    unknown text;
    r jitgen.optimization_rules;
BEGIN
    IF rule IS NULL OR jsonb_typeof(rule) <> 'object' THEN
        RAISE EXCEPTION 'a rule is a JSON object' USING ERRCODE = '22023',
            HINT = 'SELECT jitgen.set_rule(''{"scope": "global", "min_latency_ms": 500, "min_calls_per_minute": 10}'');';
    END IF;
    SELECT k INTO unknown FROM jsonb_object_keys(rule) k WHERE k <> ALL (known) LIMIT 1;
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'unknown rule field "%"', unknown USING ERRCODE = '22023',
            DETAIL = format('Known fields: %s.', array_to_string(known, ', ')),
            HINT = 'Check the spelling; jitgen.optimization_rules lists the columns.';
    END IF;
    IF rule ? 'prefer_llm_flexibility' AND NOT rule ? 'prefer_llm_for_flexibility' THEN
        rule := rule || jsonb_build_object('prefer_llm_for_flexibility', rule -> 'prefer_llm_flexibility');
    END IF;
    rule := rule - 'prefer_llm_flexibility';
    DELETE FROM jitgen.optimization_rules o
    WHERE o.scope = rule ->> 'scope' AND o.app_id IS NOT DISTINCT FROM rule ->> 'app_id'
      AND o.component_id IS NOT DISTINCT FROM rule ->> 'component_id';
    INSERT INTO jitgen.optimization_rules (scope, app_id, component_id, enabled, min_latency_ms, min_cost_per_call,
        min_calls_per_minute, max_error_rate, "window", prefer_llm_for_flexibility, severe_factor, require_review,
        min_shadow_agreement)
    SELECT x.scope, x.app_id, x.component_id, coalesce(x.enabled, true), x.min_latency_ms, x.min_cost_per_call,
           x.min_calls_per_minute, x.max_error_rate, coalesce(x."window", '1 hour'), coalesce(x.prefer_llm_for_flexibility, false),
           coalesce(x.severe_factor, 3), coalesce(x.require_review, false), coalesce(x.min_shadow_agreement, 0.95)
    FROM jsonb_to_record(rule) AS x(scope text, app_id text, component_id text, enabled boolean, min_latency_ms numeric,
        min_cost_per_call numeric, min_calls_per_minute numeric, max_error_rate numeric, "window" interval,
        prefer_llm_for_flexibility boolean, severe_factor numeric, require_review boolean, min_shadow_agreement numeric)
    RETURNING * INTO r;
    RETURN to_jsonb(r);
END $$;

-- The rule that applies to a component: its own, else its app's, else the global one (whole
-- rule, not per field); NULL when none. `scope` says which.
-- A rule as effective_rule and evaluate_oracle show it.
CREATE FUNCTION jitgen._rule_json(r jitgen.optimization_rules) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT to_jsonb(r) - 'id' || jsonb_build_object('rule_id', r.id, 'window_seconds', extract(epoch FROM r."window"));
$$;

-- Precedence of scopes: the most specific rule wins.
CREATE FUNCTION jitgen._scope_rank(scope text) RETURNS int
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE scope WHEN 'component' THEN 0 WHEN 'app' THEN 1 ELSE 2 END;
$$;

CREATE FUNCTION jitgen.effective_rule(app_id text, component_id text) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jitgen._rule_json(r)
    FROM jitgen.optimization_rules r
    WHERE (r.scope = 'component' AND r.app_id = $1 AND r.component_id = $2)
       OR (r.scope = 'app' AND r.app_id = $1)
       OR r.scope = 'global'
    ORDER BY jitgen._scope_rank(r.scope)
    LIMIT 1;
$$;

-- The decision for one component under `rule`, without side effects:
-- {decision, reasons, metrics}. All set conditions must hold; max_error_rate is a ceiling on
-- the LLM's own error rate (samples from a failing prompt are poor evidence). With
-- prefer_llm_for_flexibility a met rule only recommends, unless every set minimum is exceeded
-- severe_factor times.
CREATE FUNCTION jitgen._oracle_decision(rule jsonb, figures jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    checks jsonb := '[]';
    met boolean := true;
    severe boolean := true;
    any_min boolean := false;
    factor numeric := coalesce((rule ->> 'severe_factor')::numeric, 3);
    name text;
    metric text;
    threshold numeric;
    value numeric;
BEGIN
    FOR name, metric IN VALUES ('min_latency_ms', 'avg_latency_ms'), ('min_cost_per_call', 'avg_cost'),
                                ('min_calls_per_minute', 'calls_per_minute') LOOP
        threshold := (rule ->> name)::numeric;
        CONTINUE WHEN threshold IS NULL;
        any_min := true;
        value := (figures ->> metric)::numeric;
        IF value IS NULL OR value < threshold THEN
            met := false;
        END IF;
        IF value IS NULL OR value < threshold * factor THEN
            severe := false;
        END IF;
        checks := checks || jsonb_build_object('condition', name, 'threshold', threshold, 'value', value,
                                               'met', value IS NOT NULL AND value >= threshold);
    END LOOP;
    threshold := (rule ->> 'max_error_rate')::numeric;
    IF threshold IS NOT NULL THEN
        value := (figures ->> 'error_rate')::numeric;
        IF value IS NULL OR value > threshold THEN
            met := false;
        END IF;
        checks := checks || jsonb_build_object('condition', 'max_error_rate', 'threshold', threshold, 'value', value,
                                               'met', value IS NOT NULL AND value <= threshold);
    END IF;
    IF NOT met THEN
        RETURN jsonb_build_object('decision', 'none', 'reasons', jsonb_build_object('conditions', checks), 'metrics', figures);
    END IF;
    IF coalesce((rule ->> 'prefer_llm_for_flexibility')::boolean, false) AND NOT (severe AND any_min) THEN
        RETURN jsonb_build_object('decision', 'recommend', 'reasons',
            jsonb_build_object('conditions', checks, 'prefer_llm_for_flexibility', true, 'severe_factor', factor), 'metrics', figures);
    END IF;
    RETURN jsonb_build_object('decision', 'trigger', 'reasons',
        jsonb_build_object('conditions', checks, 'severe', severe AND any_min), 'metrics', figures);
END $$;

-- Queues jit.generate for a component (one active per component: asking again returns it).
CREATE FUNCTION jitgen._queue_generation(app_id text, component_id text, reasons jsonb)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    job_id bigint;
    job_key text := app_id || '/' || component_id;
BEGIN
    -- Concurrent triggers (an operator, the schedule) must not both insert.
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('jitgen.jit.generate:' || job_key, 0));
    SELECT j.id INTO job_id FROM jitgen.jobs j
    WHERE j.kind = 'jit.generate' AND j.key = job_key AND j.state IN ('queued', 'running');
    IF job_id IS NULL THEN
        job_id := jitgen._enqueue('jit.generate', jsonb_build_object('app_id', app_id, 'component_id', component_id, 'reasons', reasons),
                                  key => job_key, max_attempts => 2);
    END IF;
    RETURN job_id;
END $$;

-- Manual trigger: bypasses the rules.
CREATE FUNCTION jitgen.trigger_jit(app_id text, component_id text) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    job_id bigint;
BEGIN
    PERFORM jitgen._component(app_id, component_id, 'trigger_jit');
    job_id := jitgen._queue_generation(app_id, component_id, '{"manual": true}');
    INSERT INTO jitgen.oracle_decisions (app_id, component_id, decision, reasons)
    VALUES (app_id, component_id, 'trigger', jsonb_build_object('manual', true, 'job_id', job_id, 'by', current_user));
    RETURN job_id;
END $$;

-- Evaluates every component with an enabled rule: rolls back active handlers whose error rate
-- crossed max_error_rate, queues generation where the rule fires. Returns each decision; rows
-- are recorded except a 'none' that repeats the component's previous decision.
CREATE FUNCTION jitgen.evaluate_oracle() RETURNS SETOF jitgen.oracle_decisions
LANGUAGE plpgsql
-- One pass over a million metric rows is a hash aggregate: give it memory, and no LLVM JIT
-- (compiling this plan costs more than running it).
SET search_path = pg_catalog, pg_temp SET work_mem = '64MB' SET jit = off AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
    horizon timestamptz;
    c record;
    verdict jsonb;
    apps text[] := '{}';
    comps text[] := '{}';
    decisions text[] := '{}';
    reasons jsonb[] := '{}';
    figures jsonb[] := '{}';
BEGIN
    -- One evaluation at a time (every worker runs the schedule).
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('jitgen.evaluate_oracle', 0));
    horizon := jitgen._rollup_metrics();
    -- Every component's figures from one aggregate per distinct window (usually one), not a
    -- scan per component: the per-minute sums before the rollup horizon plus the raw rows after
    -- it (a window starts on a minute boundary in the rolled-up part). The LLM handler's
    -- (version ''), or the active JIT version's for rollback. NULL figures when there were no
    -- calls (a missing metric meets no condition).
    FOR c IN
        WITH rules AS MATERIALIZED (
            SELECT r.scope, r.app_id, r.component_id, jitgen._rule_json(r) AS rule
            FROM jitgen.optimization_rules r
        ), enabled AS MATERIALIZED (
            SELECT x.app_id, x.component_id, x.handler_type, x.active_version, x.pending_version, e.rule,
                   (e.rule ->> 'window')::interval AS win
            FROM jitgen.components x
            CROSS JOIN LATERAL (
                SELECT r.rule FROM rules r
                WHERE (r.scope = 'component' AND r.app_id = x.app_id AND r.component_id = x.component_id)
                   OR (r.scope = 'app' AND r.app_id = x.app_id) OR r.scope = 'global'
                ORDER BY jitgen._scope_rank(r.scope)
                LIMIT 1
            ) e
            WHERE (e.rule ->> 'enabled')::boolean
        ), aggregated AS (
            SELECT w.win, a.app_id, a.component_id, a.version, sum(a.calls) AS calls,
                   sum(a.latency_sum) / nullif(sum(a.calls), 0) AS latency, sum(a.cost_sum) / nullif(sum(a.calls), 0) AS cost,
                   sum(a.errors) AS errors
            FROM (SELECT DISTINCT enabled.win FROM enabled) w
            CROSS JOIN LATERAL (
                SELECT r.app_id, r.component_id, r.version, r.calls, r.latency_sum, r.cost_sum, r.errors
                FROM jitgen.component_minutes r
                WHERE r.minute >= date_trunc('minute', t0 - w.win) AND r.minute < horizon
                UNION ALL
                SELECT m.app_id, m.component_id, coalesce(m.version, ''), count(*), sum(m.latency_ms::float8),
                       sum(m.cost::float8), count(*) FILTER (WHERE m.outcome <> 'ok')
                FROM jitgen.component_metrics m
                WHERE m.at >= greatest(horizon, t0 - w.win)
                GROUP BY m.app_id, m.component_id, coalesce(m.version, '')
            ) a
            GROUP BY w.win, a.app_id, a.component_id, a.version
        )
        SELECT e.*, jsonb_build_object(
                   'calls', coalesce(a.calls, 0),
                   'calls_per_minute', coalesce(a.calls, 0) / greatest(extract(epoch FROM e.win) / 60, 1e-9),
                   'avg_latency_ms', a.latency, 'avg_cost', a.cost,
                   'error_rate', CASE WHEN coalesce(a.calls, 0) = 0 THEN NULL ELSE a.errors::numeric / a.calls END) AS figures,
               (SELECT d.decision FROM jitgen.oracle_decisions d
                WHERE d.app_id = e.app_id AND d.component_id = e.component_id ORDER BY d.id DESC LIMIT 1) AS previous
        FROM enabled e
        LEFT JOIN aggregated a ON a.win = e.win AND a.app_id = e.app_id AND a.component_id = e.component_id
             AND a.version = (CASE WHEN e.handler_type = 'jit' THEN e.active_version ELSE '' END)
        ORDER BY e.app_id, e.component_id
    LOOP
        IF c.handler_type = 'jit' THEN
            IF (c.rule ->> 'max_error_rate') IS NOT NULL AND (c.figures ->> 'error_rate')::numeric > (c.rule ->> 'max_error_rate')::numeric THEN
                UPDATE jitgen.components SET handler_type = 'llm', updated_at = clock_timestamp()
                WHERE app_id = c.app_id AND component_id = c.component_id;
                verdict := jsonb_build_object('decision', 'rollback', 'metrics', c.figures, 'reasons', jsonb_build_object(
                    'version', c.active_version, 'error_rate', c.figures -> 'error_rate', 'max_error_rate', c.rule -> 'max_error_rate'));
            ELSE
                verdict := jsonb_build_object('decision', 'none', 'metrics', c.figures,
                                              'reasons', jsonb_build_object('active_version', c.active_version));
            END IF;
        ELSIF c.pending_version IS NOT NULL THEN
            verdict := jsonb_build_object('decision', 'none', 'metrics', '{}'::jsonb,
                                          'reasons', jsonb_build_object('pending_review', c.pending_version));
        ELSE
            verdict := jitgen._oracle_decision(c.rule, c.figures);
            IF verdict ->> 'decision' = 'trigger' THEN
                verdict := jsonb_set(verdict, '{reasons,job_id}',
                    to_jsonb(jitgen._queue_generation(c.app_id, c.component_id, verdict -> 'reasons')));
            END IF;
        END IF;
        verdict := jsonb_set(verdict, '{reasons,rule_scope}', c.rule -> 'scope');
        IF verdict ->> 'decision' = 'none' AND c.previous = 'none' THEN
            -- Returned, not stored: the component's last decision already says so.
            RETURN NEXT ROW(NULL, c.app_id, c.component_id, t0, 'none', verdict -> 'reasons', verdict -> 'metrics')::jitgen.oracle_decisions;
        ELSE
            apps := apps || c.app_id;
            comps := comps || c.component_id;
            decisions := decisions || (verdict ->> 'decision');
            reasons := reasons || (verdict -> 'reasons');
            figures := figures || coalesce(verdict -> 'metrics', '{}');
        END IF;
    END LOOP;
    RETURN QUERY
        INSERT INTO jitgen.oracle_decisions (app_id, component_id, decision, reasons, metrics)
        SELECT * FROM unnest(apps, comps, decisions, reasons, figures)
        RETURNING *;
END $$;

-- ---------------------------------------------------------------- activation and review

-- The sidecar's third write: a candidate that passed tests and shadow replay becomes the
-- component's handler, or waits for review when the component or its rule requires it.
CREATE FUNCTION jitgen._finish_candidate(app_id text, component_id text, version text, evidence jsonb)
RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    c jitgen.components;
    review boolean;
BEGIN
    c := jitgen._component(app_id, component_id, '_finish_candidate');
    review := c.require_review
        OR coalesce((jitgen.effective_rule(app_id, component_id) ->> 'require_review')::boolean, false)
        OR coalesce((SELECT a.require_review FROM jitgen.oracle_apps a WHERE a.app_id = c.app_id), false);
    IF review THEN
        UPDATE jitgen.components SET pending_version = version, updated_at = clock_timestamp()
        WHERE components.app_id = app_id AND components.component_id = component_id;
        INSERT INTO jitgen.oracle_decisions (app_id, component_id, decision, reasons)
        VALUES (app_id, component_id, 'pending_review', evidence || jsonb_build_object('version', version));
        RETURN 'pending_review';
    END IF;
    PERFORM jitgen._activate(app_id, component_id, version);
    INSERT INTO jitgen.oracle_decisions (app_id, component_id, decision, reasons)
    VALUES (app_id, component_id, 'activate', evidence || jsonb_build_object('version', version));
    RETURN 'activated';
END $$;

CREATE FUNCTION jitgen._activate(app_id text, component_id text, version text)
RETURNS void LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    UPDATE jitgen.components c
    SET handler_type = 'jit', active_version = $3, pending_version = NULL, updated_at = clock_timestamp(),
        task_details = jsonb_build_object('script', format('_jit_code/%s/%s/handler.py', $2, $3), 'function', 'handle_request')
    WHERE c.app_id = $1 AND c.component_id = $2;
$$;

CREATE FUNCTION jitgen._pending(app_id text, component_id text, version text, function_name text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    c jitgen.components;
BEGIN
    c := jitgen._component(app_id, component_id, function_name);
    IF c.pending_version IS DISTINCT FROM version THEN
        RAISE EXCEPTION 'version "%" of %/% is not waiting for review', version, app_id, component_id
            USING ERRCODE = '55000',
            DETAIL = format('Pending: %s.', coalesce(c.pending_version, 'none')),
            HINT = 'SELECT component_id, pending_version FROM jitgen.components WHERE pending_version IS NOT NULL;';
    END IF;
END $$;

-- An operator approves a reviewed candidate: it becomes the handler.
CREATE FUNCTION jitgen.approve_jit(app_id text, component_id text, version text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM jitgen._pending(app_id, component_id, version, 'approve_jit');
    PERFORM jitgen._activate(app_id, component_id, version);
    INSERT INTO jitgen.oracle_decisions (app_id, component_id, decision, reasons)
    VALUES (app_id, component_id, 'approve', jsonb_build_object('version', version, 'by', current_user));
    RETURN to_jsonb(jitgen._component(app_id, component_id, 'approve_jit'));
END $$;

-- An operator rejects it: it never activates (a new generation makes a new version).
CREATE FUNCTION jitgen.reject_jit(app_id text, component_id text, version text, reason text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM jitgen._pending(app_id, component_id, version, 'reject_jit');
    UPDATE jitgen.components c SET pending_version = NULL, updated_at = clock_timestamp()
    WHERE c.app_id = $1 AND c.component_id = $2;
    INSERT INTO jitgen.oracle_decisions (app_id, component_id, decision, reasons)
    VALUES (app_id, component_id, 'reject', jsonb_build_object('version', version, 'by', current_user, 'reason', reason));
    RETURN to_jsonb(jitgen._component(app_id, component_id, 'reject_jit'));
END $$;

-- An operator returns a component to its prompt.
CREATE FUNCTION jitgen.rollback_jit(app_id text, component_id text, reason text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c jitgen.components;
BEGIN
    c := jitgen._component(app_id, component_id, 'rollback_jit');
    UPDATE jitgen.components SET handler_type = 'llm', updated_at = clock_timestamp()
    WHERE components.app_id = c.app_id AND components.component_id = c.component_id;
    INSERT INTO jitgen.oracle_decisions (app_id, component_id, decision, reasons)
    VALUES (c.app_id, c.component_id, 'rollback', jsonb_build_object('version', c.active_version, 'by', current_user, 'reason', reason, 'manual', true));
    RETURN to_jsonb(jitgen._component(c.app_id, c.component_id, 'rollback_jit'));
END $$;

-- ---------------------------------------------------------------- metrics

-- invoke's metric row (and a sample for an LLM success, trimmed to the newest sample_limit).
CREATE FUNCTION jitgen._record_invocation(app_id text, component_id text, handler text, version text,
    latency_ms real, prompt_tokens int, completion_tokens int, cost numeric, outcome text, error text,
    request jsonb, response jsonb, sample_limit int)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO jitgen.component_metrics (app_id, component_id, handler_type, version, latency_ms, prompt_tokens,
                                          completion_tokens, cost, outcome, error)
    VALUES (app_id, component_id, handler, version, latency_ms, prompt_tokens, completion_tokens, cost, outcome, error);
    IF handler = 'llm' AND outcome = 'ok' AND sample_limit > 0 THEN
        INSERT INTO jitgen.component_samples (app_id, component_id, request, response) VALUES (app_id, component_id, request, response);
        DELETE FROM jitgen.component_samples s
        WHERE s.app_id = $1 AND s.component_id = $2
          AND s.id < (SELECT x.id FROM jitgen.component_samples x WHERE x.app_id = $1 AND x.component_id = $2
                      ORDER BY x.id DESC OFFSET sample_limit - 1 LIMIT 1);
    END IF;
END $$;

-- Calls and cost before and after activation, what the synthesis cost, and when it pays off.
CREATE VIEW jitgen.component_savings WITH (security_invoker = true) AS
SELECT c.app_id, c.component_id, c.handler_type, c.active_version,
       count(*) FILTER (WHERE m.handler_type = 'llm') AS llm_calls,
       coalesce(avg(m.cost) FILTER (WHERE m.handler_type = 'llm'), 0) AS llm_cost_per_call,
       count(*) FILTER (WHERE m.handler_type = 'jit') AS jit_calls,
       coalesce(sum(m.cost) FILTER (WHERE m.handler_type = 'jit'), 0) AS jit_cost,
       coalesce(synth.cost, 0) AS synthesis_cost,
       coalesce(avg(m.cost) FILTER (WHERE m.handler_type = 'llm'), 0) * count(*) FILTER (WHERE m.handler_type = 'jit')
           - coalesce(synth.cost, 0) AS net_savings,
       CASE WHEN coalesce(avg(m.cost) FILTER (WHERE m.handler_type = 'llm'), 0) > 0
            THEN ceil(coalesce(synth.cost, 0) / avg(m.cost) FILTER (WHERE m.handler_type = 'llm')) END AS break_even_calls
FROM jitgen.components c
LEFT JOIN jitgen.component_metrics m ON m.app_id = c.app_id AND m.component_id = c.component_id
LEFT JOIN LATERAL (
    SELECT sum(l.cost_estimate_usd) AS cost FROM jitgen.llm_calls l
    WHERE l.app_id = c.app_id AND l.component_id = 'jit.generate:' || c.component_id
) synth ON true
GROUP BY c.app_id, c.component_id, c.handler_type, c.active_version, synth.cost;
COMMENT ON VIEW jitgen.component_savings IS 'Per component: LLM and JIT calls, cost, synthesis cost (coder LLM) and break-even.';
