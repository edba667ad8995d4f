//! `jitgen.current_user_id()`: the app user a request acts for, for row-level security on
//! per-user tables (`user_id = (SELECT jitgen.current_user_id())`). Read straight from the
//! settings, without SPI or a subtransaction, because a policy may evaluate it per row.

use std::ffi::CStr;

use pgrx::prelude::*;

fn setting(name: &CStr) -> Option<String> {
    // missing_ok: an unset custom setting is not an error; not restricted: these are not secrets.
    let value = unsafe { pg_sys::GetConfigOption(name.as_ptr(), true, false) };
    (!value.is_null()).then(|| unsafe { CStr::from_ptr(value) }.to_string_lossy().into_owned())
}

/// The PostgREST / Supabase `request.jwt.claims` `sub`, else `request.jwt.claim.sub`, else
/// `jitgen.user_id`; NULL when none is set or it is not a uuid. Never raises.
#[pg_extern(stable, parallel_safe)]
pub(crate) fn current_user_id() -> Option<pgrx::Uuid> {
    let claims = setting(c"request.jwt.claims");
    let sub = setting(c"request.jwt.claim.sub");
    let own = setting(c"jitgen.user_id");
    jitgen_core::identity::current_user_id(claims.as_deref(), sub.as_deref(), own.as_deref()).map(pgrx::Uuid::from_bytes)
}
