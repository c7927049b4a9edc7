//! Feeds a [`Session`] from a stream of audio and its Silero probabilities.
//!
//! With a segmentation model
//! ([`DiarizerConfig::segmentation`](super::DiarizerConfig::segmentation)), the session embeds
//! the stretches where one speaker talks alone and overlapped speech gets a second speaker at the
//! end (see `activity`). Without one, it embeds Silero's tight spans
//! ([`vad_options`](super::vad_options)).

use transcript::SpeakerTurn;

use super::activity::{add_overlaps, Activity};
use super::{DiarizeOptions, Session};
use crate::dsp::SR;
use crate::error::SpeechError;
use crate::vad::{Span, SpeechDetector, VadOptions};

enum Source {
    Silero { detector: SpeechDetector, spans: Vec<Span> },
    Segmentation(Activity),
}

/// One file's speech going into a diarization session.
pub struct SpeechFeed<'d> {
    session: Session<'d>,
    source: Source,
}

impl<'d> SpeechFeed<'d> {
    /// `vad` is how Silero's probabilities become speech: [`vad_options`](super::vad_options)
    /// unless you have a reason. With segmentation only its onset counts (a stretch needs one probability at least
    /// that high).
    pub fn new(session: Session<'d>, vad: &VadOptions) -> Self {
        let source = if session.d.segmenter.is_some() {
            Source::Segmentation(Activity::new(vad.threshold))
        } else {
            Source::Silero { detector: SpeechDetector::new(vad), spans: Vec::new() }
        };
        Self { session, source }
    }

    /// The next Silero probability (one per 512-sample window, in order).
    pub fn push_prob(&mut self, p: f32) {
        match &mut self.source {
            Source::Silero { detector, spans } => detector.push(p, spans),
            Source::Segmentation(a) => a.push_prob(p),
        }
    }

    /// Embeds what the probabilities so far have released. `buf` holds the audio from absolute
    /// sample `buf_start` on, at least from [`SpeechFeed::earliest_needed`]. With `eof`, `buf`
    /// ends the stream and every probability has been pushed.
    pub fn feed(&mut self, buf_start: usize, buf: &[f32], eof: bool) -> Result<(), SpeechError> {
        let end = buf_start + buf.len();
        let spans: Vec<(usize, usize)> = match &mut self.source {
            Source::Silero { detector, spans } => {
                if eof {
                    detector.finish(end, spans);
                }
                spans.drain(..).map(|s| (s.start, s.end)).collect()
            }
            Source::Segmentation(a) => {
                let seg = self.session.d.segmenter.as_ref().expect("segmentation source has a model");
                a.feed(&seg.lock().unwrap_or_else(|e| e.into_inner()), buf_start, buf, eof)?;
                a.take_solo()
            }
        };
        for (s, e) in spans {
            let (s, e) = (s.max(buf_start), e.min(end));
            if e > s {
                self.session.push(&buf[s - buf_start..e - buf_start], s)?;
            }
        }
        self.session.note_seen(end);
        Ok(())
    }

    /// The first sample the next [`SpeechFeed::feed`] may need.
    pub fn earliest_needed(&self) -> usize {
        match &self.source {
            Source::Silero { detector, .. } => detector.earliest_needed(),
            Source::Segmentation(a) => a.earliest_needed(),
        }
    }

    /// Clusters, then gives overlapped speech its second speaker.
    pub fn finish(self, options: &DiarizeOptions) -> Result<Vec<SpeakerTurn>, SpeechError> {
        let mut turns = self.session.finish(options)?;
        if let Source::Segmentation(a) = &self.source {
            add_overlaps(&mut turns, &a.overlaps, SR);
        }
        Ok(turns)
    }

    /// Everything embedded, before clustering (for [`Session::embeddings`]).
    pub fn into_session(mut self) -> Result<Session<'d>, SpeechError> {
        self.session.flush()?;
        Ok(self.session)
    }
}
