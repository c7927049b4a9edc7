//! The result of a transcription and the formats it is rendered to.
//!
//! The JSON shape follows WhisperX (`segments[].words[]`, flat `word_segments`) so its users
//! feel at home, plus `duration` and per-segment decoding statistics.

mod line;
mod render;
mod subtitles;

pub use render::{render, render_with, Format, ParseFormatError};
pub use subtitles::RenderOptions;

use serde::{Deserialize, Serialize};

/// A finished transcription of one recording.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    /// Detected or requested language (ISO 639-1), absent when nothing was transcribed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Length of the decoded audio in seconds.
    pub duration: f64,
    pub segments: Vec<Segment>,
    /// Every word of every segment, in order (WhisperX's flat list).
    #[serde(default)]
    pub word_segments: Vec<Word>,
    /// Speaker turns, present when diarization ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diarization: Option<Vec<SpeakerTurn>>,
    /// Said plainly when the pipeline did less than a full transcription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub start: f64,
    pub end: f64,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker: Option<String>,
    #[serde(default)]
    pub words: Vec<Word>,
    #[serde(default)]
    pub avg_logprob: f64,
    #[serde(default)]
    pub no_speech_prob: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Word {
    pub word: String,
    pub start: f64,
    pub end: f64,
    pub score: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SpeakerTurn {
    pub start: f64,
    pub end: f64,
    pub speaker: String,
}

impl Transcript {
    /// The whole text, segments joined by single spaces.
    pub fn text(&self) -> String {
        let parts: Vec<&str> = self.segments.iter().map(|s| s.text.trim()).filter(|t| !t.is_empty()).collect();
        parts.join(" ")
    }
}
