//! Waiting for a job: polling PostgreSQL with backoff until it finishes or the wait times out.

use std::time::Duration;

use actix_web::http::StatusCode;
use jobs::{Job, JobStatus};
use transcript::Transcript;
use uuid::Uuid;

use crate::error::{ApiError, OpenAiError};
use crate::follow::{FIRST_POLL_DELAY, MAX_POLL_DELAY};
use crate::state::AppState;

/// Waits for the job, polling with backoff (50 ms doubling to 1 s) up to `openai.wait_secs`.
pub(super) async fn wait(state: &AppState, id: Uuid) -> Result<Transcript, OpenAiError> {
    let deadline = tokio::time::Instant::now() + state.settings.openai.wait();
    let mut delay = FIRST_POLL_DELAY;
    loop {
        let job = state.store.get(id).await.map_err(ApiError::from)?.ok_or(ApiError::JobNotFound(id))?;
        if let Some(transcript) = finished(state, &job).await? {
            return Ok(transcript);
        }
        pause(id, deadline, &mut delay).await?;
    }
}

/// The transcript of a job that succeeded; `None` while it is queued or running; the error to
/// answer with when it failed or was canceled.
pub(super) async fn finished(state: &AppState, job: &Job) -> Result<Option<Transcript>, OpenAiError> {
    let id = job.id;
    match job.status() {
        JobStatus::Succeeded => {
            let text = state.store.result(id).await.map_err(ApiError::from)?.unwrap_or_default();
            serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| ApiError::internal(anyhow::anyhow!("stored result of job {id}: {e}")).into())
        }
        JobStatus::Failed => {
            let code = job.error_code.clone().unwrap_or_else(|| "job_failed".into());
            let message = format!("job {id} failed: {}", job.error_message.as_deref().unwrap_or_default());
            let client_fault = matches!(code.as_str(), "unsupported_media" | "no_audio_stream" | "empty_audio");
            Err(if client_fault {
                OpenAiError::invalid("file", &code, message)
            } else {
                OpenAiError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", None, &code, message)
            })
        }
        JobStatus::Canceled => Err(OpenAiError::new(
            StatusCode::CONFLICT,
            "invalid_request_error",
            None,
            "job_canceled",
            format!("job {id} was canceled"),
        )),
        JobStatus::Queued | JobStatus::Running => Ok(None),
    }
}

/// Sleeps before the next poll and doubles `delay`; a timeout error once `deadline` has passed.
pub(super) async fn pause(id: Uuid, deadline: tokio::time::Instant, delay: &mut Duration) -> Result<(), OpenAiError> {
    let now = tokio::time::Instant::now();
    if now >= deadline {
        return Err(OpenAiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout_error",
            None,
            "timeout",
            format!("job {id} did not finish in time; it goes on: follow it at /v1/jobs/{id}"),
        ));
    }
    tokio::time::sleep((*delay).min(deadline - now)).await;
    *delay = (*delay * 2).min(MAX_POLL_DELAY);
    Ok(())
}
