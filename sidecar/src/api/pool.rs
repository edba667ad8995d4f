//! A small bounded pool of database connections for the HTTP API. Each request holds one
//! connection for one transaction; a request dropped mid-transaction (the client went away)
//! rolls back before its connection is reused, so no request ever runs inside another's
//! transaction or role.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jitgen_sidecar::db::Target;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::{Client, Statement};

use super::reply::ApiError;

pub struct Pool {
    target: Target,
    idle: Mutex<Vec<Conn>>,
    slots: Arc<Semaphore>,
    acquire_timeout: Duration,
}

impl Pool {
    pub fn new(target: Target, size: usize, acquire_timeout: Duration) -> Arc<Pool> {
        Arc::new(Pool { target, idle: Mutex::new(Vec::new()), slots: Arc::new(Semaphore::new(size)), acquire_timeout })
    }

    /// A connection, waiting at most the acquire timeout for a free slot: a full pool or an
    /// unreachable database is a 503 the client may retry, never an unbounded wait.
    pub async fn get(self: &Arc<Self>) -> Result<Pooled, ApiError> {
        let permit = tokio::time::timeout(self.acquire_timeout, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| ApiError::unavailable("every database connection of the API is busy"))?
            .map_err(|_| ApiError::unavailable("the API is shutting down"))?;
        loop {
            let next = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match next {
                Some(c) if c.client.is_closed() => continue,
                Some(c) => return Ok(Pooled { conn: Some(c), pool: self.clone(), _permit: permit }),
                None => break,
            }
        }
        let client = self.target.connect_spawned("api").await.map_err(|e| {
            tracing::warn!(error = %e, "api: cannot connect to the database");
            ApiError::unavailable("the database is unreachable")
        })?;
        Ok(Pooled { conn: Some(Conn { client, statements: HashMap::new() }), pool: self.clone(), _permit: permit })
    }

    fn put_back(&self, conn: Conn) {
        if !conn.client.is_closed() {
            self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
        }
    }
}

/// A connection and the statements prepared on it: each request's statements are parsed once
/// per connection, so a call is one round trip, not two.
struct Conn {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

pub struct Pooled {
    conn: Option<Conn>,
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
}

impl Pooled {
    pub fn client(&self) -> &Client {
        &self.conn.as_ref().expect("a pooled connection holds its client until dropped").client
    }

    pub async fn prepared(&mut self, sql: &'static str) -> Result<Statement, tokio_postgres::Error> {
        let conn = self.conn.as_mut().expect("a pooled connection holds its client until dropped");
        if let Some(s) = conn.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = conn.client.prepare(sql).await?;
        conn.statements.insert(sql, s.clone());
        Ok(s)
    }

    /// Gives the connection back only after ROLLBACK: for a transaction that did not finish.
    pub fn rollback_and_release(mut self) {
        let (Some(conn), pool) = (self.conn.take(), self.pool.clone()) else { return };
        tokio::spawn(async move {
            if conn.client.batch_execute("ROLLBACK").await.is_ok() {
                pool.put_back(conn);
            }
        });
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            self.pool.put_back(c);
        }
    }
}
