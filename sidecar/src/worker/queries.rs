//! The worker's SQL: the read-and-claim statement, the owned completion and the outcome
//! statements, prepared once per connection by `Conn`.

// The claim that follows a read of message `m` (msg_id, message, job_id): claims its job if it
// is due, records a takeover's lost attempt, and returns the message with the job as it was
// before the claim (all parts share one snapshot). A running job here is one whose worker
// stopped heartbeating: it crashed, was killed or stalled. That counts as an attempt, so a job
// that kills its worker every time ends `dead` after max_attempts instead of looping forever. pgmq.read is estimated at 1000 rows; scalar subqueries keep every
// access to jitgen.jobs a primary-key probe (a join would scan the table on every read).
macro_rules! claim_after_read {
    () => {
        ",
     claimed AS (
        UPDATE jitgen.jobs AS j SET state = 'running', attempts = j.attempts + 1, started_at = now(),
               heartbeat_at = now(), worker = $2, msg_id = (SELECT msg_id FROM m)
        WHERE j.id = (SELECT job_id FROM m) AND j.state IN ('queued', 'running') AND j.run_after <= clock_timestamp()
          AND NOT (j.cancel_requested AND j.state = 'queued')
          AND NOT (j.state = 'running' AND j.attempts >= j.max_attempts)
        RETURNING j.id, j.payload, j.attempts, j.max_attempts),
     buried AS (
        UPDATE jitgen.jobs AS j SET state = 'dead', finished_at = now(),
               error = jsonb_build_object('kind', 'crashed', 'attempts', j.attempts,
                   'message', format('attempt %s of %s on worker %s ended without finishing (the worker crashed, was killed or stalled)',
                                     j.attempts, j.max_attempts, j.worker))
        WHERE j.id = (SELECT job_id FROM m) AND j.state = 'running' AND j.attempts >= j.max_attempts
        RETURNING j.id),
     job AS (SELECT * FROM jitgen.jobs WHERE id = (SELECT job_id FROM m)),
     lost AS (
        INSERT INTO jitgen.job_attempts (job_id, attempt, worker, started_at, finished_at, outcome, error)
        SELECT job.id, job.attempts, job.worker, job.started_at, clock_timestamp(), 'lost',
               jsonb_build_object('kind', 'crashed', 'message', 'the worker stopped heartbeating before the attempt finished')
        FROM job
        WHERE job.state = 'running' AND (EXISTS (SELECT 1 FROM claimed) OR EXISTS (SELECT 1 FROM buried))
        ON CONFLICT DO NOTHING)
     SELECT m.msg_id, m.message, job.kind, job.state, job.run_after > clock_timestamp(), job.cancel_requested,
            c.id IS NOT NULL, coalesce(c.payload, job.payload), c.attempts, c.max_attempts, EXISTS (SELECT 1 FROM buried),
            extract(epoch FROM clock_timestamp() - greatest(job.run_after, job.created_at))::float8
     FROM m LEFT JOIN job ON true LEFT JOIN claimed AS c ON true"
    };
}

macro_rules! job_id_of_message {
    ($message:literal) => {
        concat!("CASE WHEN jsonb_typeof(", $message, "->'job_id') = 'number' THEN (", $message, "->>'job_id')::bigint END AS job_id")
    };
}

// One round trip: read one message through pgmq.read and claim its job.
pub(super) const READ_AND_CLAIM: &str = concat!(
    "WITH m AS MATERIALIZED (SELECT msg_id, message, ",
    job_id_of_message!("message"),
    " FROM pgmq.read('jitgen_jobs', $1, 1))",
    claim_after_read!()
);
// The same with pgmq.read's statement inlined on our queue's table: a prepared plan instead of
// pgmq's per-call dynamic SQL, and the read shares the claim's snapshot. Used when the
// installed pgmq has the table layout this was written against (pgmq 1.11), else the function
// form above.
pub(super) const READ_AND_CLAIM_INLINE: &str = concat!(
    "WITH next AS (
        SELECT msg_id FROM pgmq.q_jitgen_jobs WHERE vt <= clock_timestamp()
        ORDER BY msg_id LIMIT 1 FOR UPDATE SKIP LOCKED),
     m AS MATERIALIZED (
        UPDATE pgmq.q_jitgen_jobs AS q
        SET last_read_at = clock_timestamp(), vt = clock_timestamp() + make_interval(secs => $1::int), read_ct = q.read_ct + 1
        FROM next WHERE q.msg_id = next.msg_id
        RETURNING q.msg_id, q.message, ",
    job_id_of_message!("q.message"),
    ")",
    claim_after_read!()
);
// Gives a claim back when this worker is at the kind's concurrency cap.
pub(super) const UNCLAIM: &str =
    "UPDATE jitgen.jobs SET state = 'queued', attempts = attempts - 1, worker = NULL WHERE id = $1 AND attempts = $2";
pub(super) const ARCHIVE: &str = "SELECT pgmq.archive('jitgen_jobs', $1::bigint)";
pub(super) const JOB_EXISTS: &str = "SELECT 1 FROM jitgen.jobs WHERE id = $1";
pub(super) const SET_VT_SECS: &str = "SELECT pgmq.set_vt('jitgen_jobs', $1::bigint, $2::int)";
pub(super) const SET_VT_RUN_AFTER: &str =
    "SELECT pgmq.set_vt('jitgen_jobs', $1::bigint, (SELECT run_after FROM jitgen.jobs WHERE id = $2))";
pub(super) const BEGIN: &str = "BEGIN";
pub(super) const COMMIT: &str = "COMMIT";
pub(super) const ASSERT_OWNER: &str = "SELECT jitgen._assert_job_owner($1, $2, $3)";
// Completes the job if this worker still owns the attempt and writes the attempt row; the
// statements below add the message's archive and raise (55000) unless exactly one row was
// completed, which rolls back the handler's effects too.
macro_rules! complete_owned_ctes {
    () => {
        "WITH done AS (
        UPDATE jitgen.jobs SET state = 'complete', result = $4, error = NULL, progress = 1, finished_at = now()
        WHERE id = $1 AND worker = $2 AND attempts = $3 AND state = 'running' RETURNING id, started_at),
     attempt AS (
        INSERT INTO jitgen.job_attempts (job_id, attempt, worker, started_at, finished_at, outcome)
        SELECT id, $3, $2, started_at, clock_timestamp(), 'complete' FROM done ON CONFLICT DO NOTHING)"
    };
}
pub(super) const COMPLETE_OWNED: &str = concat!(
    complete_owned_ctes!(),
    " SELECT jitgen._require_owner((SELECT count(*) FROM done), $1, $3), pgmq.archive('jitgen_jobs', $5::bigint)"
);
// The same with pgmq.archive's statement inlined (see READ_AND_CLAIM_INLINE).
pub(super) const COMPLETE_OWNED_INLINE: &str = concat!(
    complete_owned_ctes!(),
    ",
     archived AS (
        DELETE FROM pgmq.q_jitgen_jobs WHERE msg_id = $5 AND EXISTS (SELECT 1 FROM done)
        RETURNING msg_id, vt, read_ct, enqueued_at, last_read_at, message, headers),
     moved AS (
        INSERT INTO pgmq.a_jitgen_jobs (msg_id, vt, read_ct, enqueued_at, last_read_at, message, headers)
        SELECT msg_id, vt, read_ct, enqueued_at, last_read_at, message, headers FROM archived)
     SELECT jitgen._require_owner((SELECT count(*) FROM done), $1, $3)"
);
pub(super) const RESCHEDULE: &str = "UPDATE jitgen.jobs SET state = 'queued', error = $2,
        run_after = clock_timestamp() + make_interval(secs => $3) WHERE id = $1";
pub(super) const RELEASE: &str = "UPDATE jitgen.jobs SET state = 'queued', attempts = attempts - 1, worker = NULL WHERE id = $1";
pub(super) const END_STATE: &str = "UPDATE jitgen.jobs SET state = $2, error = $3, finished_at = now() WHERE id = $1";
pub(super) const ATTEMPT_DONE: &str = "INSERT INTO jitgen.job_attempts (job_id, attempt, worker, started_at, finished_at, outcome, error)
        SELECT id, $2, $5, started_at, clock_timestamp(), $3, $4 FROM jitgen.jobs WHERE id = $1
        ON CONFLICT (job_id, attempt) DO UPDATE SET finished_at = EXCLUDED.finished_at, outcome = EXCLUDED.outcome,
            error = EXCLUDED.error";
