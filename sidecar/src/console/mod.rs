//! `jitgen console`: the operator console (server-rendered pages, no JavaScript). Off unless
//! `JITGEN_CONSOLE_TOKEN` is set; binds 127.0.0.1:8092 by default (`--listen`); connects as the
//! role in `JITGEN_CONSOLE_ROLE` (`SET ROLE`), so every page and action passes the same SQL
//! functions, privileges and row-level security as psql, and refuses to act as a superuser.
//!
//! Sign-in exchanges the token for a session cookie (HttpOnly, SameSite=Strict); every state
//! change is a POST carrying the session's CSRF token. No token → 401 and the sign-in form
//! only; a forged post → 403 and nothing changed; an unknown job → 404.

mod pages;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use jitgen_sidecar::db;
use minijinja::{context, Environment};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio_postgres::Client;

const COOKIE: &str = "jitgen_console";

pub struct ConsoleConfig {
    pub token: String,
    pub role: Option<String>,
    pub refresh_s: u32,
}

impl ConsoleConfig {
    pub fn from_env() -> anyhow::Result<ConsoleConfig> {
        let token = std::env::var("JITGEN_CONSOLE_TOKEN").ok().filter(|t| !t.trim().is_empty()).ok_or_else(|| {
            anyhow::anyhow!("the console is off: set JITGEN_CONSOLE_TOKEN (a long random secret) to turn it on")
        })?;
        anyhow::ensure!(token.len() >= 16, "JITGEN_CONSOLE_TOKEN must be at least 16 characters");
        let role = std::env::var("JITGEN_CONSOLE_ROLE").ok().filter(|r| !r.trim().is_empty());
        let refresh_s = crate::worker::config::env_parse("JITGEN_CONSOLE_REFRESH_S", 5u32)?.max(1);
        Ok(ConsoleConfig { token, role, refresh_s })
    }
}

pub(crate) struct Console {
    db: Mutex<Client>,
    pub role: String,
    token: String,
    pub refresh_s: u32,
    /// session id → CSRF token.
    sessions: Mutex<HashMap<String, String>>,
    templates: Environment<'static>,
}

/// 128 bits from the kernel's CSPRNG, hex: session ids and CSRF tokens must not be guessable
/// (fastrand is fast, not secret).
fn random_hex() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Constant-time equality (the token is compared on every request).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn templates() -> anyhow::Result<Environment<'static>> {
    let mut env = Environment::new();
    for (name, text) in [
        ("base.html", include_str!("templates/base.html")),
        ("login.html", include_str!("templates/login.html")),
        ("jobs.html", include_str!("templates/jobs.html")),
        ("job.html", include_str!("templates/job.html")),
        ("adapters.html", include_str!("templates/adapters.html")),
        ("programs.html", include_str!("templates/programs.html")),
        ("content.html", include_str!("templates/content.html")),
        ("oracle.html", include_str!("templates/oracle.html")),
        ("not_found.html", include_str!("templates/not_found.html")),
    ] {
        env.add_template(name, text)?;
    }
    Ok(env)
}

pub async fn serve(listen: &str, target: db::Target, config: ConsoleConfig) -> anyhow::Result<()> {
    let client = target.connect_spawned("console").await?;
    if let Some(role) = &config.role {
        client.batch_execute(&format!("SET ROLE {}", quote_ident(role))).await.map_err(|e| anyhow::anyhow!("SET ROLE {role}: {e}"))?;
    }
    let row = client.query_one("SELECT current_user::text, rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user", &[]).await?;
    let (role, superuser): (String, bool) = (row.get(0), row.get(1));
    anyhow::ensure!(
        !superuser,
        "the console would act as the superuser {role}: name an operator role with JITGEN_CONSOLE_ROLE \
         (a role granted the extension owner's role, or the specific grants it needs)"
    );
    let console = Arc::new(Console {
        db: Mutex::new(client),
        role,
        token: config.token,
        refresh_s: config.refresh_s,
        sessions: Mutex::new(HashMap::new()),
        templates: templates()?,
    });
    let app = Router::new()
        .route("/", get(|| async { Redirect::to("/jobs") }))
        .route("/login", get(login_form).post(login))
        .route("/jobs", get(pages::jobs))
        .route("/jobs/{id}", get(pages::job))
        .route("/jobs/{id}/retry", post(retry))
        .route("/jobs/{id}/cancel", post(cancel))
        .route("/adapters", get(pages::adapters))
        .route("/adapters/{id}/confirm", post(confirm_download))
        .route("/programs", get(pages::programs))
        .route("/content", get(pages::content))
        .route("/content/fill", post(fill))
        .route("/oracle", get(pages::oracle))
        .route("/oracle/rule", post(save_rule))
        .route("/oracle/trigger", post(trigger))
        .route("/oracle/rollback", post(rollback))
        .route("/oracle/review", post(review))
        .with_state(console.clone());
    let addr: SocketAddr = listen.parse().map_err(|e| anyhow::anyhow!("--listen {listen:?}: {e}"))?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    // The first line is the URL: scripts and tests read it.
    println!("http://{}", listener.local_addr()?);
    tracing::info!(role = %console.role, "console serving");
    axum::serve(listener, app).with_graceful_shutdown(crate::stop_signal()).await?;
    Ok(())
}

/// Who is asking: a signed-in session (with its CSRF token) or the bearer token.
pub(crate) enum Caller {
    Session { csrf: String },
    Bearer,
}

impl Console {
    pub(crate) async fn caller(&self, headers: &HeaderMap) -> Option<Caller> {
        if let Some(token) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")) {
            return same(token, &self.token).then_some(Caller::Bearer);
        }
        let cookie = headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == COOKIE).then(|| v.to_string())
        })?;
        let sessions = self.sessions.lock().await;
        sessions.get(&cookie).map(|csrf| Caller::Session { csrf: csrf.clone() })
    }

    pub(crate) fn render(&self, name: &str, ctx: minijinja::Value) -> Response {
        match self.templates.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(html) => Html(html).into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("template {name}: {e}")).into_response(),
        }
    }

    pub(crate) async fn client(&self) -> tokio::sync::MutexGuard<'_, Client> {
        self.db.lock().await
    }
}

fn unauthorized(console: &Console, message: Option<&str>) -> Response {
    let mut r = console.render("login.html", context! { message => message });
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    r
}

/// The page context every page shares.
pub(crate) fn base(console: &Console, page: &str, title: &str, csrf: &str, flash: Option<(&str, String)>) -> minijinja::Value {
    let pages = [("jobs", "Jobs"), ("adapters", "Adapters"), ("content", "Content"), ("programs", "Programs"), ("oracle", "Oracle")]
        .map(|(name, label)| context! { name => name, label => label, href => format!("/{name}") });
    context! {
        pages => pages.to_vec(), page => page, title => title, csrf => csrf, role => console.role,
        refresh => if matches!(page, "jobs" | "adapters") { Some(console.refresh_s) } else { None },
        flash => flash.map(|(kind, text)| context! { kind => kind, text => text }),
    }
}

/// The signed-in caller, or the 401 response.
pub(crate) async fn signed_in(console: &Console, headers: &HeaderMap) -> Result<String, Response> {
    match console.caller(headers).await {
        Some(Caller::Session { csrf }) => Ok(csrf),
        Some(Caller::Bearer) => Ok(String::new()),
        None => Err(unauthorized(console, None)),
    }
}

async fn login_form(State(console): State<Arc<Console>>) -> Response {
    console.render("login.html", context! {})
}

#[derive(Deserialize)]
struct Login {
    token: String,
}

async fn login(State(console): State<Arc<Console>>, Form(form): Form<Login>) -> Response {
    if !same(&form.token, &console.token) {
        return unauthorized(&console, Some("wrong token"));
    }
    // No kernel randomness: refuse to mint a guessable session.
    let (Ok(session), Ok(csrf)) = (random_hex(), random_hex()) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "cannot read /dev/urandom: no session created").into_response();
    };
    console.sessions.lock().await.insert(session.clone(), csrf);
    let cookie = format!("{COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/jobs")).into_response()
}

/// A state change: the session must be signed in and the form must carry its CSRF token.
async fn checked(console: &Console, headers: &HeaderMap, csrf: &str) -> Result<(), Response> {
    match console.caller(headers).await {
        Some(Caller::Session { csrf: expected }) if same(csrf, &expected) => Ok(()),
        Some(Caller::Session { .. }) => {
            Err((StatusCode::FORBIDDEN, Html("<h1>403</h1><p id=\"forbidden\">CSRF token missing or wrong: nothing was changed.</p>")).into_response())
        }
        Some(Caller::Bearer) => Err((StatusCode::FORBIDDEN, "state changes need a signed-in session and its CSRF token").into_response()),
        None => Err(unauthorized(console, None)),
    }
}

/// After an action: back to the page, with the outcome in the query string.
fn back(to: &str, outcome: Result<String, String>) -> Response {
    let (kind, text) = match outcome {
        Ok(t) => ("ok", t),
        Err(t) => ("error", t),
    };
    let sep = if to.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{to}{sep}{kind}={}", urlencode(&text))).into_response()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The SQL error as an operator should read it: message, SQLSTATE, DETAIL.
pub(crate) fn sql_error(e: &tokio_postgres::Error) -> String {
    crate::worker::describe(e)
}

#[derive(Deserialize)]
struct Csrf {
    #[serde(default)]
    csrf: String,
}

async fn job_action(console: &Console, headers: &HeaderMap, csrf: &str, id: i64, sql: &str, done: &str) -> Response {
    if let Err(r) = checked(console, headers, csrf).await {
        return r;
    }
    let r = console.client().await.query_one(sql, &[&id]).await;
    back(&format!("/jobs/{id}"), r.map(|_| done.to_string()).map_err(|e| sql_error(&e)))
}

async fn retry(State(console): State<Arc<Console>>, headers: HeaderMap, Path(id): Path<i64>, Form(f): Form<Csrf>) -> Response {
    job_action(&console, &headers, &f.csrf, id, "SELECT jitgen.retry_job($1)", "queued again").await
}

async fn cancel(State(console): State<Arc<Console>>, headers: HeaderMap, Path(id): Path<i64>, Form(f): Form<Csrf>) -> Response {
    job_action(&console, &headers, &f.csrf, id, "SELECT jitgen.cancel_job($1)", "cancel requested").await
}

async fn confirm_download(State(console): State<Arc<Console>>, headers: HeaderMap, Path(id): Path<i64>, Form(f): Form<Csrf>) -> Response {
    if let Err(r) = checked(&console, &headers, &f.csrf).await {
        return r;
    }
    let r = console.client().await.query_one("SELECT jitgen.confirm_adapter_download($1)", &[&id]).await;
    back("/adapters", r.map(|_| format!("download of job {id} confirmed")).map_err(|e| sql_error(&e)))
}

#[derive(Deserialize)]
struct Fill {
    #[serde(default)]
    csrf: String,
    concept_id: String,
    missing: i32,
}

async fn fill(State(console): State<Arc<Console>>, headers: HeaderMap, Form(f): Form<Fill>) -> Response {
    if let Err(r) = checked(&console, &headers, &f.csrf).await {
        return r;
    }
    let r = console
        .client()
        .await
        .query_one(
            "SELECT jitgen.request_content($1::text::uuid, 'missing_coverage', atom_count => least(greatest($2, 1), 20))",
            &[&f.concept_id, &f.missing],
        )
        .await;
    back("/content", r.map(|row| format!("generation job {:?} requested", row.get::<_, Option<i64>>(0))).map_err(|e| sql_error(&e)))
}

#[derive(Deserialize)]
pub(crate) struct ComponentForm {
    #[serde(default)]
    csrf: String,
    app_id: String,
    component_id: String,
    #[serde(default)]
    min_latency_ms: String,
    #[serde(default)]
    min_cost_per_call: String,
    #[serde(default)]
    min_calls_per_minute: String,
    #[serde(default)]
    max_error_rate: String,
    prefer_llm_for_flexibility: Option<String>,
    require_review: Option<String>,
    version: Option<String>,
    verdict: Option<String>,
}

fn oracle_back(f: &ComponentForm, outcome: Result<String, String>) -> Response {
    back(&format!("/oracle?component={}", urlencode(&f.component_id)), outcome)
}

async fn save_rule(State(console): State<Arc<Console>>, headers: HeaderMap, Form(f): Form<ComponentForm>) -> Response {
    if let Err(r) = checked(&console, &headers, &f.csrf).await {
        return r;
    }
    let mut rule = serde_json::json!({"scope": "component", "app_id": f.app_id, "component_id": f.component_id,
        "prefer_llm_for_flexibility": f.prefer_llm_for_flexibility.is_some(), "require_review": f.require_review.is_some()});
    for (key, text) in [
        ("min_latency_ms", &f.min_latency_ms),
        ("min_cost_per_call", &f.min_cost_per_call),
        ("min_calls_per_minute", &f.min_calls_per_minute),
        ("max_error_rate", &f.max_error_rate),
    ] {
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        match text.parse::<f64>() {
            Ok(v) => rule[key] = serde_json::json!(v),
            Err(_) => {
                let message = format!("{key}: {text:?} is not a number; nothing saved");
                return Redirect::to(&format!("/oracle?component={}&rule_error={}", urlencode(&f.component_id), urlencode(&message)))
                    .into_response();
            }
        }
    }
    let r = console.client().await.query_one("SELECT jitgen.set_rule($1)", &[&rule]).await;
    match r {
        Ok(_) => oracle_back(&f, Ok("rule saved".to_string())),
        // Shown next to the form: the database's own words, and nothing was saved.
        Err(e) => Redirect::to(&format!(
            "/oracle?component={}&rule_error={}",
            urlencode(&f.component_id),
            urlencode(&format!("{}; nothing saved", sql_error(&e)))
        ))
        .into_response(),
    }
}

async fn trigger(State(console): State<Arc<Console>>, headers: HeaderMap, Form(f): Form<ComponentForm>) -> Response {
    if let Err(r) = checked(&console, &headers, &f.csrf).await {
        return r;
    }
    let r = console.client().await.query_one("SELECT jitgen.trigger_jit($1, $2)", &[&f.app_id, &f.component_id]).await;
    oracle_back(&f, r.map(|row| format!("generation job {} queued", row.get::<_, i64>(0))).map_err(|e| sql_error(&e)))
}

async fn rollback(State(console): State<Arc<Console>>, headers: HeaderMap, Form(f): Form<ComponentForm>) -> Response {
    if let Err(r) = checked(&console, &headers, &f.csrf).await {
        return r;
    }
    let r = console
        .client()
        .await
        .query_one("SELECT jitgen.rollback_jit($1, $2, 'from the console')", &[&f.app_id, &f.component_id])
        .await;
    oracle_back(&f, r.map(|_| "back on the prompt".to_string()).map_err(|e| sql_error(&e)))
}

async fn review(State(console): State<Arc<Console>>, headers: HeaderMap, Form(f): Form<ComponentForm>) -> Response {
    if let Err(r) = checked(&console, &headers, &f.csrf).await {
        return r;
    }
    let version = f.version.clone().unwrap_or_default();
    let sql = if f.verdict.as_deref() == Some("approve") {
        "SELECT jitgen.approve_jit($1, $2, $3)"
    } else {
        "SELECT jitgen.reject_jit($1, $2, $3)"
    };
    let r = console.client().await.query_one(sql, &[&f.app_id, &f.component_id, &version]).await;
    oracle_back(&f, r.map(|_| format!("{version}: {}", f.verdict.as_deref().unwrap_or("reject"))).map_err(|e| sql_error(&e)))
}

/// `?ok=…` / `?error=…` from an action's redirect.
#[derive(Deserialize, Default)]
pub(crate) struct Flash {
    ok: Option<String>,
    error: Option<String>,
    #[serde(default)]
    pub min_atoms: Option<i32>,
    #[serde(default)]
    pub component: Option<String>,
    #[serde(default)]
    pub rule_error: Option<String>,
}

impl Flash {
    pub(crate) fn message(&self) -> Option<(&'static str, String)> {
        self.error.clone().map(|e| ("error", e)).or_else(|| self.ok.clone().map(|o| ("ok", o)))
    }
}

pub(crate) type FlashQuery = Query<Flash>;
