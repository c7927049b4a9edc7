//! `stream=true`: the server-sent event body, fed by polling the job's partial segments.

use std::convert::Infallible;
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{web, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use transcript::Transcript;
use uuid::Uuid;

use super::respond::full_text;
use super::wait::{finished, pause};
use crate::error::OpenAiError;
use crate::follow::{event_stream, RunReader, FIRST_POLL_DELAY, KEEPALIVE};
use crate::state::AppState;

/// `stream=true`: server-sent events as the job's segments are stored. Until the first delta
/// is ready nothing is sent, so that a job failing early (undecodable audio) or the wait timing
/// out still answers with its HTTP status; after that, an error ends the stream with an
/// `error` event in OpenAI's shape. The body is a stream polled by actix-web and no task is
/// spawned: a client that disconnects drops it, and with it the polling.
pub(super) async fn stream(state: web::Data<AppState>, id: Uuid) -> Result<HttpResponse, OpenAiError> {
    let mut follow = Follow::new(state, id);
    let first = loop {
        match follow.poll().await? {
            Update::Deltas(deltas) if deltas.is_empty() => follow.pause().await?,
            Update::Deltas(deltas) => break delta_events(&deltas),
            Update::Done { deltas, text } => return Ok(event_stream().body(delta_events(&deltas) + &done_event(&text))),
        }
    };
    let rest = futures_util::stream::unfold(Some(follow), |follow| async move {
        let mut follow = follow?;
        let quiet_since = tokio::time::Instant::now();
        let (events, next) = loop {
            match follow.poll().await {
                Ok(Update::Deltas(deltas)) if deltas.is_empty() => {
                    if quiet_since.elapsed() >= KEEPALIVE {
                        break (": keepalive\n\n".to_string(), Some(follow));
                    }
                    if let Err(e) = follow.pause().await {
                        break (error_event(&e), None);
                    }
                }
                Ok(Update::Deltas(deltas)) => break (delta_events(&deltas), Some(follow)),
                Ok(Update::Done { deltas, text }) => break (delta_events(&deltas) + &done_event(&text), None),
                Err(e) => break (error_event(&e), None),
            }
        };
        Some((Ok::<_, Infallible>(Bytes::from(events)), next))
    });
    let body = futures_util::stream::once(async move { Ok::<_, Infallible>(Bytes::from(first)) }).chain(rest);
    Ok(event_stream().streaming(body))
}

fn delta_events(deltas: &[String]) -> String {
    deltas
        .iter()
        .map(|delta| format!("data: {}\n\n", json!({"type": "transcript.text.delta", "delta": delta})))
        .collect()
}

fn done_event(text: &str) -> String {
    format!("data: {}\n\n", json!({"type": "transcript.text.done", "text": text}))
}

/// OpenAI's error object in an event; the SDKs raise it as an `APIError`.
fn error_event(e: &OpenAiError) -> String {
    format!("data: {}\n\n", json!({"type": "error", "error": e.object()}))
}

/// What a stored partial segment carries that the stream needs.
#[derive(Deserialize)]
struct PartialSegment {
    #[serde(default)]
    text: String,
    #[serde(default)]
    end: f64,
}

enum Update {
    /// The text of segments finished since the last poll; none yet, maybe.
    Deltas(Vec<String>),
    /// The job succeeded: the text of the segments not sent yet, and the whole text.
    Done { deltas: Vec<String>, text: String },
}

/// Follows one job for a stream: which partial segments were read, and what was sent.
struct Follow {
    state: web::Data<AppState>,
    id: Uuid,
    deadline: tokio::time::Instant,
    delay: Duration,
    /// The run (attempt, worker) whose partial segments are read, and the next one's index.
    reader: RunReader,
    /// How many deltas were sent, and where in the audio the last one ended.
    sent: usize,
    sent_until: f64,
    /// After a worker was lost (or handed the job back): the next run transcribes from the
    /// start again, and its segments that end by this time repeat text the client already has.
    skip_until: Option<f64>,
}

impl Follow {
    fn new(state: web::Data<AppState>, id: Uuid) -> Self {
        let deadline = tokio::time::Instant::now() + state.settings.openai.wait();
        Self {
            state,
            id,
            deadline,
            delay: FIRST_POLL_DELAY,
            reader: RunReader::default(),
            sent: 0,
            sent_until: f64::NEG_INFINITY,
            skip_until: None,
        }
    }

    /// One read of the job and its new partial segments (one query).
    async fn poll(&mut self) -> Result<Update, OpenAiError> {
        let read = self.reader.read(&self.state.store, self.id).await?;
        if read.new_run {
            // The first run, or another after a worker was lost or handed the job back: it
            // transcribes from the start again.
            self.skip_until = (self.sent > 0).then_some(self.sent_until);
        }
        if let Some(transcript) = finished(&self.state, &read.job).await? {
            let deltas = self.unsent(&transcript);
            return Ok(Update::Done { deltas, text: full_text(&transcript) });
        }
        let mut deltas = Vec::new();
        for segment in read.segments {
            let segment: PartialSegment = match serde_json::from_value(segment) {
                Ok(segment) => segment,
                Err(e) => {
                    tracing::warn!(job_id = %self.id, error = %e, "unreadable partial segment; skipped");
                    continue;
                }
            };
            if self.skip_until.is_some_and(|until| segment.end <= until) {
                continue;
            }
            self.sent += 1;
            self.sent_until = self.sent_until.max(segment.end);
            deltas.push(segment.text);
        }
        if !deltas.is_empty() {
            self.delay = FIRST_POLL_DELAY;
        }
        Ok(Update::Deltas(deltas))
    }

    /// The final segments the client has not had as deltas. The partial segments of a run
    /// are the first segments of its result, so it is the rest by index of the result's run
    /// (which the reader is at now), less those ending before the text sent from earlier runs.
    fn unsent(&self, transcript: &Transcript) -> Vec<String> {
        let start = self.reader.cursor().next.max(0) as usize;
        transcript
            .segments
            .iter()
            .skip(start)
            .filter(|s| self.skip_until.is_none_or(|until| s.end > until))
            .map(|s| s.text.clone())
            .collect()
    }

    async fn pause(&mut self) -> Result<(), OpenAiError> {
        pause(self.id, self.deadline, &mut self.delay).await
    }
}
