//! The API's side of a job: reading it and its result, listing (keyset pages), canceling, deleting.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder, Row};
use uuid::Uuid;

use super::{JobStore, Result, JOB_COLUMNS};
use crate::model::{Job, JobStatus, LogLevel};

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

impl JobStore {
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
}
