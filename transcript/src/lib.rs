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

impl Segment {
    /// Moves the segment and its words `seconds` later ([`Transcript::shift`]).
    pub fn shift(&mut self, seconds: f64) {
        self.start += seconds;
        self.end += seconds;
        for word in &mut self.words {
            word.shift(seconds);
        }
    }
}

impl Word {
    fn shift(&mut self, seconds: f64) {
        self.start += seconds;
        self.end += seconds;
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SpeakerTurn {
    pub start: f64,
    pub end: f64,
    pub speaker: String,
}

impl Transcript {
    /// Moves every time (segments, their words, `word_segments`, speaker turns) `seconds`
    /// later, for a recording cut from a longer one. `duration` stays the recording's length.
    pub fn shift(&mut self, seconds: f64) {
        if seconds == 0.0 {
            return;
        }
        for segment in &mut self.segments {
            segment.shift(seconds);
        }
        for word in &mut self.word_segments {
            word.shift(seconds);
        }
        for turn in self.diarization.iter_mut().flatten() {
            turn.start += seconds;
            turn.end += seconds;
        }
    }

    /// [`Transcript::shift`], by value.
    pub fn shifted(mut self, seconds: f64) -> Self {
        self.shift(seconds);
        self
    }

    /// The whole text, segments joined by single spaces.
    pub fn text(&self) -> String {
        let parts: Vec<&str> = self.segments.iter().map(|s| s.text.trim()).filter(|t| !t.is_empty()).collect();
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(start: f64, end: f64) -> Word {
        Word { word: "w".into(), start, end, score: 0.9, speaker: None }
    }

    #[test]
    fn shift_moves_every_time_but_the_duration() {
        let words = vec![word(0.5, 0.75), word(1.0, 1.5)];
        let mut t = Transcript {
            language: Some("en".into()),
            duration: 2.0,
            segments: vec![
                Segment { start: 0.5, end: 1.5, text: "w w".into(), words: words.clone(), ..Segment::default() },
                Segment { start: 1.5, end: 2.0, text: "untimed".into(), ..Segment::default() },
            ],
            word_segments: words,
            diarization: Some(vec![SpeakerTurn { start: 0.25, end: 2.0, speaker: "SPEAKER_00".into() }]),
            note: None,
        };
        let before = t.clone();
        t.shift(0.0);
        assert_eq!(t, before);

        t.shift(60.25);
        let times = |s: &Segment| (s.start, s.end);
        assert_eq!(times(&t.segments[0]), (60.75, 61.75));
        assert_eq!(times(&t.segments[1]), (61.75, 62.25));
        let word_times: Vec<(f64, f64)> = t.segments[0].words.iter().map(|w| (w.start, w.end)).collect();
        assert_eq!(word_times, [(60.75, 61.0), (61.25, 61.75)]);
        assert_eq!(t.word_segments, t.segments[0].words);
        let turn = &t.diarization.as_ref().unwrap()[0];
        assert_eq!((turn.start, turn.end), (60.5, 62.25));
        assert_eq!(t.duration, 2.0);
        assert_eq!(t.text(), before.text());
    }
}
