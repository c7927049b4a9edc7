//! What the API answers: the JSON views of jobs, logs and workers.

use chrono::{DateTime, Utc};
use jobs::{Job, JobInput, JobStatus, LogLine, WorkerInfo};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use vocab::JobOptions;

/// Where to go next for a job.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobLinks {
    #[serde(rename = "self")]
    #[schema(example = "/v1/jobs/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")]
    pub self_: String,
    pub result: String,
    pub logs: String,
    pub cancel: String,
}

impl JobLinks {
    pub fn new(id: Uuid) -> Self {
        let base = format!("/v1/jobs/{id}");
        Self {
            result: format!("{base}/result"),
            logs: format!("{base}/logs"),
            cancel: format!("{base}/cancel"),
            self_: base,
        }
    }
}

/// The answer to a submission: small, like Meilisearch's enqueued task.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubmittedJob {
    pub id: Uuid,
    pub status: JobStatus,
    pub created_at: DateTime<Utc>,
    pub links: JobLinks,
}

impl SubmittedJob {
    pub fn new(job: &Job) -> Self {
        Self { id: job.id, status: job.status(), created_at: job.created_at, links: JobLinks::new(job.id) }
    }
}

/// Where the audio comes from, as the client described it (the storage key stays internal).
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputView {
    Upload {
        filename: Option<String>,
        size_bytes: u64,
    },
    Url {
        url: String,
    },
    /// The canonical path the job reads.
    Path {
        path: String,
    },
}

impl From<&JobInput> for InputView {
    fn from(input: &JobInput) -> Self {
        match input {
            JobInput::Upload { filename, size_bytes, .. } => {
                Self::Upload { filename: filename.clone(), size_bytes: *size_bytes }
            }
            JobInput::Url { url } => Self::Url { url: url.clone() },
            JobInput::Path { path } => Self::Path { path: path.clone() },
        }
    }
}

/// Why a job failed.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobErrorView {
    #[schema(example = "decode_failed")]
    pub code: String,
    pub message: String,
}

/// A job's full state.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    pub id: Uuid,
    pub status: JobStatus,
    /// The pipeline stage running now (`fetch`, `decode`, `vad`, `transcribe`, `align`, `diarize`, `store`).
    pub stage: Option<String>,
    /// From 0 to 1.
    pub progress: f32,
    /// Length of the audio in seconds, once known.
    pub duration: Option<f64>,
    pub attempt: i32,
    pub max_attempts: i32,
    pub worker_id: Option<String>,
    pub input: InputView,
    pub options: JobOptions,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Seconds spent processing: from `started_at` to `finished_at`, or to now while running.
    pub elapsed_secs: Option<f64>,
    pub cancel_requested: bool,
    /// Where the job's status is POSTed when it finishes.
    pub callback_url: Option<String>,
    /// When the retention policy deleted the job's audio and result.
    pub purged_at: Option<DateTime<Utc>>,
    pub error: Option<JobErrorView>,
    pub links: JobLinks,
    /// Queued jobs, in `getJobStatus` only (null otherwise): 1 for the next job a worker takes;
    /// the jobs queued before this one, plus one.
    pub queue_position: Option<i64>,
    /// Queued jobs, in `getJobStatus` only: seconds until a worker should take the job, from the
    /// work ahead of it, the live workers and the speed of recently finished jobs. Null while no
    /// worker is live.
    pub estimated_wait_secs: Option<f64>,
    /// `estimated_wait_secs` from now.
    pub estimated_start_at: Option<DateTime<Utc>>,
}

impl JobView {
    /// The view with a queued job's place in the queue.
    pub fn in_queue(mut self, place: &jobs::store::QueuePlace) -> Self {
        self.queue_position = Some(place.position);
        self.estimated_wait_secs = place.wait_secs.map(|secs| (secs * 10.0).round() / 10.0);
        self.estimated_start_at =
            place.wait_secs.map(|secs| Utc::now() + chrono::Duration::milliseconds((secs * 1000.0) as i64));
        self
    }
}

impl From<&Job> for JobView {
    fn from(job: &Job) -> Self {
        let elapsed_secs = job.started_at.map(|start| {
            let end = job.finished_at.unwrap_or_else(Utc::now);
            ((end - start).num_milliseconds().max(0) as f64) / 1000.0
        });
        let error = job
            .error_code
            .as_ref()
            .map(|code| JobErrorView { code: code.clone(), message: job.error_message.clone().unwrap_or_default() });
        Self {
            id: job.id,
            status: job.status(),
            stage: job.stage.clone(),
            progress: job.progress,
            duration: job.duration_secs,
            attempt: job.attempt,
            max_attempts: job.max_attempts,
            worker_id: job.worker_id.clone(),
            input: InputView::from(&job.input),
            options: job.options.clone(),
            created_at: job.created_at,
            started_at: job.started_at,
            finished_at: job.finished_at,
            elapsed_secs,
            cancel_requested: job.cancel_requested,
            callback_url: job.callback_url.clone(),
            purged_at: job.purged_at,
            error,
            links: JobLinks::new(job.id),
            queue_position: None,
            estimated_wait_secs: None,
            estimated_start_at: None,
        }
    }
}

/// One page of jobs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobList {
    pub jobs: Vec<JobView>,
    /// Pass as `cursor` to read the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Log lines of a job, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogPage {
    pub lines: Vec<LogLine>,
    /// Pass as `since` to read only newer lines.
    pub next_since: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueView {
    pub queued: i64,
    pub running: i64,
}

/// What a worker is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    /// Waiting for a job.
    Idle,
    /// Running a job.
    Busy,
    /// Asked to drain (`drainWorker`): finishing its job, taking no other, then exiting.
    Draining,
    /// Asked to restart (`restartWorker`): draining, then exiting to be started again.
    Restarting,
}

/// A live worker as it last reported itself, and its state.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerView {
    #[serde(flatten)]
    pub info: WorkerInfo,
    pub state: WorkerState,
}

impl From<jobs::store::WorkerPresence> for WorkerView {
    fn from(worker: jobs::store::WorkerPresence) -> Self {
        let state = match (worker.drain, worker.info.current_job) {
            (Some(jobs::store::Drain::Exit), _) => WorkerState::Draining,
            (Some(jobs::store::Drain::Restart), _) => WorkerState::Restarting,
            (None, Some(_)) => WorkerState::Busy,
            (None, None) => WorkerState::Idle,
        };
        Self { info: worker.info, state }
    }
}

/// Live workers and the size of the queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerStatus {
    pub workers: Vec<WorkerView>,
    pub queue: QueueView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Where to go next for a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchLinks {
    #[serde(rename = "self")]
    #[schema(example = "/v1/batches/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")]
    pub self_: String,
    pub cancel: String,
}

impl BatchLinks {
    pub fn new(id: Uuid) -> Self {
        let base = format!("/v1/batches/{id}");
        Self { cancel: format!("{base}/cancel"), self_: base }
    }
}

/// A job made from one item of a batch submission.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchItemJob {
    /// The item's place in the request, from 0: among the files, or among the inputs.
    pub index: usize,
    #[serde(flatten)]
    pub job: SubmittedJob,
}

/// An item refused on its own; the batch's other items were submitted.
#[derive(Debug, Serialize, ToSchema)]
pub struct RejectedItem {
    /// The item's place in the request, from 0: among the files, or among the inputs.
    pub index: usize,
    /// The file's name, or the URL or path, as given.
    pub input: Option<String>,
    pub error: crate::error::ErrorObject,
}

/// The answer to a batch submission.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubmittedBatch {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// One job per accepted item, in the items' order.
    pub jobs: Vec<BatchItemJob>,
    /// Items refused alone (an empty file, a URL or path that cannot be used, a queue limit);
    /// empty when every item became a job.
    pub rejected: Vec<RejectedItem>,
    pub links: BatchLinks,
}

/// How many of a batch's jobs are in each state.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct BatchCounts {
    pub total: usize,
    pub queued: usize,
    pub running: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub canceled: usize,
}

impl BatchCounts {
    pub fn of(jobs: &[Job]) -> Self {
        let mut counts = Self { total: jobs.len(), ..Self::default() };
        for job in jobs {
            *match job.status() {
                JobStatus::Queued => &mut counts.queued,
                JobStatus::Running => &mut counts.running,
                JobStatus::Succeeded => &mut counts.succeeded,
                JobStatus::Failed => &mut counts.failed,
                JobStatus::Canceled => &mut counts.canceled,
            } += 1;
        }
        counts
    }
}

/// A batch: its jobs' states counted, and the jobs themselves in the order they were submitted.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchView {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub counts: BatchCounts,
    /// Every job has finished (succeeded, failed or canceled).
    pub finished: bool,
    pub jobs: Vec<JobView>,
    pub links: BatchLinks,
}

impl BatchView {
    pub fn new(batch: &jobs::model::Batch, jobs: &[Job]) -> Self {
        Self {
            id: batch.id,
            created_at: batch.created_at,
            counts: BatchCounts::of(jobs),
            finished: jobs.iter().all(|job| job.status().is_finished()),
            jobs: jobs.iter().map(JobView::from).collect(),
            links: BatchLinks::new(batch.id),
        }
    }
}
