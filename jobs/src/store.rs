//! PostgreSQL, the source of truth for jobs. Every write a worker makes is fenced by
//! `(id, worker_id, attempt, status = 'running')`, so a worker that lost its lease changes nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, QueryBuilder, Row};
use uuid::Uuid;

use crate::model::{Fence, Job, JobInput, JobOptions, JobStatus, LogLevel, LogLine, Outcome, WorkerInfo};

const JOB_COLUMNS: &str = "id, status, stage, progress, input, options, duration_secs, attempt, max_attempts, \
     worker_id, lease_until, cancel_requested, error_code, error_message, created_at, started_at, finished_at, owner, callback_url, purged_at";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the Idempotency-Key was already used for a different request")]
    IdempotencyConflict,
    #[error("{limit} jobs are already queued for this API key")]
    TooManyQueued { limit: i64 },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A job about to be inserted.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: Uuid,
    pub input: JobInput,
    pub options: JobOptions,
    pub idempotency_key: Option<String>,
    /// Fingerprint of the request, to tell a retry from a different request under the same key.
    pub request_hash: Option<String>,
    pub max_attempts: i32,
}

/// Who submits a job and what limits apply to them. The default: nobody in particular (the
/// service runs open), no limit.
#[derive(Debug, Clone, Default)]
pub struct Submitter {
    /// The API key that owns the job; it alone (and admins) may see it.
    pub owner: Option<Uuid>,
    /// Refuse the job when the owner already has this many queued.
    pub max_queued: Option<i64>,
    /// Where to POST the job's status when it finishes (already checked).
    pub callback_url: Option<String>,
}

#[derive(Debug)]
pub enum Inserted {
    Created(Job),
    /// An earlier submission with the same idempotency key.
    Existing(Job),
}

#[derive(Debug)]
pub enum CancelOutcome {
    /// It was queued and is now canceled.
    Canceled(Job),
    /// It is running; the worker will stop at its next checkpoint.
    Requested(Job),
    AlreadyFinished(Job),
    NotFound,
}

/// Filters for listing jobs; they combine with AND.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub statuses: Vec<JobStatus>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    /// Only jobs older than this id (the last id of the previous page).
    pub before_id: Option<Uuid>,
    /// Only jobs owned by this API key.
    pub owner: Option<Uuid>,
    pub limit: i64,
}

/// What the reaper did to one job whose lease expired.
#[derive(Debug, Clone)]
pub struct Reaped {
    pub id: Uuid,
    pub status: JobStatus,
}

#[derive(Debug, Clone, Default)]
pub struct QueueCounts {
    pub queued: i64,
    pub running: i64,
}

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
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
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

    /// Inserts a job nobody in particular owns (see [`JobStore::insert_as`]).
    pub async fn insert(&self, job: NewJob) -> Result<Inserted> {
        self.insert_as(job, &Submitter::default()).await
    }

    /// Inserts a job for `submitter`. An idempotency key already used by the same owner returns
    /// the earlier job (or a conflict when the request differs); keys of different owners never
    /// meet. With `max_queued`, the owner's submissions are serialised by an advisory lock so
    /// that two at once cannot both slip under the limit.
    pub async fn insert_as(&self, job: NewJob, submitter: &Submitter) -> Result<Inserted> {
        let mut tx = self.pool.begin().await?;
        if let Some(limit) = submitter.max_queued {
            let owner = submitter.owner.unwrap_or_default().to_string();
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))").bind(owner).execute(&mut *tx).await?;
            if let Some(key) = &job.idempotency_key {
                if let Some(existing) = existing(&mut tx, submitter.owner, key, &job.request_hash).await? {
                    return Ok(Inserted::Existing(existing));
                }
            }
            let count = match submitter.owner {
                Some(_) => "SELECT count(*) FROM jobs WHERE owner = $1 AND status = 'queued'",
                None => "SELECT count(*) FROM jobs WHERE owner IS NULL AND status = 'queued' AND $1::uuid IS NULL",
            };
            let queued: i64 = sqlx::query_scalar(count).bind(submitter.owner).fetch_one(&mut *tx).await?;
            if queued >= limit {
                return Err(StoreError::TooManyQueued { limit });
            }
        }
        let sql = format!(
            "WITH ins AS (
                INSERT INTO jobs (id, status, input, options, idempotency_key, request_hash, max_attempts, owner, callback_url)
                VALUES ($1, 'queued', $2, $3, $4, $5, $6, $8, $9)
                ON CONFLICT DO NOTHING
                RETURNING {JOB_COLUMNS}
             ), log AS (
                INSERT INTO job_logs (job_id, level, worker_id, message)
                SELECT id, 'info', 'api', $7 FROM ins
             )
             SELECT {JOB_COLUMNS} FROM ins"
        );
        let message = format!("job submitted ({})", describe_input(&job.input));
        let created: Option<Job> = sqlx::query_as(&sql)
            .bind(job.id)
            .bind(sqlx::types::Json(&job.input))
            .bind(sqlx::types::Json(&job.options))
            .bind(&job.idempotency_key)
            .bind(&job.request_hash)
            .bind(job.max_attempts)
            .bind(message)
            .bind(submitter.owner)
            .bind(&submitter.callback_url)
            .fetch_optional(&mut *tx)
            .await?;
        let inserted = match created {
            Some(job) => Inserted::Created(job),
            None => {
                // The only unique key a fresh UUIDv7 can meet is (owner, idempotency key).
                let key = job.idempotency_key.as_deref().unwrap_or_default();
                let existing = existing(&mut tx, submitter.owner, key, &job.request_hash).await?;
                Inserted::Existing(existing.ok_or(sqlx::Error::RowNotFound)?)
            }
        };
        tx.commit().await?;
        Ok(inserted)
    }

    pub async fn get(&self, id: Uuid) -> Result<Option<Job>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await?)
    }

    /// The stored transcript JSON of a succeeded job.
    pub async fn result(&self, id: Uuid) -> Result<Option<String>> {
        let row = sqlx::query("SELECT result::text AS result FROM job_results WHERE job_id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get("result")))
    }

    /// Newest first; fetches `limit` rows.
    pub async fn list(&self, filter: &ListFilter) -> Result<Vec<Job>> {
        let mut q = QueryBuilder::<Postgres>::new(format!("SELECT {JOB_COLUMNS} FROM jobs WHERE true"));
        if !filter.statuses.is_empty() {
            let statuses: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
            q.push(" AND status = ANY(").push_bind(statuses).push(")");
        }
        if let Some(after) = filter.created_after {
            q.push(" AND created_at >= ").push_bind(after);
        }
        if let Some(before) = filter.created_before {
            q.push(" AND created_at < ").push_bind(before);
        }
        if let Some(id) = filter.before_id {
            q.push(" AND id < ").push_bind(id);
        }
        if let Some(owner) = filter.owner {
            q.push(" AND owner = ").push_bind(owner);
        }
        q.push(" ORDER BY id DESC LIMIT ").push_bind(filter.limit);
        Ok(q.build_query_as().fetch_all(&self.pool).await?)
    }

    pub async fn cancel(&self, id: Uuid) -> Result<CancelOutcome> {
        // A job can move between the two updates (a reaper re-queues it); try again then.
        for _ in 0..3 {
            let sql = format!(
                "UPDATE jobs SET status = 'canceled', cancel_requested = true, finished_at = now(), lease_until = NULL
                 WHERE id = $1 AND status = 'queued' RETURNING {JOB_COLUMNS}"
            );
            if let Some(job) = sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await? {
                self.log(id, LogLevel::Info, None, Some("api"), "canceled while queued").await?;
                return Ok(CancelOutcome::Canceled(job));
            }
            let sql = format!(
                "UPDATE jobs SET cancel_requested = true WHERE id = $1 AND status = 'running' RETURNING {JOB_COLUMNS}"
            );
            if let Some(job) = sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await? {
                self.log(id, LogLevel::Info, None, Some("api"), "cancellation requested").await?;
                return Ok(CancelOutcome::Requested(job));
            }
            match self.get(id).await? {
                None => return Ok(CancelOutcome::NotFound),
                Some(job) if job.status().is_finished() => return Ok(CancelOutcome::AlreadyFinished(job)),
                Some(_) => continue,
            }
        }
        Ok(self.get(id).await?.map_or(CancelOutcome::NotFound, CancelOutcome::Requested))
    }

    /// Removes the job, its logs and its result; returns it so the caller can drop stored audio.
    pub async fn delete(&self, id: Uuid) -> Result<Option<Job>> {
        let sql = format!("DELETE FROM jobs WHERE id = $1 RETURNING {JOB_COLUMNS}");
        Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await?)
    }

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

/// The job `owner` submitted earlier under idempotency key `key`; a conflict when its request
/// fingerprint differs.
async fn existing(
    tx: &mut sqlx::PgConnection,
    owner: Option<Uuid>,
    key: &str,
    request_hash: &Option<String>,
) -> Result<Option<Job>> {
    // Written to match the unique index `jobs_owner_idempotency_key`.
    let sql = format!(
        "SELECT {JOB_COLUMNS}, request_hash FROM jobs
         WHERE COALESCE(owner, '00000000-0000-0000-0000-000000000000'::uuid)
               = COALESCE($2, '00000000-0000-0000-0000-000000000000'::uuid)
           AND idempotency_key = $1"
    );
    let Some(row) = sqlx::query(&sql).bind(key).bind(owner).fetch_optional(&mut *tx).await? else {
        return Ok(None);
    };
    let stored_hash: Option<String> = row.try_get("request_hash")?;
    if &stored_hash != request_hash {
        return Err(StoreError::IdempotencyConflict);
    }
    Ok(Some(sqlx::FromRow::from_row(&row)?))
}

fn describe_input(input: &JobInput) -> String {
    match input {
        JobInput::Upload { filename, size_bytes, .. } => {
            format!("upload {} of {size_bytes} bytes", filename.as_deref().unwrap_or("(unnamed)"))
        }
        JobInput::Url { url } => format!("url {url}"),
        JobInput::Path { path } => format!("path {path}"),
    }
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

impl JobStore {
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

/// Where a reader of a job's partial segments stands (see [`JobStore::job_with_partials`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartialsCursor {
    /// The run it has read from: the attempt and the worker that ran it. Both, because a job a
    /// worker handed back at shutdown runs again under the same attempt number.
    pub attempt: i32,
    pub worker_id: Option<String>,
    /// The index of the next segment to read.
    pub next: i32,
}

impl PartialsCursor {
    /// Whether `job`'s current run is the one this cursor has read from.
    pub fn same_run(&self, job: &Job) -> bool {
        self.attempt == job.attempt && self.worker_id == job.worker_id
    }
}

/// A job with the segments its running attempt has finished so far (see
/// [`JobStore::job_with_partials`]).
#[derive(Debug, Clone)]
pub struct JobPartials {
    pub job: Job,
    /// Segments of attempt `job.attempt`, in order, as the worker stored them (the result's
    /// segment JSON, without speakers).
    pub segments: Vec<serde_json::Value>,
    /// The index of `segments[0]` in the attempt's transcript.
    pub first: i32,
}

/// Partial results: the segments a running attempt has finished, for streaming answers.
impl JobStore {
    /// Appends segments `first..` of the fence's attempt; false when the lease is lost (nothing
    /// is written then). Idempotent: a segment already stored under its index is left as it is,
    /// so a batch whose write failed half-way can be sent again.
    pub async fn append_partials(&self, fence: &Fence, first: i32, segments: &[serde_json::Value]) -> Result<bool> {
        // `FOR SHARE` makes the fence hold until commit: a reaper or a final write that changes
        // the row waits for this insert and then clears it (trigger `jobs_clear_partials`), and an
        // insert that waited for them sees the row changed and writes nothing.
        let fenced: i64 = sqlx::query_scalar(
            "WITH fence AS (
                SELECT id FROM jobs WHERE id = $1 AND worker_id = $2 AND attempt = $3 AND status = 'running'
                FOR SHARE
             ), ins AS (
                INSERT INTO job_partials (job_id, attempt, idx, segment)
                SELECT fence.id, $3, $4 + (s.n - 1)::integer, s.segment
                FROM fence, jsonb_array_elements($5) WITH ORDINALITY AS s (segment, n)
                ON CONFLICT DO NOTHING
             )
             SELECT count(*) FROM fence",
        )
        .bind(fence.job_id)
        .bind(&fence.worker_id)
        .bind(fence.attempt)
        .bind(first)
        .bind(sqlx::types::Json(segments))
        .fetch_one(&self.pool)
        .await?;
        Ok(fenced == 1)
    }

    /// The job and, in the same read, the partial segments of its current attempt: from
    /// `cursor.next` on when the cursor is at that run (the caller has read the ones before),
    /// else all of them (a run started since the caller last looked). Partials exist only while
    /// the job runs. The worker appends them in order, so they have no gaps.
    pub async fn job_with_partials(&self, id: Uuid, cursor: &PartialsCursor) -> Result<Option<JobPartials>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS}, f.first_idx, p.segments FROM jobs,
                LATERAL (SELECT CASE WHEN jobs.attempt = $2 AND jobs.worker_id IS NOT DISTINCT FROM $4
                                     THEN $3 ELSE 0 END AS first_idx) f,
                LATERAL (SELECT COALESCE(jsonb_agg(segment ORDER BY idx), '[]'::jsonb) AS segments
                         FROM job_partials WHERE job_id = jobs.id AND job_partials.attempt = jobs.attempt
                           AND idx >= f.first_idx) p
             WHERE id = $1"
        );
        let query = sqlx::query(&sql).bind(id).bind(cursor.attempt).bind(cursor.next).bind(&cursor.worker_id);
        let Some(row) = query.fetch_optional(&self.pool).await? else {
            return Ok(None);
        };
        let segments: sqlx::types::Json<Vec<serde_json::Value>> = row.try_get("segments")?;
        Ok(Some(JobPartials {
            job: sqlx::FromRow::from_row(&row)?,
            segments: segments.0,
            first: row.try_get("first_idx")?,
        }))
    }
}
