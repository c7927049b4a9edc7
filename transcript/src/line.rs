//! A segment as every format writes it: whole milliseconds and trimmed text. Shared by the
//! plain renderers and the subtitle cutter, so neither imports the other.

use crate::Segment;

/// A time that can be written: finite and not negative, else 0.
pub(crate) fn clamp_time(seconds: f64) -> f64 {
    if seconds.is_finite() && seconds > 0.0 {
        seconds
    } else {
        0.0
    }
}

/// Whole milliseconds, rounded as Python's `round` does (half to even), like openai-whisper.
pub(crate) fn millis(seconds: f64) -> u64 {
    // The cast saturates for absurdly large values; clamp_time has removed NaN and negatives.
    (clamp_time(seconds) * 1000.0).round_ties_even() as u64
}

/// A segment ready to be written: times in milliseconds (end never before start), trimmed text.
pub(crate) struct Line<'a> {
    pub(crate) start: u64,
    pub(crate) end: u64,
    text: &'a str,
    speaker: Option<&'a str>,
}

impl<'a> Line<'a> {
    pub(crate) fn of(s: &'a Segment) -> Self {
        let start = millis(s.start);
        Line { start, end: millis(s.end).max(start), text: s.text.trim(), speaker: s.speaker.as_deref() }
    }

    /// The trimmed text, line breaks kept.
    pub(crate) fn text(&self) -> &'a str {
        self.text
    }

    pub(crate) fn speaker(&self) -> Option<&'a str> {
        self.speaker
    }

    /// The text with WhisperX's speaker prefix, when there is a speaker.
    pub(crate) fn labelled(&self, text: &str) -> String {
        match self.speaker {
            Some(speaker) => format!("[{speaker}]: {text}"),
            None => text.to_owned(),
        }
    }

    /// Text for a subtitle cue: no `-->` (it would read as a timing line) and no blank lines
    /// (a blank line ends a cue).
    pub(crate) fn cue_text(&self) -> String {
        let text = self.text.replace("-->", "->");
        let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        self.labelled(&lines.join("\n"))
    }

    /// Text on a single line, for txt and tsv.
    pub(crate) fn flat_text(&self) -> String {
        self.text.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}
