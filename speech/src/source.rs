//! One file's audio as a stream of blocks with Silero's speech probabilities: the decode + VAD
//! loop that both the pipeline and [`Diarizer::file_feed`](crate::diarize::Diarizer::file_feed)
//! run. Memory stays flat: the caller says which audio it may still need and the rest is
//! dropped.

use std::path::Path;

use crate::audio::AudioReader;
use crate::error::SpeechError;
use crate::observer::{timed, Observer, Stage};
use crate::vad::{SileroVad, VadStream, WINDOW};

/// Audio samples from absolute index `start` on.
pub(crate) struct Buffer {
    pub start: usize,
    pub data: Vec<f32>,
}

impl Buffer {
    /// The absolute index after the last sample.
    pub fn end(&self) -> usize {
        self.start + self.data.len()
    }

    /// Samples `a..b` (absolute), clipped to what the buffer holds.
    pub fn slice(&self, a: usize, b: usize) -> &[f32] {
        let a = a.max(self.start).min(self.end()) - self.start;
        let b = b.max(self.start).min(self.end()) - self.start;
        &self.data[a..b.max(a)]
    }

    fn drop_before(&mut self, keep: usize) {
        if keep > self.start {
            let n = (keep - self.start).min(self.data.len());
            self.data.drain(..n);
            self.start += n;
        }
    }
}

/// Decodes a file block by block and runs Silero over every 512-sample window.
pub(crate) struct SpeechSource<'o> {
    reader: AudioReader,
    vad: VadStream,
    buf: Buffer,
    /// Samples that have a probability (the next window starts here).
    vad_pos: usize,
    probs: Vec<f32>,
    /// Told how long decoding and Silero take (stages `decode` and `vad`).
    observer: Option<&'o dyn Observer>,
}

impl<'o> SpeechSource<'o> {
    /// Opens `path` and loads Silero from `vad_model` (`silero_vad_windows.jit`).
    pub fn open(path: &Path, vad_model: &Path) -> Result<Self, SpeechError> {
        let reader = AudioReader::open(path)?;
        Ok(Self::new(reader, SileroVad::load(vad_model)?))
    }

    pub fn new(reader: AudioReader, vad: SileroVad) -> Self {
        Self {
            reader,
            vad: VadStream::new(vad),
            buf: Buffer { start: 0, data: Vec::new() },
            vad_pos: 0,
            probs: Vec::new(),
            observer: None,
        }
    }

    /// Reports the time spent decoding (stage `decode`) and in Silero (stage `vad`) to `observer`.
    pub fn set_observer(&mut self, observer: &'o dyn Observer) {
        self.observer = Some(observer);
    }

    /// The file's length in seconds, when its container says.
    pub fn duration_hint(&self) -> Option<f64> {
        self.reader.duration_hint()
    }

    /// At the end of the stream: what is wrong with a file that decoded all the same.
    pub fn damage(&self) -> Option<String> {
        self.reader.damage()
    }

    /// Decodes the next block into the buffer and runs Silero over it; at the end of the file,
    /// Silero's last (padded) window. Returns whether the stream has ended; either way the new
    /// probabilities wait in [`SpeechSource::take_probs`].
    pub fn advance(&mut self) -> Result<bool, SpeechError> {
        let observer = self.observer;
        match timed(observer, Stage::Decode, || self.reader.next_block())? {
            Some(block) => {
                self.buf.data.extend_from_slice(&block);
                timed(observer, Stage::Vad, || self.vad.push(&block, &mut self.probs))?;
                Ok(false)
            }
            None => {
                timed(observer, Stage::Vad, || self.vad.finish(&mut self.probs))?;
                Ok(true)
            }
        }
    }

    /// The probabilities of the windows since the last call, in order (one per 512 samples).
    pub fn take_probs(&mut self) -> std::vec::Drain<'_, f32> {
        self.vad_pos += self.probs.len() * WINDOW;
        self.probs.drain(..)
    }

    /// The audio decoded and not yet dropped.
    pub fn audio(&self) -> &Buffer {
        &self.buf
    }

    /// Drops the audio before `keep` that no future probability needs either.
    pub fn drop_before(&mut self, keep: usize) {
        self.buf.drop_before(keep.min(self.vad_pos));
    }
}
