//! `GET /v1/jobs/{id}/logs`: a job's log lines, read incrementally with `since`.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::access::{parse_id, visible_job};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::views::LogPage;

const MAX_LINES: i64 = 1000;
const DEFAULT_LINES: i64 = 200;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// Only lines with an id greater than this (the previous `next_since`); default 0.
    #[param(minimum = 0)]
    since: Option<i64>,
    /// At most this many lines, 1 to 1000 (default 200).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// Log lines of a job, oldest first.
#[utoipa::path(get, path = "/v1/jobs/{id}/logs", tag = "jobs", operation_id = "getLogs",
    params(("id" = Uuid, Path, description = "Job id"), LogsQuery),
    responses(
        (status = 200, description = "Log lines", body = LogPage),
        (status = 400, description = "`invalid_job_id`, `invalid_query`", body = ErrorBody),
        (status = 404, description = "`job_not_found` (also another key's job)", body = ErrorBody),
    ))]
pub async fn get_logs(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    query: web::Query<LogsQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    if caller.scope().is_some() {
        visible_job(&state, &caller, id).await?;
    }
    let since = query.since.unwrap_or(0);
    let limit = query.limit.unwrap_or(DEFAULT_LINES);
    if since < 0 {
        return Err(ApiError::InvalidQuery("since must not be negative".into()));
    }
    if !(1..=MAX_LINES).contains(&limit) {
        return Err(ApiError::InvalidQuery(format!("limit must be between 1 and {MAX_LINES}")));
    }
    let lines = state.store.logs(id, since, limit).await?;
    // Lines prove the job exists; with none, ask.
    if lines.is_empty() && state.store.get(id).await?.is_none() {
        return Err(ApiError::JobNotFound(id));
    }
    let next_since = lines.last().map_or(since, |line| line.id);
    Ok(HttpResponse::Ok().json(LogPage { lines, next_since }))
}
