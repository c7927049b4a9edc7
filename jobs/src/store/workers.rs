//! The worker registry: heartbeats, the live workers, and drain requests.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{JobStore, Result};
use crate::model::WorkerInfo;

/// What a worker asked to drain does once its current job has ended (it takes no other).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Drain {
    /// Exit with status 0.
    Exit,
    /// Exit with [`Drain::RESTART_EXIT_CODE`], so that its supervisor starts it again.
    Restart,
}

impl Drain {
    /// The exit status of a worker drained for a restart (`EX_TEMPFAIL`): a supervisor set to
    /// restart on failure starts it again, with fresh code, configuration and memory.
    pub const RESTART_EXIT_CODE: u8 = 75;

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exit => "exit",
            Self::Restart => "restart",
        }
    }

    fn parse(column: Option<&str>) -> Option<Self> {
        match column? {
            "exit" => Some(Self::Exit),
            "restart" => Some(Self::Restart),
            _ => None,
        }
    }
}

/// A live worker with the drain asked of it, if any.
#[derive(Debug, Clone)]
pub struct WorkerPresence {
    pub info: WorkerInfo,
    pub drain: Option<Drain>,
}

#[derive(sqlx::FromRow)]
struct PresenceRow {
    #[sqlx(flatten)]
    info: WorkerInfo,
    drain: Option<String>,
}

impl From<PresenceRow> for WorkerPresence {
    fn from(row: PresenceRow) -> Self {
        Self { drain: Drain::parse(row.drain.as_deref()), info: row.info }
    }
}

const PRESENCE_COLUMNS: &str =
    "id, hostname, device, version, started_at, heartbeat_at, current_job, loaded_models, drain";

impl JobStore {
    /// Registers a worker or refreshes its heartbeat; returns the drain asked of it, if any.
    pub async fn worker_heartbeat(&self, worker: &WorkerInfo) -> Result<Option<Drain>> {
        let drain: Option<String> = sqlx::query_scalar(
            "INSERT INTO workers (id, hostname, device, version, started_at, heartbeat_at, current_job, loaded_models)
             VALUES ($1, $2, $3, $4, $5, now(), $6, $7)
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), current_job = EXCLUDED.current_job,
                 loaded_models = EXCLUDED.loaded_models
             RETURNING drain",
        )
        .bind(&worker.id)
        .bind(&worker.hostname)
        .bind(&worker.device)
        .bind(&worker.version)
        .bind(worker.started_at)
        .bind(worker.current_job)
        .bind(&worker.loaded_models)
        .fetch_one(&self.pool)
        .await?;
        Ok(Drain::parse(drain.as_deref()))
    }

    pub async fn remove_worker(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM workers WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// Workers whose heartbeat is younger than `timeout`.
    pub async fn live_workers(&self, timeout: Duration) -> Result<Vec<WorkerInfo>> {
        Ok(self.worker_presence(timeout).await?.into_iter().map(|w| w.info).collect())
    }

    /// Workers whose heartbeat is younger than `timeout`, with their drain requests.
    pub async fn worker_presence(&self, timeout: Duration) -> Result<Vec<WorkerPresence>> {
        let rows: Vec<PresenceRow> = sqlx::query_as(&format!(
            "SELECT {PRESENCE_COLUMNS} FROM workers
             WHERE heartbeat_at > now() - make_interval(secs => $1) ORDER BY id"
        ))
        .bind(timeout.as_secs_f64())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(WorkerPresence::from).collect())
    }

    /// Asks live worker `id` to drain; `None` when no live worker has that id. A later request
    /// replaces an earlier one (a drain can become a restart, and back).
    pub async fn request_drain(&self, id: &str, drain: Drain, timeout: Duration) -> Result<Option<WorkerPresence>> {
        let row: Option<PresenceRow> = sqlx::query_as(&format!(
            "UPDATE workers SET drain = $2
             WHERE id = $1 AND heartbeat_at > now() - make_interval(secs => $3)
             RETURNING {PRESENCE_COLUMNS}"
        ))
        .bind(id)
        .bind(drain.as_str())
        .bind(timeout.as_secs_f64())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(WorkerPresence::from))
    }
}
