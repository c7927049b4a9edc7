//! Following a job while it runs, for the routes that stream it (OpenAI's `stream=true` and the
//! job events): reading the partial segments of its current run, the polling pace, keepalives,
//! and the server-sent events response.

use std::time::Duration;

use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};
use jobs::{Job, JobStore, PartialsCursor};
use uuid::Uuid;

use crate::error::ApiError;

/// The first pause between polls of a job; pauses double up to [`MAX_POLL_DELAY`], and start
/// again from here whenever something new was read.
pub const FIRST_POLL_DELAY: Duration = Duration::from_millis(50);
pub const MAX_POLL_DELAY: Duration = Duration::from_secs(1);

/// A comment line (server-sent events) or a ping (WebSocket) after this long without an event,
/// so that proxies keep the stream open and a client that went away is noticed (the write fails)
/// while its job is still running.
pub const KEEPALIVE: Duration = Duration::from_secs(15);

/// A `200` whose body is server-sent events.
pub fn event_stream() -> HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    response.content_type("text/event-stream").insert_header(("Cache-Control", "no-cache"));
    response
}

/// The `{"error": ...}` body an error answers with, for a stream that can no longer change its
/// HTTP status. Built by the error's own response, so the shape and the logging are the same.
pub async fn error_body(e: &ApiError) -> String {
    let body = actix_web::body::to_bytes(e.error_response().into_body()).await.unwrap_or_default();
    String::from_utf8_lossy(&body).into_owned()
}

/// One read of a job and the partial segments its current run finished since the last read.
pub struct RunRead {
    pub job: Job,
    /// Segments of the run, in order; `segments[0]` has index `first` in the run's transcript.
    pub segments: Vec<serde_json::Value>,
    pub first: i32,
    /// The job is in another run than at the last read (the first run, or a new one after a
    /// worker was lost or handed the job back): its segments are numbered from 0 again.
    pub new_run: bool,
}

/// Reads a job's partial segments run by run, each once.
#[derive(Debug, Default)]
pub struct RunReader {
    cursor: PartialsCursor,
}

impl RunReader {
    /// A reader that has read the segments before `cursor.next` of the cursor's run.
    pub fn at(cursor: PartialsCursor) -> Self {
        Self { cursor }
    }

    /// Where the reader stands: the run it read last and the index of the next segment.
    pub fn cursor(&self) -> &PartialsCursor {
        &self.cursor
    }

    /// The job and its new partial segments (one query); `JobNotFound` once it is deleted.
    pub async fn read(&mut self, store: &JobStore, id: Uuid) -> Result<RunRead, ApiError> {
        let read = store.job_with_partials(id, &self.cursor).await?.ok_or(ApiError::JobNotFound(id))?;
        let new_run = !self.cursor.same_run(&read.job);
        if new_run {
            self.cursor.attempt = read.job.attempt;
            self.cursor.worker_id = read.job.worker_id.clone();
        }
        self.cursor.next = read.first + read.segments.len() as i32;
        Ok(RunRead { job: read.job, segments: read.segments, first: read.first, new_run })
    }
}
