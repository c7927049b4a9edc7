//! Diarization inside a transcription run: the runner's own audio and Silero probabilities
//! feed the diarizer, so a file is decoded and run through VAD once.

use crate::diarize::{vad_options, DiarizeOptions, Diarizer, SpeakerTurn, SpeechFeed};
use crate::dsp::SR;
use crate::error::SpeechError;
use crate::observer::{Observer, Stage};
use crate::source::Buffer;

/// Diarization fed from the transcription's own VAD and audio ([`SpeechFeed`]: the diarizer's
/// tight spans over the same probabilities, or its segmentation model checked by them).
/// Embedding and clustering are the `diarize` stage's busy time.
pub(super) struct Speakers<'d> {
    feed: SpeechFeed<'d>,
    options: DiarizeOptions,
    observer: &'d dyn Observer,
}

impl<'d> Speakers<'d> {
    pub(super) fn new(d: &'d Diarizer, options: DiarizeOptions, obs: &'d dyn Observer, expected: Option<f64>) -> Self {
        let mut session = d.session();
        session.set_observer(obs);
        if let Some(t) = expected {
            session.set_expected_samples((t * SR) as usize);
        }
        let feed = SpeechFeed::new(session, &vad_options());
        Self { feed, options, observer: obs }
    }

    /// The next Silero probability, the same one Whisper's span detector gets.
    pub(super) fn push_prob(&mut self, p: f32) {
        self.feed.push_prob(p);
    }

    /// The first sample the next [`Speakers::embed`] may need.
    pub(super) fn earliest_needed(&self) -> usize {
        self.feed.earliest_needed()
    }

    /// Embeds the speech released so far (still in `buf`: the buffer keeps what the feed needs).
    pub(super) fn embed(&mut self, buf: &Buffer, eof: bool) -> Result<(), SpeechError> {
        self.observer.timed(Stage::Diarize, || self.feed.feed(buf.start, &buf.data, eof))
    }

    pub(super) fn finish(self) -> Result<Vec<SpeakerTurn>, SpeechError> {
        self.observer.timed(Stage::Diarize, || self.feed.finish(&self.options))
    }
}
