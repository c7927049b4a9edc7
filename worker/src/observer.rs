//! Carries progress, log lines, finished segments and cancellation between the pipeline's thread
//! and the job's async side, which writes progress and segments to PostgreSQL at most once per
//! interval.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use speech::Stage;
use tokio::sync::mpsc;

pub enum Event {
    Progress {
        stage: &'static str,
        overall: f32,
    },
    Log {
        stage: &'static str,
        message: String,
    },
    /// Segments the pipeline will not change any more, continuing the previous ones.
    Segments(Vec<transcript::Segment>),
}

/// Where each stage sits in the job's overall progress (start, share). Stages that do not run
/// are skipped over; overall progress never moves backwards.
fn span(stage: Stage) -> (f32, f32) {
    match stage {
        Stage::Decode => (0.05, 0.05),
        Stage::Vad => (0.10, 0.05),
        Stage::Transcribe => (0.15, 0.65),
        Stage::Align => (0.80, 0.10),
        Stage::Diarize => (0.90, 0.10),
    }
}

pub struct JobObserver {
    cancel: Arc<AtomicBool>,
    events: mpsc::UnboundedSender<Event>,
    last: Mutex<(Instant, f32)>,
    /// When each stage first reported, in order.
    stages: Mutex<Vec<(&'static str, Instant)>>,
}

impl JobObserver {
    pub fn new(cancel: Arc<AtomicBool>, events: mpsc::UnboundedSender<Event>) -> Self {
        Self {
            cancel,
            events,
            last: Mutex::new((Instant::now() - Duration::from_secs(1), 0.0)),
            stages: Mutex::default(),
        }
    }

    fn mark(&self, stage: Stage) {
        let mut stages = self.stages.lock().unwrap_or_else(|e| e.into_inner());
        if !stages.iter().any(|(name, _)| *name == stage.as_str()) {
            stages.push((stage.as_str(), Instant::now()));
        }
    }

    /// Seconds per stage: from a stage's first report to the next stage's first report (or to
    /// `end` for the last). Stages that stream into each other are approximated this way.
    pub fn stage_secs(&self, end: Instant) -> Vec<(&'static str, f64)> {
        let stages = self.stages.lock().unwrap_or_else(|e| e.into_inner());
        let ends = stages.iter().skip(1).map(|(_, at)| *at).chain(std::iter::once(end));
        stages
            .iter()
            .zip(ends)
            .map(|((name, start), end)| (*name, end.saturating_duration_since(*start).as_secs_f64()))
            .collect()
    }
}

impl speech::Observer for JobObserver {
    fn progress(&self, stage: Stage, fraction: f64) {
        self.mark(stage);
        let (start, share) = span(stage);
        let overall = start + share * fraction.clamp(0.0, 1.0) as f32;
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        // The pipeline may report thousands of times; pass on a few per second.
        if overall > last.1 && (last.0.elapsed() >= Duration::from_millis(100) || fraction >= 1.0) {
            *last = (Instant::now(), overall);
            let _ = self.events.send(Event::Progress { stage: stage.as_str(), overall });
        }
    }

    fn log(&self, stage: Stage, message: &str) {
        self.mark(stage);
        let _ = self.events.send(Event::Log { stage: stage.as_str(), message: message.to_string() });
    }

    fn segments(&self, segments: &[transcript::Segment]) {
        if !segments.is_empty() {
            let _ = self.events.send(Event::Segments(segments.to_vec()));
        }
    }

    fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}
