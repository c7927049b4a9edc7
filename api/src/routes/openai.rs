//! OpenAI-compatible `POST /v1/audio/transcriptions` and `POST /v1/audio/translations`, so the
//! official SDKs work with `base_url` pointed here. Each request is an ordinary job (it shows in
//! `getJobs`, with logs and metrics) that the handler waits for, polling PostgreSQL with backoff
//! up to `openai.wait_secs`. Errors use OpenAI's shape:
//! `{"error": {"message", "type", "param", "code"}}`. With `stream=true` the answer is
//! server-sent events: one `transcript.text.delta` per segment as the worker finishes it (it
//! stores finished segments as partial results, which the handler polls), then
//! `transcript.text.done` with the whole text once the job has succeeded.

use std::convert::Infallible;
use std::time::Duration;

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use futures_util::StreamExt;
use jobs::{AudioStorage, Job, JobInput, JobOptions, JobStatus, PartialsCursor, Task};
use serde::{Deserialize, Serialize};
use serde_json::json;
use transcript::{Format, Transcript};
use utoipa::ToSchema;
use uuid::Uuid;

use super::submit::{content_length, enqueue};
use super::upload::{clean_filename, write_file, FileGuard, FORM_OVERHEAD};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::startup::AppState;

const TEXT_FIELD_LIMIT: usize = 64 * 1024;
/// A comment line after this long without an event, so that proxies keep the stream open and a
/// client that went away is noticed (the write fails) while its job is still running.
const KEEPALIVE: Duration = Duration::from_secs(15);

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

#[derive(Debug, Clone, Copy, PartialEq)]
enum ResponseFormat {
    Json,
    Text,
    Srt,
    VerboseJson,
    Vtt,
}

impl ResponseFormat {
    fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "json" => Self::Json,
            "text" => Self::Text,
            "srt" => Self::Srt,
            "verbose_json" => Self::VerboseJson,
            "vtt" => Self::Vtt,
            _ => return None,
        })
    }
}

/// The multipart form OpenAI's audio endpoints take.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AudioRequestForm {
    /// The audio, any container and codec FFmpeg decodes.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// `whisper-1` (the default preset's model) or an installed model, e.g. `tiny.en`, `base`.
    model: String,
    /// ISO 639-1 code of the spoken language (transcriptions only).
    language: Option<String>,
    /// Text that primes the decoder.
    prompt: Option<String>,
    /// `json` (default), `text`, `srt`, `verbose_json` or `vtt`.
    response_format: Option<String>,
    /// 0 to 1; accepted for compatibility (decoding follows the preset's temperature fallback).
    temperature: Option<f32>,
    /// `word` and/or `segment` (repeat the field as `timestamp_granularities[]`); `word` adds word times to `verbose_json`.
    #[schema(rename = "timestamp_granularities[]")]
    timestamp_granularities: Option<Vec<String>>,
    /// `true`: answer with server-sent events, one `transcript.text.delta` per segment as it is
    /// transcribed, then `transcript.text.done` with the whole text (json or text format only).
    stream: Option<bool>,
}

struct AudioRequest {
    options: JobOptions,
    format: ResponseFormat,
    words: bool,
    stream: bool,
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

fn parse_fields(state: &AppState, fields: Vec<(String, String)>, task: Task) -> Result<AudioRequest, OpenAiError> {
    let mut options = JobOptions { task: Some(task), ..Default::default() };
    let mut format = ResponseFormat::Json;
    let (mut words, mut stream, mut model_given) = (false, false, false);
    for (name, value) in fields {
        let value = value.trim().to_string();
        match name.as_str() {
            "model" => {
                model_given = true;
                // OpenAI's model name means "the default"; anything else names an installed model.
                if value != "whisper-1" && !value.is_empty() {
                    options.model = Some(value);
                }
            }
            "language" if !value.is_empty() => options.language = Some(value),
            "prompt" if !value.is_empty() => options.initial_prompt = Some(value),
            "response_format" => {
                format = ResponseFormat::parse(&value).ok_or_else(|| {
                    OpenAiError::invalid(
                        "response_format",
                        "invalid_format",
                        format!("unknown response_format {value:?}; use json, text, srt, verbose_json or vtt"),
                    )
                })?
            }
            "temperature" => {
                let t: f32 = value.parse().map_err(|_| {
                    OpenAiError::invalid("temperature", "invalid_option", "temperature must be a number")
                })?;
                if !(0.0..=1.0).contains(&t) {
                    return Err(OpenAiError::invalid(
                        "temperature",
                        "invalid_option",
                        "temperature must be between 0 and 1",
                    ));
                }
            }
            "timestamp_granularities[]" | "timestamp_granularities" => match value.as_str() {
                "word" => words = true,
                "segment" => {}
                other => {
                    return Err(OpenAiError::invalid(
                        "timestamp_granularities",
                        "invalid_option",
                        format!("unknown timestamp granularity {other:?}; use word or segment"),
                    ))
                }
            },
            "stream" => {
                stream = match value.as_str() {
                    "true" | "True" | "1" => true,
                    "false" | "False" | "0" | "" => false,
                    _ => return Err(OpenAiError::invalid("stream", "invalid_option", "stream must be true or false")),
                }
            }
            "language" | "prompt" => {}
            other => {
                return Err(OpenAiError::invalid(other, "invalid_body", format!("unknown field `{other}`")));
            }
        }
    }
    if !model_given {
        return Err(OpenAiError::invalid("model", "invalid_option", "`model` is required, e.g. whisper-1"));
    }
    if task == Task::Translate && options.language.is_some() {
        return Err(OpenAiError::invalid("language", "invalid_option", "translations take no language"));
    }
    if stream && !matches!(format, ResponseFormat::Json | ResponseFormat::Text) {
        return Err(OpenAiError::invalid(
            "stream",
            "invalid_option",
            "stream=true works with response_format json or text",
        ));
    }
    if words {
        options.word_timestamps = Some(true);
    }
    let options = jobs::validate::options_with_default(&state.settings, &state.default_preset(), options)
        .map_err(ApiError::from)?;
    Ok(AudioRequest { options, format, words, stream })
}

/// The first pause between polls of a job; pauses double up to [`MAX_POLL_DELAY`].
const FIRST_POLL_DELAY: Duration = Duration::from_millis(50);
const MAX_POLL_DELAY: Duration = Duration::from_secs(1);

/// Waits for the job, polling with backoff (50 ms doubling to 1 s) up to `openai.wait_secs`.
async fn wait(state: &AppState, id: Uuid) -> Result<Transcript, OpenAiError> {
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
async fn finished(state: &AppState, job: &Job) -> Result<Option<Transcript>, OpenAiError> {
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
async fn pause(id: Uuid, deadline: tokio::time::Instant, delay: &mut Duration) -> Result<(), OpenAiError> {
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

/// `stream=true`: server-sent events as the job's segments are stored. Until the first delta
/// is ready nothing is sent, so that a job failing early (undecodable audio) or the wait timing
/// out still answers with its HTTP status; after that, an error ends the stream with an
/// `error` event in OpenAI's shape. The body is a stream polled by actix-web and no task is
/// spawned: a client that disconnects drops it, and with it the polling.
async fn stream(state: web::Data<AppState>, id: Uuid) -> Result<HttpResponse, OpenAiError> {
    let mut follow = Follow::new(state, id);
    let first = loop {
        match follow.poll().await? {
            Update::Deltas(deltas) if deltas.is_empty() => follow.pause().await?,
            Update::Deltas(deltas) => break delta_events(&deltas),
            Update::Done { deltas, text } => return Ok(event_stream().body(delta_events(&deltas) + &done_event(&text))),
        }
    };
    let rest = futures_util::stream::unfold(Some(follow), |follow| async move {
        let mut follow = follow?;
        let quiet_since = tokio::time::Instant::now();
        let (events, next) = loop {
            match follow.poll().await {
                Ok(Update::Deltas(deltas)) if deltas.is_empty() => {
                    if quiet_since.elapsed() >= KEEPALIVE {
                        break (": keepalive\n\n".to_string(), Some(follow));
                    }
                    if let Err(e) = follow.pause().await {
                        break (error_event(&e), None);
                    }
                }
                Ok(Update::Deltas(deltas)) => break (delta_events(&deltas), Some(follow)),
                Ok(Update::Done { deltas, text }) => break (delta_events(&deltas) + &done_event(&text), None),
                Err(e) => break (error_event(&e), None),
            }
        };
        Some((Ok::<_, Infallible>(Bytes::from(events)), next))
    });
    let body = futures_util::stream::once(async move { Ok::<_, Infallible>(Bytes::from(first)) }).chain(rest);
    Ok(event_stream().streaming(body))
}

fn event_stream() -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    response.content_type("text/event-stream").insert_header(("Cache-Control", "no-cache"));
    response
}

fn delta_events(deltas: &[String]) -> String {
    deltas
        .iter()
        .map(|delta| format!("data: {}\n\n", json!({"type": "transcript.text.delta", "delta": delta})))
        .collect()
}

fn done_event(text: &str) -> String {
    format!("data: {}\n\n", json!({"type": "transcript.text.done", "text": text}))
}

/// OpenAI's error object in an event; the SDKs raise it as an `APIError`.
fn error_event(e: &OpenAiError) -> String {
    format!("data: {}\n\n", json!({"type": "error", "error": e.body}))
}

/// What a stored partial segment carries that the stream needs.
#[derive(Deserialize)]
struct PartialSegment {
    #[serde(default)]
    text: String,
    #[serde(default)]
    end: f64,
}

enum Update {
    /// The text of segments finished since the last poll; none yet, maybe.
    Deltas(Vec<String>),
    /// The job succeeded: the text of the segments not sent yet, and the whole text.
    Done { deltas: Vec<String>, text: String },
}

/// Follows one job for a stream: which partial segments were read, and what was sent.
struct Follow {
    state: web::Data<AppState>,
    id: Uuid,
    deadline: tokio::time::Instant,
    delay: Duration,
    /// The run (attempt, worker) whose partial segments are read, and the next one's index.
    cursor: PartialsCursor,
    /// How many deltas were sent, and where in the audio the last one ended.
    sent: usize,
    sent_until: f64,
    /// After a worker was lost (or handed the job back): the next run transcribes from the
    /// start again, and its segments that end by this time repeat text the client already has.
    skip_until: Option<f64>,
}

impl Follow {
    fn new(state: web::Data<AppState>, id: Uuid) -> Self {
        let deadline = tokio::time::Instant::now() + state.settings.openai.wait();
        Self {
            state,
            id,
            deadline,
            delay: FIRST_POLL_DELAY,
            cursor: PartialsCursor::default(),
            sent: 0,
            sent_until: f64::NEG_INFINITY,
            skip_until: None,
        }
    }

    /// One read of the job and its new partial segments (one query).
    async fn poll(&mut self) -> Result<Update, OpenAiError> {
        let read = self
            .state
            .store
            .job_with_partials(self.id, &self.cursor)
            .await
            .map_err(ApiError::from)?
            .ok_or(ApiError::JobNotFound(self.id))?;
        if let Some(transcript) = finished(&self.state, &read.job).await? {
            let deltas = self.unsent(&read.job, &transcript);
            return Ok(Update::Done { deltas, text: full_text(&transcript) });
        }
        if !self.cursor.same_run(&read.job) {
            // The first run, or another after a worker was lost or handed the job back: its
            // segments are numbered from 0 again.
            self.cursor.attempt = read.job.attempt;
            self.cursor.worker_id = read.job.worker_id.clone();
            self.skip_until = (self.sent > 0).then_some(self.sent_until);
        }
        self.cursor.next = read.first + read.segments.len() as i32;
        let mut deltas = Vec::new();
        for segment in read.segments {
            let segment: PartialSegment = match serde_json::from_value(segment) {
                Ok(segment) => segment,
                Err(e) => {
                    tracing::warn!(job_id = %self.id, error = %e, "unreadable partial segment; skipped");
                    continue;
                }
            };
            if self.skip_until.is_some_and(|until| segment.end <= until) {
                continue;
            }
            self.sent += 1;
            self.sent_until = self.sent_until.max(segment.end);
            deltas.push(segment.text);
        }
        if !deltas.is_empty() {
            self.delay = FIRST_POLL_DELAY;
        }
        Ok(Update::Deltas(deltas))
    }

    /// The final segments the client has not had as deltas. The partial segments of a run
    /// are the first segments of its result, so within one run it is the rest by index; after
    /// another run, by time.
    fn unsent(&self, job: &Job, transcript: &Transcript) -> Vec<String> {
        let (start, skip_until) = if self.cursor.same_run(job) {
            (self.cursor.next.max(0) as usize, self.skip_until)
        } else {
            (0, (self.sent > 0).then_some(self.sent_until))
        };
        transcript
            .segments
            .iter()
            .skip(start)
            .filter(|s| skip_until.is_none_or(|until| s.end > until))
            .map(|s| s.text.clone())
            .collect()
    }

    async fn pause(&mut self) -> Result<(), OpenAiError> {
        pause(self.id, self.deadline, &mut self.delay).await
    }
}

fn full_text(transcript: &Transcript) -> String {
    transcript.segments.iter().map(|s| s.text.trim()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" ")
}

fn respond(transcript: &Transcript, task: Task, request: &AudioRequest) -> HttpResponse {
    let text = full_text(transcript);
    match request.format {
        ResponseFormat::Json => HttpResponse::Ok().json(json!({"text": text})),
        ResponseFormat::Text => HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(text + "\n"),
        ResponseFormat::Srt => {
            HttpResponse::Ok().content_type("application/x-subrip").body(transcript::render(transcript, Format::Srt))
        }
        ResponseFormat::Vtt => {
            HttpResponse::Ok().content_type("text/vtt").body(transcript::render(transcript, Format::Vtt))
        }
        ResponseFormat::VerboseJson => {
            let segments: Vec<serde_json::Value> = transcript
                .segments
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    json!({"id": i, "seek": 0, "start": s.start, "end": s.end, "text": s.text, "tokens": [],
                           "temperature": 0.0, "avg_logprob": s.avg_logprob, "compression_ratio": 0.0,
                           "no_speech_prob": s.no_speech_prob})
                })
                .collect();
            let mut body = json!({
                "task": if task == Task::Translate { "translate" } else { "transcribe" },
                "language": transcript.language,
                "duration": transcript.duration,
                "text": text,
                "segments": segments,
            });
            if request.words {
                body["words"] = transcript
                    .word_segments
                    .iter()
                    .map(|w| json!({"word": w.word, "start": w.start, "end": w.end}))
                    .collect();
            }
            HttpResponse::Ok().json(body)
        }
    }
}
