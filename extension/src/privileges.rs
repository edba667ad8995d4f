//! Functions any role may call that do privileged work only after checking their caller.
//!
//! A SECURITY DEFINER function cannot tell who called it, so it cannot check ownership. These
//! functions are ordinary (invoker) C functions instead: they read the caller's identity from
//! the backend, run their check *as the caller* (grants and row-level security apply), and only
//! then switch to the extension owner for the write, through an internal SQL function that is
//! not executable by PUBLIC and pins its own search_path. Every check statement qualifies its
//! operators (`OPERATOR(pg_catalog.=)`), so a caller's search_path cannot turn a check into
//! "always true".

use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::datum::Interval;
use pgrx::{JsonB, PgSqlErrorCode};

use crate::error::{raise, OrRaise};
use crate::jsonb::JsonbArg;

/// Restores the caller's identity when the privileged part ends, also when it raises.
struct OwnerScope {
    user: pg_sys::Oid,
    context: i32,
}

impl Drop for OwnerScope {
    fn drop(&mut self) {
        unsafe { pg_sys::SetUserIdAndSecContext(self.user, self.context) }
    }
}

fn extension_owner(function: &'static str) -> pg_sys::Oid {
    Spi::get_one::<pg_sys::Oid>("SELECT extowner FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'jitgen'")
        .or_raise("looking up the extension owner", function)
        .unwrap_or_else(|| {
            raise(
                PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
                "extension jitgen is not installed in this database".into(),
                None,
                Some("CREATE EXTENSION jitgen CASCADE; (jitgen migrate does it).".into()),
                function,
            )
        })
}

/// The role calling the current function.
pub fn caller() -> pg_sys::Oid {
    unsafe { pg_sys::GetUserId() }
}

/// Runs `f` as the extension owner. SECURITY_LOCAL_USERID_CHANGE forbids SET ROLE and
/// SET SESSION AUTHORIZATION inside, so nothing `f` runs can keep the owner's identity.
pub fn as_owner<R>(function: &'static str, f: impl FnOnce() -> R) -> R {
    let owner = extension_owner(function);
    let mut user = pg_sys::InvalidOid;
    let mut context = 0;
    unsafe { pg_sys::GetUserIdAndSecContext(&mut user, &mut context) };
    let _restore = OwnerScope { user, context };
    unsafe { pg_sys::SetUserIdAndSecContext(owner, context | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32) };
    f()
}

/// Runs a check as the caller; `sql` must return one boolean.
pub(crate) fn caller_sees(sql: &'static str, args: &[pgrx::datum::DatumWithOid], function: &'static str) -> bool {
    Spi::get_one_with_args::<bool>(sql, args).or_raise("checking the caller's access", function).unwrap_or(false)
}

pub(crate) fn current_role_name() -> String {
    Spi::get_one::<String>("SELECT current_user::text").ok().flatten().unwrap_or_default()
}

/// Raises 42P01 naming the first of the app's tables (created by `jitgen migrate`) that does
/// not exist; `detail` says what needs them.
pub(crate) fn require_app_tables(tables: &[&str], detail: &str, function: &'static str) {
    for table in tables {
        let exists = Spi::get_one_with_args::<bool>("SELECT pg_catalog.to_regclass($1) IS NOT NULL", &[(*table).into()])
            .or_raise("looking up the app's tables", function)
            .unwrap_or(false);
        if !exists {
            raise(
                PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
                format!("relation \"{table}\" does not exist"),
                Some(detail.to_string()),
                Some("Run jitgen migrate, which creates it.".into()),
                function,
            );
        }
    }
}

/// Owner-side call returning jsonb.
fn owner_jsonb(sql: &'static str, args: &[pgrx::datum::DatumWithOid], function: &'static str) -> Option<JsonB> {
    as_owner(function, || Spi::get_one_with_args::<JsonB>(sql, args).or_raise("running the checked operation", function))
}

/// Queues a job of `kind` and returns its id, in the caller's transaction. Apps may enqueue the
/// kinds granted to them (`jitgen.grant_enqueue`); internal kinds are reachable only through
/// the functions that check ownership (`train_adapter`, `request_session`).
#[pg_extern(volatile, parallel_unsafe)]
fn enqueue(
    kind: Option<&str>,
    payload: default!(Option<JsonbArg>, "'{}'"),
    key: default!(Option<&str>, "NULL"),
    tenant: default!(Option<&str>, "NULL"),
    delay: default!(Option<Interval>, "'0'"),
    max_attempts: default!(Option<i32>, "5"),
) -> Option<i64> {
    const F: &str = "enqueue";
    let who = caller();
    let payload = payload.map(|p| JsonB(p.to_value().unwrap_or_else(|e| e.raise(F))));
    as_owner(F, || {
        Spi::get_one_with_args::<i64>(
            "SELECT jitgen._enqueue_for($1, $2, $3, $4, $5, $6, $7)",
            &[who.into(), kind.into(), payload.into(), key.into(), tenant.into(), delay.into(), max_attempts.into()],
        )
        .or_raise("enqueueing", F)
    })
}

/// Asks a job to stop: a queued job is canceled at once, a running one within a second. Any
/// role may cancel the jobs it can see (its own, its nodes').
#[pg_extern(volatile, parallel_unsafe)]
fn cancel_job(id: Option<i64>) -> Option<JsonB> {
    const F: &str = "cancel_job";
    let visible = id.is_some()
        && caller_sees("SELECT EXISTS (SELECT 1 FROM jitgen.jobs WHERE jobs.id OPERATOR(pg_catalog.=) $1)", &[id.into()], F);
    if !visible {
        raise(
            PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            format!("job {} does not exist", id.map_or("NULL".to_string(), |i| i.to_string())),
            Some(format!("No job {} is visible to role {}.", id.unwrap_or_default(), current_role_name())),
            Some("SELECT id, kind, state FROM jitgen.jobs ORDER BY id DESC LIMIT 20; lists the jobs you can see.".into()),
            F,
        );
    }
    owner_jsonb("SELECT jitgen._cancel_job($1)", &[id.into()], F)
}

/// The node confirms it downloaded its adapter; the sidecar's sweeper then deletes the object.
#[pg_extern(volatile, parallel_unsafe)]
fn confirm_adapter_download(job_id: Option<i64>) -> Option<JsonB> {
    const F: &str = "confirm_adapter_download";
    let visible = job_id.is_some()
        && caller_sees(
            "SELECT EXISTS (SELECT 1 FROM jitgen.adapter_artifacts f WHERE f.job_id OPERATOR(pg_catalog.=) $1)",
            &[job_id.into()],
            F,
        );
    if !visible {
        let id = job_id.map_or("NULL".to_string(), |i| i.to_string());
        raise(
            PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            format!("adapter job {id} has no published artifact"),
            Some(format!("No artifact of job {id} is visible to role {}.", current_role_name())),
            Some(format!("SELECT jitgen.adapter_job({id}); shows whether it completed.")),
            F,
        );
    }
    owner_jsonb("SELECT jitgen._confirm_adapter_download($1)", &[job_id.into()], F)
}

/// POST /api/v0/adapters/train: replaces the node's command set and schedules its training.
/// The caller must see the node (be a member of its owner_role); the write runs as the owner,
/// so node roles hold no write grant (and no row lock) on shared tables.
#[pg_extern(volatile, parallel_unsafe)]
fn train_adapter(
    node_id: Option<&str>,
    base_model_id: Option<&str>,
    command_schema: Option<JsonbArg>,
    dataset_hash: default!(Option<&str>, "NULL"),
) -> Option<JsonB> {
    const F: &str = "train_adapter";
    let commands = command_schema.map(|c| JsonB(c.to_value().unwrap_or_else(|e| e.raise(F))));
    if let (Some(node), Some(_), Some(_)) = (node_id, base_model_id, commands.as_ref()) {
        let visible =
            caller_sees("SELECT EXISTS (SELECT 1 FROM jitgen.nodes n WHERE n.node_id OPERATOR(pg_catalog.=) $1)", &[node.into()], F);
        if !visible {
            raise(
                PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
                format!("node \"{node}\" is not registered"),
                Some(format!("No node \"{node}\" is visible to role {}.", current_role_name())),
                Some(format!(
                    "An administrator registers it: SELECT jitgen.register_node('{}', '<tenant>', '{}', '<node role>');",
                    node.replace('\'', "''"),
                    base_model_id.unwrap_or_default().replace('\'', "''")
                )),
                F,
            );
        }
    }
    let requested_by = current_role_name();
    owner_jsonb(
        "SELECT jitgen._train_adapter($1, $2, $3, $4, $5)",
        &[node_id.into(), base_model_id.into(), commands.into(), dataset_hash.into(), requested_by.into()],
        F,
    )
}

/// Queues a `session.generate` job for a row of the app's `public.sessions` table. The caller
/// must be allowed to update that row (the check takes the row lock an UPDATE would, in the
/// caller's own transaction), so nobody can have the worker rewrite another user's session.
#[pg_extern(volatile, parallel_unsafe)]
fn request_session(session_id: Option<pgrx::Uuid>, strategy: default!(Option<&str>, "NULL")) -> Option<i64> {
    const F: &str = "request_session";
    let Some(id) = session_id else {
        raise(
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            "session_id must not be NULL".into(),
            None,
            Some("SELECT jitgen.request_session(id) FROM sessions WHERE ...;".into()),
            F,
        )
    };
    require_app_tables(&["public.sessions"], "session.generate jobs read and write the app's public.sessions table.", F);
    let mine = caller_sees(
        "SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>) 0
         FROM (SELECT 1 FROM public.sessions s WHERE s.id OPERATOR(pg_catalog.=) $1 FOR NO KEY UPDATE) mine",
        &[id.into()],
        F,
    );
    if !mine {
        raise(
            PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            format!("session {id} does not exist"),
            Some(format!("No sessions row {id} that role {} may update.", current_role_name())),
            Some("INSERT the row first; only rows you may UPDATE can be regenerated.".into()),
            F,
        );
    }
    let who = caller();
    as_owner(F, || {
        Spi::get_one_with_args::<i64>("SELECT jitgen._request_session($1, $2, $3)", &[id.into(), strategy.into(), who.into()])
            .or_raise("enqueueing session.generate", F)
    })
}
