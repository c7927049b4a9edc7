//! OpenAI-compatible `POST /v1/audio/transcriptions` and `POST /v1/audio/translations`, so the
//! official SDKs work with `base_url` pointed here. Each request is an ordinary job (it shows in
//! `getJobs`, with logs and metrics) that the handler waits for, polling PostgreSQL with backoff
//! up to `openai.wait_secs`. Errors use OpenAI's shape:
//! `{"error": {"message", "type", "param", "code"}}`. With `stream=true` the answer is
//! server-sent events: one `transcript.text.delta` per segment as the worker finishes it (it
//! stores finished segments as partial results, which the handler polls), then
//! `transcript.text.done` with the whole text once the job has succeeded.

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use futures_util::StreamExt;
use jobs::{AudioStorage, JobInput, Task};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::submit::{content_length, enqueue};
use super::upload::{clean_filename, write_file, FileGuard, FORM_OVERHEAD};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::startup::AppState;

mod form;
mod respond;
mod stream;
mod wait;

pub use form::AudioRequestForm;
use form::{parse_fields, TEXT_FIELD_LIMIT};
use respond::respond;
use stream::stream;
use wait::wait;

/// OpenAI's error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAiErrorBody {
    pub error: OpenAiErrorObject,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAiErrorObject {
    pub message: String,
    /// `invalid_request_error`, `authentication_error`, `permission_error`, `rate_limit_error`,
    /// `server_error` or `timeout_error`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The form field at fault, if one is.
    pub param: Option<String>,
    /// This service's stable error code.
    pub code: Option<String>,
}

/// An error on the OpenAI-compatible routes.
#[derive(Debug)]
pub struct OpenAiError {
    status: StatusCode,
    body: OpenAiErrorObject,
}

impl OpenAiError {
    fn new(
        status: StatusCode,
        kind: &'static str,
        param: Option<&str>,
        code: &str,
        message: impl Into<String>,
    ) -> Self {
        let body = OpenAiErrorObject {
            message: message.into(),
            kind,
            param: param.map(String::from),
            code: Some(code.into()),
        };
        Self { status, body }
    }

    fn invalid(param: &str, code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", Some(param), code, message)
    }
}

impl std::fmt::Display for OpenAiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.body.message)
    }
}

impl ResponseError for OpenAiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let body = OpenAiErrorBody {
            error: OpenAiErrorObject {
                message: self.body.message.clone(),
                kind: self.body.kind,
                param: self.body.param.clone(),
                code: self.body.code.clone(),
            },
        };
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            response.insert_header(("Retry-After", crate::error::QUEUE_RETRY_AFTER_SECS.to_string()));
        }
        response.json(body)
    }
}

impl From<ApiError> for OpenAiError {
    fn from(e: ApiError) -> Self {
        // OpenAI answers 400 for every invalid request, including well-formed but refused ones.
        let status = match e.status_code() {
            StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
            other => other,
        };
        let kind = match status {
            StatusCode::UNAUTHORIZED => "authentication_error",
            StatusCode::FORBIDDEN => "permission_error",
            StatusCode::TOO_MANY_REQUESTS => "rate_limit_error",
            s if s.is_server_error() => "server_error",
            _ => "invalid_request_error",
        };
        let param = match &e {
            ApiError::InvalidOption { field, .. } => Some(field.as_str()),
            ApiError::MissingFile | ApiError::EmptyUpload | ApiError::UploadTooLarge(_) => Some("file"),
            _ => None,
        };
        let param = param.map(|p| if p == "initial_prompt" { "prompt" } else { p }).map(String::from);
        if let ApiError::Internal(cause) = &e {
            tracing::error!(error = format!("{cause:#}"), "internal error");
        }
        let message = e.to_string();
        Self { status, body: OpenAiErrorObject { message, kind, param, code: Some(e.code().into()) } }
    }
}

/// The OpenAI-shaped answer for an error the auth middleware raised on these routes.
pub fn error_response(e: ApiError) -> HttpResponse {
    OpenAiError::from(e).error_response()
}

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
    let limit = state.max_upload_bytes();
    let too_large = ApiError::UploadTooLarge(state.max_upload_mb());
    if content_length(&req).is_some_and(|n| n > limit.saturating_add(FORM_OVERHEAD)) {
        return Err(too_large.into());
    }
    let submitter = caller.submitter();
    if let (Some(owner), Some(max)) = (submitter.owner, submitter.max_queued) {
        if state.store.queued_count_of(owner).await.map_err(ApiError::from)? >= max {
            return Err(ApiError::TooManyQueuedJobs { limit: max }.into());
        }
    }
    let id = Uuid::now_v7();
    let key = AudioStorage::key_for(id);
    let (Some(partial), Some(final_path)) = (state.storage.partial_path(&key), state.storage.path(&key)) else {
        return Err(ApiError::internal(anyhow::anyhow!("unusable storage key {key}")).into());
    };
    let mut guard = FileGuard(None);
    let mut file = None;
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut multipart = Multipart::new(req.headers(), payload);
    while let Some(field) = multipart.next().await {
        let mut field =
            field.map_err(|e| OpenAiError::invalid("file", "invalid_body", format!("invalid multipart body: {e}")))?;
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            if file.is_some() {
                return Err(OpenAiError::invalid("file", "invalid_body", "more than one `file` field"));
            }
            let filename = field.content_disposition().and_then(|cd| cd.get_filename()).and_then(clean_filename);
            guard.0 = Some(partial.clone());
            let Some((size, _)) = write_file(&mut field, &partial, limit, false).await? else {
                return Err(too_large.into());
            };
            file = Some((filename, size));
        } else {
            let value = field
                .bytes(TEXT_FIELD_LIMIT)
                .await
                .map_err(|_| OpenAiError::invalid(&name, "invalid_body", format!("field `{name}` is too long")))?
                .map_err(|e| OpenAiError::invalid(&name, "invalid_body", format!("invalid multipart body: {e}")))?;
            let value = String::from_utf8(value.to_vec())
                .map_err(|_| OpenAiError::invalid(&name, "invalid_body", format!("field `{name}` is not UTF-8")))?;
            fields.push((name, value));
        }
    }
    let (filename, size_bytes) = file.ok_or(ApiError::MissingFile)?;
    if size_bytes == 0 {
        return Err(ApiError::EmptyUpload.into());
    }
    let request = parse_fields(&state, fields, task)?;
    tokio::fs::rename(&partial, &final_path).await.map_err(ApiError::internal)?;
    guard.0 = Some(final_path);

    let input = JobInput::Upload { key, filename, size_bytes };
    let (job, _) = enqueue(&state, &submitter, id, input, request.options.clone(), None, None).await?;
    guard.keep();
    if request.stream {
        return stream(state, job.id).await;
    }
    let transcript = wait(&state, job.id).await?;
    Ok(respond(&transcript, task, &request))
}
