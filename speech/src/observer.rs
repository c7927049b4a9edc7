//! How a run talks back to its caller: the stages it reports and the [`Observer`] it reports to.

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

/// How the pipeline talks back to its caller. Called from the pipeline's thread.
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
}
