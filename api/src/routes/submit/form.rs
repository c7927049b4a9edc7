//! A multipart submission to `POST /v1/jobs`: the audio in a `file` field (staged by
//! `intake::Upload`), options as text fields or as one `options` JSON field.

use actix_web::{web, HttpRequest};
use jobs::{Job, Submitter};
use utoipa::ToSchema;
use vocab::Task;

use crate::error::ApiError;
use crate::intake::{check_callback, enqueue, request_hash, with_callback, FormOptions, HashedInput, Upload};
use crate::state::AppState;

/// A multipart submission. Give options either as separate text fields or as one `options`
/// field holding a JSON object, not both.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SubmitJobForm {
    /// The audio, any container and codec FFmpeg decodes.
    #[schema(value_type = String, format = Binary, content_media_type = "application/octet-stream")]
    file: Vec<u8>,
    preset: Option<String>,
    language: Option<String>,
    /// Comma-separated, or the field repeated.
    allowed_languages: Option<String>,
    task: Option<Task>,
    word_timestamps: Option<bool>,
    diarize: Option<bool>,
    min_speakers: Option<u32>,
    max_speakers: Option<u32>,
    initial_prompt: Option<String>,
    model: Option<String>,
    /// Seconds added to every time in the result (>= 0).
    timestamp_offset: Option<f64>,
    /// Where to POST the job's status (signed) when it finishes.
    callback_url: Option<String>,
    /// All options as one JSON object, e.g. `{"language": "en", "diarize": true}`.
    options: Option<String>,
}

/// Reads a multipart submission, stages its file and queues its job; `true` with a job
/// returned for the same key (this request's copy of the audio is then deleted).
pub(super) async fn submit_form(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    key: Option<String>,
    submitter: &Submitter,
) -> Result<(Job, bool), ApiError> {
    let mut upload = Upload::begin(req, state, submitter, key.is_some()).await?;
    let mut form = FormOptions::default();
    let mut callback_url = None;
    let file = upload
        .read_form(req, payload, key.is_some(), |name, value| {
            if name == "callback_url" {
                if callback_url.replace(value).is_some() {
                    return Err(ApiError::InvalidBody("form field `callback_url` given more than once".into()));
                }
                Ok(())
            } else {
                form.add(name, value)
            }
        })
        .await?;
    let options = jobs::validate::options_with_default(&state.settings, &state.default_preset(), form.into_options()?)?;
    let callback_url = check_callback(state, submitter, callback_url)?;
    let input = upload.store(&file).await?;
    let hash = key.as_ref().map(|_| {
        with_callback(request_hash(&HashedInput::of(&input, file.sha256.as_deref()), &options), &callback_url)
    });
    let submitter = Submitter { callback_url, ..submitter.clone() };
    let (job, replayed) = enqueue(state, &submitter, upload.id(), input, options, key, hash).await?;
    if !replayed {
        upload.keep();
    } // else: an earlier job owns the audio; dropping the upload deletes this copy.
    Ok((job, replayed))
}
