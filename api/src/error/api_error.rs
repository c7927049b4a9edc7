//! The one error type of the API. Every variant has a stable snake_case `code` and an HTTP status;
//! every error answers `{"error": {"code", "message", "type"}}`. A 5xx never shows its cause to
//! the client: the cause is logged, the client gets a generic message.

use actix_web::http::header::{HeaderName, ALLOW, RETRY_AFTER, WWW_AUTHENTICATE};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

/// `Retry-After` of a `too_many_queued_jobs` refusal.
pub const QUEUE_RETRY_AFTER_SECS: u64 = 10;

/// `Retry-After` of a `database_unavailable` answer: a restarting PostgreSQL is usually back
/// within seconds.
pub const DATABASE_RETRY_AFTER_SECS: u64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    // 400: the request itself is malformed.
    #[error("{0}")]
    InvalidBody(String),
    #[error("{0}")]
    UnsupportedContentType(String),
    #[error("invalid query string: {0}")]
    InvalidQuery(String),
    #[error("invalid path parameter: {0}")]
    InvalidPath(String),
    #[error("{0:?} is not a job id (a UUID)")]
    InvalidJobId(String),
    #[error("{0:?} is not a batch id (a UUID)")]
    InvalidBatchId(String),
    #[error("the cursor is not one this API returned; start again without it")]
    InvalidCursor,
    #[error("unknown format {0:?}; use one of {names}", names = transcript::Format::names())]
    InvalidFormat(String),
    #[error("the Idempotency-Key header must be 1 to 255 visible ASCII characters")]
    InvalidIdempotencyKey,
    #[error("the form has no `file` field; send the audio as a multipart field named `file`")]
    MissingFile,
    #[error("the uploaded file is empty")]
    EmptyUpload,
    #[error("{0}")]
    InvalidUrl(String),
    #[error("path must be absolute")]
    PathNotAbsolute,
    #[error("callback_url: {0}")]
    InvalidCallbackUrl(String),
    // 401
    #[error("this API needs a key: send `Authorization: Bearer <key>`")]
    MissingApiKey,
    #[error("the API key is not valid (unknown, revoked, or not sent as `Authorization: Bearer <key>`)")]
    InvalidApiKey,
    // 403
    #[error("only an admin API key may do this")]
    AdminRequired,
    #[error("{0}")]
    PathNotAllowed(String),
    // 404
    #[error("no job with id {0}")]
    JobNotFound(uuid::Uuid),
    #[error("no batch with id {0}")]
    BatchNotFound(uuid::Uuid),
    #[error("no route for {0}")]
    RouteNotFound(String),
    #[error("no live worker with id {0:?}")]
    WorkerNotFound(String),
    // 405
    #[error("method {method} is not allowed here; allowed: {allowed}")]
    MethodNotAllowed { method: String, allowed: String },
    // 409
    #[error("the Idempotency-Key was already used for a different request")]
    IdempotencyKeyReused,
    #[error("job {id} is {status}; the result is ready when it has succeeded")]
    JobNotFinished { id: uuid::Uuid, status: &'static str },
    #[error("job {id} failed ({code}): {message}")]
    JobFailed { id: uuid::Uuid, code: String, message: String },
    #[error("job {0} was canceled; it has no result")]
    JobCanceled(uuid::Uuid),
    // 410
    #[error("the result of job {0} was deleted by the retention policy")]
    ResultExpired(uuid::Uuid),
    #[error("job {id} already finished ({status}); nothing to cancel")]
    JobAlreadyFinished { id: uuid::Uuid, status: &'static str },
    // 413
    #[error("the upload is larger than the limit of {0} MiB")]
    UploadTooLarge(u64),
    #[error("the request body is larger than the limit of {0} bytes")]
    BodyTooLarge(usize),
    #[error("a batch holds at most {0} files or inputs (api.max_batch_items)")]
    TooManyBatchItems(usize),
    // 429
    #[error("this API key already has {limit} jobs queued, its limit; retry when some have started")]
    TooManyQueuedJobs { limit: i64 },
    // 422: well-formed, but refused.
    #[error("{field}: {message}")]
    InvalidOption { field: String, message: String },
    #[error("{0}")]
    UrlNotAllowed(String),
    #[error("callback_url: {0}")]
    CallbackUrlNotAllowed(String),
    #[error("{field}: {message}")]
    InvalidConfig { field: String, message: String },
    #[error(
        "callback_url needs a signing secret: set webhooks.secret (APP_WEBHOOKS__SECRET), or submit with an API key"
    )]
    WebhookSecretNotConfigured,
    #[error("model {name:?} is not installed; installed: {}", if installed.is_empty() { "none".to_string() } else { installed.join(", ") })]
    ModelNotInstalled { name: String, installed: Vec<String> },
    #[error("{0}")]
    InputNotFound(String),
    #[error("{0}")]
    InputNotAFile(String),
    // 5xx: the message is generic, the cause goes to the log.
    #[error("not ready: {0} unreachable")]
    NotReady(String),
    #[error("the service already has {limit} jobs queued, its limit; retry later")]
    QueueFull { limit: i64, retry_after: u64 },
    #[error("the job database is unavailable; retry shortly")]
    DatabaseUnavailable(#[source] jobs::StoreError),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        Self::Internal(e.into())
    }

    /// The `Retry-After` seconds this answer carries, if any.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::TooManyQueuedJobs { .. } => Some(QUEUE_RETRY_AFTER_SECS),
            Self::DatabaseUnavailable(_) => Some(DATABASE_RETRY_AFTER_SECS),
            Self::QueueFull { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// The headers this answer carries besides its body, in whichever shape it is written.
    pub fn headers(&self) -> Vec<(HeaderName, String)> {
        let mut headers = match self {
            Self::MissingApiKey | Self::InvalidApiKey => vec![(WWW_AUTHENTICATE, "Bearer".into())],
            Self::MethodNotAllowed { allowed, .. } => vec![(ALLOW, allowed.clone())],
            _ => vec![],
        };
        if let Some(secs) = self.retry_after() {
            headers.push((RETRY_AFTER, secs.to_string()));
        }
        headers
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidBody(_) => "invalid_body",
            Self::UnsupportedContentType(_) => "unsupported_content_type",
            Self::InvalidQuery(_) => "invalid_query",
            Self::InvalidPath(_) => "invalid_path_parameter",
            Self::InvalidJobId(_) => "invalid_job_id",
            Self::InvalidBatchId(_) => "invalid_batch_id",
            Self::InvalidCursor => "invalid_cursor",
            Self::InvalidFormat(_) => "invalid_format",
            Self::InvalidIdempotencyKey => "invalid_idempotency_key",
            Self::MissingFile => "missing_file",
            Self::EmptyUpload => "empty_upload",
            Self::InvalidUrl(_) => "invalid_url",
            Self::PathNotAbsolute => "path_not_absolute",
            Self::InvalidCallbackUrl(_) => "invalid_callback_url",
            Self::CallbackUrlNotAllowed(_) => "callback_url_not_allowed",
            Self::WebhookSecretNotConfigured => "webhook_secret_not_configured",
            Self::MissingApiKey => "missing_api_key",
            Self::InvalidApiKey => "invalid_api_key",
            Self::AdminRequired => "admin_required",
            Self::PathNotAllowed(_) => "path_not_allowed",
            Self::JobNotFound(_) => "job_not_found",
            Self::BatchNotFound(_) => "batch_not_found",
            Self::RouteNotFound(_) => "not_found",
            Self::WorkerNotFound(_) => "worker_not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::JobNotFinished { .. } => "job_not_finished",
            Self::JobFailed { .. } => "job_failed",
            Self::JobCanceled(_) => "job_canceled",
            Self::ResultExpired(_) => "result_expired",
            Self::InvalidConfig { .. } => "invalid_config",
            Self::JobAlreadyFinished { .. } => "job_already_finished",
            Self::UploadTooLarge(_) => "upload_too_large",
            Self::BodyTooLarge(_) => "body_too_large",
            Self::TooManyBatchItems(_) => "too_many_batch_items",
            Self::TooManyQueuedJobs { .. } => "too_many_queued_jobs",
            Self::InvalidOption { .. } => "invalid_option",
            Self::UrlNotAllowed(_) => "url_not_allowed",
            Self::ModelNotInstalled { .. } => "model_not_installed",
            Self::InputNotFound(_) => "input_not_found",
            Self::InputNotAFile(_) => "input_not_a_file",
            Self::NotReady(_) => "not_ready",
            Self::QueueFull { .. } => "queue_full",
            Self::DatabaseUnavailable(_) => "database_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::MissingApiKey | Self::InvalidApiKey => StatusCode::UNAUTHORIZED,
            Self::PathNotAllowed(_) | Self::AdminRequired => StatusCode::FORBIDDEN,
            Self::TooManyQueuedJobs { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::JobNotFound(_) | Self::BatchNotFound(_) | Self::RouteNotFound(_) | Self::WorkerNotFound(_) => {
                StatusCode::NOT_FOUND
            }
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::IdempotencyKeyReused
            | Self::JobNotFinished { .. }
            | Self::JobFailed { .. }
            | Self::JobCanceled(_)
            | Self::JobAlreadyFinished { .. } => StatusCode::CONFLICT,
            Self::UploadTooLarge(_) | Self::BodyTooLarge(_) | Self::TooManyBatchItems(_) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            Self::ResultExpired(_) => StatusCode::GONE,
            Self::InvalidOption { .. }
            | Self::UrlNotAllowed(_)
            | Self::CallbackUrlNotAllowed(_)
            | Self::InvalidConfig { .. }
            | Self::WebhookSecretNotConfigured
            | Self::ModelNotInstalled { .. }
            | Self::InputNotFound(_)
            | Self::InputNotAFile(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotReady(_) | Self::DatabaseUnavailable(_) | Self::QueueFull { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl ApiError {
    /// The error object of the body, also for answers that report several errors at once.
    pub fn object(&self) -> ErrorObject {
        let kind = if self.status().is_server_error() { "internal" } else { "invalid_request" };
        ErrorObject { code: self.code(), message: self.to_string(), kind }
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorObject,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorObject {
    /// Stable, machine-readable, snake_case; e.g. `job_not_found`.
    #[schema(example = "job_not_found")]
    pub code: &'static str,
    /// What went wrong and how to fix it, for humans.
    pub message: String,
    /// `invalid_request` for 4xx (fix the request), `internal` for 5xx (retry later).
    #[serde(rename = "type")]
    #[schema(example = "invalid_request")]
    pub kind: &'static str,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status();
        match self {
            Self::Internal(cause) => tracing::error!(error = format!("{cause:#}"), "internal error"),
            Self::DatabaseUnavailable(cause) => tracing::warn!(error = %cause, "database unavailable"),
            _ => {}
        }
        let body = ErrorBody { error: self.object() };
        let mut response = HttpResponse::build(status);
        for header in self.headers() {
            response.insert_header(header);
        }
        response.json(body)
    }
}
