//! Staging an uploaded file: the multipart `file` field streams to audio storage chunk by chunk
//! (never whole in memory), under the upload limit, to a partial path that becomes the final one
//! only once the request is accepted. Text fields go to the caller, which knows what they mean.
//! Nothing is kept for a refused request: a guard deletes the file on every early return, and
//! unless [`Upload::keep`] is called (a replayed submission's earlier job owns its own audio).

use std::path::{Path, PathBuf};

use actix_multipart::{Field, Multipart, MultipartError};
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use jobs::{AudioStorage, JobInput, Submitter};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use super::body::content_length;
use crate::error::ApiError;
use crate::state::AppState;

/// Room for the multipart framing and text fields around the file, when judging Content-Length.
const FORM_OVERHEAD: u64 = 1024 * 1024;
/// The longest text field of a form, in bytes.
pub const TEXT_FIELD_LIMIT: usize = 64 * 1024;

/// A form that cannot be read. Each route words it in its own error shape.
#[derive(Debug)]
pub enum FormError {
    /// The body is not valid multipart where a field starts.
    Malformed(MultipartError),
    /// A second `file` field.
    SecondFile,
    /// A text field longer than [`TEXT_FIELD_LIMIT`].
    TextTooLong { name: String },
    /// A text field whose bytes could not be read.
    TextUnreadable { name: String, error: MultipartError },
    /// A text field that is not UTF-8.
    TextNotUtf8 { name: String },
}

/// The words of `POST /v1/jobs`.
impl From<FormError> for ApiError {
    fn from(e: FormError) -> Self {
        ApiError::InvalidBody(match e {
            FormError::Malformed(error) | FormError::TextUnreadable { error, .. } => {
                format!("invalid multipart body: {error}")
            }
            FormError::SecondFile => "more than one `file` field".into(),
            FormError::TextTooLong { name } => format!("form field `{name}` is longer than {TEXT_FIELD_LIMIT} bytes"),
            FormError::TextNotUtf8 { name } => format!("form field `{name}` is not UTF-8 text"),
        })
    }
}

/// The file a form carried, staged at the partial path.
pub struct StagedFile {
    /// The client's file name, cleaned (see [`clean_filename`]).
    pub filename: Option<String>,
    pub size_bytes: u64,
    /// Hex sha256 of the bytes, when asked for.
    pub sha256: Option<String>,
}

/// An upload under way: the job it will become, where its file goes, and the guard that deletes
/// the file unless a job comes to own it.
pub struct Upload {
    id: Uuid,
    key: String,
    partial: PathBuf,
    final_path: PathBuf,
    /// The upload limit when the request came (a runtime change does not move it mid-upload),
    /// in bytes and in MiB for the refusal.
    limit: u64,
    max_mb: u64,
    guard: FileGuard,
}

impl Upload {
    /// Checks what can be checked before the body is read (its declared length against the
    /// upload limit; unless it may replay an earlier job, the submitter's queue), and picks the
    /// job's id and storage paths.
    pub async fn begin(
        req: &HttpRequest,
        state: &AppState,
        submitter: &Submitter,
        may_replay: bool,
    ) -> Result<Self, ApiError> {
        check_form_length(req, state, 1)?;
        // Refuse before reading the audio when the key's queue is full (the insert checks again,
        // under a lock). A retry with an idempotency key may replay an earlier job, so it reads on.
        if let (Some(owner), Some(max), false) = (submitter.owner, submitter.max_queued, may_replay) {
            if state.store.queued_count_of(owner).await? >= max {
                return Err(ApiError::TooManyQueuedJobs { limit: max });
            }
        }
        Self::new(state)
    }

    /// A place to stage one file, under the upload limit in force now: the job's id and its
    /// storage paths. [`Upload::begin`] for a form of one file; one each for a form of several
    /// (`POST /v1/batches`), whose caller checks the request first.
    pub fn new(state: &AppState) -> Result<Self, ApiError> {
        let id = Uuid::now_v7();
        let key = AudioStorage::key_for(id);
        let (Some(partial), Some(final_path)) = (state.storage.partial_path(&key), state.storage.path(&key)) else {
            return Err(ApiError::internal(anyhow::anyhow!("unusable storage key {key}")));
        };
        let (limit, max_mb) = (state.max_upload_bytes(), state.max_upload_mb());
        Ok(Self { id, key, partial, final_path, limit, max_mb, guard: FileGuard(None) })
    }

    /// The id of the job this upload becomes.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Reads the form to its end: the `file` field streams to the partial path (hashed when
    /// `sha256`), each text field goes to `text` in the order it comes, so the caller's
    /// refusal of a field comes at the same point of the body as the form's own.
    pub async fn read_form<E>(
        &mut self,
        req: &HttpRequest,
        payload: web::Payload,
        sha256: bool,
        mut text: impl FnMut(String, String) -> Result<(), E>,
    ) -> Result<StagedFile, E>
    where
        E: From<ApiError> + From<FormError>,
    {
        let mut file = None;
        let mut multipart = Multipart::new(req.headers(), payload);
        while let Some(field) = multipart.next().await {
            let mut field = field.map_err(FormError::Malformed)?;
            let name = field.name().unwrap_or_default().to_string();
            if name == "file" {
                if file.is_some() {
                    return Err(FormError::SecondFile.into());
                }
                file = Some(self.write(&mut field, sha256).await?);
            } else {
                let value = read_text(&mut field, &name).await?;
                text(name, value)?;
            }
        }
        let file = file.ok_or(ApiError::MissingFile)?;
        if file.size_bytes == 0 {
            return Err(ApiError::EmptyUpload.into());
        }
        Ok(file)
    }

    /// Streams a file field to the partial path (hashed when `sha256`), which the guard deletes
    /// unless a job comes to own it. Over the limit, writing stops: the request is refused.
    pub async fn write(&mut self, field: &mut Field, sha256: bool) -> Result<StagedFile, ApiError> {
        let filename = field.content_disposition().and_then(|cd| cd.get_filename()).and_then(clean_filename);
        self.guard.0 = Some(self.partial.clone());
        let Some((size_bytes, sha256)) = write_file(field, &self.partial, self.limit, sha256).await? else {
            // Stop reading; the guard deletes what was written.
            return Err(ApiError::UploadTooLarge(self.max_mb));
        };
        Ok(StagedFile { filename, size_bytes, sha256 })
    }

    /// Moves the staged file to its final path and returns the job's input. The guard now
    /// watches the final file, until [`Upload::keep`].
    pub async fn store(&mut self, file: &StagedFile) -> Result<JobInput, ApiError> {
        tokio::fs::rename(&self.partial, &self.final_path).await.map_err(ApiError::internal)?;
        self.guard.0 = Some(self.final_path.clone());
        Ok(JobInput::Upload { key: self.key.clone(), filename: file.filename.clone(), size_bytes: file.size_bytes })
    }

    /// Keeps the file: a job owns it now.
    pub fn keep(mut self) {
        self.guard.keep();
    }
}

/// The file fields of a form of several files (`POST /v1/batches`): `files`, as HTML and most
/// clients repeat it, `files[]`, as PHP-style clients name it, or `file` repeated.
pub const FILES_FIELDS: [&str; 3] = ["files", "files[]", "file"];

/// Reads a form of several files to its end: each file field ([`FILES_FIELDS`]) is staged in an
/// [`Upload`] of its own, each text field goes to `text` in the order it comes. A file over the
/// upload limit, or more than `max` files, refuses the whole form (the body is not read on);
/// empty files come back with size 0, for the caller to refuse alone.
pub async fn read_files_form<E>(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    max: usize,
    mut text: impl FnMut(String, String) -> Result<(), E>,
) -> Result<Vec<(Upload, StagedFile)>, E>
where
    E: From<ApiError> + From<FormError>,
{
    let mut files = Vec::new();
    let mut multipart = Multipart::new(req.headers(), payload);
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(FormError::Malformed)?;
        let name = field.name().unwrap_or_default().to_string();
        if FILES_FIELDS.contains(&name.as_str()) {
            if files.len() == max {
                return Err(ApiError::TooManyBatchItems(max).into());
            }
            let mut upload = Upload::new(state)?;
            let file = upload.write(&mut field, false).await?;
            files.push((upload, file));
        } else {
            let value = read_text(&mut field, &name).await?;
            text(name, value)?;
        }
    }
    Ok(files)
}

/// A text field, whole: at most [`TEXT_FIELD_LIMIT`] bytes of UTF-8.
async fn read_text(field: &mut Field, name: &str) -> Result<String, FormError> {
    let value = field
        .bytes(TEXT_FIELD_LIMIT)
        .await
        .map_err(|_| FormError::TextTooLong { name: name.to_string() })?
        .map_err(|error| FormError::TextUnreadable { name: name.to_string(), error })?;
    String::from_utf8(value.to_vec()).map_err(|_| FormError::TextNotUtf8 { name: name.to_string() })
}

/// Refuses a form whose declared length is more than `files` files at the upload limit, before
/// any of it is read.
pub fn check_form_length(req: &HttpRequest, state: &AppState, files: u64) -> Result<(), ApiError> {
    let most = state.max_upload_bytes().saturating_mul(files).saturating_add(FORM_OVERHEAD);
    if content_length(req).is_some_and(|n| n > most) {
        return Err(ApiError::UploadTooLarge(state.max_upload_mb()));
    }
    Ok(())
}

/// Deletes the file it points at when dropped, unless [`FileGuard::keep`] was called.
struct FileGuard(Option<PathBuf>);

impl FileGuard {
    fn keep(&mut self) {
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

/// Streams a field to `path`. `None` when it exceeds `limit` bytes (writing stops there).
async fn write_file(
    field: &mut Field,
    path: &Path,
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
fn clean_filename(raw: &str) -> Option<String> {
    let name = raw.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    (!name.is_empty()).then(|| name.chars().filter(|c| !c.is_control()).take(255).collect())
}
