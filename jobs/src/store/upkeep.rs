//! Sweeps any process may run: reaping expired leases, re-dispatching stale queued jobs, retention.

use std::time::Duration;

use sqlx::Row;
use uuid::Uuid;

use super::{JobStore, Result, JOB_COLUMNS};
use crate::model::{Job, JobStatus};

/// What the reaper did to one job whose lease expired.
#[derive(Debug, Clone)]
pub struct Reaped {
    pub id: Uuid,
    pub status: JobStatus,
}

impl JobStore {
    /// Returns running jobs whose lease expired to `queued`, or ends them (`failed` after the
    /// last attempt, `canceled` if cancellation was asked). Safe to run from many processes.
    pub async fn reap_expired(&self) -> Result<Vec<Reaped>> {
        let rows = sqlx::query(
            "WITH expired AS (
                SELECT id FROM jobs WHERE status = 'running' AND lease_until < now()
                ORDER BY lease_until LIMIT 100 FOR UPDATE SKIP LOCKED
             ), reaped AS (
                UPDATE jobs j SET
                    status = CASE WHEN j.cancel_requested THEN 'canceled'
                                  WHEN j.attempt >= j.max_attempts THEN 'failed' ELSE 'queued' END,
                    finished_at = CASE WHEN j.cancel_requested OR j.attempt >= j.max_attempts THEN now() END,
                    error_code = CASE WHEN NOT j.cancel_requested AND j.attempt >= j.max_attempts
                                      THEN 'worker_lost' END,
                    error_message = CASE WHEN NOT j.cancel_requested AND j.attempt >= j.max_attempts
                                      THEN 'the worker stopped responding on each of ' || j.attempt || ' attempts' END,
                    lease_until = NULL, dispatched_at = now()
                FROM expired WHERE j.id = expired.id
                RETURNING j.id, j.status, j.attempt, j.worker_id
             ), logged AS (
                INSERT INTO job_logs (job_id, level, worker_id, message)
                SELECT id, 'warn', 'reaper', 'lease of ' || COALESCE(worker_id, '?') || ' expired on attempt '
                       || attempt || '; job is now ' || status
                FROM reaped
             )
             SELECT id, status FROM reaped",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let status: String = r.try_get("status")?;
                Ok(Reaped {
                    id: r.try_get("id")?,
                    status: status.parse().map_err(|e: String| sqlx::Error::Decode(e.into()))?,
                })
            })
            .collect()
    }

    /// Queued jobs last dispatched longer than `interval` ago, marked as dispatched now.
    pub async fn take_stale_queued(&self, interval: Duration) -> Result<Vec<Uuid>> {
        let rows = sqlx::query(
            "UPDATE jobs SET dispatched_at = now() WHERE id IN (
                SELECT id FROM jobs WHERE status = 'queued' AND dispatched_at < now() - make_interval(secs => $1)
                ORDER BY dispatched_at LIMIT 1000 FOR UPDATE SKIP LOCKED
             ) RETURNING id",
        )
        .bind(interval.as_secs_f64())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.get("id")).collect())
    }

    /// Retention: deletes the results of up to `limit` jobs that finished more than `age` ago
    /// and marks them purged; returns them so the caller can delete their stored audio.
    pub async fn purge_finished(&self, age: Duration, limit: i64) -> Result<Vec<Job>> {
        let sql = format!(
            "WITH old AS (
                SELECT id FROM jobs WHERE finished_at < now() - make_interval(secs => $1) AND purged_at IS NULL
                ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED
             ), purged AS (
                UPDATE jobs j SET purged_at = now() FROM old WHERE j.id = old.id RETURNING j.*
             ), results AS (
                DELETE FROM job_results r USING purged WHERE r.job_id = purged.id
             ), logged AS (
                INSERT INTO job_logs (job_id, level, worker_id, message)
                SELECT id, 'info', 'api', 'retention: audio and result deleted' FROM purged
             )
             SELECT {JOB_COLUMNS} FROM purged"
        );
        Ok(sqlx::query_as(&sql).bind(age.as_secs_f64()).bind(limit).fetch_all(&self.pool).await?)
    }
}
