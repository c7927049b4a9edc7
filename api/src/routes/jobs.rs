//! A job as a resource: read it, list them, cancel it, delete it.

use actix_web::{web, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use jobs::{CancelOutcome, JobInput, JobStatus, ListFilter};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::access::{parse_id, visible_job, visible_job_cached};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::views::{JobList, JobView};

pub const MAX_PAGE: i64 = 100;
const DEFAULT_PAGE: i64 = 20;

/// A job's status, progress, input, options, times and error; for a queued job, also its place
/// in the queue and when it should start.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs", operation_id = "getJobStatus",
    params(("id" = Uuid, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 400, description = "`invalid_job_id`", body = ErrorBody),
        (status = 404, description = "`job_not_found` (also another key's job)", body = ErrorBody),
    ))]
pub async fn get_job_status(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let job = visible_job_cached(&state, &caller, id).await?;
    let view = JobView::from(&*job);
    if job.status() != JobStatus::Queued {
        return Ok(HttpResponse::Ok().json(view));
    }
    // The place moves as other jobs start, without this row changing: read now, never cached.
    match state.store.queue_place(id, state.settings.queue.worker_timeout()).await? {
        Some(place) => Ok(HttpResponse::Ok().json(view.in_queue(&place))),
        // Started since this copy of the row was cached: the next read shows it running.
        None => Ok(HttpResponse::Ok().json(view)),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only jobs in these states, comma-separated (e.g. `queued,running`).
    status: Option<String>,
    /// Only jobs created at or after this time (RFC 3339; write `Z` or percent-encode `+`).
    created_after: Option<DateTime<Utc>>,
    /// Only jobs created before this time (RFC 3339; write `Z` or percent-encode `+`).
    created_before: Option<DateTime<Utc>>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Jobs, newest first; filters combine with AND. Keyset pagination with an opaque cursor.
/// A key sees only its own jobs; an admin key sees every job.
#[utoipa::path(get, path = "/v1/jobs", tag = "jobs", operation_id = "getJobs",
    params(ListQuery),
    responses(
        (status = 200, description = "One page of jobs", body = JobList),
        (status = 400, description = "`invalid_query`, `invalid_cursor`", body = ErrorBody),
    ))]
pub async fn get_jobs(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::InvalidQuery(format!("limit must be between 1 and {MAX_PAGE}")));
    }
    let statuses = match &query.status {
        None => vec![],
        Some(list) => list
            .split(',')
            .map(|s| s.trim().parse::<JobStatus>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ApiError::InvalidQuery(format!("status: {e}")))?,
    };
    let before_id = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let filter = ListFilter {
        statuses,
        created_after: query.created_after,
        created_before: query.created_before,
        before_id,
        owner: caller.scope(),
        limit: limit + 1,
    };
    let mut rows = state.store.list(&filter).await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|job| encode_cursor(job.id))
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(JobList { jobs: rows.iter().map(JobView::from).collect(), next_cursor }))
}

pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(raw: &str) -> Result<Uuid, ApiError> {
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| ApiError::InvalidCursor)?;
    Uuid::from_slice(&bytes).map_err(|_| ApiError::InvalidCursor)
}

/// Cancels a job: a queued job ends at once (200); a running job is asked to stop (202) and
/// ends `canceled` at the worker's next checkpoint.
#[utoipa::path(post, path = "/v1/jobs/{id}/cancel", tag = "jobs", operation_id = "cancelJob",
    params(("id" = Uuid, Path, description = "Job id")),
    responses(
        (status = 200, description = "Was queued, now canceled", body = JobView),
        (status = 202, description = "Running; cancellation requested", body = JobView),
        (status = 400, description = "`invalid_job_id`", body = ErrorBody),
        (status = 404, description = "`job_not_found` (also another key's job)", body = ErrorBody),
        (status = 409, description = "`job_already_finished`", body = ErrorBody),
    ))]
pub async fn cancel_job(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    if caller.scope().is_some() {
        visible_job(&state, &caller, id).await?;
    }
    let outcome = state.store.cancel(id).await;
    // Whatever happened, the next status read of this client must see it.
    state.jobs.invalidate(id);
    match outcome? {
        CancelOutcome::Canceled(job) => Ok(HttpResponse::Ok().json(JobView::from(&job))),
        CancelOutcome::Requested(job) => {
            announce_cancel(&state, id).await;
            Ok(HttpResponse::Accepted().json(JobView::from(&job)))
        }
        CancelOutcome::AlreadyFinished(job) => Err(ApiError::JobAlreadyFinished { id, status: job.status().as_str() }),
        CancelOutcome::NotFound => Err(ApiError::JobNotFound(id)),
    }
}

/// Wakes the worker running `id`. If Redis is down the worker still sees `cancel_requested`
/// when it renews its lease, so this is best effort.
async fn announce_cancel(state: &AppState, id: Uuid) {
    if let Err(e) = state.queue.publish_cancel(id).await {
        tracing::warn!(job_id = %id, error = %e, "could not publish the cancellation; the worker sees it at its next heartbeat");
    }
}

/// Deletes a job, its logs, its result and its uploaded audio. A running job is canceled first.
#[utoipa::path(delete, path = "/v1/jobs/{id}", tag = "jobs", operation_id = "deleteJob",
    params(("id" = Uuid, Path, description = "Job id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "`invalid_job_id`", body = ErrorBody),
        (status = 404, description = "`job_not_found` (also another key's job)", body = ErrorBody),
    ))]
pub async fn delete_job(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let job = visible_job(&state, &caller, id).await?;
    let mut announced = false;
    if job.status() == JobStatus::Running {
        if let CancelOutcome::Requested(_) = state.store.cancel(id).await? {
            announce_cancel(&state, id).await;
            announced = true;
        }
    }
    let deleted = state.store.delete(id).await;
    state.jobs.invalidate(id);
    let deleted = deleted?.ok_or(ApiError::JobNotFound(id))?;
    if deleted.status() == JobStatus::Running && !announced {
        // Claimed between the read and the delete: stop that worker too.
        announce_cancel(&state, id).await;
    }
    if let JobInput::Upload { key, .. } = &deleted.input {
        if let Err(e) = state.storage.delete(key).await {
            tracing::warn!(job_id = %id, key, error = %e, "could not delete the uploaded audio");
        }
    }
    Ok(HttpResponse::NoContent().finish())
}
