//! The data of each event, as the stream sends it and the spec documents it.

use jobs::{Job, JobStatus};
use serde::Serialize;
use utoipa::ToSchema;

use crate::views::JobErrorView;

/// The events' names: the `event:` field of server-sent events, `event` of WebSocket messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventName {
    Status,
    Progress,
    Segment,
    /// The job can no longer be read (it was deleted, or the database failed); the stream ends.
    Error,
}

impl EventName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Progress => "progress",
            Self::Segment => "segment",
            Self::Error => "error",
        }
    }
}

/// One server-sent event of `getJobEvents`, by its fields.
#[derive(Debug, ToSchema)]
pub struct JobServerSentEvent {
    /// The position the client reached with this event: send it back as `Last-Event-ID` or
    /// `since` to resume. An `error` has none.
    pub id: Option<String>,
    pub event: EventName,
    /// JSON: `StatusEventData`, `ProgressEventData`, `SegmentEventData`, or `ErrorBody` for `error`.
    #[schema(content_media_type = "application/json")]
    pub data: String,
}

/// `status`: the job's state changed (or a new run began: another attempt, or another worker
/// after the last one handed the job back). The final one (`succeeded`, `failed`, `canceled`)
/// is the stream's last event.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusEventData {
    pub status: JobStatus,
    /// The pipeline stage (`fetch`, `decode`, `vad`, `transcribe`, `align`, `diarize`, ...).
    pub stage: Option<String>,
    pub attempt: i32,
    pub worker_id: Option<String>,
    /// Only when the job failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JobErrorView>,
}

impl From<&Job> for StatusEventData {
    fn from(job: &Job) -> Self {
        let error = job
            .error_code
            .as_ref()
            .map(|code| JobErrorView { code: code.clone(), message: job.error_message.clone().unwrap_or_default() });
        Self {
            status: job.status(),
            stage: job.stage.clone(),
            attempt: job.attempt,
            worker_id: job.worker_id.clone(),
            error,
        }
    }
}

/// `progress`: the job's progress moved (to the thousandth); it starts again from 0 in a new run.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressEventData {
    /// From 0 to 1.
    #[schema(example = 0.42)]
    pub progress: f64,
}

/// `segment`: a finished segment. Within a run they come in order from index 0; a segment
/// whose `index` is lower than the number you hold means the job started over (a new run, or
/// the stored result after a run you missed): drop your segments from `index` on, then keep it.
/// That way your list always equals the final result's segments once the job succeeded.
#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentEventData {
    pub index: usize,
    /// A segment as in the JSON result (`start`, `end`, `text`, `words`, ...); `speaker` only
    /// comes with the segments of the stored result.
    #[schema(value_type = Object)]
    pub segment: serde_json::Value,
}

/// One WebSocket text message: an event, or an `error` (id `null`, data in the error shape)
/// before the connection closes.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobEventMessage {
    /// The event's id: pass the last one as `since` to resume.
    pub id: Option<String>,
    pub event: EventName,
    /// `StatusEventData`, `ProgressEventData`, `SegmentEventData` or `ErrorBody`.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}
