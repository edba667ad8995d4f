//! A small bounded pool of database connections for the HTTP API. Each request holds one
//! connection for one transaction; a request dropped mid-transaction (the client went away)
//! rolls back before its connection is reused, so no request ever runs inside another's
//! transaction or role.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jitgen_sidecar::db::Target;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::Client;

use super::reply::ApiError;

pub struct Pool {
    target: Target,
    idle: Mutex<Vec<Client>>,
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
                Some(c) if c.is_closed() => continue,
                Some(c) => return Ok(Pooled { client: Some(c), pool: self.clone(), _permit: permit }),
                None => break,
            }
        }
        let client = self.target.connect_spawned("api").await.map_err(|e| {
            tracing::warn!(error = %e, "api: cannot connect to the database");
            ApiError::unavailable("the database is unreachable")
        })?;
        Ok(Pooled { client: Some(client), pool: self.clone(), _permit: permit })
    }

    fn put_back(&self, client: Client) {
        if !client.is_closed() {
            self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(client);
        }
    }
}

pub struct Pooled {
    client: Option<Client>,
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
}

impl Pooled {
    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("a pooled connection holds its client until dropped")
    }

    /// Gives the connection back only after ROLLBACK: for a transaction that did not finish.
    pub fn rollback_and_release(mut self) {
        let (Some(client), pool) = (self.client.take(), self.pool.clone()) else { return };
        tokio::spawn(async move {
            if client.batch_execute("ROLLBACK").await.is_ok() {
                pool.put_back(client);
            }
        });
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            self.pool.put_back(c);
        }
    }
}
