//! Batches: jobs submitted together (`POST /v1/batches`), then read, canceled and deleted
//! together. Each job is inserted like any other, with `Submitter::batch_id` naming its batch.

use uuid::Uuid;

use super::{JobStore, Result, JOB_COLUMNS};
use crate::model::{Batch, Job};

/// What canceling a batch did to its unfinished jobs.
#[derive(Debug, Default)]
pub struct BatchCancel {
    /// Were queued, now canceled.
    pub canceled: Vec<Uuid>,
    /// Running: asked to stop at their worker's next checkpoint.
    pub requested: Vec<Uuid>,
}

/// Queued jobs end at once, running ones are asked to stop, each with the log line that
/// `JobStore::cancel` writes; a running job already asked is left alone.
const CANCEL: &str = "
    WITH queued AS (
        UPDATE jobs SET status = 'canceled', cancel_requested = true, finished_at = now(), lease_until = NULL
        WHERE batch_id = $1 AND status = 'queued' RETURNING id
    ), running AS (
        UPDATE jobs SET cancel_requested = true
        WHERE batch_id = $1 AND status = 'running' AND NOT cancel_requested RETURNING id
    ), logged AS (
        INSERT INTO job_logs (job_id, level, worker_id, message)
        SELECT id, 'info', 'api', 'canceled while queued (batch canceled)' FROM queued
        UNION ALL SELECT id, 'info', 'api', 'cancellation requested (batch canceled)' FROM running
    )
    SELECT id, false AS running FROM queued UNION ALL SELECT id, true FROM running";

impl JobStore {
    /// Creates a batch for `owner`, empty until its jobs are inserted with its id.
    pub async fn create_batch(&self, id: Uuid, owner: Option<Uuid>) -> Result<Batch> {
        Ok(sqlx::query_as("INSERT INTO batches (id, owner) VALUES ($1, $2) RETURNING id, owner, created_at")
            .bind(id)
            .bind(owner)
            .fetch_one(&self.pool)
            .await?)
    }

    pub async fn batch(&self, id: Uuid) -> Result<Option<Batch>> {
        Ok(sqlx::query_as("SELECT id, owner, created_at FROM batches WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The batch's jobs in the order they were submitted (their ids are UUIDv7).
    pub async fn batch_jobs(&self, id: Uuid) -> Result<Vec<Job>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE batch_id = $1 ORDER BY id");
        Ok(sqlx::query_as(&sql).bind(id).fetch_all(&self.pool).await?)
    }

    /// Cancels every unfinished job of the batch.
    pub async fn cancel_batch(&self, id: Uuid) -> Result<BatchCancel> {
        let mut done = BatchCancel::default();
        // A job can change state under the statement (claimed by a worker, re-queued by the
        // reaper) and slip past both updates; another pass catches it, as `cancel` retries.
        for _ in 0..3 {
            let rows: Vec<(Uuid, bool)> = sqlx::query_as(CANCEL).bind(id).fetch_all(&self.pool).await?;
            for (job, running) in rows {
                if running { &mut done.requested } else { &mut done.canceled }.push(job);
            }
            let left: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM jobs WHERE batch_id = $1
                    AND (status = 'queued' OR (status = 'running' AND NOT cancel_requested)))",
            )
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
            if !left {
                break;
            }
        }
        Ok(done)
    }

    /// Deletes the batch and its jobs (their logs and results go with them) in one transaction;
    /// returns the jobs so the caller can delete their audio and stop the running ones. `None`
    /// when there is no such batch.
    pub async fn delete_batch(&self, id: Uuid) -> Result<Option<Vec<Job>>> {
        let mut tx = self.pool.begin().await?;
        // Locked first, so no job can join the batch while it goes.
        let found =
            sqlx::query("SELECT 1 FROM batches WHERE id = $1 FOR UPDATE").bind(id).fetch_optional(&mut *tx).await?;
        if found.is_none() {
            return Ok(None);
        }
        let sql = format!("DELETE FROM jobs WHERE batch_id = $1 RETURNING {JOB_COLUMNS}");
        let jobs: Vec<Job> = sqlx::query_as(&sql).bind(id).fetch_all(&mut *tx).await?;
        sqlx::query("DELETE FROM batches WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(jobs))
    }
}
