-- jitgen jobs: the ledger of asynchronous work. pgmq carries wake-up messages ({"job_id": n});
-- the row is the truth. Everything here runs in the caller's transaction: a rolled-back write
-- leaves neither a job nor a message, a committed one leaves exactly one of each.

CREATE TABLE jitgen.jobs (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             text        NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.-]{0,62}$'),
    key              text,
    tenant           text,
    payload          jsonb       NOT NULL DEFAULT '{}',
    state            text        NOT NULL DEFAULT 'queued' CHECK (state IN
                         ('queued', 'running', 'complete', 'failed', 'canceled', 'superseded', 'dead')),
    attempts         int         NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts     int         NOT NULL DEFAULT 5 CHECK (max_attempts BETWEEN 1 AND 100),
    run_after        timestamptz NOT NULL DEFAULT now(),
    progress         real        NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    progress_message text,
    result           jsonb,
    error            jsonb,
    cancel_requested boolean     NOT NULL DEFAULT false,
    msg_id           bigint,
    worker           text,
    -- The role that enqueued it through jitgen.enqueue or request_session (NULL for jobs that
    -- jitgen's own functions queue, such as adapter.train): it and its members see the job.
    enqueued_by      name,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    heartbeat_at     timestamptz,
    finished_at      timestamptz
);
COMMENT ON TABLE jitgen.jobs IS 'Every asynchronous job; state queued → running → complete | failed | canceled | superseded | dead.';

-- At most one queued or running job per (kind, key), enforced by the index, not by a read.
CREATE UNIQUE INDEX jobs_one_active_per_key ON jitgen.jobs (kind, key)
    WHERE key IS NOT NULL AND state IN ('queued', 'running');
-- No index on state: pgmq finds the work, and every state change would pay for one.

-- One row per finished attempt: when it ran, on which worker, how it ended. An attempt cut
-- short by a crash is recorded as 'lost' when another worker takes the job over.
CREATE TABLE jitgen.job_attempts (
    job_id      bigint      NOT NULL REFERENCES jitgen.jobs (id) ON DELETE CASCADE,
    attempt     int         NOT NULL,
    worker      text        NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz,
    outcome     text CHECK (outcome IN ('complete', 'retry', 'failed', 'dead', 'canceled', 'released', 'lost')),
    error       jsonb,
    PRIMARY KEY (job_id, attempt)
);

-- Sidecar liveness: each worker upserts its row every few seconds.
CREATE TABLE jitgen.workers (
    id           text        PRIMARY KEY,
    hostname     text        NOT NULL,
    pid          int         NOT NULL,
    version      text        NOT NULL,
    kinds        text[]      NOT NULL DEFAULT '{}',
    in_flight    int         NOT NULL DEFAULT 0,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    stopped_at   timestamptz
);

-- security_invoker: a role counts only the jobs it can see (row-level security on jobs).
CREATE VIEW jitgen.job_summary WITH (security_invoker = true) AS
SELECT kind, state, count(*) AS jobs,
       max(now() - created_at) FILTER (WHERE state = 'queued') AS oldest_queued_age,
       max(attempts) AS max_attempts_used
FROM jitgen.jobs GROUP BY kind, state;

CREATE VIEW jitgen.dead_jobs WITH (security_invoker = true) AS
SELECT id, kind, key, tenant, attempts, max_attempts, error, created_at, finished_at
FROM jitgen.jobs WHERE state = 'dead';

-- The queue that wakes workers. Called by `jitgen migrate` once pgmq is installed.
CREATE FUNCTION jitgen.ensure_queue() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF to_regnamespace('pgmq') IS NULL THEN
        RAISE EXCEPTION 'pgmq is not installed'
            USING ERRCODE = '42704', HINT = 'Run jitgen migrate, which installs pgmq before the extension.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pgmq.meta WHERE queue_name = 'jitgen_jobs') THEN
        PERFORM pgmq.create('jitgen_jobs');
    END IF;
END $$;

-- Who may enqueue which kind. Internal kinds are queued only by the functions that check
-- ownership (train_adapter, request_session); the others by the roles granted them with
-- jitgen.grant_enqueue. The extension owner (the sidecar) and superusers may enqueue any kind.
CREATE TABLE jitgen.job_kinds (
    kind        text    PRIMARY KEY CHECK (kind ~ '^[a-z][a-z0-9_.-]{0,62}$'),
    internal    boolean NOT NULL DEFAULT false,
    reached_by  text,
    description text
);
INSERT INTO jitgen.job_kinds (kind, internal, reached_by, description) VALUES
    ('echo', false, NULL, 'Test and demo kind: records its payload in jitgen_echo_log.'),
    ('session.generate', true, 'jitgen.request_session(session_id)', 'Regenerates a sessions row with the LLM.'),
    ('adapter.train', true, 'jitgen.train_adapter(node_id, base_model_id, command_schema)', 'Trains a node''s LoRA adapter.');

CREATE TABLE jitgen.job_kind_grants (
    kind    text NOT NULL REFERENCES jitgen.job_kinds ON DELETE CASCADE,
    grantee name NOT NULL,
    PRIMARY KEY (kind, grantee)
);

-- True when the current role is a member of `owner_role`. A dropped role matches nobody
-- rather than making every query that asks fail. PL/pgSQL, not SQL: a SQL function with a
-- subquery cannot be inlined and re-plans on every call (0.2-0.4 ms per row that RLS checks);
-- PL/pgSQL keeps its plan for the session (bench/api.sh: adapter_job as a node role went from
-- 0.48 ms to a few hundredths).
CREATE FUNCTION jitgen._node_member(owner_role name) RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                   WHERE r.rolname = owner_role AND pg_catalog.pg_has_role(r.oid, 'MEMBER'));
END $$;

CREATE FUNCTION jitgen.grant_enqueue(kind text, role name) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    IF kind IS NULL OR role IS NULL THEN
        RAISE EXCEPTION 'kind and role must not be NULL' USING ERRCODE = '22004',
            HINT = 'SELECT jitgen.grant_enqueue(''echo'', ''jitgen_app'');';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = role) THEN
        RAISE EXCEPTION 'role "%" does not exist', role USING ERRCODE = '42704',
            HINT = format('CREATE ROLE %I; then grant again.', role);
    END IF;
    IF (SELECT k.internal FROM jitgen.job_kinds k WHERE k.kind = grant_enqueue.kind) THEN
        RAISE EXCEPTION 'job kind "%" is internal and cannot be granted', kind USING ERRCODE = '22023',
            DETAIL = 'Internal kinds are queued only by the function that checks the caller''s ownership of what the job touches.',
            HINT = format('Call %s instead.', (SELECT k.reached_by FROM jitgen.job_kinds k WHERE k.kind = grant_enqueue.kind));
    END IF;
    INSERT INTO jitgen.job_kinds AS k (kind) VALUES (grant_enqueue.kind) ON CONFLICT DO NOTHING;
    INSERT INTO jitgen.job_kind_grants AS g (kind, grantee) VALUES (grant_enqueue.kind, role) ON CONFLICT DO NOTHING;
END $$;

CREATE FUNCTION jitgen.revoke_enqueue(kind text, role name) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    DELETE FROM jitgen.job_kind_grants g WHERE g.kind = revoke_enqueue.kind AND g.grantee = revoke_enqueue.role;
$$;

-- Raises 42501 unless role `caller` may enqueue `kind`. Runs as the extension owner (it is not
-- executable by PUBLIC; jitgen.enqueue calls it after switching to the owner), so current_user
-- is the owner here.
CREATE FUNCTION jitgen._may_enqueue(caller oid, kind text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    k jitgen.job_kinds;
BEGIN
    IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid = caller)
       OR pg_catalog.pg_has_role(caller, current_user, 'MEMBER') THEN
        RETURN;
    END IF;
    SELECT * INTO k FROM jitgen.job_kinds j WHERE j.kind = _may_enqueue.kind;
    IF k.internal THEN
        RAISE EXCEPTION 'permission denied to enqueue job kind "%"', kind USING ERRCODE = '42501',
            DETAIL = 'It is an internal kind: only the function that checks ownership of what it touches queues it.',
            HINT = format('Call %s instead.', k.reached_by);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM jitgen.job_kind_grants g JOIN pg_catalog.pg_roles r ON r.rolname = g.grantee
                   WHERE g.kind = _may_enqueue.kind AND pg_catalog.pg_has_role(caller, r.oid, 'MEMBER')) THEN
        RAISE EXCEPTION 'permission denied to enqueue job kind "%"', kind USING ERRCODE = '42501',
            DETAIL = format('Role %s has not been granted the kind.', pg_catalog.pg_get_userbyid(caller)),
            HINT = format('An administrator grants it: SELECT jitgen.grant_enqueue(%L, %L);', kind, pg_catalog.pg_get_userbyid(caller));
    END IF;
END $$;

-- jitgen.enqueue's privileged half: run as the owner after the caller was read from the backend.
CREATE FUNCTION jitgen._enqueue_for(caller oid, kind text, payload jsonb, key text, tenant text,
                                    delay interval, max_attempts int)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF kind IS NOT NULL THEN
        PERFORM jitgen._may_enqueue(caller, kind);
    END IF;
    RETURN jitgen._enqueue(kind, payload, key, tenant, delay, max_attempts, pg_catalog.pg_get_userbyid(caller));
END $$;

-- Inserts the row and sends its wake-up message in the caller's transaction. Internal: called
-- as the owner, by _enqueue_for and by jitgen's own functions (which pass enqueued_by NULL).
CREATE FUNCTION jitgen._enqueue(
    kind text, payload jsonb DEFAULT '{}', key text DEFAULT NULL, tenant text DEFAULT NULL,
    delay interval DEFAULT '0', max_attempts int DEFAULT 5, enqueued_by name DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    job_id bigint;
    holder name;
    start_at timestamptz := clock_timestamp() + greatest(coalesce(delay, '0'::interval), '0'::interval);
BEGIN
    IF kind IS NULL OR payload IS NULL THEN
        RAISE EXCEPTION 'kind and payload must not be NULL' USING ERRCODE = '22004',
            HINT = 'SELECT jitgen.enqueue(''echo'', ''{"hello":"world"}'');';
    END IF;
    IF kind !~ '^[a-z][a-z0-9_.-]{0,62}$' THEN
        RAISE EXCEPTION 'invalid job kind "%"', kind USING ERRCODE = '22023',
            DETAIL = 'A kind is a lower-case name such as echo or session.generate.',
            HINT = 'See the README for the built-in kinds.';
    END IF;
    IF max_attempts IS NULL OR max_attempts NOT BETWEEN 1 AND 100 THEN
        RAISE EXCEPTION 'max_attempts must be between 1 and 100, got %', max_attempts USING ERRCODE = '22023',
            HINT = 'The default, 5, suits most jobs.';
    END IF;
    LOOP
        INSERT INTO jitgen.jobs AS j (kind, key, tenant, payload, run_after, max_attempts, enqueued_by)
        VALUES (_enqueue.kind, _enqueue.key, _enqueue.tenant, _enqueue.payload,
                start_at, _enqueue.max_attempts, _enqueue.enqueued_by)
        ON CONFLICT (kind, key) WHERE key IS NOT NULL AND state IN ('queued', 'running') DO NOTHING
        RETURNING j.id INTO job_id;
        IF job_id IS NOT NULL THEN
            UPDATE jitgen.jobs
            SET msg_id = (SELECT m FROM pgmq.send('jitgen_jobs', jsonb_build_object('job_id', job_id), start_at) AS m)
            WHERE id = job_id;
            PERFORM pg_notify('jitgen_jobs', job_id::text);
            RETURN job_id;
        END IF;
        -- An active job holds this key: enqueueing again is idempotent and returns it, to the
        -- role that holds it. Another role's key is refused, not silently shared.
        SELECT j.id, j.enqueued_by INTO job_id, holder FROM jitgen.jobs j
        WHERE j.kind = _enqueue.kind AND j.key = _enqueue.key AND j.state IN ('queued', 'running');
        IF job_id IS NOT NULL THEN
            IF _enqueue.enqueued_by IS NOT NULL AND holder IS DISTINCT FROM _enqueue.enqueued_by
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = holder
                               AND pg_catalog.pg_has_role(_enqueue.enqueued_by, r.oid, 'MEMBER')) THEN
                RAISE EXCEPTION 'an active % job with key "%" belongs to another role', kind, key
                    USING ERRCODE = '23505',
                    DETAIL = 'Keys are unique per kind among queued and running jobs.',
                    HINT = 'Use a key that is unique to your tenant, e.g. prefix it with the tenant id.';
            END IF;
            RETURN job_id;
        END IF;
        -- It finished between the two statements: try the insert again.
    END LOOP;
END $$;

-- jitgen.request_session's privileged half (run as the owner once the caller was seen to be
-- allowed to update the row): one active session.generate job per session.
CREATE FUNCTION jitgen._request_session(session_id uuid, strategy text, caller oid) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF strategy IS NOT NULL AND strategy NOT IN ('auto', 'formula', 'llm', 'hybrid') THEN
        RAISE EXCEPTION 'invalid strategy "%"', strategy USING ERRCODE = '22023',
            HINT = 'Use auto, formula, llm or hybrid, or NULL for the row''s requested_strategy.';
    END IF;
    RETURN jitgen._enqueue('session.generate',
        jsonb_strip_nulls(jsonb_build_object('session_id', session_id::text, 'strategy', strategy)),
        key => session_id::text, enqueued_by => pg_catalog.pg_get_userbyid(caller));
END $$;

-- Jobs are visible to the role that enqueued them and its members (adapters.sql adds a
-- node's adapter jobs for the node's role). The sidecar, as the owner, sees every row.
ALTER TABLE jitgen.jobs ENABLE ROW LEVEL SECURITY;
CREATE POLICY enqueued_by_member ON jitgen.jobs FOR SELECT
    USING (enqueued_by IS NOT NULL AND jitgen._node_member(enqueued_by));

CREATE FUNCTION jitgen.job(id bigint) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', j.id, 'kind', j.kind, 'key', j.key, 'tenant', j.tenant,
        'state', j.state, 'attempts', j.attempts, 'max_attempts', j.max_attempts,
        'progress', j.progress, 'progress_message', j.progress_message, 'result', j.result,
        'error', j.error, 'cancel_requested', j.cancel_requested, 'run_after', j.run_after,
        'created_at', j.created_at, 'started_at', j.started_at, 'finished_at', j.finished_at,
        'worker', j.worker, 'enqueued_by', j.enqueued_by)
    FROM jitgen.jobs j WHERE j.id = job.id;
$$;

-- jitgen.cancel_job's privileged half (run as the owner once the caller was seen to see the
-- job). Queued jobs are canceled at once (by the jobs_cancel_queued trigger below); running
-- ones get a flag their worker checks within a second.
CREATE FUNCTION jitgen._cancel_job(id bigint) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE jitgen.jobs SET cancel_requested = true
    WHERE jobs.id = _cancel_job.id AND state IN ('queued', 'running');
    RETURN jitgen.job(_cancel_job.id);
END $$;

-- Setting cancel_requested on a queued job cancels it at once, whoever sets it (cancel_job,
-- an operator's UPDATE): its message is archived so no worker wakes for it.
CREATE FUNCTION jitgen._job_cancel_requested() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    NEW.state := 'canceled';
    NEW.finished_at := now();
    IF OLD.msg_id IS NOT NULL THEN
        PERFORM pgmq.archive('jitgen_jobs', OLD.msg_id);
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER jobs_cancel_queued BEFORE UPDATE OF cancel_requested ON jitgen.jobs FOR EACH ROW
    WHEN (NEW.cancel_requested AND OLD.state = 'queued' AND NEW.state = 'queued')
    EXECUTE FUNCTION jitgen._job_cancel_requested();

-- Puts a failed, dead or canceled job back in the queue with a fresh attempt budget.
CREATE FUNCTION jitgen.retry_job(id bigint) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE j jitgen.jobs;
BEGIN
    SELECT * INTO j FROM jitgen.jobs WHERE jobs.id = retry_job.id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job % does not exist', retry_job.id USING ERRCODE = '42704',
            HINT = 'SELECT id, kind, state FROM jitgen.dead_jobs;';
    END IF;
    IF j.state NOT IN ('failed', 'dead', 'canceled') THEN
        RAISE EXCEPTION 'job % is %, only failed, dead or canceled jobs can be retried', j.id, j.state
            USING ERRCODE = '55000', HINT = 'Wait for it to finish, or cancel it with jitgen.cancel_job().';
    END IF;
    UPDATE jitgen.jobs SET state = 'queued', attempts = 0, error = NULL, result = NULL,
        cancel_requested = false, run_after = now(), finished_at = NULL, progress = 0,
        msg_id = (SELECT m FROM pgmq.send('jitgen_jobs', jsonb_build_object('job_id', j.id)) AS m)
    WHERE jobs.id = j.id;
    PERFORM pg_notify('jitgen_jobs', j.id::text);
    RETURN jitgen.job(j.id);
END $$;

-- Waits until the job leaves queued/running or timeout_ms passes; statement_timeout and
-- pg_cancel_backend interrupt the wait.
CREATE FUNCTION jitgen.await_job(id bigint, timeout_ms int DEFAULT 30000) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + make_interval(secs => greatest(coalesce(timeout_ms, 0), 0) / 1000.0);
    s text;
BEGIN
    LOOP
        -- A fresh snapshot per look: read committed sees each worker commit.
        SELECT state INTO s FROM jitgen.jobs WHERE jobs.id = await_job.id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'job % does not exist', await_job.id USING ERRCODE = '42704',
                HINT = 'SELECT id, kind, state FROM jitgen.jobs ORDER BY id DESC LIMIT 20;';
        END IF;
        EXIT WHEN s NOT IN ('queued', 'running') OR clock_timestamp() >= deadline;
        PERFORM pg_sleep(least(0.05, greatest(0, extract(epoch FROM deadline - clock_timestamp()))));
    END LOOP;
    RETURN jitgen.job(await_job.id);
END $$;

-- The first statement of a worker's finishing transaction: aborts the whole transaction unless
-- this worker still owns this attempt (another worker takes a job over once its message's
-- visibility timeout passes without a heartbeat).
CREATE FUNCTION jitgen._assert_job_owner(p_job_id bigint, p_worker text, p_attempt int) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM jitgen.jobs j
    WHERE j.id = p_job_id AND j.state = 'running' AND j.worker = p_worker AND j.attempts = p_attempt
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job % attempt % is no longer owned by worker %', p_job_id, p_attempt, p_worker
            USING ERRCODE = '55000';
    END IF;
END $$;

-- Raises unless exactly one row was completed: used inside the worker's completing statement.
CREATE FUNCTION jitgen._require_owner(n bigint, p_job_id bigint, p_attempt int) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF n = 1 THEN
        RETURN true;
    END IF;
    RAISE EXCEPTION 'job % attempt % is no longer owned by this worker', p_job_id, p_attempt
        USING ERRCODE = '55000';
END $$;
