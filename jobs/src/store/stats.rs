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

/// How many recent succeeded jobs the speed estimate reads.
pub const RECENT_JOBS: i64 = 50;
/// The real-time factor (processing seconds per second of audio) assumed before any job has
/// succeeded.
pub const DEFAULT_REAL_TIME_FACTOR: f64 = 0.5;
/// The audio length assumed for a job whose length is not known yet, before any job has
/// succeeded.
pub const DEFAULT_AUDIO_SECS: f64 = 60.0;

/// Where a queued job stands, and what the recent past says about its wait.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuePlace {
    /// 1: the next job a worker takes.
    pub position: i64,
    /// Seconds until a worker should take it; `None` while no worker is live to take it.
    pub wait_secs: Option<f64>,
}

impl JobStore {
    /// The place of queued job `id` in the queue (jobs queued before it, in the order workers
    /// take them: by id, which is submission time), and its expected wait: the work ahead (the
    /// jobs before it, and what is left of the running ones) shared among the live workers that
    /// are not draining. Work is estimated from the last [`RECENT_JOBS`] succeeded jobs:
    /// processing time over audio length (the real-time factor) times the job's audio length,
    /// or their mean length while it is unknown; [`DEFAULT_REAL_TIME_FACTOR`] and
    /// [`DEFAULT_AUDIO_SECS`] before any job has succeeded. One statement; every part is read
    /// through an index (`jobs_status_id`, `jobs_finished_at`). `None` when the job is not
    /// queued (any more: the caller's copy of it may be older).
    pub async fn queue_place(&self, id: Uuid, worker_timeout: std::time::Duration) -> Result<Option<QueuePlace>> {
        let row = sqlx::query(
            "WITH recent AS (
                SELECT extract(epoch FROM finished_at - started_at)::float8 AS busy, duration_secs FROM jobs
                WHERE finished_at IS NOT NULL AND status = 'succeeded' AND started_at IS NOT NULL
                  AND duration_secs > 0
                ORDER BY finished_at DESC LIMIT $3
             ), speed AS (
                SELECT COALESCE(sum(busy) / sum(duration_secs), $4) AS rtf,
                       COALESCE(avg(duration_secs), $5) AS audio
                FROM recent
             )
             SELECT
                EXISTS (SELECT 1 FROM jobs WHERE id = $1 AND status = 'queued') AS queued,
                (SELECT count(*) FROM jobs WHERE status = 'queued' AND id < $1) + 1 AS position,
                (SELECT count(*) FROM workers
                 WHERE heartbeat_at > now() - make_interval(secs => $2) AND drain IS NULL) AS workers,
                speed.rtf * speed.audio AS per_job,
                (SELECT COALESCE(sum(greatest(0, speed.rtf * COALESCE(duration_secs, speed.audio)
                                                 - extract(epoch FROM now() - started_at)::float8)), 0)
                 FROM jobs WHERE status = 'running')::float8 AS running_left
             FROM speed",
        )
        .bind(id)
        .bind(worker_timeout.as_secs_f64())
        .bind(RECENT_JOBS)
        .bind(DEFAULT_REAL_TIME_FACTOR)
        .bind(DEFAULT_AUDIO_SECS)
        .fetch_one(&self.pool)
        .await?;
        if !row.try_get::<bool, _>("queued")? {
            return Ok(None);
        }
        let position: i64 = row.try_get("position")?;
        let workers: i64 = row.try_get("workers")?;
        let per_job: f64 = row.try_get("per_job")?;
        let running_left: f64 = row.try_get("running_left")?;
        let wait_secs = (workers > 0).then(|| ((position - 1) as f64 * per_job + running_left) / workers as f64);
        Ok(Some(QueuePlace { position, wait_secs }))
    }
}
