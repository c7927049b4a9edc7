//! `POST /v1/jobs`: a JSON body naming a `url` or a server `path`, or a multipart upload
//! (see [`super::upload`]). Both end in [`enqueue`]: an INSERT and an XADD, batched with
//! other submissions that arrive at the same time (`jobs::Enqueuer`).

use std::path::PathBuf;

use actix_web::http::header::LOCATION;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use jobs::{Inserted, Job, JobInput, JobOptions, NewJob, Submitter, Task};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use super::upload::{self, SubmitJobForm};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::startup::{AppState, JSON_LIMIT};
use crate::views::SubmittedJob;

pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
pub const REPLAYED: &str = "Idempotent-Replayed";

/// A JSON submission: exactly one of `url` and `path`, and any options (see `JobOptions`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitJobJson {
    /// Audio to download, http or https. Loopback, private and metadata addresses are refused.
    pub url: Option<String>,
    /// An absolute path on the server, inside one of the configured input directories.
    pub path: Option<String>,
    /// Preset name, e.g. `HIGH_ACCURACY`, `BALANCED` (default) or `LOW_LATENCY`.
    pub preset: Option<String>,
    /// Spoken language (ISO 639-1, e.g. `en`); detected when absent.
    pub language: Option<String>,
    /// Restricts language detection to these languages.
    pub allowed_languages: Option<Vec<String>>,
    pub task: Option<Task>,
    pub word_timestamps: Option<bool>,
    pub diarize: Option<bool>,
    pub min_speakers: Option<u32>,
    pub max_speakers: Option<u32>,
    /// Text that primes the decoder: names, spellings, style.
    pub initial_prompt: Option<String>,
    /// Model name, e.g. `tiny.en` or `base`.
    pub model: Option<String>,
    /// Where to POST the job's status (signed) when it finishes; http or https, public addresses
    /// only (like `url`).
    pub callback_url: Option<String>,
}

impl SubmitJobJson {
    fn into_parts(self) -> (Option<String>, Option<String>, JobOptions) {
        let options = JobOptions {
            preset: self.preset,
            language: self.language,
            allowed_languages: self.allowed_languages,
            task: self.task,
            word_timestamps: self.word_timestamps,
            diarize: self.diarize,
            min_speakers: self.min_speakers,
            max_speakers: self.max_speakers,
            initial_prompt: self.initial_prompt,
            model: self.model,
        };
        (self.url, self.path, options)
    }
}

/// Submits a job. Answers at once with its id; poll `links.self` for progress.
///
/// Send either `application/json` with a `url` or a `path` plus options, or
/// `multipart/form-data` with the audio in a `file` field and options as text fields
/// (or as one `options` field holding a JSON object).
/// With an `Idempotency-Key` header a retry returns the same job (`Idempotent-Replayed: true`);
/// idempotency keys are scoped per API key.
#[utoipa::path(post, path = "/v1/jobs", tag = "jobs", operation_id = "submitJob",
    params(("Idempotency-Key" = Option<String>, Header, description = "Up to 255 characters; a retry with the same key and request returns the same job")),
    request_body(content(
        (SubmitJobJson = "application/json"),
        (SubmitJobForm = "multipart/form-data"),
    )),
    responses(
        (status = 202, description = "Queued", body = SubmittedJob,
            headers(("Location" = String, description = "The job's URL"),
                    ("Idempotent-Replayed" = String, description = "`true` when an earlier submission with the same key was returned"))),
        (status = 400, description = "`invalid_body`, `unsupported_content_type`, `missing_file`, `empty_upload`, `invalid_url`, `invalid_callback_url`, `path_not_absolute`, `invalid_idempotency_key`", body = ErrorBody),
        (status = 403, description = "`path_not_allowed`: outside the input directories", body = ErrorBody),
        (status = 409, description = "`idempotency_key_reused` with a different request", body = ErrorBody),
        (status = 413, description = "`upload_too_large`, `body_too_large`", body = ErrorBody),
        (status = 422, description = "`invalid_option`, `url_not_allowed`, `callback_url_not_allowed`, `webhook_secret_not_configured`, `input_not_found`, `input_not_a_file`", body = ErrorBody),
        (status = 429, description = "`too_many_queued_jobs`: the API key's limit of queued jobs is reached", body = ErrorBody,
            headers(("Retry-After" = String, description = "Seconds to wait before trying again"))),
    ))]
pub async fn submit_job(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let submitter = caller.submitter();
    let content_type = req.content_type();
    if content_type.eq_ignore_ascii_case("application/json") {
        submit_json(&req, payload, &state, key, &submitter).await
    } else if content_type.eq_ignore_ascii_case("multipart/form-data") {
        upload::submit_upload(&req, payload, &state, key, &submitter).await
    } else {
        Err(ApiError::UnsupportedContentType(format!(
            "Content-Type {content_type:?} is not accepted: send application/json (url or path) or multipart/form-data (file upload)"
        )))
    }
}

fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value.to_str().map_err(|_| ApiError::InvalidIdempotencyKey)?;
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err(ApiError::InvalidIdempotencyKey);
    }
    Ok(Some(key.to_string()))
}

async fn submit_json(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    key: Option<String>,
    submitter: &Submitter,
) -> Result<HttpResponse, ApiError> {
    if content_length(req).is_some_and(|n| n > JSON_LIMIT as u64) {
        return Err(ApiError::BodyTooLarge(JSON_LIMIT));
    }
    let body = payload
        .to_bytes_limited(JSON_LIMIT)
        .await
        .map_err(|_| ApiError::BodyTooLarge(JSON_LIMIT))?
        .map_err(|e| ApiError::InvalidBody(format!("could not read the body: {e}")))?;
    let mut request: SubmitJobJson =
        serde_json::from_slice(&body).map_err(|e| ApiError::InvalidBody(format!("invalid JSON body: {e}")))?;
    let callback_url = check_callback(state, submitter, request.callback_url.take())?;
    let (url, path, options) = request.into_parts();
    let options = jobs::validate::options_with_default(&state.settings, &state.default_preset(), options)?;
    let input = match (url, path) {
        (Some(url), None) => {
            let url = jobs::net::check_url(&url, state.settings.inputs.allow_private_urls)?;
            JobInput::Url { url: url.into() }
        }
        (None, Some(path)) => JobInput::Path { path: input_path(state, &path)? },
        (Some(_), Some(_)) => return Err(ApiError::InvalidBody("give either `url` or `path`, not both".into())),
        (None, None) => {
            return Err(ApiError::InvalidBody(
                "give `url` or `path`, or upload the audio as multipart/form-data with a `file` field".into(),
            ))
        }
    };
    let hash =
        key.as_ref().map(|_| with_callback(request_hash(&HashedInput::of(&input, None), &options), &callback_url));
    let submitter = Submitter { callback_url, ..submitter.clone() };
    let (job, replayed) = enqueue(state, &submitter, Uuid::now_v7(), input, options, key, hash).await?;
    Ok(accepted(&job, replayed))
}

/// Checks a `callback_url` like a URL input, and that its deliveries can be signed.
pub fn check_callback(
    state: &AppState,
    submitter: &Submitter,
    raw: Option<String>,
) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    use jobs::net::UrlRefused;
    let url = jobs::net::check_url(&raw, state.settings.inputs.allow_private_urls).map_err(|e| match e {
        UrlRefused::Malformed(_) | UrlRefused::NoHost => ApiError::InvalidCallbackUrl(e.to_string()),
        UrlRefused::Scheme(_) | UrlRefused::ForbiddenAddress(_) => ApiError::CallbackUrlNotAllowed(e.to_string()),
    })?;
    if submitter.owner.is_none() && state.settings.webhooks.secret.is_empty() {
        return Err(ApiError::WebhookSecretNotConfigured);
    }
    Ok(Some(url.into()))
}

/// The request fingerprint with the callback folded in (unchanged without one).
pub fn with_callback(hash: String, callback_url: &Option<String>) -> String {
    match callback_url {
        None => hash,
        Some(url) => format!("{:x}", Sha256::digest(format!("{hash}\n{url}").as_bytes())),
    }
}

/// Checks a `path` input and returns its canonical form.
fn input_path(state: &AppState, raw: &str) -> Result<String, ApiError> {
    use jobs::validate::PathRefused;
    let resolved: PathBuf = match jobs::validate::input_path(&state.roots, raw) {
        Ok(path) => path,
        // Say "no such file" only inside the roots, so the API is no oracle for other paths.
        Err(PathRefused::NotFound(_)) if !state.roots.iter().any(|root| lexical(raw).starts_with(root)) => {
            return Err(PathRefused::OutsideRoots.into())
        }
        Err(e) => return Err(e.into()),
    };
    resolved
        .into_os_string()
        .into_string()
        .map_err(|_| ApiError::PathNotAllowed("the path resolves to a name that is not valid UTF-8".into()))
}

/// `raw` with `.` and `..` resolved without touching the file system.
fn lexical(raw: &str) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in std::path::Path::new(raw).components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

pub fn content_length(req: &HttpRequest) -> Option<u64> {
    req.headers().get(actix_web::http::header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// What identifies a submission's input in its idempotency fingerprint.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HashedInput<'a> {
    Url { url: &'a str },
    Path { path: &'a str },
    Upload { filename: Option<&'a str>, size_bytes: u64, sha256: &'a str },
}

impl<'a> HashedInput<'a> {
    pub fn of(input: &'a JobInput, file_sha256: Option<&'a str>) -> Self {
        match input {
            JobInput::Url { url } => Self::Url { url },
            JobInput::Path { path } => Self::Path { path },
            JobInput::Upload { filename, size_bytes, .. } => Self::Upload {
                filename: filename.as_deref(),
                size_bytes: *size_bytes,
                sha256: file_sha256.unwrap_or(""),
            },
        }
    }
}

/// sha256 of the canonical JSON of input and (validated) options.
pub fn request_hash(input: &HashedInput<'_>, options: &JobOptions) -> String {
    let canonical = serde_json::to_vec(&(input, options)).expect("plain data serializes");
    format!("{:x}", Sha256::digest(&canonical))
}

/// Inserts the job and wakes a worker. Returns the job and whether it is an earlier one
/// returned for the same idempotency key.
pub async fn enqueue(
    state: &AppState,
    submitter: &Submitter,
    id: Uuid,
    input: JobInput,
    options: JobOptions,
    idempotency_key: Option<String>,
    request_hash: Option<String>,
) -> Result<(Job, bool), ApiError> {
    let new =
        NewJob { id, input, options, idempotency_key, request_hash, max_attempts: state.settings.queue.max_attempts };
    match state.enqueuer.enqueue(new, submitter.clone()).await {
        Ok(Inserted::Created(job)) => Ok((job, false)),
        Ok(Inserted::Existing(job)) => Ok((job, true)),
        Err(jobs::maintenance::EnqueueError::Store(e)) => Err(e.into()),
        Err(e @ jobs::maintenance::EnqueueError::Abandoned) => Err(ApiError::internal(e)),
    }
}

pub fn accepted(job: &Job, replayed: bool) -> HttpResponse {
    let mut response = HttpResponse::Accepted();
    response.insert_header((LOCATION, format!("/v1/jobs/{}", job.id)));
    if replayed {
        response.insert_header((REPLAYED, "true"));
    }
    response.json(SubmittedJob::new(job))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `JobOptions` field must be accepted by the JSON body and the form, so that a new
    /// option added in `jobs` cannot be silently refused here.
    #[test]
    fn request_shapes_cover_every_job_option() {
        let full = JobOptions {
            preset: Some("BALANCED".into()),
            language: Some("en".into()),
            allowed_languages: Some(vec!["en".into()]),
            task: Some(Task::Translate),
            word_timestamps: Some(true),
            diarize: Some(true),
            min_speakers: Some(1),
            max_speakers: Some(2),
            initial_prompt: Some("hi".into()),
            model: Some("base".into()),
        };
        let mut value = serde_json::to_value(&full).unwrap();
        let keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        let mut form_fields: Vec<&str> = upload::OPTION_FIELDS.to_vec();
        form_fields.sort();
        assert_eq!(keys, form_fields);
        value["url"] = "https://example.com/a.wav".into();
        let request: SubmitJobJson = serde_json::from_value(value).unwrap();
        let (url, path, options) = request.into_parts();
        assert_eq!((url.as_deref(), path, options), (Some("https://example.com/a.wav"), None, full));
    }

    #[test]
    fn request_hash_depends_on_input_and_options() {
        let a = JobInput::Path { path: "/a.wav".into() };
        let b = JobInput::Path { path: "/b.wav".into() };
        let options = JobOptions::default();
        let hash = |input: &JobInput, options: &JobOptions| request_hash(&HashedInput::of(input, None), options);
        assert_eq!(hash(&a, &options), hash(&a.clone(), &options));
        assert_ne!(hash(&a, &options), hash(&b, &options));
        assert_ne!(hash(&a, &options), hash(&a, &JobOptions { diarize: Some(true), ..Default::default() }));
        assert_eq!(hash(&a, &options).len(), 64);
    }
}
