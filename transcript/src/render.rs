//! Renderers from a [`Transcript`] to the formats users download.
//!
//! The text formats follow the writers of openai-whisper and WhisperX byte for byte where they
//! are well-formed, so existing tooling keeps working:
//!
//! - `srt`: numbered cues, `HH:MM:SS,mmm` (hours always), a blank line after each cue.
//! - `vtt`: a `WEBVTT` header, `MM:SS.mmm` times; `HH:MM:SS.mmm` for every cue when the
//!   recording reaches an hour (one style per file).
//! - `txt`: one segment per line.
//! - `tsv`: a `start\tend\ttext` header and times in integer milliseconds.
//! - `csv`: a `start,end,speaker,text` header, times in seconds with three decimals (the same
//!   whole milliseconds as tsv), RFC 4180: CRLF line ends, and a field holding a comma, a quote,
//!   CR or LF is quoted, its quotes doubled. The text keeps its line breaks; no speaker is an
//!   empty field.
//! - `json`: the [`Transcript`] itself (WhisperX's shape).
//! - `rttm`: the diarization turns, as pyannote writes them; empty without diarization.
//!
//! srt and vtt are cut into cues from the word timings as [`RenderOptions`] asks; by
//! default each segment is one cue.
//!
//! When a segment has a speaker, srt, vtt and txt prefix its text with `[SPEAKER_00]: `, as
//! WhisperX does. Segment text is trimmed, segments with no text are left out of the text
//! formats, and segments and turns are written in time order. Times that are negative, NaN or
//! infinite are written as 0, and an end before its start is written as the start.

use std::fmt::{self, Write as _};
use std::str::FromStr;

use crate::line::{clamp_time, Line};
use crate::subtitles::{cues, Cue};
use crate::{RenderOptions, SpeakerTurn, Transcript};

/// A format a transcript can be rendered to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Json,
    Srt,
    Vtt,
    Txt,
    Tsv,
    Rttm,
    Csv,
}

impl Format {
    /// Every format, in the order they are listed to users.
    pub const ALL: [Format; 7] =
        [Format::Json, Format::Srt, Format::Vtt, Format::Txt, Format::Tsv, Format::Rttm, Format::Csv];

    /// The lower-case name, as accepted by [`FromStr`] (`"srt"`).
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Srt => "srt",
            Format::Vtt => "vtt",
            Format::Txt => "txt",
            Format::Tsv => "tsv",
            Format::Rttm => "rttm",
            Format::Csv => "csv",
        }
    }

    /// The HTTP `Content-Type` of a rendered document.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Srt => "application/x-subrip; charset=utf-8",
            Format::Vtt => "text/vtt; charset=utf-8",
            Format::Txt | Format::Rttm => "text/plain; charset=utf-8",
            Format::Tsv => "text/tab-separated-values; charset=utf-8",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }

    /// Every name, comma-separated, for messages that list the choices.
    pub fn names() -> String {
        Format::ALL.map(Format::name).join(", ")
    }

    /// The file name extension, without the dot (`"srt"`).
    pub fn extension(self) -> &'static str {
        self.name()
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A format name that is not one of [`Format::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format {input:?}: expected one of {}", Format::names())]
pub struct ParseFormatError {
    input: String,
}

impl ParseFormatError {
    /// The name that was not recognised.
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl FromStr for Format {
    type Err = ParseFormatError;

    /// Case-insensitive; surrounding white space is ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Format::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| ParseFormatError { input: s.to_owned() })
    }
}

/// Renders `t` as a complete document in `format`, with the default [`RenderOptions`].
pub fn render(t: &Transcript, format: Format) -> String {
    render_with(t, format, &RenderOptions::default())
}

/// Renders `t` as a complete document in `format`; `options` shape srt and vtt only.
pub fn render_with(t: &Transcript, format: Format, options: &RenderOptions) -> String {
    match format {
        Format::Json => serde_json::to_string(t).expect("a transcript always serializes to JSON"),
        Format::Srt => srt(&cues(t, options)),
        Format::Vtt => vtt(&cues(t, options)),
        Format::Txt => txt(t),
        Format::Tsv => tsv(t),
        Format::Rttm => rttm(t),
        Format::Csv => csv(t),
    }
}

/// `[HH:]MM:SS<marker>mmm`, from whole milliseconds.
fn timestamp(ms: u64, hours: bool, marker: char) -> String {
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, ms) = (rest / 1000, rest % 1000);
    if hours {
        format!("{h:02}:{m:02}:{s:02}{marker}{ms:03}")
    } else {
        format!("{m:02}:{s:02}{marker}{ms:03}")
    }
}

/// The segments with text, in time order (stable, so equal starts keep their order).
fn lines(t: &Transcript) -> Vec<Line<'_>> {
    let mut lines: Vec<Line<'_>> = t.segments.iter().filter(|s| !s.text.trim().is_empty()).map(Line::of).collect();
    lines.sort_by_key(|l| l.start);
    lines
}

fn srt(cues: &[Cue]) -> String {
    let mut out = String::new();
    for (i, cue) in cues.iter().enumerate() {
        let (start, end) = (timestamp(cue.start, true, ','), timestamp(cue.end, true, ','));
        let _ = write!(out, "{}\n{start} --> {end}\n{}\n\n", i + 1, cue.text);
    }
    out
}

fn vtt(cues: &[Cue]) -> String {
    let hours = cues.iter().any(|c| c.end >= 3_600_000);
    let mut out = String::from("WEBVTT\n\n");
    for cue in cues {
        let (start, end) = (timestamp(cue.start, hours, '.'), timestamp(cue.end, hours, '.'));
        let _ = write!(out, "{start} --> {end}\n{}\n\n", cue.text);
    }
    out
}

fn txt(t: &Transcript) -> String {
    let mut out = String::new();
    for line in lines(t) {
        out.push_str(&line.labelled(&line.flat_text()));
        out.push('\n');
    }
    out
}

fn tsv(t: &Transcript) -> String {
    let mut out = String::from("start\tend\ttext\n");
    for line in lines(t) {
        let _ = writeln!(out, "{}\t{}\t{}", line.start, line.end, line.flat_text());
    }
    out
}

fn csv(t: &Transcript) -> String {
    let mut out = String::from("start,end,speaker,text\r\n");
    for line in lines(t) {
        let (start, end) = (seconds(line.start), seconds(line.end));
        let speaker = csv_field(line.speaker().unwrap_or(""));
        let _ = write!(out, "{start},{end},{speaker},{}\r\n", csv_field(line.text()));
    }
    out
}

/// Seconds with three decimals, from whole milliseconds (so csv and tsv agree to the digit).
fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// One CSV field as RFC 4180 writes it: quoted only when it must be, quotes doubled.
fn csv_field(value: &str) -> std::borrow::Cow<'_, str> {
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\"")).into()
    } else {
        value.into()
    }
}

/// `SPEAKER <file-id> 1 <start> <duration> <NA> <NA> <speaker> <NA> <NA>`, one line per turn,
/// as pyannote writes it. White space in a speaker name would split the field, so it becomes `_`.
fn rttm(t: &Transcript) -> String {
    let Some(turns) = &t.diarization else {
        return String::new();
    };
    let mut turns: Vec<&SpeakerTurn> = turns.iter().collect();
    turns.sort_by(|a, b| clamp_time(a.start).total_cmp(&clamp_time(b.start)));
    let mut out = String::new();
    for turn in turns {
        let start = clamp_time(turn.start);
        let duration = (clamp_time(turn.end) - start).max(0.0);
        let speaker: String = turn.speaker.split_whitespace().collect::<Vec<_>>().join("_");
        let speaker = if speaker.is_empty() { "<NA>".to_owned() } else { speaker };
        let _ = writeln!(out, "SPEAKER audio 1 {start:.3} {duration:.3} <NA> <NA> {speaker} <NA> <NA>");
    }
    out
}
