//! Cutting a transcript into srt/vtt cues from its word timings.
//!
//! This follows `SubtitlesWriter.iterate_result` of openai-whisper (`whisper/utils.py`), so that
//! `max_line_width`, `max_line_count` and `highlight_words` give the cues users know from
//! openai-whisper and WhisperX:
//!
//! - Unless both a width and a line count are given, every segment stays one cue (its lines
//!   wrapped at the width, if one is given); with both, cues are cut across segments, and a pause
//!   of more than 3 s between the starts of two words begins a new cue.
//! - A word that does not fit on the line (counted in characters, with the space before it)
//!   begins a new line, or a new cue once the cue has `max_line_count` lines.
//! - A cue runs from the start of its first word to the end of its last.
//! - `highlight_words` writes a cue per word, that word wrapped in `<u>...</u>`, and fills the
//!   gaps between words with the plain cue.
//!
//! Two things openai-whisper has no need for: a segment without words is written as its own cue,
//! as when no options are given; and when cues are cut across segments, a change of speaker also
//! begins a new cue, so that the `[SPEAKER_00]: ` prefix is true of the whole cue. Words in
//! languages written without spaces (WhisperX's list) are joined without one.

use std::mem;

use crate::line::{millis, Line};
use crate::{Segment, Transcript, Word};

/// How srt and vtt are cut into cues; other formats ignore it. The default writes one cue per
/// segment. Cutting needs word timings: a segment without words is always one cue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenderOptions {
    /// The most characters on a line; lines break between words, so a longer word stands alone.
    pub max_line_width: Option<usize>,
    /// The most lines in a cue. Together with `max_line_width`, cues are cut regardless of
    /// segment boundaries.
    pub max_line_count: Option<usize>,
    /// One cue per word, the word underlined (`<u>word</u>`) in the text of its cue.
    pub highlight_words: bool,
}

/// One subtitle: times in milliseconds, end never before start, text ready to write.
pub(crate) struct Cue {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) text: String,
}

/// Languages whose words are written together (WhisperX's `LANGUAGES_WITHOUT_SPACES`).
const LANGUAGES_WITHOUT_SPACES: [&str; 6] = ["ja", "zh", "th", "lo", "my", "yue"];
/// openai-whisper's threshold: a longer gap between word starts begins a new cue.
const LONG_PAUSE_SECS: f64 = 3.0;
/// openai-whisper's width when none is given: in effect, no limit.
const UNLIMITED_WIDTH: usize = 1000;

/// The cues of `t`, in time order.
pub(crate) fn cues(t: &Transcript, options: &RenderOptions) -> Vec<Cue> {
    let mut segments: Vec<&Segment> =
        t.segments.iter().filter(|s| !s.text.trim().is_empty() || !words(s).is_empty()).collect();
    segments.sort_by_key(|s| millis(s.start));
    let language = t.language.as_deref().unwrap_or("").to_ascii_lowercase();
    let base = language.split(['-', '_']).next().unwrap_or("");
    let separator = if LANGUAGES_WITHOUT_SPACES.contains(&base) { "" } else { " " };
    let mut cutter = Cutter {
        options,
        preserve_segments: options.max_line_width.is_none() || options.max_line_count.is_none(),
        width: options.max_line_width.unwrap_or(UNLIMITED_WIDTH),
        separator,
        cues: Vec::new(),
        cue: Vec::new(),
        line_len: 0,
        line_count: 1,
        last_start: None,
    };
    for segment in segments {
        cutter.segment(segment);
    }
    cutter.flush();
    cutter.cues
}

/// The words of a segment that have text; an empty word would only add a stray space.
fn words(s: &Segment) -> Vec<&Word> {
    s.words.iter().filter(|w| !w.word.trim().is_empty()).collect()
}

/// Word times that are NaN or infinite are taken as missing, as WhisperX's words without
/// `start` (alignment failed): the segment's time stands in.
fn finite(seconds: f64) -> Option<f64> {
    seconds.is_finite().then_some(seconds)
}

/// A word placed in the cue being built.
struct Placed<'a> {
    /// The word with what comes before it: a separator, a line break, or nothing.
    text: String,
    start: Option<f64>,
    end: Option<f64>,
    segment: &'a Segment,
    speaker: Option<&'a str>,
}

struct Cutter<'a, 'o> {
    options: &'o RenderOptions,
    preserve_segments: bool,
    width: usize,
    separator: &'static str,
    cues: Vec<Cue>,
    /// The words of the cue being built.
    cue: Vec<Placed<'a>>,
    /// Characters on the current line.
    line_len: usize,
    /// Lines in the cue being built.
    line_count: usize,
    /// The start of the last timed word.
    last_start: Option<f64>,
}

impl<'a> Cutter<'a, '_> {
    fn segment(&mut self, segment: &'a Segment) {
        let words = words(segment);
        if words.is_empty() {
            self.flush();
            let line = Line::of(segment);
            self.cues.push(Cue { start: line.start, end: line.end, text: line.cue_text() });
            self.line_len = 0;
            self.last_start = finite(segment.start).or(self.last_start);
            return;
        }
        for (i, word) in words.into_iter().enumerate() {
            self.word(segment, word, i == 0);
        }
    }

    /// openai-whisper's loop body, step for step.
    fn word(&mut self, segment: &'a Segment, word: &'a Word, first_of_segment: bool) {
        let mut text = format!("{}{}", self.separator, word.word.split_whitespace().collect::<Vec<_>>().join(" "));
        let start = finite(word.start);
        // A cue that is one segment is labelled as the segment is in txt; a cue cut from words
        // is labelled by its words.
        let speaker = if self.preserve_segments {
            segment.speaker.as_deref().or(word.speaker.as_deref())
        } else {
            word.speaker.as_deref().or(segment.speaker.as_deref())
        };
        let long_pause = !self.preserve_segments
            && matches!((start, self.last_start), (Some(start), Some(last)) if start - last > LONG_PAUSE_SECS);
        let new_speaker = !self.preserve_segments && self.cue.first().is_some_and(|p| p.speaker != speaker);
        let has_room = self.line_len + text.chars().count() <= self.width;
        let segment_break = first_of_segment && !self.cue.is_empty() && self.preserve_segments;
        if self.line_len > 0 && has_room && !long_pause && !segment_break && !new_speaker {
            self.line_len += text.chars().count();
        } else {
            text = text.trim().to_owned();
            let cue_full = self.options.max_line_count.is_some_and(|max| long_pause || self.line_count >= max);
            if (!self.cue.is_empty() && cue_full) || segment_break || new_speaker {
                self.flush();
            } else if self.line_len > 0 {
                self.line_count += 1;
                text.insert(0, '\n');
            }
            self.line_len = text.trim().chars().count();
        }
        self.cue.push(Placed { text, start, end: finite(word.end), segment, speaker });
        self.last_start = start.or(self.last_start);
    }

    /// Ends the cue being built, writing it (or, highlighting, its per-word cues).
    fn flush(&mut self) {
        let words = mem::take(&mut self.cue);
        self.line_count = 1;
        let (Some(first), Some(last)) = (words.first(), words.last()) else {
            return;
        };
        let start = millis(first.start.unwrap_or(first.segment.start));
        let end = millis(last.end.unwrap_or(last.segment.end)).max(start);
        let label = |text: String| {
            // "-->" would read as a timing line.
            let text = text.replace("-->", "->");
            match first.speaker {
                Some(speaker) => format!("[{speaker}]: {text}"),
                None => text,
            }
        };
        let plain: String = words.iter().map(|w| w.text.as_str()).collect();
        let timed = |w: &Placed<'_>| Some((millis(w.start?), millis(w.end?)));
        if !self.options.highlight_words || !words.iter().any(|w| timed(w).is_some()) {
            self.cues.push(Cue { start, end, text: label(plain) });
            return;
        }
        let mut shown_until = start;
        for (i, word) in words.iter().enumerate() {
            let Some((word_start, word_end)) = timed(word) else {
                continue;
            };
            let word_end = word_end.max(word_start);
            if word_start > shown_until {
                self.cues.push(Cue { start: shown_until, end: word_start, text: label(plain.clone()) });
            }
            let text = words.iter().enumerate().map(|(j, w)| if j == i { underline(&w.text) } else { w.text.clone() });
            self.cues.push(Cue { start: word_start, end: word_end, text: label(text.collect()) });
            shown_until = word_end;
        }
    }
}

/// `<u>word</u>`, after the separator or line break before it.
fn underline(text: &str) -> String {
    let word = text.trim_start();
    format!("{}<u>{word}</u>", &text[..text.len() - word.len()])
}
