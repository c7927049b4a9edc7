//! Multipart uploads for `POST /v1/jobs`: the `file` field streams to audio storage chunk by
//! chunk (never whole in memory); options come as text fields or as one `options` JSON field.
//! Nothing is kept for a refused request: a guard deletes the file on every early return.

use std::path::PathBuf;

use actix_multipart::{Field, Multipart};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use jobs::{AudioStorage, JobInput, JobOptions, Submitter, Task};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use utoipa::ToSchema;
use uuid::Uuid;

use super::submit::{accepted, check_callback, content_length, enqueue, request_hash, with_callback, HashedInput};
use crate::error::ApiError;
use crate::startup::AppState;

/// Option fields a form may carry, one per `JobOptions` field.
pub const OPTION_FIELDS: [&str; 10] = [
    "preset",
    "language",
    "allowed_languages",
    "task",
    "word_timestamps",
    "diarize",
    "min_speakers",
    "max_speakers",
    "initial_prompt",
    "model",
];
const TEXT_FIELD_LIMIT: usize = 64 * 1024;
/// Room for the multipart framing and text fields around the file, when judging Content-Length.
pub(crate) const FORM_OVERHEAD: u64 = 1024 * 1024;

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
    /// Where to POST the job's status (signed) when it finishes.
    callback_url: Option<String>,
    /// All options as one JSON object, e.g. `{"language": "en", "diarize": true}`.
    options: Option<String>,
}

/// Deletes the file it points at when dropped, unless [`FileGuard::keep`] was called.
pub(crate) struct FileGuard(pub(crate) Option<PathBuf>);

impl FileGuard {
    pub(crate) fn keep(&mut self) {
        self.0 = None;
    }
}

impl Drop for FileGuard {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            if let Err(e) = std::fs::remove_file(&path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %path.display(), error = %e, "could not remove a refused upload");
                }
            }
        }
    }
}

struct Upload {
    filename: Option<String>,
    size_bytes: u64,
    sha256: Option<String>,
}

pub async fn submit_upload(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    key: Option<String>,
    submitter: &Submitter,
) -> Result<HttpResponse, ApiError> {
    let limit = state.max_upload_bytes();
    let too_large = ApiError::UploadTooLarge(state.max_upload_mb());
    if content_length(req).is_some_and(|n| n > limit.saturating_add(FORM_OVERHEAD)) {
        return Err(too_large);
    }
    // Refuse before reading the audio when the key's queue is full (the insert checks again,
    // under a lock). A retry with an idempotency key may replay an earlier job, so it reads on.
    if let (Some(owner), Some(max), None) = (submitter.owner, submitter.max_queued, &key) {
        if state.store.queued_count_of(owner).await? >= max {
            return Err(ApiError::TooManyQueuedJobs { limit: max });
        }
    }
    let id = Uuid::now_v7();
    let storage_key = AudioStorage::key_for(id);
    let (Some(partial), Some(final_path)) =
        (state.storage.partial_path(&storage_key), state.storage.path(&storage_key))
    else {
        return Err(ApiError::internal(anyhow::anyhow!("unusable storage key {storage_key}")));
    };
    let mut guard = FileGuard(None);
    let mut upload = None;
    let mut form = FormOptions::default();
    let mut callback_url = None;
    let mut multipart = Multipart::new(req.headers(), payload);
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(|e| ApiError::InvalidBody(format!("invalid multipart body: {e}")))?;
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            if upload.is_some() {
                return Err(ApiError::InvalidBody("more than one `file` field".into()));
            }
            let filename = field.content_disposition().and_then(|cd| cd.get_filename()).and_then(clean_filename);
            guard.0 = Some(partial.clone());
            let Some((size_bytes, sha256)) = write_file(&mut field, &partial, limit, key.is_some()).await? else {
                // Stop reading; the guard deletes what was written.
                return Err(too_large);
            };
            upload = Some(Upload { filename, size_bytes, sha256 });
        } else {
            let value = field
                .bytes(TEXT_FIELD_LIMIT)
                .await
                .map_err(|_| {
                    ApiError::InvalidBody(format!("form field `{name}` is longer than {TEXT_FIELD_LIMIT} bytes"))
                })?
                .map_err(|e| ApiError::InvalidBody(format!("invalid multipart body: {e}")))?;
            let value = String::from_utf8(value.to_vec())
                .map_err(|_| ApiError::InvalidBody(format!("form field `{name}` is not UTF-8 text")))?;
            if name == "callback_url" {
                if callback_url.replace(value).is_some() {
                    return Err(ApiError::InvalidBody("form field `callback_url` given more than once".into()));
                }
            } else {
                form.add(name, value)?;
            }
        }
    }
    let upload = upload.ok_or(ApiError::MissingFile)?;
    if upload.size_bytes == 0 {
        return Err(ApiError::EmptyUpload);
    }
    let options = jobs::validate::options_with_default(&state.settings, &state.default_preset(), form.into_options()?)?;
    let callback_url = check_callback(state, submitter, callback_url)?;
    tokio::fs::rename(&partial, &final_path).await.map_err(ApiError::internal)?;
    guard.0 = Some(final_path);

    let input = JobInput::Upload { key: storage_key, filename: upload.filename, size_bytes: upload.size_bytes };
    let hash = key.as_ref().map(|_| {
        with_callback(request_hash(&HashedInput::of(&input, upload.sha256.as_deref()), &options), &callback_url)
    });
    let submitter = Submitter { callback_url, ..submitter.clone() };
    let (job, replayed) = enqueue(state, &submitter, id, input, options, key, hash).await?;
    if !replayed {
        guard.keep();
    } // else: an earlier job owns the audio; the guard drops this copy.
    Ok(accepted(&job, replayed))
}

/// Streams a field to `path`. `None` when it exceeds `limit` bytes (writing stops there).
pub(crate) async fn write_file(
    field: &mut Field,
    path: &PathBuf,
    limit: u64,
    hash: bool,
) -> Result<Option<(u64, Option<String>)>, ApiError> {
    let file = tokio::fs::File::create(path).await.map_err(ApiError::internal)?;
    let mut out = tokio::io::BufWriter::with_capacity(256 * 1024, file);
    let mut hasher = hash.then(Sha256::new);
    let mut size = 0u64;
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(|e| ApiError::InvalidBody(format!("could not read the upload: {e}")))?;
        size += chunk.len() as u64;
        if size > limit {
            return Ok(None);
        }
        if let Some(hasher) = hasher.as_mut() {
            hasher.update(&chunk);
        }
        out.write_all(&chunk).await.map_err(ApiError::internal)?;
    }
    out.flush().await.map_err(ApiError::internal)?;
    out.into_inner().sync_all().await.map_err(ApiError::internal)?;
    Ok(Some((size, hasher.map(|h| format!("{:x}", h.finalize())))))
}

/// The last path component of a client's file name, at most 255 characters; `None` if empty.
pub(crate) fn clean_filename(raw: &str) -> Option<String> {
    let name = raw.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    (!name.is_empty()).then(|| name.chars().filter(|c| !c.is_control()).take(255).collect())
}

/// Option fields collected from the form, turned into `JobOptions` by serde so that type errors
/// read the same as for JSON.
#[derive(Default)]
struct FormOptions {
    fields: Map<String, Value>,
    json: Option<String>,
}

impl FormOptions {
    fn add(&mut self, name: String, value: String) -> Result<(), ApiError> {
        match name.as_str() {
            "options" if self.json.is_some() => {
                Err(ApiError::InvalidBody("form field `options` given more than once".into()))
            }
            "options" => {
                self.json = Some(value);
                Ok(())
            }
            "allowed_languages" => {
                let list = self.fields.entry(name).or_insert_with(|| Value::Array(vec![]));
                if let Value::Array(list) = list {
                    let codes = value.split(',').map(str::trim).filter(|s| !s.is_empty());
                    list.extend(codes.map(|s| Value::String(s.to_string())));
                }
                Ok(())
            }
            known if OPTION_FIELDS.contains(&known) => {
                if self.fields.contains_key(known) {
                    return Err(ApiError::InvalidBody(format!("form field `{known}` given more than once")));
                }
                let typed = match known {
                    // Booleans and numbers parse as JSON; anything else stays a string and
                    // fails deserialization with serde's message.
                    "word_timestamps" | "diarize" | "min_speakers" | "max_speakers" => {
                        serde_json::from_str(value.trim()).unwrap_or(Value::String(value))
                    }
                    _ => Value::String(value),
                };
                self.fields.insert(name, typed);
                Ok(())
            }
            other => Err(ApiError::InvalidBody(format!(
                "unknown form field `{other}`; expected `file`, `options`, `callback_url` or one of {}",
                OPTION_FIELDS.join(", ")
            ))),
        }
    }

    fn into_options(self) -> Result<JobOptions, ApiError> {
        let (value, what) = match self.json {
            Some(_) if !self.fields.is_empty() => {
                return Err(ApiError::InvalidBody(
                    "give options either as separate form fields or as one `options` JSON field, not both".into(),
                ))
            }
            Some(json) => (
                serde_json::from_str(&json).map_err(|e| ApiError::InvalidBody(format!("form field `options`: {e}")))?,
                "form field `options`",
            ),
            None => (Value::Object(self.fields), "form fields"),
        };
        serde_json::from_value(value).map_err(|e| ApiError::InvalidBody(format!("{what}: {e}")))
    }
}
