//! The worker registry: heartbeats and the live workers.

use std::time::Duration;

use super::{JobStore, Result};
use crate::model::WorkerInfo;

impl JobStore {
    /// Registers a worker or refreshes its heartbeat.
    pub async fn worker_heartbeat(&self, worker: &WorkerInfo) -> Result<()> {
        sqlx::query(
            "INSERT INTO workers (id, hostname, device, version, started_at, heartbeat_at, current_job, loaded_models)
             VALUES ($1, $2, $3, $4, $5, now(), $6, $7)
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), current_job = EXCLUDED.current_job,
                 loaded_models = EXCLUDED.loaded_models",
        )
        .bind(&worker.id)
        .bind(&worker.hostname)
        .bind(&worker.device)
        .bind(&worker.version)
        .bind(worker.started_at)
        .bind(worker.current_job)
        .bind(&worker.loaded_models)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn remove_worker(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM workers WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// Workers whose heartbeat is younger than `timeout`.
    pub async fn live_workers(&self, timeout: Duration) -> Result<Vec<WorkerInfo>> {
        Ok(sqlx::query_as(
            "SELECT id, hostname, device, version, started_at, heartbeat_at, current_job, loaded_models FROM workers
             WHERE heartbeat_at > now() - make_interval(secs => $1) ORDER BY id",
        )
        .bind(timeout.as_secs_f64())
        .fetch_all(&self.pool)
        .await?)
    }
}
