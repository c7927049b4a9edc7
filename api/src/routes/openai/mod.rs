//! OpenAI-compatible `POST /v1/audio/transcriptions` and `POST /v1/audio/translations`, so the
//! official SDKs work with `base_url` pointed here. Each request is an ordinary job (it shows in
//! `getJobs`, with logs and metrics) that the handler waits for, polling PostgreSQL with backoff
//! up to `openai.wait_secs`. Errors use OpenAI's shape:
//! `{"error": {"message", "type", "param", "code"}}`. With `stream=true` the answer is
//! server-sent events: one `transcript.text.delta` per segment as the worker finishes it (it
//! stores finished segments as partial results, which the handler polls), then
//! `transcript.text.done` with the whole text once the job has succeeded. A client that goes
//! away before its answer is complete cancels the job (`guard.rs`).

use actix_web::{web, HttpRequest, HttpResponse};
use vocab::Task;

use crate::auth::Caller;
use crate::error::{OpenAiError, OpenAiErrorBody};
use crate::intake::{enqueue, FormError, Upload};
use crate::state::AppState;

mod form;
mod guard;
mod respond;
mod stream;
mod wait;

use form::parse_fields;
pub use form::AudioRequestForm;
use guard::CancelOnDrop;
use respond::respond;
use stream::stream;
use wait::wait;

/// Transcribes audio in its own language, OpenAI-style.
#[utoipa::path(post, path = "/v1/audio/transcriptions", tag = "openai", operation_id = "createTranscription",
    request_body(content = AudioRequestForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The transcript in the requested format (`text/event-stream` with `stream=true`)", content(
            (serde_json::Value = "application/json"), (String = "text/plain"), (String = "text/event-stream"))),
        (status = 400, description = "A bad field (`param` names it), or undecodable audio", body = OpenAiErrorBody),
        (status = 401, description = "`missing_api_key`, `invalid_api_key`", body = OpenAiErrorBody),
        (status = 429, description = "`too_many_queued_jobs`", body = OpenAiErrorBody),
        (status = 500, description = "The job failed", body = OpenAiErrorBody),
        (status = 503, description = "`queue_full`: the service's limit of queued jobs is reached (with `Retry-After`)", body = OpenAiErrorBody),
        (status = 504, description = "`timeout`: the job did not finish within `openai.wait_secs`", body = OpenAiErrorBody),
    ))]
pub async fn create_transcription(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, OpenAiError> {
    handle(req, payload, state, caller, Task::Transcribe).await
}

/// Transcribes audio into English, OpenAI-style.
#[utoipa::path(post, path = "/v1/audio/translations", tag = "openai", operation_id = "createTranslation",
    request_body(content = AudioRequestForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The English transcript in the requested format", content(
            (serde_json::Value = "application/json"), (String = "text/plain"), (String = "text/event-stream"))),
        (status = 400, description = "A bad field (`param` names it), or undecodable audio", body = OpenAiErrorBody),
        (status = 401, description = "`missing_api_key`, `invalid_api_key`", body = OpenAiErrorBody),
        (status = 500, description = "The job failed", body = OpenAiErrorBody),
        (status = 503, description = "`queue_full` (with `Retry-After`)", body = OpenAiErrorBody),
        (status = 504, description = "`timeout`", body = OpenAiErrorBody),
    ))]
pub async fn create_translation(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, OpenAiError> {
    handle(req, payload, state, caller, Task::Translate).await
}

async fn handle(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    caller: Caller,
    task: Task,
) -> Result<HttpResponse, OpenAiError> {
    let submitter = caller.submitter();
    let mut upload = Upload::begin(&req, &state, &submitter, false).await?;
    let mut fields: Vec<(String, String)> = Vec::new();
    let file = upload
        .read_form(&req, payload, false, |name, value| {
            fields.push((name, value));
            Ok::<(), OpenAiError>(())
        })
        .await?;
    let request = parse_fields(&state, fields, task)?;
    let input = upload.store(&file).await?;
    let (job, _) = enqueue(&state, &submitter, upload.id(), input, request.options.clone(), None, None).await?;
    upload.keep();
    // Armed until the answer is complete: if the client goes away first, the job is canceled.
    let guard = CancelOnDrop::new(state.clone(), job.id);
    if request.stream {
        return match stream(state, job.id).await {
            Ok(response) => Ok(guard.attach(response)),
            Err(e) => {
                guard.disarm();
                Err(e)
            }
        };
    }
    let waited = wait(&state, job.id).await;
    // Answered, even with a timeout: the job goes on for the client to follow.
    guard.disarm();
    Ok(respond(&waited?, task, &request))
}

/// A form that cannot be read, in the words of OpenAI's API: `param` names the field at fault.
impl From<FormError> for OpenAiError {
    fn from(e: FormError) -> Self {
        let invalid = |param: &str, message: String| OpenAiError::invalid(param, "invalid_body", message);
        match e {
            FormError::Malformed(error) => invalid("file", format!("invalid multipart body: {error}")),
            FormError::SecondFile => invalid("file", "more than one `file` field".into()),
            FormError::TextTooLong { name } => invalid(&name, format!("field `{name}` is too long")),
            FormError::TextUnreadable { name, error } => invalid(&name, format!("invalid multipart body: {error}")),
            FormError::TextNotUtf8 { name } => invalid(&name, format!("field `{name}` is not UTF-8")),
        }
    }
}
