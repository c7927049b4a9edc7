//! Counts and finished jobs for `/metrics` and the queue's health.

use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use super::{JobStore, Result};

#[derive(Debug, Clone, Default)]
pub struct QueueCounts {
    pub queued: i64,
    pub running: i64,
}

/// A finished job as `/metrics` sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FinishedJob {
    pub id: Uuid,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: DateTime<Utc>,
    /// Seconds of audio.
    pub duration_secs: Option<f64>,
    #[sqlx(json(nullable))]
    pub stage_secs: Option<std::collections::BTreeMap<String, f64>>,
}

impl JobStore {
    pub async fn queue_counts(&self) -> Result<QueueCounts> {
        let row = sqlx::query(
            "SELECT count(*) FILTER (WHERE status = 'queued') AS queued,
                    count(*) FILTER (WHERE status = 'running') AS running
             FROM jobs WHERE status IN ('queued', 'running')",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(QueueCounts { queued: row.get("queued"), running: row.get("running") })
    }

    /// How many jobs are in each state (states with none are left out).
    pub async fn state_counts(&self) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as("SELECT status, count(*) FROM jobs GROUP BY status").fetch_all(&self.pool).await?)
    }

    /// The database's clock.
    pub async fn now(&self) -> Result<DateTime<Utc>> {
        Ok(sqlx::query_scalar("SELECT now()").fetch_one(&self.pool).await?)
    }

    /// Jobs finished after the watermark `(finished_at, id)`, oldest first. Jobs that finished
    /// within the last second are left for the next call, so that a transaction committing late
    /// with an earlier `finished_at` is not skipped.
    pub async fn finished_since(&self, after: (DateTime<Utc>, Uuid), limit: i64) -> Result<Vec<FinishedJob>> {
        Ok(sqlx::query_as(
            "SELECT id, status, created_at, started_at, finished_at, duration_secs, stage_secs FROM jobs
             WHERE finished_at IS NOT NULL AND (finished_at, id) > ($1, $2)
               AND finished_at < now() - interval '1 second'
             ORDER BY finished_at, id LIMIT $3",
        )
        .bind(after.0)
        .bind(after.1)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}
