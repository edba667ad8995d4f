-- jitgen programs: seed 002's program generation. The per-user tables are the app's
-- (public.profiles and public.training_programs, created by jitgen migrate); these functions
-- queue program.generate jobs and read their outcome as the origin's result union.

INSERT INTO jitgen.job_kinds (kind, internal, reached_by, description) VALUES
    ('program.generate', true, 'jitgen.request_program(user_id, onboarding)', 'Generates a user''s training program with the LLM.');

-- Admitted requests, counted by the per-user daily limit (jitgen.program_daily_limit).
CREATE TABLE jitgen.program_requests (
    user_id      uuid        NOT NULL,
    job_id       bigint      NOT NULL REFERENCES jitgen.jobs (id) ON DELETE CASCADE,
    requested_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (user_id, requested_at, job_id)
);
COMMENT ON TABLE jitgen.program_requests IS 'program.generate jobs admitted per user; the daily limit counts those not yet failed.';

-- A job decided when it was requested (no identity, no onboarding, over the limit): it is
-- complete at once with its result, and no worker ever sees it.
CREATE FUNCTION jitgen._decided_job(kind text, key text, result jsonb, enqueued_by name) RETURNS bigint
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO jitgen.jobs AS j (kind, key, state, result, progress, enqueued_by, started_at, finished_at)
    VALUES (kind, key, 'complete', result, 1, enqueued_by, clock_timestamp(), clock_timestamp())
    RETURNING j.id;
$$;

-- jitgen.request_program's privileged half, run as the owner once the caller was seen to act
-- for `user_id`. One active job per user; the daily limit is counted under a per-user
-- transaction lock, so concurrent requests of one user cannot both take the last slot.
CREATE FUNCTION jitgen._request_program(user_id uuid, onboarding jsonb, caller oid, daily_limit int)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    by_role  name := pg_catalog.pg_get_userbyid(caller);
    job_id   bigint;
    used     int;
    next_at  timestamptz;
BEGIN
    IF user_id IS NULL THEN
        RETURN jitgen._decided_job('program.generate', NULL,
            '{"success": false, "error": "Authentication required", "code": "authentication_required"}', by_role);
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('jitgen.program:' || user_id::text, 0));
    -- The user's generation is under way: this request joins it (whoever queued it: the
    -- caller was already seen to act for this user). It may finish the next instant; the
    -- caller then reads its result.
    SELECT j.id INTO job_id FROM jitgen.jobs j
    WHERE j.kind = 'program.generate' AND j.key = user_id::text AND j.state IN ('queued', 'running');
    IF job_id IS NOT NULL THEN
        RETURN job_id;
    END IF;
    IF onboarding IS NULL AND NOT EXISTS (
           SELECT 1 FROM public.profiles p
           WHERE p.user_id = user_id AND p.onboarding_completed
             AND pg_catalog.jsonb_typeof(p.onboarding_responses) = 'object') THEN
        RETURN jitgen._decided_job('program.generate', user_id::text,
            '{"success": false, "error": "Please complete onboarding first", "code": "onboarding_incomplete"}', by_role);
    END IF;
    IF daily_limit > 0 THEN
        -- Programs made or in the making in the last 24 hours; failed attempts give their slot back.
        WITH counted AS (
            SELECT r.requested_at FROM jitgen.program_requests r JOIN jitgen.jobs j ON j.id = r.job_id
            WHERE r.user_id = user_id AND r.requested_at > clock_timestamp() - interval '1 day'
              AND (j.state IN ('queued', 'running')
                   OR (j.state = 'complete' AND coalesce((j.result ->> 'success')::boolean, false)))
        )
        SELECT (SELECT count(*) FROM counted),
               (SELECT c.requested_at FROM counted c ORDER BY c.requested_at
                OFFSET greatest((SELECT count(*) FROM counted) - daily_limit, 0) LIMIT 1) + interval '1 day'
        INTO used, next_at;
        IF used >= daily_limit THEN
            RETURN jitgen._decided_job('program.generate', user_id::text, jsonb_build_object(
                'success', false, 'code', 'daily_limit', 'next_slot_at', next_at, 'limit', daily_limit,
                'error', format('Daily program limit reached (%s per 24 hours); the next program can be requested at %s',
                                daily_limit, to_char(next_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))), by_role);
        END IF;
    END IF;
    job_id := jitgen._enqueue('program.generate',
        jsonb_strip_nulls(jsonb_build_object('user_id', user_id, 'onboarding', onboarding)),
        key => user_id::text, max_attempts => 3, enqueued_by => by_role);
    INSERT INTO jitgen.program_requests (user_id, job_id) VALUES (user_id, job_id);
    RETURN job_id;
END $$;

-- True when the current role acts for every user: it owns (or is a member of the owner of)
-- public.training_programs, as the service role and the sidecar do.
CREATE FUNCTION jitgen._serves_all_users() RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce((SELECT pg_catalog.pg_has_role(c.relowner, 'MEMBER') FROM pg_catalog.pg_class c
                     WHERE c.oid = pg_catalog.to_regclass('public.training_programs')), false);
$$;

-- The origin's result union for a program.generate job: {"success":true,"program":…,
-- "program_id":…} or {"success":false,"error":…}; a job still at work gives
-- {"success":false,"pending":true,"status":…}. Runs as the caller: it sees its own jobs, and
-- the program through training_programs' row-level security. Volatile, not stable: a stable
-- function would read with the snapshot of its calling statement, so
-- program_result(request_program()) would not find the job the same statement decided.
CREATE FUNCTION jitgen.program_result(job_id bigint) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    j       jitgen.jobs;
    program record;
BEGIN
    IF job_id IS NULL THEN
        RAISE EXCEPTION 'job_id must not be NULL' USING ERRCODE = '22004',
            HINT = 'Pass the id jitgen.request_program returned.';
    END IF;
    SELECT * INTO j FROM jitgen.jobs x WHERE x.id = job_id AND x.kind = 'program.generate';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'program job % does not exist', job_id USING ERRCODE = '42704',
            DETAIL = format('No program.generate job %s is visible to role %s.', job_id, current_user),
            HINT = 'Pass the id jitgen.request_program returned.';
    END IF;
    IF j.key IS DISTINCT FROM jitgen.current_user_id()::text AND NOT jitgen._serves_all_users() THEN
        RAISE EXCEPTION 'permission denied for the program job of another user' USING ERRCODE = '42501',
            DETAIL = format('Job %s was requested for user %s; jitgen.current_user_id() is %s.',
                            job_id, coalesce(j.key, 'NULL'), coalesce(jitgen.current_user_id()::text, 'NULL')),
            HINT = 'Set request.jwt.claims or jitgen.user_id to the user the job was requested for.';
    END IF;
    IF j.state IN ('queued', 'running') THEN
        RETURN jsonb_build_object('success', false, 'pending', true, 'status', j.state, 'job_id', j.id);
    END IF;
    IF j.state = 'complete' AND (j.result ->> 'success')::boolean THEN
        SELECT t.id, t.program_details, t.ai_model_version INTO program
        FROM public.training_programs t WHERE t.id = (j.result ->> 'program_id')::uuid;
        IF NOT FOUND THEN
            RETURN jsonb_build_object('success', false, 'code', 'program_gone',
                'error', 'The generated program no longer exists', 'program_id', j.result -> 'program_id');
        END IF;
        RETURN jsonb_build_object('success', true, 'program', program.program_details, 'program_id', program.id,
                                  'ai_model_version', program.ai_model_version);
    END IF;
    IF j.state = 'complete' THEN
        RETURN j.result;
    END IF;
    IF j.error ->> 'kind' = 'effects_failed' THEN
        RETURN jsonb_build_object('success', false, 'error', 'Failed to save training program',
                                  'code', 'save_failed', 'details', j.error);
    END IF;
    IF j.state IN ('canceled', 'superseded') THEN
        RETURN jsonb_build_object('success', false, 'error', 'Program generation was canceled', 'code', 'canceled');
    END IF;
    RETURN jsonb_build_object('success', false, 'error', 'Program generation failed', 'code', 'job_' || j.state,
                              'details', j.error);
END $$;
