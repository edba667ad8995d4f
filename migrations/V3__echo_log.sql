-- Side effects of the built-in `echo` job kind: one row per completed echo job, written in the
-- same transaction as the job's completion, so operators (and the chaos test) can check that
-- every job took effect exactly once.
CREATE TABLE IF NOT EXISTS jitgen_echo_log (
    job_id     bigint      PRIMARY KEY,
    payload    jsonb       NOT NULL,
    worker     text        NOT NULL,
    attempt    int         NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
