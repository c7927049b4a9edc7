//! PostgreSQL, the source of truth for jobs. Every write a worker makes is fenced by
//! `(id, worker_id, attempt, status = 'running')`, so a worker that lost its lease changes nothing.

use std::time::Duration;

use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::Postgres;

mod batch;
mod batches;
mod insert;
mod keys;
mod lease;
mod logs;
mod manage;
mod partials;
mod runtime;
mod stats;
mod upkeep;
mod webhooks;
mod workers;

pub use batch::Submission;
pub use batches::BatchCancel;
pub use insert::{Inserted, NewJob, Submitter};
pub use keys::{ApiKey, KeyLookup, NewApiKey};
pub use manage::{CancelOutcome, ListFilter};
pub use partials::{JobPartials, PartialsCursor};
pub use runtime::StoredRuntime;
pub use stats::{FinishedJob, QueueCounts, QueuePlace};
pub use upkeep::Reaped;
pub use webhooks::{DueDelivery, WebhookDelivery};
pub use workers::{Drain, WorkerPresence};

const JOB_COLUMNS: &str = "id, status, stage, progress, input, options, duration_secs, attempt, max_attempts, \
     worker_id, lease_until, cancel_requested, error_code, error_message, created_at, started_at, finished_at, owner, callback_url, purged_at";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A batched insert got no answer; every submission in it shares the one error.
    #[error("database: {0}")]
    Batch(std::sync::Arc<sqlx::Error>),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the Idempotency-Key was already used for a different request")]
    IdempotencyConflict,
    #[error("{limit} jobs are already queued for this API key")]
    TooManyQueued { limit: i64 },
    /// The whole service has `jobs.max_queued_total` jobs queued.
    #[error("{limit} jobs are already queued in the service")]
    QueueFull { limit: i64 },
}

impl StoreError {
    /// Whether PostgreSQL could not be reached or is not serving (down, restarting, shutting
    /// down, no connection free within [`ACQUIRE_TIMEOUT`]), as opposed to refusing the request.
    /// Callers answer "retry later" for these.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Db(e) => sql_unavailable(e),
            Self::Batch(e) => sql_unavailable(e),
            _ => false,
        }
    }
}

fn sql_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
        // Class 08: connection exceptions; 57P01..57P03: admin shutdown, crash shutdown, cannot
        // connect now (starting up or in recovery).
        sqlx::Error::Database(db) => {
            db.code().is_some_and(|code| code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03"))
        }
        _ => false,
    }
}

/// How long a query waits for a pooled connection (including making one) before it fails.
/// Short on purpose: when PostgreSQL is down, a client hears `503` within two seconds instead of
/// hanging; a pool that stays exhausted that long is overloaded, and "retry later" is the answer.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(1500);

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone)]
pub struct JobStore {
    pool: PgPool,
}

impl JobStore {
    /// Connects, creating the database if it does not exist, and applies migrations.
    /// Safe when several processes start at once: migrations run under an advisory lock.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        if !Postgres::database_exists(url).await? {
            if let Err(e) = Postgres::create_database(url).await {
                // Another process may have created it a moment ago.
                if !Postgres::database_exists(url).await? {
                    return Err(e.into());
                }
            }
        }
        let pool =
            PgPoolOptions::new().max_connections(max_connections).acquire_timeout(ACQUIRE_TIMEOUT).connect(url).await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
