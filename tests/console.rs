//! End to end: the operator console (`jitgen console`) against a real database, over HTTP and
//! in headless Chromium. Every action is checked in the database afterwards; screenshots go to
//! target/console-screenshots.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;
use support::browser::Browser;
use support::{TestDb, BIN};
use tokio_postgres::Client;

const TOKEN: &str = "console-test-token-0123456789";

struct Console {
    child: Child,
    url: String,
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An operator role: a member of the extension owner's role, not a superuser.
async fn operator(db: &TestDb, c: &Client) -> String {
    let role = format!("{}_op", db.name);
    let owner: String = c.query_one("SELECT current_user::text", &[]).await.unwrap().get(0);
    c.batch_execute(&format!("DROP ROLE IF EXISTS \"{role}\"; CREATE ROLE \"{role}\"; GRANT \"{owner}\" TO \"{role}\";")).await.unwrap();
    role
}

fn start(db: &TestDb, role: Option<&str>) -> Result<Console, String> {
    let mut cmd = Command::new(BIN);
    cmd.args(["console", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", &db.url)
        .env("JITGEN_CONSOLE_TOKEN", TOKEN)
        .env("JITGEN_CONSOLE_REFRESH_S", "1")
        .env("JITGEN_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(r) = role {
        cmd.env("JITGEN_CONSOLE_ROLE", r);
    }
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    if line.trim().is_empty() {
        let out = child.wait_with_output().unwrap();
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(Console { child, url: line.trim().to_string() })
}

async fn job(c: &Client, kind: &str, state: &str) -> i64 {
    c.query_one(
        "INSERT INTO jitgen.jobs (kind, state, attempts, max_attempts, error) VALUES ($1, $2, 3, 3, $3) RETURNING id",
        &[&kind, &state, &json!({"kind": "echo_failure", "message": "failing as asked"})],
    )
    .await
    .unwrap()
    .get(0)
}

async fn state(c: &Client, id: i64) -> String {
    c.query_one("SELECT state FROM jitgen.jobs WHERE id = $1", &[&id]).await.unwrap().get(0)
}

#[tokio::test]
async fn the_console_refuses_a_superuser_and_needs_its_token() {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    let err = start(&db, None).err().expect("a console acting as a superuser must not start");
    assert!(err.contains("JITGEN_CONSOLE_ROLE"), "{err}");
    let role = operator(&db, &c).await;
    let console = start(&db, Some(&role)).unwrap();
    let dead = job(&c, "echo", "dead").await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    // No token, or a wrong one: 401 and nothing shown.
    for r in [
        http.get(format!("{}/jobs", console.url)).send().await.unwrap(),
        http.get(format!("{}/jobs", console.url)).bearer_auth("wrong-token-wrong-token").send().await.unwrap(),
        http.post(format!("{}/login", console.url)).form(&[("token", "nope")]).send().await.unwrap(),
    ] {
        assert_eq!(r.status(), 401);
        let body = r.text().await.unwrap();
        assert!(!body.contains("echo_failure") && !body.contains(&format!("/jobs/{dead}")), "{body}");
    }
    // The bearer token reads pages; an unknown job is 404.
    let r = http.get(format!("{}/jobs", console.url)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains(&format!("retry-{dead}")));
    let r = http.get(format!("{}/jobs/99999999", console.url)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 404);

    // Signed in, a post without (or with a forged) CSRF token is 403 and changes nothing.
    let r = http.post(format!("{}/login", console.url)).form(&[("token", TOKEN)]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    assert!(r.headers()["set-cookie"].to_str().unwrap().contains("HttpOnly"));
    for form in [vec![], vec![("csrf", "forged")]] {
        let r = http.post(format!("{}/jobs/{dead}/retry", console.url)).header("cookie", &cookie).form(&form).send().await.unwrap();
        assert_eq!(r.status(), 403);
    }
    assert_eq!(state(&c, dead).await, "dead");
    // Bearer callers cannot change state either (no CSRF token without a session).
    let r = http.post(format!("{}/jobs/{dead}/retry", console.url)).bearer_auth(TOKEN).form(&[("csrf", "")]).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(state(&c, dead).await, "dead");
    drop(console);
    support::drop_database_then_roles(&db.name, &[&role]);
}

#[tokio::test]
async fn an_operator_works_the_console_in_a_browser() {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    let role = operator(&db, &c).await;
    let console = start(&db, Some(&role)).unwrap();
    let dead = job(&c, "echo", "dead").await;
    // A running adapter job, as the sidecar leaves it mid-training.
    c.execute("SELECT jitgen.register_node('kitchen-1', 'acme', 'tiny', current_user)", &[]).await.unwrap();
    let training = job(&c, "adapter.train", "running").await;
    c.execute(
        "INSERT INTO jitgen.adapter_jobs (job_id, node_id, tenant, base_model_id, dataset_hash, counts, dataset)
         VALUES ($1, 'kitchen-1', 'acme', 'tiny', repeat('a', 64), '{}', '{}')",
        &[&training],
    )
    .await
    .unwrap();
    c.execute("UPDATE jitgen.jobs SET progress = 0.25, progress_message = 'training step 12/48' WHERE id = $1", &[&training])
        .await
        .unwrap();
    c.query_one(
        "SELECT jitgen.register_component('shop', 'length', 'Count the characters.', '{\"type\": \"object\"}', '{\"type\": \"object\"}')",
        &[],
    )
    .await
    .unwrap();

    let b = Browser::start().await;
    b.goto(&format!("{}/jobs", console.url)).await;
    assert!(b.source().await.contains("Console token"), "signed out: the sign-in form only");
    b.type_into("#token", TOKEN).await;
    b.click("#sign-in").await;
    assert!(b.wait_for_text("Dead jobs", Duration::from_secs(10)).await);
    b.screenshot("jobs").await;

    // The adapter job's progress advances on the live page.
    b.goto(&format!("{}/adapters", console.url)).await;
    assert!(b.wait_for_text("25%", Duration::from_secs(10)).await);
    c.execute("UPDATE jitgen.jobs SET progress = 0.6, progress_message = 'training step 29/48' WHERE id = $1", &[&training])
        .await
        .unwrap();
    assert!(b.wait_for_text("training step 29/48", Duration::from_secs(15)).await, "{}", b.source().await);
    assert!(b.source().await.contains("60%"));
    b.screenshot("adapters").await;

    // Retry a dead job.
    b.goto(&format!("{}/jobs", console.url)).await;
    b.click(&format!("#retry-{dead}")).await;
    assert!(b.wait_for_text("queued again", Duration::from_secs(10)).await);
    assert_eq!(state(&c, dead).await, "queued");

    // Edit the component's rule: a negative threshold is refused next to the field, nothing saved.
    b.goto(&format!("{}/oracle", console.url)).await;
    b.type_into("#min_latency_ms-length", "-5").await;
    b.click("#save-rule-length").await;
    assert!(b.wait_for_text("nothing saved", Duration::from_secs(10)).await);
    assert!(b.find("#rule-error-length").await.is_some(), "the error sits next to the form");
    let rules: i64 = c.query_one("SELECT count(*) FROM jitgen.optimization_rules", &[]).await.unwrap().get(0);
    assert_eq!(rules, 0);
    b.screenshot("oracle-rule-error").await;
    b.type_into("#min_latency_ms-length", "250").await;
    b.click("#save-rule-length").await;
    assert!(b.wait_for_text("rule saved", Duration::from_secs(10)).await);
    let min: f64 = c
        .query_one("SELECT min_latency_ms::float8 FROM jitgen.optimization_rules WHERE scope = 'component' AND component_id = 'length'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(min, 250.0);

    // Trigger JIT generation by hand.
    b.click("#trigger-length").await;
    assert!(b.wait_for_text("generation job", Duration::from_secs(10)).await);
    let queued: i64 = c
        .query_one("SELECT count(*) FROM jitgen.jobs WHERE kind = 'jit.generate' AND key = 'shop/length' AND state = 'queued'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(queued, 1);
    let decision: String = c.query_one("SELECT decision FROM jitgen.oracle_decisions ORDER BY id DESC LIMIT 1", &[]).await.unwrap().get(0);
    assert_eq!(decision, "trigger");
    b.screenshot("oracle").await;

    // Unknown job: the 404 page.
    b.goto(&format!("{}/jobs/99999999", console.url)).await;
    assert!(b.find("#not-found").await.is_some());
    drop(b);
    drop(console);
    support::drop_database_then_roles(&db.name, &[&role]);
}
