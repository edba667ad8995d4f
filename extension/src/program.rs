//! `jitgen.request_program`: queues seed 002's program generation for a user, in the caller's
//! transaction. A caller acts for `jitgen.current_user_id()` only, unless it serves every user
//! (owns public.training_programs, as the service role does); the write then runs as the
//! extension owner. `jitgen.program_result` (sql/programs.sql) reads the outcome.

use pgrx::prelude::*;
use pgrx::{JsonB, PgSqlErrorCode};

use crate::error::{raise, OrRaise};
use crate::guc;
use crate::identity::current_user_id;
use crate::jsonb::JsonbArg;
use crate::privileges::{as_owner, caller, caller_sees, current_role_name, require_app_tables};

const EXAMPLE_ONBOARDING: &str = r#"'{"experienceLevel": "Beginner", "trainingFrequencyDays": 3, "equipment": ["Dumbbells"]}'"#;

fn json_kind(v: &serde_json::Value) -> &'static str {
    jitgen_core::program::Onboarding::from_value(v).err().map_or("an object", |e| e.0)
}

/// Queues a `program.generate` job for `user_id` (default: `jitgen.current_user_id()`) and
/// returns its id. Onboarding comes from the argument or the user's `profiles` row.
#[pg_extern(volatile, parallel_unsafe)]
fn request_program(user_id: default!(Option<pgrx::Uuid>, "NULL"), onboarding: default!(Option<JsonbArg>, "NULL")) -> Option<i64> {
    const F: &str = "request_program";
    let onboarding = onboarding.map(|o| o.to_value().unwrap_or_else(|e| e.raise(F)));
    if let Some(value) = onboarding.as_ref().filter(|v| !v.is_object()) {
        raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("onboarding must be a JSON object, got {}", json_kind(value)),
            Some("Onboarding is the questionnaire's answers, keyed by question.".into()),
            Some(format!("SELECT jitgen.request_program(user_id, {EXAMPLE_ONBOARDING});")),
            F,
        );
    }
    require_app_tables(&["public.profiles", "public.training_programs"], "program.generate reads public.profiles and writes public.training_programs.", F);
    let me = current_user_id();
    let target = user_id.or(me);
    if let Some(target) = target.filter(|t| Some(*t) != me) {
        let serves_all = caller_sees("SELECT jitgen._serves_all_users()", &[], F);
        if !serves_all {
            raise(
                PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
                format!("permission denied to request a program for user {target}"),
                Some(format!(
                    "jitgen.current_user_id() is {}; only a role that owns public.training_programs (the service role) acts for other users, and role {} does not.",
                    me.map_or("NULL".to_string(), |u| u.to_string()),
                    current_role_name()
                )),
                Some("Set request.jwt.claims or jitgen.user_id to the user, or call jitgen.request_program() without a user_id.".into()),
                F,
            );
        }
    }
    let who = caller();
    let limit = guc::program_daily_limit();
    let onboarding = onboarding.map(JsonB);
    as_owner(F, || {
        Spi::get_one_with_args::<i64>(
            "SELECT jitgen._request_program($1, $2, $3, $4)",
            &[target.into(), onboarding.into(), who.into(), limit.into()],
        )
        .or_raise("enqueueing program.generate", F)
    })
}
