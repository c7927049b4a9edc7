//! `GET /v1/jobs/{id}/result?format=...`: the transcript, rendered; srt and vtt cut into cues as
//! openai-whisper's `--max_line_width`, `--max_line_count` and `--highlight_words` do.

use std::str::FromStr;

use actix_web::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use actix_web::{web, HttpResponse};
use jobs::JobStatus;
use serde::Deserialize;
use transcript::{Format, RenderOptions, Transcript};
use utoipa::IntoParams;
use uuid::Uuid;

use crate::access::{parse_id, visible_job};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ResultQuery {
    /// `json` (default, WhisperX's shape), `srt`, `vtt`, `txt`, `tsv`, `rttm` (speaker turns) or
    /// `csv` (`start,end,speaker,text`, seconds, RFC 4180).
    format: Option<String>,
    /// srt and vtt: the most characters on a line, 1 to 1000; lines break between words.
    /// Needs word timestamps; segments without words stay whole.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    max_line_width: Option<String>,
    /// srt and vtt: the most lines in a cue, 1 to 100. Takes effect with `max_line_width`; the two
    /// together cut cues across segments, and a pause of more than 3 s starts a new cue.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    max_line_count: Option<String>,
    /// srt and vtt: one cue per word, the word underlined (`<u>word</u>`) in its cue's text.
    #[param(value_type = Option<bool>)]
    highlight_words: Option<String>,
}

const MAX_LINE_WIDTH: usize = 1000;
const MAX_LINE_COUNT: usize = 100;

impl ResultQuery {
    /// The subtitle options. Parsed here rather than by serde, like `format`, so that a bad value
    /// is named in the error; refused whatever the format, so that a mistake shows at once.
    fn render_options(&self) -> Result<RenderOptions, ApiError> {
        Ok(RenderOptions {
            max_line_width: bounded("max_line_width", self.max_line_width.as_deref(), MAX_LINE_WIDTH)?,
            max_line_count: bounded("max_line_count", self.max_line_count.as_deref(), MAX_LINE_COUNT)?,
            highlight_words: match self.highlight_words.as_deref() {
                None => false,
                Some(raw) => raw.parse().map_err(|_| {
                    ApiError::InvalidQuery(format!("highlight_words must be true or false, not {:?}", clip(raw)))
                })?,
            },
        })
    }
}

fn bounded(name: &str, raw: Option<&str>, max: usize) -> Result<Option<usize>, ApiError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    match raw.parse() {
        Ok(value) if (1..=max).contains(&value) => Ok(Some(value)),
        _ => Err(ApiError::InvalidQuery(format!("{name} must be a whole number from 1 to {max}, not {:?}", clip(raw)))),
    }
}

/// Enough of a client's value to recognise it in an error message.
fn clip(raw: &str) -> String {
    raw.chars().take(32).collect()
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
            (String = "text/csv"),
        )),
        (status = 400, description = "`invalid_job_id`, `invalid_format`, `invalid_query`", body = ErrorBody),
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
        Some(raw) => Format::from_str(raw).map_err(|_| ApiError::InvalidFormat(clip(raw)))?,
    };
    let options = query.render_options()?;
    // Only a succeeded job has a result row, so the common case is one query.
    let Some(text) = state.store.result(id).await? else {
        return Err(not_available(&state, id).await);
    };
    let transcript: Transcript = serde_json::from_str(&text)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored result of job {id} is not a transcript: {e}")))?;
    let body = transcript::render_with(&transcript, format, &options);
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
