//! `GET /v1/jobs/{id}/result?format=...`: the transcript, rendered.

use std::str::FromStr;

use actix_web::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use actix_web::{web, HttpResponse};
use jobs::JobStatus;
use serde::Deserialize;
use transcript::{Format, Transcript};
use utoipa::IntoParams;
use uuid::Uuid;

use super::{parse_id, visible_job};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::startup::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ResultQuery {
    /// `json` (default, WhisperX's shape), `srt`, `vtt`, `txt`, `tsv` or `rttm` (speaker turns).
    format: Option<String>,
}

/// The transcript of a succeeded job in the requested format.
#[utoipa::path(get, path = "/v1/jobs/{id}/result", tag = "jobs", operation_id = "getJobResult",
    params(("id" = Uuid, Path, description = "Job id"), ResultQuery),
    responses(
        (status = 200, description = "The transcript", content(
            (serde_json::Value = "application/json"),
            (String = "application/x-subrip"),
            (String = "text/vtt"),
            (String = "text/plain"),
            (String = "text/tab-separated-values"),
        )),
        (status = 400, description = "`invalid_job_id`, `invalid_format`", body = ErrorBody),
        (status = 404, description = "`job_not_found` (also another key's job)", body = ErrorBody),
        (status = 409, description = "`job_not_finished`, `job_failed`, `job_canceled`", body = ErrorBody),
        (status = 410, description = "`result_expired`: deleted by the retention policy", body = ErrorBody),
    ))]
pub async fn get_job_result(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    query: web::Query<ResultQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    if caller.scope().is_some() {
        visible_job(&state, &caller, id).await?;
    }
    let format = match query.format.as_deref() {
        None => Format::Json,
        Some(raw) => Format::from_str(raw).map_err(|_| ApiError::InvalidFormat(raw.chars().take(32).collect()))?,
    };
    // Only a succeeded job has a result row, so the common case is one query.
    let Some(text) = state.store.result(id).await? else {
        return Err(not_available(&state, id).await);
    };
    let transcript: Transcript = serde_json::from_str(&text)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored result of job {id} is not a transcript: {e}")))?;
    let body = transcript::render(&transcript, format);
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, format.content_type()))
        .insert_header((CONTENT_DISPOSITION, format!("inline; filename=\"{id}.{}\"", format.extension())))
        .body(body))
}

/// Why a job has no result.
async fn not_available(state: &AppState, id: Uuid) -> ApiError {
    let job = match state.store.get(id).await {
        Ok(Some(job)) => job,
        Ok(None) => return ApiError::JobNotFound(id),
        Err(e) => return e.into(),
    };
    match job.status() {
        JobStatus::Failed => ApiError::JobFailed {
            id,
            code: job.error_code.unwrap_or_else(|| "unknown".into()),
            message: job.error_message.unwrap_or_default(),
        },
        JobStatus::Canceled => ApiError::JobCanceled(id),
        _ if job.purged_at.is_some() => ApiError::ResultExpired(id),
        // The result is written in the same transaction as the state, so this is a defect.
        JobStatus::Succeeded => ApiError::internal(anyhow::anyhow!("job {id} succeeded but has no result row")),
        status => ApiError::JobNotFinished { id, status: status.as_str() },
    }
}
