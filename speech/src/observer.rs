//! How a run talks back to its caller: the stages it reports and the [`Observer`] it reports to.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The stages a job goes through inside the pipeline, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Decode,
    Vad,
    Transcribe,
    Align,
    Diarize,
}

impl Stage {
    /// Every stage, in the order a run goes through them.
    pub const ALL: [Stage; 5] = [Stage::Decode, Stage::Vad, Stage::Transcribe, Stage::Align, Stage::Diarize];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Decode => "decode",
            Stage::Vad => "vad",
            Stage::Transcribe => "transcribe",
            Stage::Align => "align",
            Stage::Diarize => "diarize",
        }
    }
}

/// How the pipeline talks back to its caller. Called from the pipeline's threads (the runner's:
/// decode, VAD and diarization; the transcriber's: transcription and word alignment).
pub trait Observer: Send + Sync {
    /// `fraction` of `stage` is done (0..=1). Callers throttle writes themselves.
    fn progress(&self, stage: Stage, fraction: f64);
    fn log(&self, stage: Stage, message: &str);
    /// Checked between blocks of work; when true the pipeline stops with
    /// [`SpeechError::Cancelled`](crate::SpeechError::Cancelled).
    fn is_cancelled(&self) -> bool;
    /// Segments that are final, in time order; each call continues where the previous one
    /// ended, so all calls together are the transcript's segments (speakers come only with the
    /// finished transcript). For streaming partial results.
    fn segments(&self, _segments: &[transcript::Segment]) {}
    /// `stage`'s work ran for `busy`: one interval, measured around the work itself (see
    /// [`timed`](#method.timed)). A stage's intervals add up to the time it was busy; stages on
    /// different threads run at the same time, so theirs may add up to more than the run took.
    fn busy(&self, _stage: Stage, _busy: Duration) {}
}

impl dyn Observer + '_ {
    /// Runs `work` as part of `stage` and reports the time it took as [`Observer::busy`], also
    /// when it fails.
    pub fn timed<T>(&self, stage: Stage, work: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let done = work();
        self.busy(stage, started.elapsed());
        done
    }
}

/// Runs `work` as part of `stage`, timed for `observer` when there is one.
pub(crate) fn timed<T>(observer: Option<&dyn Observer>, stage: Stage, work: impl FnOnce() -> T) -> T {
    match observer {
        Some(observer) => observer.timed(stage, work),
        None => work(),
    }
}
