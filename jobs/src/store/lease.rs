//! A worker's side of a job: the conditional claim, its lease, and the writes fenced by it.

use std::time::Duration;

use sqlx::Row;
use uuid::Uuid;

use super::{JobStore, Result, JOB_COLUMNS};
use crate::model::{Fence, Job, LogLevel, Outcome};

impl JobStore {
    /// The conditional claim: `queued -> running` for this worker, or nothing.
    pub async fn claim(&self, id: Uuid, worker_id: &str, lease: Duration) -> Result<Option<Job>> {
        let sql = format!(
            "UPDATE jobs SET status = 'running', worker_id = $2, attempt = attempt + 1,
                 lease_until = now() + make_interval(secs => $3), started_at = COALESCE(started_at, now()),
                 stage = NULL, progress = 0, error_code = NULL, error_message = NULL
             WHERE id = $1 AND status = 'queued' AND attempt < max_attempts
             RETURNING {JOB_COLUMNS}"
        );
        let job: Option<Job> =
            sqlx::query_as(&sql).bind(id).bind(worker_id).bind(lease.as_secs_f64()).fetch_optional(&self.pool).await?;
        if let Some(job) = &job {
            let message = format!("claimed by {worker_id} (attempt {} of {})", job.attempt, job.max_attempts);
            self.log(id, LogLevel::Info, None, Some(worker_id), &message).await?;
        }
        Ok(job)
    }

    /// Extends the lease. `None` means the lease is lost; `Some(cancel_requested)` otherwise.
    pub async fn renew_lease(&self, fence: &Fence, lease: Duration) -> Result<Option<bool>> {
        let row = sqlx::query(
            "UPDATE jobs SET lease_until = now() + make_interval(secs => $4)
             WHERE id = $1 AND worker_id = $2 AND attempt = $3 AND status = 'running'
             RETURNING cancel_requested",
        )
        .bind(fence.job_id)
        .bind(&fence.worker_id)
        .bind(fence.attempt)
        .bind(lease.as_secs_f64())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.get("cancel_requested")))
    }

    /// Hands a running job back to the queue (its worker is shutting down). The attempt is not
    /// counted. False when the lease was already lost.
    pub async fn release(&self, fence: &Fence) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET status = 'queued', attempt = attempt - 1, lease_until = NULL, dispatched_at = now()
             WHERE id = $1 AND worker_id = $2 AND attempt = $3 AND status = 'running'",
        )
        .bind(fence.job_id)
        .bind(&fence.worker_id)
        .bind(fence.attempt)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            self.log(
                fence.job_id,
                LogLevel::Info,
                None,
                Some(&fence.worker_id),
                "handed back to the queue: worker shutting down",
            )
            .await?;
        }
        Ok(done.rows_affected() == 1)
    }

    /// Records progress; false when the lease is lost.
    pub async fn set_progress(&self, fence: &Fence, stage: &str, progress: f32) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET stage = $4, progress = $5
             WHERE id = $1 AND worker_id = $2 AND attempt = $3 AND status = 'running'",
        )
        .bind(fence.job_id)
        .bind(&fence.worker_id)
        .bind(fence.attempt)
        .bind(stage)
        .bind(progress.clamp(0.0, 1.0))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records how long each stage of this attempt took; false when the lease is lost.
    pub async fn set_stage_secs(
        &self,
        fence: &Fence,
        stage_secs: &std::collections::BTreeMap<String, f64>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET stage_secs = $4
             WHERE id = $1 AND worker_id = $2 AND attempt = $3 AND status = 'running'",
        )
        .bind(fence.job_id)
        .bind(&fence.worker_id)
        .bind(fence.attempt)
        .bind(sqlx::types::Json(stage_secs))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Writes the outcome, the final state and a closing log line in one fenced transaction;
    /// false when the lease was lost (nothing is written then).
    pub async fn finish(&self, fence: &Fence, outcome: &Outcome, summary: &str) -> Result<bool> {
        let (status, code, message, duration, result) = match outcome {
            Outcome::Succeeded { result, duration_secs } => {
                ("succeeded", None, None, Some(*duration_secs), Some(result))
            }
            Outcome::Failed { code, message } => ("failed", Some(code.as_str()), Some(message.as_str()), None, None),
            Outcome::Canceled => ("canceled", None, None, None, None),
        };
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE jobs SET status = $4, finished_at = now(), lease_until = NULL,
                 progress = CASE WHEN $4 = 'succeeded' THEN 1 ELSE progress END,
                 error_code = $5, error_message = $6, duration_secs = COALESCE($7, duration_secs)
             WHERE id = $1 AND worker_id = $2 AND attempt = $3 AND status = 'running'",
        )
        .bind(fence.job_id)
        .bind(&fence.worker_id)
        .bind(fence.attempt)
        .bind(status)
        .bind(code)
        .bind(message)
        .bind(duration)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        if let Some(result) = result {
            sqlx::query(
                "INSERT INTO job_results (job_id, result) VALUES ($1, $2)
                 ON CONFLICT (job_id) DO UPDATE SET result = EXCLUDED.result",
            )
            .bind(fence.job_id)
            .bind(sqlx::types::Json(result))
            .execute(&mut *tx)
            .await?;
        }
        let level = if matches!(outcome, Outcome::Failed { .. }) { LogLevel::Error } else { LogLevel::Info };
        sqlx::query("INSERT INTO job_logs (job_id, level, worker_id, message) VALUES ($1, $2, $3, $4)")
            .bind(fence.job_id)
            .bind(level.as_str())
            .bind(&fence.worker_id)
            .bind(summary)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }
}
