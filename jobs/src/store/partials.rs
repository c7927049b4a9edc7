//! Partial results: the segments a running attempt has finished, for streaming answers.

use sqlx::Row;
use uuid::Uuid;

use super::{JobStore, Result, JOB_COLUMNS};
use crate::model::{Fence, Job};

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
