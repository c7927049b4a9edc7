//! A JSON submission to `POST /v1/jobs`: a `url` to download or a server `path`, and options.

use actix_web::{web, HttpRequest};
use jobs::{Job, Submitter};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;
use vocab::{JobOptions, Task};

use crate::error::ApiError;
use crate::intake::{
    check_callback, content_length, enqueue, path_input, request_hash, url_input, with_callback, HashedInput,
    JSON_LIMIT,
};
use crate::state::AppState;

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
    /// Seconds added to every time in the result, for a recording cut from a longer one (>= 0).
    #[schema(minimum = 0.0)]
    pub timestamp_offset: Option<f64>,
    /// Where to POST the job's status (signed) when it finishes; http or https, public addresses
    /// only (like `url`).
    pub callback_url: Option<String>,
}

impl SubmitJobJson {
    pub(super) fn into_parts(self) -> (Option<String>, Option<String>, JobOptions) {
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
            timestamp_offset: self.timestamp_offset,
        };
        (self.url, self.path, options)
    }
}

/// Reads a JSON submission and queues its job; `true` with a job returned for the same key.
pub(super) async fn submit_json(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    key: Option<String>,
    submitter: &Submitter,
) -> Result<(Job, bool), ApiError> {
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
        (Some(url), None) => url_input(state, &url)?,
        (None, Some(path)) => path_input(state, &path)?,
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
    enqueue(state, &submitter, Uuid::now_v7(), input, options, key, hash).await
}
