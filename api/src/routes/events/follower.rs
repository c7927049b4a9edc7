//! Following one job for an event stream: each poll reads the job and its new partial segments
//! (one query) and turns what changed since the client's [`Position`] into events.

use std::time::Duration;

use actix_web::web;
use futures_util::Stream;
use jobs::{Job, JobStatus, PartialsCursor};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::data::{EventName, ProgressEventData, SegmentEventData, StatusEventData};
use super::position::{permille, stage_tag, Position};
use crate::error::ApiError;
use crate::follow::{RunReader, FIRST_POLL_DELAY, KEEPALIVE, MAX_POLL_DELAY};
use crate::state::AppState;

/// One event: its name, its id and its data.
pub(super) struct Event {
    pub name: EventName,
    pub id: String,
    pub data: Value,
}

/// What a stream sends next.
pub(super) enum Update {
    Events(Vec<Event>),
    /// Nothing happened for [`KEEPALIVE`]: time for a keepalive.
    Quiet,
    /// The job can no longer be read (deleted, or the database failed); the stream ends.
    Failed(ApiError),
}

pub(super) struct Follower {
    state: web::Data<AppState>,
    id: Uuid,
    reader: RunReader,
    at: Position,
    delay: Duration,
    finished: bool,
}

impl Follower {
    /// Follows `job` for a client at `at` (the start, or where it left off).
    pub fn new(state: web::Data<AppState>, job: &Job, at: Position) -> Self {
        // The reader starts where the client is in the current run; in another run, from 0.
        let reader = if at.status.is_some() && at.same_run(job) {
            RunReader::at(PartialsCursor { attempt: job.attempt, worker_id: job.worker_id.clone(), next: at.segments })
        } else {
            RunReader::default()
        };
        Self { state, id: job.id, reader, at, delay: FIRST_POLL_DELAY, finished: false }
    }

    /// The job ended and its final status is sent: nothing more will come.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// The updates after the first poll, until the job's end. A stream, so that the transport
    /// drives it and dropping it (the client went away) stops the polling at once.
    pub fn updates(self) -> impl Stream<Item = Update> {
        futures_util::stream::unfold(Some(self), |follower| async move {
            let mut follower = follower?;
            if follower.finished {
                return None;
            }
            match follower.next(KEEPALIVE).await {
                Ok(events) if !events.is_empty() => Some((Update::Events(events), Some(follower))),
                Ok(_) if follower.finished => None,
                Ok(_) => Some((Update::Quiet, Some(follower))),
                Err(e) => Some((Update::Failed(e), None)),
            }
        })
    }

    /// The next events, polling with backoff; none if nothing happened within `quiet`
    /// (`Duration::ZERO`: poll once).
    pub async fn next(&mut self, quiet: Duration) -> Result<Vec<Event>, ApiError> {
        let since = tokio::time::Instant::now();
        loop {
            let events = self.poll().await?;
            if !events.is_empty() || self.finished {
                self.delay = FIRST_POLL_DELAY;
                return Ok(events);
            }
            let left = quiet.saturating_sub(since.elapsed());
            if left.is_zero() {
                return Ok(events);
            }
            tokio::time::sleep(self.delay.min(left)).await;
            self.delay = (self.delay * 2).min(MAX_POLL_DELAY);
        }
    }

    async fn poll(&mut self) -> Result<Vec<Event>, ApiError> {
        let read = self.reader.read(&self.state.store, self.id).await?;
        let job = &read.job;
        let status = job.status();
        // A succeeded job's stored result is the truth: its segments the client lacks. Read
        // before anything changes, so that a failed read leaves the position as it was.
        let result = match status {
            JobStatus::Succeeded if self.at.status != Some(status) => self.result_segments().await?,
            _ => Vec::new(),
        };
        let mut events = Vec::new();
        let run_changed = !self.at.same_run(job);
        if run_changed {
            self.at.enter_run(job, read.first);
        }
        let stage = stage_tag(job.stage.as_deref());
        if !status.is_finished() && (run_changed || self.at.status != Some(status) || self.at.stage != stage) {
            self.at.status = Some(status);
            self.at.stage = stage.clone();
            events.push(self.event(EventName::Status, StatusEventData::from(job)));
        }
        let progress = permille(job.progress);
        if progress != self.at.progress {
            self.at.progress = progress;
            events.push(self.event(EventName::Progress, ProgressEventData { progress: f64::from(progress) / 1000.0 }));
        }
        let segments: Vec<(usize, Value)> = if status == JobStatus::Succeeded {
            let from = self.at.segments.max(0) as usize;
            result.into_iter().enumerate().skip(from).collect()
        } else {
            let first = read.first.max(self.at.segments);
            let skip = (first - read.first) as usize;
            read.segments.into_iter().enumerate().skip(skip).map(|(k, s)| (read.first as usize + k, s)).collect()
        };
        for (index, segment) in segments {
            self.at.segments = index as i32 + 1;
            events.push(self.event(EventName::Segment, SegmentEventData { index, segment }));
        }
        if status.is_finished() {
            if self.at.status != Some(status) {
                self.at.status = Some(status);
                self.at.stage = stage;
                events.push(self.event(EventName::Status, StatusEventData::from(job)));
            }
            self.finished = true;
        }
        Ok(events)
    }

    /// The segments of the job's stored result (none once retention purged it).
    async fn result_segments(&self) -> Result<Vec<Value>, ApiError> {
        let Some(text) = self.state.store.result(self.id).await? else {
            return Ok(Vec::new());
        };
        let mut result: Value = serde_json::from_str(&text)
            .map_err(|e| ApiError::internal(anyhow::anyhow!("stored result of job {}: {e}", self.id)))?;
        match result.get_mut("segments").map(Value::take) {
            Some(Value::Array(segments)) => Ok(segments),
            _ => Ok(Vec::new()),
        }
    }

    fn event(&self, name: EventName, data: impl Serialize) -> Event {
        Event { name, id: self.at.id(), data: serde_json::to_value(data).unwrap_or_default() }
    }
}
