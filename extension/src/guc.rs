//! Settings (`jitgen.*`), private statics behind accessors.

use std::ffi::CString;

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

static MAX_DOCUMENT_BYTES: GucSetting<i32> = GucSetting::<i32>::new(1024 * 1024);
static MAX_VALIDATION_DETAILS: GucSetting<i32> = GucSetting::<i32>::new(100);

static LLM_ENDPOINT: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static LLM_MODEL: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static LLM_API_KEY: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static LLM_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(5000);
static APP_ID: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static USER_ID: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static PROGRAM_DAILY_LIMIT: GucSetting<i32> = GucSetting::<i32>::new(5);
static CONTENT_CACHE_TTL: GucSetting<i32> = GucSetting::<i32>::new(3600);
static JIT_ENDPOINT: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static JIT_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(2000);
static SAMPLE_LIMIT: GucSetting<i32> = GucSetting::<i32>::new(200);

const DEFAULT_JIT_ENDPOINT: &str = "http://127.0.0.1:8091/v1/chat/completions";

const DEFAULT_ENDPOINT: &str = "https://api.openai.com/v1/chat/completions";
const DEFAULT_MODEL: &str = "gpt-4o-mini";

fn text(setting: &GucSetting<Option<CString>>) -> Option<String> {
    setting.get().map(|c| c.to_string_lossy().trim().to_string()).filter(|s| !s.is_empty())
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// `jitgen.llm_endpoint`, else the server's `LLM_API_ENDPOINT`, else OpenAI's. Only a
/// superuser (or a role granted SET on it) chooses where the server's key is sent.
pub fn llm_endpoint() -> Option<String> {
    Some(text(&LLM_ENDPOINT).or_else(|| env("LLM_API_ENDPOINT")).unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()))
}

/// `jitgen.llm_model`, else the server's `LLM_MODEL`, else gpt-4o-mini.
pub fn llm_model() -> String {
    text(&LLM_MODEL).or_else(|| env("LLM_MODEL")).unwrap_or_else(|| DEFAULT_MODEL.to_string())
}

/// The server's `LLM_API_KEY`, else the superuser-only `jitgen.llm_api_key`.
pub fn llm_api_key() -> Option<String> {
    env("LLM_API_KEY").or_else(|| text(&LLM_API_KEY))
}

pub fn llm_timeout_ms() -> u64 {
    LLM_TIMEOUT_MS.get().max(1) as u64
}

/// Recorded in every metric row; defaults to the database name.
pub fn app_id() -> Option<String> {
    text(&APP_ID)
}

/// Programs one user may have generated per rolling 24 hours (0: no limit).
pub fn program_daily_limit() -> i32 {
    PROGRAM_DAILY_LIMIT.get().max(0)
}

/// `jitgen.jit_endpoint`, else the server's `JITGEN_JIT_ENDPOINT`, else the sidecar's default
/// (`jitgen run` serves active JIT handlers there).
pub fn jit_endpoint() -> String {
    text(&JIT_ENDPOINT).or_else(|| env("JITGEN_JIT_ENDPOINT")).unwrap_or_else(|| DEFAULT_JIT_ENDPOINT.to_string())
}

/// The shared secret the sidecar's JIT endpoint expects (server environment only).
pub fn jit_token() -> String {
    env("JITGEN_JIT_TOKEN").unwrap_or_else(|| "jitgen-local".to_string())
}

pub fn jit_timeout_ms() -> u64 {
    JIT_TIMEOUT_MS.get().max(1) as u64
}

/// Successful LLM invocations kept per component for shadow replay.
pub fn sample_limit() -> i32 {
    SAMPLE_LIMIT.get().max(0)
}

/// How long a completed content request answers repeats of itself, in seconds.
pub fn content_cache_ttl_seconds() -> i32 {
    CONTENT_CACHE_TTL.get().max(0)
}

/// Largest jsonb document (uncompressed bytes) the validators accept.
pub fn max_document_bytes() -> usize {
    MAX_DOCUMENT_BYTES.get().max(0) as usize
}

/// How many problems a validation report lists before it says it was truncated.
pub fn max_validation_details() -> usize {
    MAX_VALIDATION_DETAILS.get().max(1) as usize
}

pub fn init() {
    GucRegistry::define_string_guc(
        c"jitgen.llm_endpoint",
        c"OpenAI-compatible chat-completions URL for generate_session (superusers only: the server's key is sent there).",
        c"Defaults to the server's LLM_API_ENDPOINT, else https://api.openai.com/v1/chat/completions.",
        &LLM_ENDPOINT,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"jitgen.llm_model",
        c"Model name sent to the LLM endpoint (superusers only: it decides what the server's key pays for).",
        c"Defaults to the server's LLM_MODEL, else gpt-4o-mini.",
        &LLM_MODEL,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"jitgen.llm_api_key",
        c"API key for the LLM endpoint (superusers only; prefer LLM_API_KEY in the server environment).",
        c"Only superusers can set or read it. The server environment's LLM_API_KEY takes precedence.",
        &LLM_API_KEY,
        GucContext::Suset,
        GucFlags::SUPERUSER_ONLY | GucFlags::NO_SHOW_ALL,
    );
    GucRegistry::define_int_guc(
        c"jitgen.llm_timeout_ms",
        c"Hard time budget of the synchronous LLM call in generate_session.",
        c"After this many milliseconds generate_session returns the formula session (formula_fallback).",
        &LLM_TIMEOUT_MS,
        1,
        600_000,
        GucContext::Userset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_string_guc(
        c"jitgen.app_id",
        c"Application name recorded in jitgen.llm_calls (superusers only, e.g. ALTER ROLE app SET jitgen.app_id = ...).",
        c"Defaults to the database name.",
        &APP_ID,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"jitgen.user_id",
        c"App user id for jitgen.current_user_id() when no PostgREST JWT claims are set.",
        c"A uuid; row-level security on per-user tables compares user_id with jitgen.current_user_id().",
        &USER_ID,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"jitgen.program_daily_limit",
        c"Programs one user may have generated per rolling 24 hours (superusers only; 0: no limit).",
        c"Requests over it complete at once with an error that says when the next slot opens.",
        &PROGRAM_DAILY_LIMIT,
        0,
        100_000,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"jitgen.content_cache_ttl",
        c"How long a completed content request answers repeats of itself (superusers only).",
        c"Within it, request_content with the same concept, trigger and content types returns the same job.",
        &CONTENT_CACHE_TTL,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_string_guc(
        c"jitgen.jit_endpoint",
        c"Where jitgen.invoke runs active JIT handlers: the sidecar's sandbox pool (superusers only).",
        c"Defaults to the server's JITGEN_JIT_ENDPOINT, else http://127.0.0.1:8091/v1/chat/completions.",
        &JIT_ENDPOINT,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"jitgen.jit_timeout_ms",
        c"Time budget of one JIT handler run in jitgen.invoke.",
        c"A slower run is recorded as a timeout and answered with the standard error result.",
        &JIT_TIMEOUT_MS,
        1,
        600_000,
        GucContext::Userset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"jitgen.sample_limit",
        c"Successful LLM invocations kept per component for shadow replay (superusers only).",
        c"The newest are kept; 0 keeps none (and a candidate cannot be shadow-replayed).",
        &SAMPLE_LIMIT,
        0,
        100_000,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"jitgen.max_document_bytes",
        c"Largest document jitgen validates.",
        c"Documents above this size are refused with SQLSTATE 54000 before any parsing.",
        &MAX_DOCUMENT_BYTES,
        1024,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_BYTE,
    );
    GucRegistry::define_int_guc(
        c"jitgen.max_validation_details",
        c"Most problems listed in one validation report.",
        c"Reports stop listing problems at this count and say \"truncated\": true.",
        &MAX_VALIDATION_DETAILS,
        1,
        10_000,
        GucContext::Userset,
        GucFlags::default(),
    );
}
