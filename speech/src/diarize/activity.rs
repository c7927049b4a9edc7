//! How many speakers talk at each instant, from pyannote's segmentation-3.0.
//!
//! The model (derived to TorchScript by `scripts/segmentation_model.py`) reads 10 s of audio and
//! says, per 16.875 ms frame, which of up to three local speakers talk, two at most at once. Only
//! the *number* of speakers is used here: the audio is cut into consecutive 10 s chunks (the last
//! one zero-padded) and each frame's count becomes a piece of the timeline. That gives three
//! things Silero's speech probability cannot:
//! - speech extents as meeting annotations draw them (a speaker's short pauses stay inside their
//!   turn, where Silero rightly hears silence);
//! - stretches where one speaker talks alone, the only audio the speaker embeddings see, so an
//!   embedding never mixes two voices;
//! - overlapped speech, which gets a second speaker after clustering.
//!
//! A stretch of speech counts only once Silero also hears speech somewhere in it (probability at
//! least the onset): the segmentation model also marks faint background talk that a transcript
//! and its references leave out.

use std::path::Path;

use tch::{CModule, Device, IValue, Kind, Tensor};

use crate::error::SpeechError;

/// Samples per segmentation chunk (10 s at 16 kHz, the model's training duration).
pub(crate) const CHUNK: usize = 160_000;
/// Frame step and the centre of frame 0, in samples (270 and 495.5 at 16 kHz).
const FRAME_STEP: usize = 270;
const FRAME_CENTRE: usize = 495;
/// Speaker count of each of the seven powerset classes: {}, {0}, {1}, {2}, {0,1}, {0,2}, {1,2}.
const CLASS_COUNT: [u8; 7] = [0, 1, 1, 1, 2, 2, 2];
/// Chunks run through the model together.
const BATCH: usize = 4;
/// Silero samples per probability.
const SILERO_WINDOW: usize = 512;

/// The loaded segmentation model.
pub(crate) struct Segmenter {
    module: CModule,
    device: Device,
}

impl Segmenter {
    pub(crate) fn load(path: &Path, device: Device) -> Result<Self, SpeechError> {
        if !path.is_file() {
            return Err(SpeechError::ModelNotFound(format!(
                "{} (install the models with scripts/setup-models.sh)",
                path.display()
            )));
        }
        let mut module = CModule::load_on_device(path, device)
            .map_err(|e| SpeechError::ModelInvalid(format!("{}: {e}", path.display())))?;
        module.set_eval();
        Ok(Self { module, device })
    }

    /// Speaker count per frame for each 10 s chunk (shorter chunks are zero-padded).
    fn counts(&self, chunks: &[&[f32]]) -> Result<Vec<Vec<u8>>, SpeechError> {
        let _guard = tch::no_grad_guard();
        let mut flat = vec![0f32; chunks.len() * CHUNK];
        for (i, c) in chunks.iter().enumerate() {
            flat[i * CHUNK..i * CHUNK + c.len()].copy_from_slice(c);
        }
        let input = Tensor::from_slice(&flat).view([chunks.len() as i64, CHUNK as i64]).to(self.device);
        let out = self.module.forward_is(&[IValue::Tensor(input)]).map_err(invalid)?;
        let IValue::Tensor(logp) = out else {
            return Err(SpeechError::ModelInvalid("segmentation model: expected a tensor".into()));
        };
        let classes = logp.argmax(-1, false).to_kind(Kind::Int64).to(Device::Cpu).contiguous();
        let frames = classes.size().get(1).copied().unwrap_or(0) as usize;
        let classes = Vec::<i64>::try_from(classes.view([-1])).map_err(invalid)?;
        Ok(classes
            .chunks(frames.max(1))
            .map(|c| c.iter().map(|&k| CLASS_COUNT.get(k as usize).copied().unwrap_or(0)).collect())
            .collect())
    }
}

fn invalid(e: tch::TchError) -> SpeechError {
    SpeechError::ModelInvalid(format!("segmentation model: {e}"))
}

/// A piece of the timeline with a constant speaker count, in absolute samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Piece {
    pub start: usize,
    pub end: usize,
    pub count: u8,
}

/// The speech stretch being received: pieces not yet released.
struct Run {
    pieces: Vec<Piece>,
    /// Silero heard speech in it: its pieces are released as they come.
    confirmed: bool,
}

/// Speaker counts over a stream, released as one-speaker spans (for embeddings) and overlapped
/// pieces (for [`add_overlaps`]).
pub(crate) struct Activity {
    onset: f32,
    /// Start of the next chunk to segment.
    next: usize,
    /// Silero probabilities from window `probs_from` on (older ones can no longer matter).
    probs: Vec<f32>,
    probs_from: usize,
    run: Option<Run>,
    /// One-speaker spans released and not yet taken.
    solo: Vec<(usize, usize)>,
    /// Every released piece with two or more speakers.
    pub overlaps: Vec<(usize, usize)>,
}

impl Activity {
    pub(crate) fn new(onset: f32) -> Self {
        Self { onset, next: 0, probs: Vec::new(), probs_from: 0, run: None, solo: Vec::new(), overlaps: Vec::new() }
    }

    /// The next Silero probability (one per 512 samples, from the start of the stream).
    pub(crate) fn push_prob(&mut self, p: f32) {
        self.probs.push(p);
    }

    /// The first sample still needed from the caller's buffer.
    pub(crate) fn earliest_needed(&self) -> usize {
        let held = self.run.as_ref().and_then(|r| r.pieces.first()).map_or(usize::MAX, |p| p.start);
        let untaken = self.solo.first().map_or(usize::MAX, |s| s.0);
        self.next.min(held).min(untaken)
    }

    /// Segments every whole chunk of `buf` (absolute start `buf_start`) not yet seen; with `eof`,
    /// also the rest, and closes the open stretch.
    pub(crate) fn feed(
        &mut self,
        seg: &Segmenter,
        buf_start: usize,
        buf: &[f32],
        eof: bool,
    ) -> Result<(), SpeechError> {
        let end = buf_start + buf.len();
        loop {
            let mut starts = Vec::new();
            let mut at = self.next;
            while starts.len() < BATCH && (at + CHUNK <= end || (eof && at < end)) {
                starts.push(at);
                at += CHUNK;
            }
            if starts.is_empty() {
                break;
            }
            let chunks: Vec<&[f32]> =
                starts.iter().map(|&s| &buf[s - buf_start..(s + CHUNK).min(end) - buf_start]).collect();
            for (&s, counts) in starts.iter().zip(seg.counts(&chunks)?) {
                let valid = (s + CHUNK).min(end);
                // Frame i owns the samples around its centre, half a step each way; the first
                // and last frames reach the chunk's edges.
                let edge = |i: usize| s + FRAME_CENTRE - FRAME_STEP / 2 + FRAME_STEP * i;
                for (i, &count) in counts.iter().enumerate() {
                    let a = if i == 0 { s } else { edge(i) };
                    let b = if i + 1 == counts.len() { s + CHUNK } else { edge(i + 1) };
                    let (a, b) = (a.min(valid), b.min(valid));
                    if b > a {
                        self.add(Piece { start: a, end: b, count });
                    }
                }
            }
            self.next = at.min(end.max(self.next));
            self.release();
            // Only the open stretch and what is not segmented yet can still be checked.
            let keep = self.earliest_needed() / SILERO_WINDOW;
            if keep > self.probs_from {
                let drop = (keep - self.probs_from).min(self.probs.len());
                self.probs.drain(..drop);
                self.probs_from += drop;
            }
        }
        if eof {
            self.close();
        }
        Ok(())
    }

    /// Takes the one-speaker spans released so far.
    pub(crate) fn take_solo(&mut self) -> Vec<(usize, usize)> {
        std::mem::take(&mut self.solo)
    }

    fn add(&mut self, p: Piece) {
        if p.count == 0 {
            self.close();
            return;
        }
        let run = self.run.get_or_insert_with(|| Run { pieces: Vec::new(), confirmed: false });
        match run.pieces.last_mut() {
            Some(last) if last.count == p.count && last.end == p.start => last.end = p.end,
            _ => run.pieces.push(p),
        }
    }

    /// Releases the open stretch's pieces once Silero has heard speech in it.
    fn release(&mut self) {
        let Some(run) = self.run.as_mut() else { return };
        if !run.confirmed {
            let (Some(first), Some(last)) = (run.pieces.first(), run.pieces.last()) else { return };
            let a = (first.start / SILERO_WINDOW).saturating_sub(self.probs_from);
            let b = (last.end.div_ceil(SILERO_WINDOW).saturating_sub(self.probs_from)).min(self.probs.len());
            let heard = self.probs.get(a..b).unwrap_or(&[]).iter().any(|&p| p >= self.onset);
            if !heard {
                return;
            }
            run.confirmed = true;
        }
        for p in run.pieces.drain(..) {
            if p.count == 1 {
                self.solo.push((p.start, p.end));
            } else {
                self.overlaps.push((p.start, p.end));
            }
        }
    }

    /// Ends the open stretch: released if Silero heard speech in it, else dropped.
    fn close(&mut self) {
        self.release();
        self.run = None;
    }
}

/// Adds a second speaker to every overlapped piece: the nearest other speaker in time. Each
/// piece's first speaker is whoever already holds it (or the nearest turn when nobody does).
pub(crate) fn add_overlaps(turns: &mut Vec<transcript::SpeakerTurn>, overlaps: &[(usize, usize)], sr: f64) {
    if turns.is_empty() {
        return;
    }
    let mut speakers: Vec<String> = turns.iter().map(|t| t.speaker.clone()).collect();
    speakers.sort();
    speakers.dedup();
    let mut added = Vec::new();
    for &(a, b) in overlaps {
        let (start, end) = (a as f64 / sr, b as f64 / sr);
        let distance = |speaker: &str| {
            turns
                .iter()
                .filter(|t| t.speaker == speaker)
                .map(|t| (t.start - end).max(start - t.end).max(0.0))
                .fold(f64::INFINITY, f64::min)
        };
        let mut ranked: Vec<(f64, &String)> = speakers.iter().map(|s| (distance(s), s)).collect();
        ranked.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(y.1)));
        for (_, s) in ranked.into_iter().take(2) {
            added.push(transcript::SpeakerTurn { start, end, speaker: s.clone() });
        }
    }
    turns.extend(added);
    *turns = merge_turns(std::mem::take(turns));
}

/// Per speaker, joins turns that touch or overlap; the result is sorted by start.
fn merge_turns(mut turns: Vec<transcript::SpeakerTurn>) -> Vec<transcript::SpeakerTurn> {
    turns.sort_by(|x, y| x.speaker.cmp(&y.speaker).then(x.start.total_cmp(&y.start)));
    let mut out: Vec<transcript::SpeakerTurn> = Vec::new();
    for t in turns {
        match out.last_mut() {
            Some(last) if last.speaker == t.speaker && t.start <= last.end + 1e-6 => last.end = last.end.max(t.end),
            _ => out.push(t),
        }
    }
    out.sort_by(|x, y| x.start.total_cmp(&y.start).then(x.speaker.cmp(&y.speaker)));
    out
}
