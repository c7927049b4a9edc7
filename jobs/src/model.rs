//! What a job is: its states, its input, its options and the rows the store returns.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use vocab::JobOptions;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Canceled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [Self::Queued, Self::Running, Self::Succeeded, Self::Failed, Self::Canceled];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Canceled)
    }
}

impl std::str::FromStr for JobStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| {
            format!("unknown status {s:?}; expected one of queued, running, succeeded, failed, canceled")
        })
    }
}

/// Where a job's audio comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JobInput {
    /// Uploaded by the client and kept in audio storage under `key`.
    Upload { key: String, filename: Option<String>, size_bytes: u64 },
    /// Downloaded by the worker.
    Url { url: String },
    /// A file on the server, already checked to lie inside an input root.
    Path { path: String },
}

/// A job row, without its result.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Job {
    pub id: Uuid,
    #[sqlx(try_from = "String")]
    pub status: StatusColumn,
    pub stage: Option<String>,
    pub progress: f32,
    #[sqlx(json)]
    pub input: JobInput,
    #[sqlx(json)]
    pub options: JobOptions,
    pub duration_secs: Option<f64>,
    pub attempt: i32,
    pub max_attempts: i32,
    pub worker_id: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub cancel_requested: bool,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The API key that submitted the job; `None` when the service ran open.
    pub owner: Option<Uuid>,
    /// Where to POST the job's status when it finishes.
    pub callback_url: Option<String>,
    /// When retention deleted the job's audio and result.
    pub purged_at: Option<DateTime<Utc>>,
}

impl Job {
    pub fn status(&self) -> JobStatus {
        self.status.0
    }
}

/// A batch row (`POST /v1/batches`): jobs submitted together, each an ordinary job that
/// points at it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Batch {
    pub id: Uuid,
    /// As [`Job::owner`]: the API key that submitted it.
    pub owner: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// Adapter so sqlx can read the text column into a [`JobStatus`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusColumn(pub JobStatus);

impl TryFrom<String> for StatusColumn {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse().map(StatusColumn)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct LogLine {
    /// Pass the last id seen as `since` to read only newer lines.
    pub id: i64,
    pub at: DateTime<Utc>,
    pub level: String,
    pub stage: Option<String>,
    /// `api` for lines written by the API, else the worker's id.
    pub worker_id: Option<String>,
    pub message: String,
}

/// A worker as it last reported itself.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct WorkerInfo {
    pub id: String,
    pub hostname: String,
    pub device: String,
    pub version: String,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    pub current_job: Option<Uuid>,
    /// Models the worker has loaded, e.g. `tiny.en`.
    pub loaded_models: Vec<String>,
}

/// Identifies one attempt of one job by one worker; every write a worker makes is fenced by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub job_id: Uuid,
    pub worker_id: String,
    pub attempt: i32,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The transcript as JSON.
    Succeeded {
        result: serde_json::Value,
        duration_secs: f64,
    },
    Failed {
        code: String,
        message: String,
    },
    Canceled,
}
