//! Submitting jobs: inserts with per-owner idempotency keys and queued-job limits (per owner,
//! and for the whole service).

use sqlx::Row;
use uuid::Uuid;
use vocab::JobOptions;

use super::{JobStore, Result, StoreError, JOB_COLUMNS};
use crate::model::{Job, JobInput};

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
    /// Refuse the job when the whole service already has this many queued (`jobs.max_queued_total`).
    pub max_queued_total: Option<i64>,
    /// Where to POST the job's status when it finishes (already checked).
    pub callback_url: Option<String>,
    /// The batch the job is submitted in (`POST /v1/batches`); it must exist.
    pub batch_id: Option<Uuid>,
}

#[derive(Debug)]
pub enum Inserted {
    Created(Job),
    /// An earlier submission with the same idempotency key.
    Existing(Job),
}

impl JobStore {
    /// Inserts a job nobody in particular owns (see [`JobStore::insert_as`]).
    pub async fn insert(&self, job: NewJob) -> Result<Inserted> {
        self.insert_as(job, &Submitter::default()).await
    }

    /// Inserts a job for `submitter`. An idempotency key already used by the same owner returns
    /// the earlier job (or a conflict when the request differs); keys of different owners never
    /// meet. With `max_queued`, the owner's submissions are serialised by an advisory lock so
    /// that two at once cannot both slip under the limit; with `max_queued_total`, all
    /// submissions are, by a second lock always taken after the owner's (so no two wait on
    /// each other in opposite order).
    pub async fn insert_as(&self, job: NewJob, submitter: &Submitter) -> Result<Inserted> {
        if submitter.max_queued.is_none() && submitter.max_queued_total.is_none() {
            // One statement is atomic by itself: no transaction, no BEGIN and COMMIT round trips.
            let mut conn = self.pool.acquire().await?;
            return insert_one(&mut conn, &job, submitter).await;
        }
        let mut tx = self.pool.begin().await?;
        if submitter.max_queued.is_some() {
            let owner = submitter.owner.unwrap_or_default().to_string();
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))").bind(owner).execute(&mut *tx).await?;
        }
        // A retry of an accepted submission gets its job back, even when the queue is full now.
        if let Some(key) = &job.idempotency_key {
            if let Some(existing) = existing(&mut tx, submitter.owner, key, &job.request_hash).await? {
                return Ok(Inserted::Existing(existing));
            }
        }
        if let Some(limit) = submitter.max_queued {
            let count = match submitter.owner {
                Some(_) => "SELECT count(*) FROM jobs WHERE owner = $1 AND status = 'queued'",
                None => "SELECT count(*) FROM jobs WHERE owner IS NULL AND status = 'queued' AND $1::uuid IS NULL",
            };
            let queued: i64 = sqlx::query_scalar(count).bind(submitter.owner).fetch_one(&mut *tx).await?;
            if queued >= limit {
                return Err(StoreError::TooManyQueued { limit });
            }
        }
        if let Some(limit) = submitter.max_queued_total {
            if lock_queued_total(&mut tx).await? >= limit {
                return Err(StoreError::QueueFull { limit });
            }
        }
        let inserted = insert_one(&mut tx, &job, submitter).await?;
        tx.commit().await?;
        Ok(inserted)
    }
}

/// Takes the service-wide submission lock (until the transaction ends) and counts the queued
/// jobs of the whole service (`jobs_status_id` serves the count).
pub(super) async fn lock_queued_total(tx: &mut sqlx::PgConnection) -> sqlx::Result<i64> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('jobs.max_queued_total', 7))").execute(&mut *tx).await?;
    sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status = 'queued'").fetch_one(&mut *tx).await
}

/// The job row and its first log line in one statement; an earlier job when the idempotency key
/// was used before.
async fn insert_one(conn: &mut sqlx::PgConnection, job: &NewJob, submitter: &Submitter) -> Result<Inserted> {
    let sql = format!(
        "WITH ins AS (
            INSERT INTO jobs (id, status, input, options, idempotency_key, request_hash, max_attempts, owner, callback_url,
                              batch_id)
            VALUES ($1, 'queued', $2, $3, $4, $5, $6, $8, $9, $10)
            ON CONFLICT DO NOTHING
            RETURNING {JOB_COLUMNS}
         ), log AS (
            INSERT INTO job_logs (job_id, level, worker_id, message)
            SELECT id, 'info', 'api', $7 FROM ins
         )
         SELECT {JOB_COLUMNS} FROM ins"
    );
    let created: Option<Job> = sqlx::query_as(&sql)
        .bind(job.id)
        .bind(sqlx::types::Json(&job.input))
        .bind(sqlx::types::Json(&job.options))
        .bind(&job.idempotency_key)
        .bind(&job.request_hash)
        .bind(job.max_attempts)
        .bind(submitted_message(&job.input))
        .bind(submitter.owner)
        .bind(&submitter.callback_url)
        .bind(submitter.batch_id)
        .fetch_optional(&mut *conn)
        .await?;
    match created {
        Some(job) => Ok(Inserted::Created(job)),
        None => {
            // The only unique key a fresh UUIDv7 can meet is (owner, idempotency key).
            let key = job.idempotency_key.as_deref().unwrap_or_default();
            let existing = existing(conn, submitter.owner, key, &job.request_hash).await?;
            Ok(Inserted::Existing(existing.ok_or(sqlx::Error::RowNotFound)?))
        }
    }
}

/// The job `owner` submitted earlier under idempotency key `key`; a conflict when its request
/// fingerprint differs.
pub(super) async fn existing(
    conn: &mut sqlx::PgConnection,
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
    let Some(row) = sqlx::query(&sql).bind(key).bind(owner).fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    let stored_hash: Option<String> = row.try_get("request_hash")?;
    if &stored_hash != request_hash {
        return Err(StoreError::IdempotencyConflict);
    }
    Ok(Some(sqlx::FromRow::from_row(&row)?))
}

/// The first line of a job's log.
pub(super) fn submitted_message(input: &JobInput) -> String {
    let what = match input {
        JobInput::Upload { filename, size_bytes, .. } => {
            format!("upload {} of {size_bytes} bytes", filename.as_deref().unwrap_or("(unnamed)"))
        }
        JobInput::Url { url } => format!("url {url}"),
        JobInput::Path { path } => format!("path {path}"),
    };
    format!("job submitted ({what})")
}
