//! Event ids. The id of an event is the position a client has reached once it has that event:
//! everything the stream needs to know to go on from there without sending anything twice or
//! leaving anything out, so any api process can resume any client without remembering it.
//!
//! `<attempt>.<worker>.<segments>.<status>.<progress>.<stage>`, e.g.
//! `2.3f9a0c2e.5.running.420.transcribe`:
//!
//! - `attempt` and `worker` name the run whose segments the client has: the job's attempt and
//!   8 hex digits of the SHA-256 of its worker's id (`-` before any worker claimed it). A worker
//!   that hands a job back at shutdown leaves the attempt number as it was, hence the worker.
//! - `segments`: how many segments of that run the client has (the index of the next).
//! - `status`, `progress` (in thousandths) and `stage` (`-` for none): the last it was told.
//!
//! Ids are compared whole by the client (they are opaque to it); only the server reads them.

use jobs::{Job, JobStatus};
use sha2::{Digest, Sha256};

/// What a client has been sent (see the module's documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Position {
    pub attempt: i32,
    pub worker: Option<String>,
    pub segments: i32,
    /// `None` only before the first event.
    pub status: Option<JobStatus>,
    pub progress: u16,
    pub stage: Option<String>,
}

impl Position {
    /// The id of the event that brought the client here.
    pub fn id(&self) -> String {
        let status = self.status.map_or("-", JobStatus::as_str);
        format!(
            "{}.{}.{}.{status}.{}.{}",
            self.attempt,
            self.worker.as_deref().unwrap_or("-"),
            self.segments,
            self.progress,
            self.stage.as_deref().unwrap_or("-"),
        )
    }

    /// The position an id names; `None` for anything this stream never sent.
    pub fn parse(id: &str) -> Option<Self> {
        let mut fields = id.trim().split('.');
        let mut next = || fields.next();
        let attempt = next()?.parse().ok().filter(|a: &i32| *a >= 0)?;
        let worker = optional(next()?, is_hex_tag)?;
        let segments = next()?.parse().ok().filter(|n: &i32| *n >= 0)?;
        let status = next()?.parse().ok()?;
        let progress = next()?.parse().ok().filter(|p: &u16| *p <= 1000)?;
        let stage = optional(next()?, |s| is_plain(s) || is_hex_tag(s))?;
        next().is_none().then_some(Self { attempt, worker, segments, status: Some(status), progress, stage })
    }

    /// Whether the client's segments are from the job's current run.
    pub fn same_run(&self, job: &Job) -> bool {
        self.attempt == job.attempt && self.worker == job.worker_id.as_deref().map(worker_tag)
    }

    /// Moves to the job's current run, of which the client has `segments` segments.
    pub fn enter_run(&mut self, job: &Job, segments: i32) {
        self.attempt = job.attempt;
        self.worker = job.worker_id.as_deref().map(worker_tag);
        self.segments = segments;
    }
}

/// The job's progress as the stream counts it: in thousandths, so that a change the client
/// cannot see is no event.
pub(super) fn permille(progress: f32) -> u16 {
    (progress.clamp(0.0, 1.0) * 1000.0).round() as u16
}

/// A stage as ids write it: its name, or a hash tag when the name is not plain.
pub(super) fn stage_tag(stage: Option<&str>) -> Option<String> {
    stage.map(|s| if is_plain(s) { s.to_string() } else { hex_tag(s) })
}

fn worker_tag(worker_id: &str) -> String {
    hex_tag(worker_id)
}

fn hex_tag(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..4])
}

fn is_hex_tag(s: &str) -> bool {
    s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A name that goes into an id as it is: no dots, nothing a header or a URL would mangle.
fn is_plain(s: &str) -> bool {
    (1..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// `-` for none, else the value if it is well formed; `None` (outer) when it is not.
fn optional(field: &str, valid: impl Fn(&str) -> bool) -> Option<Option<String>> {
    match field {
        "-" => Some(None),
        s if valid(s) => Some(Some(s.to_string())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_back_as_the_position_they_were_made_from() {
        let position = Position {
            attempt: 2,
            worker: Some(worker_tag("host-12-abcdef")),
            segments: 5,
            status: Some(JobStatus::Running),
            progress: 420,
            stage: stage_tag(Some("transcribe")),
        };
        let id = position.id();
        assert_eq!(id, format!("2.{}.5.running.420.transcribe", worker_tag("host-12-abcdef")));
        assert_eq!(Position::parse(&id), Some(position));
        let queued = Position { status: Some(JobStatus::Queued), ..Position::default() };
        assert_eq!(queued.id(), "0.-.0.queued.0.-");
        assert_eq!(Position::parse("0.-.0.queued.0.-"), Some(queued));
        assert_eq!(stage_tag(Some("odd stage")).unwrap().len(), 8);
    }

    #[test]
    fn anything_else_is_not_an_id() {
        for bad in [
            "",
            "1",
            "0.-.0.queued.0",
            "0.-.0.queued.0.-.x",
            "-1.-.0.queued.0.-",
            "0.xyz.0.queued.0.-",
            "0.-.0.done.0.-",
            "0.-.0.queued.1001.-",
            "0.-.0.queued.0.Stage",
            "0.-.-3.queued.0.-",
        ] {
            assert_eq!(Position::parse(bad), None, "{bad:?}");
        }
    }
}
