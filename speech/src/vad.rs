//! Voice activity detection with Silero VAD (TorchScript), streaming.
//!
//! Silero's probability for a window depends on the windows before it (a recurrent layer and 64
//! samples of context); [`VadStream`] carries both across calls and runs many windows per call.
//! [`SpeechDetector`] runs Silero's `get_speech_timestamps` state machine incrementally and
//! [`ChunkMerger`] merges speech into chunks of at most 30 s as WhisperX's `merge_chunks` does.
//! Both work on sample indices.

use std::path::Path;

use tch::{CModule, IValue, Tensor};

pub const WINDOW: usize = 512;
const SR: usize = crate::dsp::SAMPLE_RATE as usize;

#[derive(Debug, thiserror::Error)]
pub enum VadError {
    #[error("VAD model not found: {0} (run scripts/setup-models.sh)")]
    NotFound(std::path::PathBuf),
    #[error("VAD model failed: {0}")]
    Torch(#[from] tch::TchError),
}

/// Silero's and WhisperX's defaults, except the padding: faster-whisper's 400 ms keeps
/// first and last words whole (padding never crosses half of the silence between spans).
#[derive(Debug, Clone, PartialEq)]
pub struct VadOptions {
    /// Speech starts at this probability (WhisperX `vad_onset`).
    pub threshold: f32,
    /// Speech ends below this probability (Silero: threshold - 0.15).
    pub neg_threshold: Option<f32>,
    pub min_speech_ms: u32,
    pub min_silence_ms: u32,
    pub speech_pad_ms: u32,
    /// Longest speech span and longest chunk, in seconds (at most 30 for Whisper).
    pub chunk_size_s: f32,
}

impl Default for VadOptions {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            neg_threshold: None,
            min_speech_ms: 250,
            min_silence_ms: 100,
            speech_pad_ms: 400,
            chunk_size_s: 30.0,
        }
    }
}

/// Samples of the previous window each window sees.
const CONTEXT: usize = 64;
/// Windows gathered before a run: one call costs about as much as a window's arithmetic
/// would alone, so fewer, larger calls are faster (8 s of audio here).
const MIN_RUN_WINDOWS: usize = 250;

/// Silero VAD split at its recurrent layer (`silero_vad_windows.jit`, derived from the
/// wheel's `silero_vad.jit` by `scripts/silero_windows.py`): many windows per call, the same
/// probabilities as window by window.
pub struct SileroVad {
    module: CModule,
}

impl SileroVad {
    pub fn load(path: &Path) -> Result<Self, VadError> {
        if !path.is_file() {
            return Err(VadError::NotFound(path.to_path_buf()));
        }
        Ok(Self { module: CModule::load(path)? })
    }

    /// Probabilities of consecutive windows ([N, CONTEXT + WINDOW]), carrying `state` on.
    fn run(&self, windows: Tensor, state: &Tensor) -> Result<(Vec<f32>, Tensor), VadError> {
        let out = self.module.forward_is(&[IValue::Tensor(windows), IValue::Tensor(state.shallow_clone())])?;
        let bad = || VadError::Torch(tch::TchError::Kind("the Silero model returned an unexpected value".into()));
        let IValue::Tuple(mut parts) = out else { return Err(bad()) };
        let (Some(IValue::Tensor(state)), Some(IValue::Tensor(probs))) = (parts.pop(), parts.pop()) else {
            return Err(bad());
        };
        Ok((Vec::<f32>::try_from(probs.to_kind(tch::Kind::Float).contiguous())?, state))
    }
}

/// Silero over a stream of samples: probabilities come out in order, one per 512-sample window.
pub struct VadStream {
    vad: SileroVad,
    /// The recurrent state (h, c) after the last window run: [2, 1, 128].
    state: Tensor,
    /// The last CONTEXT samples run, then the samples not run yet.
    pending: Vec<f32>,
}

impl VadStream {
    pub fn new(vad: SileroVad) -> Self {
        Self { vad, state: Tensor::zeros([2, 1, 128], tch::kind::FLOAT_CPU), pending: vec![0.0; CONTEXT] }
    }

    /// Takes the next samples; appends the probabilities of the windows run.
    pub fn push(&mut self, samples: &[f32], probs: &mut Vec<f32>) -> Result<(), VadError> {
        self.pending.extend_from_slice(samples);
        let windows = (self.pending.len() - CONTEXT) / WINDOW;
        if windows >= MIN_RUN_WINDOWS {
            self.run(windows, probs)?;
        }
        Ok(())
    }

    /// End of the stream: appends the probabilities of the rest, the last partial window
    /// padded with silence.
    pub fn finish(&mut self, probs: &mut Vec<f32>) -> Result<(), VadError> {
        let windows = (self.pending.len() - CONTEXT).div_ceil(WINDOW);
        self.pending.resize(CONTEXT + windows * WINDOW, 0.0);
        if windows > 0 {
            self.run(windows, probs)?;
        }
        Ok(())
    }

    fn run(&mut self, windows: usize, probs: &mut Vec<f32>) -> Result<(), VadError> {
        let _no_grad = tch::no_grad_guard();
        let used = CONTEXT + windows * WINDOW;
        let frames = Tensor::from_slice(&self.pending[..used]).unfold(0, (CONTEXT + WINDOW) as i64, WINDOW as i64);
        let (p, state) = self.vad.run(frames.contiguous(), &self.state)?;
        probs.extend(p);
        self.state = state;
        self.pending.drain(..used - CONTEXT);
        Ok(())
    }
}

/// A span of speech in samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// Silero's `get_speech_timestamps`, fed probability by probability. Padding needs the next
/// span's start, so a span is released once the next starts or the silence is long enough.
pub struct SpeechDetector {
    threshold: f32,
    neg_threshold: f32,
    min_speech: usize,
    min_silence: usize,
    min_silence_at_max: usize,
    pad: usize,
    max_speech: usize,
    index: usize,
    triggered: bool,
    start: usize,
    temp_end: usize,
    prev_end: usize,
    next_start: usize,
    /// Detected but not yet padded on its right side.
    pending: Option<Span>,
    first: bool,
}

impl SpeechDetector {
    pub fn new(o: &VadOptions) -> Self {
        let ms = |m: u32| SR * m as usize / 1000;
        let pad = ms(o.speech_pad_ms);
        let max_speech = (o.chunk_size_s as f64 * SR as f64) as usize;
        Self {
            threshold: o.threshold,
            neg_threshold: o.neg_threshold.unwrap_or((o.threshold - 0.15).max(0.01)),
            min_speech: ms(o.min_speech_ms),
            min_silence: ms(o.min_silence_ms),
            min_silence_at_max: ms(98),
            pad,
            max_speech: max_speech.saturating_sub(WINDOW + 2 * pad),
            index: 0,
            triggered: false,
            start: 0,
            temp_end: 0,
            prev_end: 0,
            next_start: 0,
            pending: None,
            first: true,
        }
    }

    /// The earliest sample a future span may still cover (audio before it can be dropped).
    pub fn earliest_needed(&self) -> usize {
        let mut e = (self.index * WINDOW).saturating_sub(self.pad + WINDOW);
        if self.triggered {
            e = e.min(self.start.saturating_sub(self.pad));
        }
        if let Some(p) = self.pending {
            e = e.min(p.start);
        }
        e
    }

    fn finish_span(&mut self, span: Span, out: &mut Vec<Span>) {
        let mut span = span;
        if self.first {
            span.start = span.start.saturating_sub(self.pad);
            self.first = false;
        } else if self.pending.is_none() {
            // The previous span was released early: the silence was at least twice the padding.
            span.start = span.start.saturating_sub(self.pad);
        }
        if let Some(mut p) = self.pending.take() {
            let silence = span.start.saturating_sub(p.end);
            if silence < 2 * self.pad {
                p.end += silence / 2;
                span.start = span.start.saturating_sub(silence / 2);
            } else {
                p.end += self.pad;
                span.start = span.start.saturating_sub(self.pad);
            }
            out.push(p);
        }
        self.pending = Some(span);
    }

    /// Feeds the next window's probability; returns the spans that are final.
    pub fn push(&mut self, prob: f32, out: &mut Vec<Span>) {
        let i = self.index;
        self.index += 1;
        let pos = WINDOW * i;
        if prob >= self.threshold && self.temp_end != 0 {
            self.temp_end = 0;
            if self.next_start < self.prev_end {
                self.next_start = pos;
            }
        }
        if prob >= self.threshold && !self.triggered {
            self.triggered = true;
            self.start = pos;
            return;
        }
        if self.triggered && pos - self.start > self.max_speech {
            if self.prev_end != 0 {
                let span = Span { start: self.start, end: self.prev_end };
                self.finish_span(span, out);
                if self.next_start < self.prev_end {
                    self.triggered = false;
                } else {
                    self.start = self.next_start;
                }
                self.prev_end = 0;
                self.next_start = 0;
                self.temp_end = 0;
            } else {
                let span = Span { start: self.start, end: pos };
                self.finish_span(span, out);
                self.prev_end = 0;
                self.next_start = 0;
                self.temp_end = 0;
                self.triggered = false;
                return;
            }
        }
        if prob < self.neg_threshold && self.triggered {
            if self.temp_end == 0 {
                self.temp_end = pos;
            }
            if pos - self.temp_end > self.min_silence_at_max {
                self.prev_end = self.temp_end;
            }
            if pos - self.temp_end < self.min_silence {
                return;
            }
            let span = Span { start: self.start, end: self.temp_end };
            if span.end - span.start > self.min_speech {
                self.finish_span(span, out);
            }
            self.prev_end = 0;
            self.next_start = 0;
            self.temp_end = 0;
            self.triggered = false;
            return;
        }
        // A pending span whose silence already exceeds twice the padding is final.
        if !self.triggered {
            if let Some(p) = self.pending {
                if pos >= p.end + 2 * self.pad + WINDOW {
                    self.pending = None;
                    out.push(Span { start: p.start, end: p.end + self.pad });
                }
            }
        }
    }

    /// End of the stream at `total` samples.
    pub fn finish(&mut self, total: usize, out: &mut Vec<Span>) {
        if self.triggered && total.saturating_sub(self.start) > self.min_speech {
            let span = Span { start: self.start, end: total };
            self.finish_span(span, out);
            self.triggered = false;
        }
        if let Some(p) = self.pending.take() {
            out.push(Span { start: p.start, end: (p.end + self.pad).min(total) });
        }
    }
}

/// A chunk for Whisper: at most `chunk_size` long, made of whole speech spans.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub start: usize,
    pub end: usize,
    pub spans: Vec<Span>,
}

/// WhisperX's `merge_chunks`, incremental.
pub struct ChunkMerger {
    chunk_size: usize,
    current: Option<Chunk>,
}

impl ChunkMerger {
    pub fn new(chunk_size_s: f32) -> Self {
        Self { chunk_size: (chunk_size_s as f64 * SR as f64) as usize, current: None }
    }

    pub fn open_start(&self) -> Option<usize> {
        self.current.as_ref().map(|c| c.start)
    }

    pub fn push(&mut self, span: Span) -> Option<Chunk> {
        let mut closed = None;
        if let Some(c) = &self.current {
            if span.end.saturating_sub(c.start) > self.chunk_size && c.end > c.start {
                closed = self.current.take();
            }
        }
        let c = self.current.get_or_insert(Chunk { start: span.start, end: span.start, spans: Vec::new() });
        c.end = span.end;
        c.spans.push(span);
        closed
    }

    pub fn finish(&mut self) -> Option<Chunk> {
        self.current.take()
    }
}
