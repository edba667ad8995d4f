-- jitgen adapters (seed 004): a node posts its command schemas; jitgen validates them, builds
-- the training dataset here, and keeps at most one training job per node in the queue. The
-- sidecar's adapter.train handler trains, uploads and notifies.
--
-- Who may see what is row-level security: a node's rows are visible to members of the node's
-- owner_role (a tenant's admin role can be granted every node role of the tenant). The job
-- ledger gets the same policy for adapter jobs. Node roles hold SELECT only: every write goes
-- through a function that checks the caller (train_adapter, cancel_adapter_job,
-- confirm_adapter_download), so no tenant can lock a shared row or table and stall a worker.
-- The sidecar connects as the extension owner, which RLS does not restrict.

CREATE TABLE jitgen.nodes (
    node_id           text        PRIMARY KEY CHECK (jitgen._valid_node_id(node_id)),
    tenant            text        NOT NULL CHECK (tenant <> ''),
    base_model_id     text        NOT NULL CHECK (base_model_id <> ''),
    owner_role        name        NOT NULL DEFAULT current_user,
    max_jobs_per_hour int         NOT NULL DEFAULT 6 CHECK (max_jobs_per_hour BETWEEN 1 AND 1000),
    timezone          text        NOT NULL DEFAULT 'UTC',
    -- LoRA parameters that are part of the dataset's identity (r, alpha, dropout, epochs, ...).
    params            jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(params) = 'object'),
    -- {"today", "timezone"}: relative dates in examples are rendered against it. Refreshed
    -- only when the commands change, so re-posting the same commands tomorrow reuses today's
    -- adapter.
    date_context      jsonb,
    created_at        timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE jitgen.nodes IS 'Devices that get a LoRA adapter trained on their voice commands (seed 004).';

CREATE TABLE jitgen.node_commands (
    node_id      text        NOT NULL REFERENCES jitgen.nodes ON DELETE CASCADE,
    command_name text        NOT NULL,
    schema       jsonb       NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (node_id, command_name),
    CONSTRAINT schema_names_its_command CHECK (schema->>'command_name' = command_name)
);
COMMENT ON TABLE jitgen.node_commands IS
    'One row per command of a node (get_command_schema()); any write schedules training for the node at commit.';

-- A training request of one transaction: written by the node_commands triggers and by
-- train_adapter, consumed by _schedule_adapter_training in the same transaction. The row is
-- the capability: only a role that may write a node's rows can ask for the node's training.
CREATE TABLE jitgen.adapter_requests (
    node_id          text        NOT NULL REFERENCES jitgen.nodes ON DELETE CASCADE,
    xid              xid8        NOT NULL DEFAULT pg_current_xact_id(),
    commands_changed boolean     NOT NULL DEFAULT false,
    base_model_id    text,
    requested_by     name        NOT NULL DEFAULT current_user,
    requested_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (node_id, xid)
);

-- One row per adapter.train job: what it trains on. The job's state, progress and error live
-- in jitgen.jobs (kind 'adapter.train', key = node_id).
CREATE TABLE jitgen.adapter_jobs (
    job_id        bigint      PRIMARY KEY REFERENCES jitgen.jobs (id) ON DELETE CASCADE,
    node_id       text        NOT NULL REFERENCES jitgen.nodes ON DELETE CASCADE,
    tenant        text        NOT NULL,
    base_model_id text        NOT NULL,
    dataset_hash  text        NOT NULL CHECK (dataset_hash ~ '^[0-9a-f]{64}$'),
    counts        jsonb       NOT NULL,
    -- The stored dataset: params, date_context, the system prompt once, train and holdout pairs.
    dataset       jsonb       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX adapter_jobs_node ON jitgen.adapter_jobs (node_id, created_at);

-- Published adapters. Written by the sidecar in the transaction that completes the job.
CREATE TABLE jitgen.adapter_artifacts (
    job_id         bigint      PRIMARY KEY,
    node_id        text        NOT NULL,
    base_model_id  text        NOT NULL,
    dataset_hash   text        NOT NULL,
    object_key     text        NOT NULL,
    size_bytes     bigint      NOT NULL,
    sha256         text        NOT NULL,
    metadata       jsonb       NOT NULL,
    url            text        NOT NULL,
    url_expires_at timestamptz NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    downloaded_at  timestamptz,
    deleted_at     timestamptz
);
CREATE INDEX adapter_artifacts_node ON jitgen.adapter_artifacts (node_id);

-- The MQTT outbox: one row per adapter_ready message, delivered by the sidecar's notifier
-- until the broker acknowledges it. Written with the artifact, so a crash never loses one.
CREATE TABLE jitgen.adapter_notifications (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id          bigint      NOT NULL,
    node_id         text        NOT NULL,
    topic           text        NOT NULL,
    payload         jsonb       NOT NULL,
    attempts        int         NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);
CREATE INDEX adapter_notifications_due ON jitgen.adapter_notifications (next_attempt_at) WHERE delivered_at IS NULL;

-- ---------------------------------------------------------------- row-level security

ALTER TABLE jitgen.nodes ENABLE ROW LEVEL SECURITY;
CREATE POLICY node_members ON jitgen.nodes USING (jitgen._node_member(owner_role));

ALTER TABLE jitgen.node_commands ENABLE ROW LEVEL SECURITY;
CREATE POLICY node_members ON jitgen.node_commands
    USING (EXISTS (SELECT 1 FROM jitgen.nodes n WHERE n.node_id = node_commands.node_id));

ALTER TABLE jitgen.adapter_requests ENABLE ROW LEVEL SECURITY;
CREATE POLICY node_members ON jitgen.adapter_requests
    USING (EXISTS (SELECT 1 FROM jitgen.nodes n WHERE n.node_id = adapter_requests.node_id));

ALTER TABLE jitgen.adapter_jobs ENABLE ROW LEVEL SECURITY;
CREATE POLICY node_members ON jitgen.adapter_jobs
    USING (EXISTS (SELECT 1 FROM jitgen.nodes n WHERE n.node_id = adapter_jobs.node_id));

ALTER TABLE jitgen.adapter_artifacts ENABLE ROW LEVEL SECURITY;
CREATE POLICY node_members ON jitgen.adapter_artifacts
    USING (EXISTS (SELECT 1 FROM jitgen.nodes n WHERE n.node_id = adapter_artifacts.node_id));

-- Node roles see (and may cancel through cancel_adapter_job) their own adapter jobs.
CREATE POLICY node_adapter_jobs ON jitgen.jobs FOR SELECT
    USING (kind = 'adapter.train' AND EXISTS (SELECT 1 FROM jitgen.nodes n WHERE n.node_id = jobs.key));

GRANT SELECT ON jitgen.nodes, jitgen.node_commands, jitgen.adapter_jobs, jitgen.adapter_artifacts TO PUBLIC;

-- ---------------------------------------------------------------- nodes

CREATE FUNCTION jitgen.register_node(
    node_id text, tenant text, base_model_id text, owner_role name DEFAULT current_user,
    max_jobs_per_hour int DEFAULT 6, timezone text DEFAULT 'UTC', params jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    r jitgen.nodes;
BEGIN
    IF node_id IS NULL OR tenant IS NULL OR base_model_id IS NULL OR owner_role IS NULL THEN
        RAISE EXCEPTION 'node_id, tenant, base_model_id and owner_role must not be NULL' USING ERRCODE = '22004',
            HINT = 'SELECT jitgen.register_node(''kitchen-1'', ''acme'', ''qwen2.5-0.5b'', ''node_kitchen_1'');';
    END IF;
    IF NOT jitgen._valid_node_id(node_id) THEN
        RAISE EXCEPTION 'invalid node_id "%"', node_id USING ERRCODE = '22023',
            DETAIL = 'A node id is 1 to 128 characters: a letter or digit, then letters, digits, ''_'', ''.'' or ''-'', never ''..''; it names the node''s MQTT topic and storage prefix.',
            HINT = 'Use an id such as ''kitchen-1''.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = owner_role) THEN
        RAISE EXCEPTION 'role "%" does not exist', owner_role USING ERRCODE = '42704',
            DETAIL = 'Members of a node''s owner_role act as the node: they post its commands and read its jobs.',
            HINT = format('CREATE ROLE %I; then register the node again.', owner_role);
    END IF;
    IF timezone IS NOT NULL AND NOT jitgen._known_timezone(timezone) THEN
        RAISE EXCEPTION 'unknown time zone "%"', timezone USING ERRCODE = '22023',
            DETAIL = 'Relative dates in the node''s examples ("tomorrow at 9am") become instants in its time zone, from the IANA tz database jitgen bundles.',
            HINT = 'Use an IANA name such as ''Europe/Paris''; SELECT name FROM pg_timezone_names lists them.';
    END IF;
    PERFORM jitgen._check_adapter_params(params);
    INSERT INTO jitgen.nodes AS n (node_id, tenant, base_model_id, owner_role, max_jobs_per_hour, timezone, params)
    VALUES (node_id, tenant, base_model_id, owner_role, coalesce(max_jobs_per_hour, 6), coalesce(timezone, 'UTC'),
            coalesce(params, '{}'))
    ON CONFLICT (node_id) DO UPDATE SET tenant = EXCLUDED.tenant, base_model_id = EXCLUDED.base_model_id,
        owner_role = EXCLUDED.owner_role, max_jobs_per_hour = EXCLUDED.max_jobs_per_hour,
        timezone = EXCLUDED.timezone, params = EXCLUDED.params
    RETURNING * INTO r;
    RETURN to_jsonb(r);
END $$;

-- ---------------------------------------------------------------- scheduling

-- Turns this transaction's training request for a node into at most one queued job:
--   1. lock the node (serialises everything below per node);
--   2. assemble the dataset from the stored commands (invalid → 22023, too big → 54000);
--   3. the active job already trains this dataset → return it; the last complete job did →
--      supersede the active one and return the complete one;
--   4. supersede the active job (a running one is also asked to cancel), except a deferred one,
--      which keeps its slot and takes the new dataset in place;
--   5. rate limit: over max_jobs_per_hour in the rolling hour → queue for when a slot opens,
--      with a WARNING (53400); the change is kept either way.
-- Returns NULL when this transaction made no request for the node (so calling it for another
-- node does nothing).
CREATE FUNCTION jitgen._schedule_adapter_training(p_node_id text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    req          record;
    n            jitgen.nodes;
    cmds         jsonb;
    built        jsonb;
    h            text;
    active       record;
    done_id      bigint;
    admitted     timestamptz[];
    next_slot    timestamptz;
    new_id       bigint;
    delayed      boolean := false;
BEGIN
    SELECT bool_or(r.commands_changed) AS changed,
           (array_agg(r.base_model_id ORDER BY r.requested_at DESC) FILTER (WHERE r.base_model_id IS NOT NULL))[1] AS base_model_id
    INTO req FROM jitgen.adapter_requests r
    WHERE r.node_id = p_node_id AND r.xid = pg_current_xact_id();
    IF req.changed IS NULL THEN
        RETURN NULL;
    END IF;
    DELETE FROM jitgen.adapter_requests r WHERE r.node_id = p_node_id AND r.xid = pg_current_xact_id();

    SELECT * INTO n FROM jitgen.nodes WHERE node_id = p_node_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF req.base_model_id IS NOT NULL AND req.base_model_id IS DISTINCT FROM n.base_model_id THEN
        n.base_model_id := req.base_model_id;
        req.changed := true;
    END IF;
    IF req.changed OR n.date_context IS NULL THEN
        n.date_context := jitgen._date_context(n.timezone, floor(extract(epoch FROM now()))::bigint);
    END IF;
    UPDATE jitgen.nodes SET base_model_id = n.base_model_id, date_context = n.date_context
    WHERE node_id = p_node_id AND (base_model_id, date_context) IS DISTINCT FROM (n.base_model_id, n.date_context);

    SELECT j.id, j.state, j.run_after, j.msg_id, a.dataset_hash INTO active
    FROM jitgen.jobs j JOIN jitgen.adapter_jobs a ON a.job_id = j.id
    WHERE j.kind = 'adapter.train' AND j.key = p_node_id AND j.state IN ('queued', 'running');

    SELECT coalesce(jsonb_agg(c.schema ORDER BY c.command_name), '[]') INTO cmds
    FROM jitgen.node_commands c WHERE c.node_id = p_node_id;
    IF cmds = '[]' THEN
        -- No commands, no adapter: stop whatever would train the old list.
        IF active.id IS NOT NULL THEN
            PERFORM jitgen._supersede_adapter_job(active.id, active.state, active.msg_id, 'the node has no commands left');
        END IF;
        RETURN jsonb_build_object('job_id', NULL, 'status', 'no_commands', 'dataset_hash', NULL);
    END IF;

    built := jitgen._assemble_adapter_dataset(n.node_id, n.base_model_id, cmds, n.params,
                                              n.date_context->>'today', n.date_context->>'timezone',
                                              floor(extract(epoch FROM (n.date_context->>'now')::timestamptz))::bigint);
    h := built->>'dataset_hash';

    IF active.dataset_hash = h THEN
        RETURN jsonb_build_object('job_id', active.id, 'status', active.state, 'dataset_hash', h, 'reused', true);
    END IF;
    SELECT a.job_id INTO done_id
    FROM jitgen.adapter_jobs a JOIN jitgen.jobs j ON j.id = a.job_id
    WHERE a.node_id = p_node_id AND j.state = 'complete'
    ORDER BY j.finished_at DESC, j.id DESC LIMIT 1;
    -- Reused only while its adapter can still be fetched; an expired URL or a swept object makes
    -- a new job, whose worker re-presigns the stored object, re-uploads a cached copy or trains.
    IF done_id IS NOT NULL AND (SELECT a.dataset_hash FROM jitgen.adapter_jobs a WHERE a.job_id = done_id) = h
       AND EXISTS (SELECT 1 FROM jitgen.adapter_artifacts f WHERE f.job_id = done_id AND f.deleted_at IS NULL
                   AND f.url_expires_at > clock_timestamp() + interval '5 minutes') THEN
        IF active.id IS NOT NULL THEN
            PERFORM jitgen._supersede_adapter_job(active.id, active.state, active.msg_id,
                                                  'the commands went back to those of job ' || done_id);
        END IF;
        RETURN jsonb_build_object('job_id', done_id, 'status', 'complete', 'dataset_hash', h, 'reused', true);
    END IF;

    IF active.id IS NOT NULL AND active.state = 'queued' AND active.run_after > clock_timestamp() THEN
        -- Deferred by the rate limit: it keeps its slot and trains the newest commands.
        UPDATE jitgen.adapter_jobs SET dataset_hash = h, dataset = built->'dataset', counts = built->'counts',
            base_model_id = n.base_model_id
        WHERE job_id = active.id;
        UPDATE jitgen.jobs SET payload = jsonb_build_object('node_id', p_node_id, 'dataset_hash', h)
        WHERE id = active.id;
        PERFORM jitgen._warn_rate_limited(n, active.id, active.run_after);
        RETURN jsonb_build_object('job_id', active.id, 'status', 'queued', 'dataset_hash', h,
                                  'counts', built->'counts', 'deferred_until', active.run_after);
    END IF;
    IF active.id IS NOT NULL THEN
        PERFORM jitgen._supersede_adapter_job(active.id, active.state, active.msg_id, 'newer commands arrived');
    END IF;

    -- Every job that became due (or ran) in the rolling hour counts, superseded ones included;
    -- one superseded before it was due never used a slot. Over the limit, the next slot opens
    -- an hour after the admission that would fall out of the window.
    SELECT coalesce(array_agg(j.run_after ORDER BY j.run_after), '{}') INTO admitted
    FROM jitgen.adapter_jobs a JOIN jitgen.jobs j ON j.id = a.job_id
    WHERE a.node_id = p_node_id AND j.run_after > clock_timestamp() - interval '1 hour'
      AND NOT (j.state = 'superseded' AND j.started_at IS NULL AND j.run_after > j.finished_at);
    IF cardinality(admitted) >= n.max_jobs_per_hour THEN
        next_slot := admitted[cardinality(admitted) - n.max_jobs_per_hour + 1] + interval '1 hour';
        delayed := true;
    END IF;

    new_id := jitgen._enqueue('adapter.train', jsonb_build_object('node_id', p_node_id, 'dataset_hash', h),
                             key => p_node_id, tenant => n.tenant,
                             delay => CASE WHEN delayed THEN next_slot - clock_timestamp() ELSE '0' END,
                             max_attempts => 3);
    INSERT INTO jitgen.adapter_jobs (job_id, node_id, tenant, base_model_id, dataset_hash, counts, dataset)
    VALUES (new_id, p_node_id, n.tenant, n.base_model_id, h, built->'counts', built->'dataset');
    IF delayed THEN
        SELECT run_after INTO next_slot FROM jitgen.jobs WHERE id = new_id;
        PERFORM jitgen._warn_rate_limited(n, new_id, next_slot);
        RETURN jsonb_build_object('job_id', new_id, 'status', 'queued', 'dataset_hash', h,
                                  'counts', built->'counts', 'deferred_until', next_slot);
    END IF;
    RETURN jsonb_build_object('job_id', new_id, 'status', 'queued', 'dataset_hash', h, 'counts', built->'counts');
END $$;

-- The rate limit's answer. A WARNING, not an ERROR: an error would roll back the caller's
-- transaction and lose the change the node just sent, and the change is kept and trained when
-- the slot opens.
CREATE FUNCTION jitgen._warn_rate_limited(n jitgen.nodes, p_job_id bigint, p_runs_at timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE WARNING 'node % is over its rate limit of % training jobs per hour', n.node_id, n.max_jobs_per_hour
        USING ERRCODE = '53400',
              DETAIL = format('The commands were saved. Training job %s starts by itself at %s, when a slot opens.',
                              p_job_id, p_runs_at),
              HINT = format('Nothing needs to be resent. To allow more: UPDATE jitgen.nodes SET max_jobs_per_hour = %s WHERE node_id = %L;',
                            n.max_jobs_per_hour * 2, n.node_id);
END $$;

-- A queued job stops at once; a running one is asked to cancel, and its result will be dropped
-- because the job is no longer running when its worker finishes.
CREATE FUNCTION jitgen._supersede_adapter_job(p_job_id bigint, p_state text, p_msg_id bigint, p_why text)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- clock_timestamp, not now(): the rate limit compares it with the run_after of a job that
    -- a concurrent transaction may have queued after this one began.
    UPDATE jitgen.jobs SET state = 'superseded', cancel_requested = (p_state = 'running'), finished_at = clock_timestamp(),
        error = jsonb_build_object('kind', 'superseded', 'message', p_why)
    WHERE id = p_job_id AND state IN ('queued', 'running');
    IF p_state = 'queued' AND p_msg_id IS NOT NULL THEN
        PERFORM pgmq.archive('jitgen_jobs', p_msg_id);
    END IF;
END $$;
REVOKE ALL ON FUNCTION jitgen._supersede_adapter_job(bigint, text, bigint, text) FROM PUBLIC;

CREATE FUNCTION jitgen._node_commands_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO jitgen.adapter_requests (node_id, commands_changed)
        SELECT DISTINCT c.node_id, true FROM new_rows c
        ON CONFLICT (node_id, xid) DO UPDATE SET commands_changed = true;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        -- A node being deleted takes its commands along; it needs no training.
        INSERT INTO jitgen.adapter_requests (node_id, commands_changed)
        SELECT DISTINCT c.node_id, true FROM old_rows c
        WHERE EXISTS (SELECT 1 FROM jitgen.nodes n WHERE n.node_id = c.node_id)
        ON CONFLICT (node_id, xid) DO UPDATE SET commands_changed = true;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER node_commands_inserted AFTER INSERT ON jitgen.node_commands
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION jitgen._node_commands_changed();
CREATE TRIGGER node_commands_updated AFTER UPDATE ON jitgen.node_commands
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION jitgen._node_commands_changed();
CREATE TRIGGER node_commands_deleted AFTER DELETE ON jitgen.node_commands
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION jitgen._node_commands_changed();

CREATE FUNCTION jitgen._adapter_request_due() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM jitgen._schedule_adapter_training(NEW.node_id);
    RETURN NULL;
END $$;

-- Direct writes to node_commands are scheduled once, at commit, after every statement of the
-- transaction: a DELETE followed by INSERTs is one change, not two jobs. Invalid commands make
-- the COMMIT fail, so nothing is stored.
CREATE CONSTRAINT TRIGGER adapter_request_due AFTER INSERT ON jitgen.adapter_requests
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION jitgen._adapter_request_due();

-- ---------------------------------------------------------------- the seed's API

-- POST /api/v0/adapters/train, the privileged half of jitgen.train_adapter (run as the owner
-- once the caller was seen to see the node). Replaces the node's command set with
-- command_schema (an array, or {"commands": [...]}); unchanged commands are not rewritten.
-- Returns {job_id, status, dataset_hash, counts[, reused][, deferred_until]}.
CREATE FUNCTION jitgen._train_adapter(node_id text, base_model_id text, command_schema jsonb,
                                      dataset_hash text, requested_by name)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    cmds  jsonb;
    names text[];
    r     jsonb;
BEGIN
    IF node_id IS NULL OR base_model_id IS NULL OR command_schema IS NULL THEN
        RAISE EXCEPTION 'node_id, base_model_id and command_schema must not be NULL' USING ERRCODE = '22004',
            HINT = 'SELECT jitgen.train_adapter(''kitchen-1'', ''qwen2.5-0.5b'', ''[{"command_name": ...}]''::jsonb);';
    END IF;
    -- The node lock first: two concurrent posts replace the command set one after the other,
    -- never interleaved into a mix of both.
    PERFORM 1 FROM jitgen.nodes n WHERE n.node_id = _train_adapter.node_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'node "%" is not registered', node_id USING ERRCODE = '42704',
            DETAIL = format('No node "%s" is visible to role %s.', node_id, requested_by),
            HINT = format('An administrator registers it: SELECT jitgen.register_node(%L, ''<tenant>'', %L, ''<node role>'');',
                          node_id, base_model_id);
    END IF;
    -- 22023 with the seed's 400 body as DETAIL before anything is written.
    PERFORM jitgen.assert_valid_commands(command_schema);
    cmds := CASE jsonb_typeof(command_schema) WHEN 'array' THEN command_schema
            ELSE coalesce(command_schema->'commands', command_schema->'command_schema') END;
    SELECT coalesce(array_agg(e->>'command_name'), '{}') INTO names FROM jsonb_array_elements(cmds) e;

    DELETE FROM jitgen.node_commands c WHERE c.node_id = _train_adapter.node_id AND c.command_name <> ALL (names);
    INSERT INTO jitgen.node_commands AS c (node_id, command_name, schema)
    SELECT _train_adapter.node_id, e->>'command_name', e FROM jsonb_array_elements(cmds) e
    ON CONFLICT (node_id, command_name) DO UPDATE SET schema = EXCLUDED.schema, updated_at = now()
    WHERE c.schema IS DISTINCT FROM EXCLUDED.schema;
    INSERT INTO jitgen.adapter_requests AS q (node_id, base_model_id, requested_by)
    VALUES (_train_adapter.node_id, _train_adapter.base_model_id, coalesce(_train_adapter.requested_by, current_user))
    ON CONFLICT (node_id, xid) DO UPDATE SET base_model_id = EXCLUDED.base_model_id;

    r := jitgen._schedule_adapter_training(_train_adapter.node_id);
    IF dataset_hash IS NOT NULL AND dataset_hash IS DISTINCT FROM r->>'dataset_hash' THEN
        RAISE EXCEPTION 'dataset_hash does not match the commands' USING ERRCODE = '22023',
            DETAIL = format('Given %s; the commands and parameters hash to %s.', dataset_hash, r->>'dataset_hash'),
            HINT = 'Leave dataset_hash NULL to train whatever the commands give, or send the commands that hash to it.';
    END IF;
    RETURN r;
END $$;

-- GET /api/v0/adapters/jobs/{id}
CREATE FUNCTION jitgen.adapter_job(job_id bigint) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
    r jsonb;
BEGIN
    SELECT jsonb_build_object(
        'job_id', a.job_id, 'node_id', a.node_id, 'status', j.state, 'progress', j.progress,
        'progress_message', j.progress_message,
        'artifact_url', CASE WHEN f.deleted_at IS NULL AND f.url_expires_at > now() THEN f.url END,
        'artifact_metadata', f.metadata, 'url_expires_at', f.url_expires_at,
        'error', j.error, 'dataset_hash', a.dataset_hash, 'base_model_id', a.base_model_id,
        'counts', a.counts, 'report', j.result->'report', 'cancel_requested', j.cancel_requested,
        'created_at', j.created_at, 'runs_after', j.run_after, 'started_at', j.started_at,
        'finished_at', j.finished_at)
    INTO r
    FROM jitgen.adapter_jobs a JOIN jitgen.jobs j ON j.id = a.job_id
    LEFT JOIN jitgen.adapter_artifacts f ON f.job_id = a.job_id
    WHERE a.job_id = adapter_job.job_id;
    IF r IS NULL THEN
        RAISE EXCEPTION 'adapter job % does not exist', job_id USING ERRCODE = '42704',
            DETAIL = format('No adapter job %s is visible to role %s.', job_id, current_user),
            HINT = 'SELECT job_id, node_id, dataset_hash, created_at FROM jitgen.adapter_jobs ORDER BY job_id DESC LIMIT 20;';
    END IF;
    RETURN r;
END $$;

-- POST /api/v0/adapters/jobs/{id}/cancel. A queued job is canceled at once (status
-- "canceled"); a running one keeps status "running" with cancel_requested until its worker
-- stops between two training steps, within seconds.
CREATE FUNCTION jitgen.cancel_adapter_job(job_id bigint) RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    s text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM jitgen.adapter_jobs a WHERE a.job_id = cancel_adapter_job.job_id) THEN
        RAISE EXCEPTION 'adapter job % does not exist', job_id USING ERRCODE = '42704',
            DETAIL = format('No adapter job %s is visible to role %s.', job_id, current_user),
            HINT = 'SELECT job_id, node_id, created_at FROM jitgen.adapter_jobs ORDER BY job_id DESC LIMIT 20;';
    END IF;
    SELECT jitgen.cancel_job(cancel_adapter_job.job_id)->>'state' INTO s;
    RETURN jsonb_build_object('job_id', job_id, 'status', s,
                              'cancel_requested', s IN ('running', 'canceled'));
END $$;

-- The privileged half of jitgen.confirm_adapter_download (run as the owner once the caller
-- was seen to see the artifact); the sidecar's sweeper then deletes the object.
CREATE FUNCTION jitgen._confirm_adapter_download(job_id bigint) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    r jsonb;
BEGIN
    UPDATE jitgen.adapter_artifacts f SET downloaded_at = coalesce(f.downloaded_at, now())
    WHERE f.job_id = _confirm_adapter_download.job_id
    RETURNING jsonb_build_object('job_id', f.job_id, 'downloaded_at', f.downloaded_at) INTO r;
    IF r IS NULL THEN
        RAISE EXCEPTION 'adapter job % has no published artifact', job_id USING ERRCODE = '42704',
            HINT = format('SELECT jitgen.adapter_job(%s); shows whether it completed.', job_id);
    END IF;
    RETURN r;
END $$;
