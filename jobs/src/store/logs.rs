//! Job logs: appending lines and reading them back.

use uuid::Uuid;

use super::{JobStore, Result};
use crate::model::{Fence, LogLevel, LogLine};

impl JobStore {
    /// Appends a line to a job's log. A job deleted meanwhile is not an error.
    pub async fn log(
        &self,
        id: Uuid,
        level: LogLevel,
        stage: Option<&str>,
        worker: Option<&str>,
        message: &str,
    ) -> Result<()> {
        let outcome =
            sqlx::query("INSERT INTO job_logs (job_id, level, stage, worker_id, message) VALUES ($1, $2, $3, $4, $5)")
                .bind(id)
                .bind(level.as_str())
                .bind(stage)
                .bind(worker)
                .bind(message)
                .execute(&self.pool)
                .await;
        match outcome {
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => Ok(()),
            other => other.map(|_| ()).map_err(Into::into),
        }
    }

    /// Appends a line to the log of the job `fence`'s attempt runs, fenced like the attempt's other
    /// writes: false, and nothing written, once the attempt has lost its lease (the job was
    /// requeued, runs elsewhere, or has finished).
    pub async fn log_fenced(&self, fence: &Fence, level: LogLevel, stage: Option<&str>, message: &str) -> Result<bool> {
        let written = sqlx::query(
            "INSERT INTO job_logs (job_id, level, stage, worker_id, message)
             SELECT $1, $4, $5, $2, $6 WHERE EXISTS (
                 SELECT 1 FROM jobs WHERE id = $1 AND worker_id = $2 AND attempt = $3 AND status = 'running')",
        )
        .bind(fence.job_id)
        .bind(&fence.worker_id)
        .bind(fence.attempt)
        .bind(level.as_str())
        .bind(stage)
        .bind(message)
        .execute(&self.pool)
        .await?;
        Ok(written.rows_affected() == 1)
    }

    /// Log lines with an id greater than `since`, oldest first.
    pub async fn logs(&self, id: Uuid, since: i64, limit: i64) -> Result<Vec<LogLine>> {
        Ok(sqlx::query_as(
            "SELECT id, at, level, stage, worker_id, message FROM job_logs
             WHERE job_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(id)
        .bind(since)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}
