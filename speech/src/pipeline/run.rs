//! One run: audio blocks -> VAD -> chunks of at most 30 s -> batches through Whisper, with
//! speakers when asked. Memory stays flat: only the audio that an open chunk or pending speech
//! may still need is kept, and chunks are transcribed as soon as a batch fills.

use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};

use transcript::Transcript;
use vocab::Options;

use super::speakers::Speakers;
use super::transcriber::{Msg, Transcriber};
use crate::audio::AudioError;
use crate::diarize::{assign_speakers, DiarizeOptions, Diarizer, SpeakerTurn};
use crate::dsp::SR;
use crate::error::SpeechError;
use crate::observer::{Observer, Stage};
use crate::source::{Buffer, SpeechSource};
use crate::vad::{Chunk, ChunkMerger, Span, SpeechDetector, VadOptions};
use crate::whisper::Whisper;

fn vad_options(o: &Options) -> VadOptions {
    VadOptions {
        threshold: o.vad_onset.unwrap_or(0.5),
        neg_threshold: o.vad_offset,
        chunk_size_s: o.chunk_size.unwrap_or(30.0).clamp(1.0, 30.0),
        ..VadOptions::default()
    }
}

/// Runs one file: this thread decodes audio and runs the VAD, a second thread transcribes
/// the chunks it sends (a bounded channel keeps memory flat), so both cores stay busy.
/// With `diarize`, the same Silero probabilities also drive the diarizer's tight speech spans
/// (no second decoding or VAD pass), and the transcript comes back with speakers.
///
/// Each stage's work is timed where it runs ([`Observer::busy`]): decode, VAD and diarization
/// on this thread, one after another; transcription and word alignment on the second thread,
/// at the same time as this one's. Waiting (for the channel, for the model's lock) is no
/// stage's.
pub(super) fn run(
    model: Arc<Mutex<Whisper>>,
    source: SpeechSource<'_>,
    o: &Options,
    observer: &dyn Observer,
    threads: i32,
    diarize: Option<(&Diarizer, DiarizeOptions)>,
) -> Result<Transcript, SpeechError> {
    let batch = o.batch_size.unwrap_or(8).max(1) as usize;
    let (tx, rx) = sync_channel::<Msg>(batch + 1);
    std::thread::scope(|s| {
        let worker = s.spawn(move || {
            let m = model.lock().unwrap_or_else(|e| e.into_inner());
            Transcriber::new(&m, o, observer, threads)?.consume(rx)
        });
        let produced = produce(source, &vad_options(o), &tx, observer, diarize);
        drop(tx);
        let transcribed =
            worker.join().unwrap_or_else(|_| Err(SpeechError::Inference("transcription thread panicked".into())));
        match (produced, transcribed) {
            (_, Err(e)) if !matches!(e, SpeechError::Cancelled) => Err(e),
            (Err(e), _) | (Ok(_), Err(e)) => Err(e),
            (Ok(Produced { turns, damage }), Ok(mut t)) => {
                if let Some(turns) = turns {
                    observer.timed(Stage::Diarize, || assign_speakers(&mut t, &turns));
                }
                if let Some(damage) = damage {
                    t.note = Some(match t.note.take() {
                        Some(note) => format!("{note}; {damage}"),
                        None => damage,
                    });
                }
                Ok(t)
            }
        }
    })
}

/// What the decoding side hands back besides the chunks it sent.
struct Produced {
    /// Speaker turns, when diarizing.
    turns: Option<Vec<SpeakerTurn>>,
    /// What is wrong with a file that decoded all the same (see `AudioReader::damage`).
    damage: Option<String>,
}

/// Decodes, runs Silero on every 512-sample window, cuts and merges speech into chunks and
/// sends them on. Keeps only the audio an open chunk or pending speech may still need.
fn produce<'d>(
    mut source: SpeechSource<'d>,
    o: &VadOptions,
    tx: &SyncSender<Msg>,
    obs: &'d dyn Observer,
    diarize: Option<(&'d Diarizer, DiarizeOptions)>,
) -> Result<Produced, SpeechError> {
    tch::set_num_threads(1); // Silero is a small recurrent model: one thread is fastest.
    source.set_observer(obs);
    let expected = source.duration_hint().filter(|t| *t > 0.0);
    let gone = || SpeechError::Cancelled;
    tx.send(Msg::Start { expected }).map_err(|_| gone())?;
    let mut speakers = diarize.map(|(d, options)| Speakers::new(d, options, obs, expected));
    let mut detector = SpeechDetector::new(o);
    let mut merger = ChunkMerger::new(o.chunk_size_s);
    let mut spans: Vec<Span> = Vec::new();
    obs.progress(Stage::Decode, 0.0);
    obs.progress(Stage::Vad, 0.0);
    let send = |c: Chunk, buf: &Buffer| {
        let audio = buf.slice(c.start, c.end).to_vec();
        tx.send(Msg::Chunk(c, audio)).map_err(|_| gone())
    };
    loop {
        if obs.is_cancelled() {
            return Err(SpeechError::Cancelled);
        }
        let eof = source.advance()?;
        // Probabilities to speech spans, VAD work too (the source times Silero itself).
        obs.timed(Stage::Vad, || {
            for p in source.take_probs() {
                detector.push(p, &mut spans);
                if let Some(s) = &mut speakers {
                    s.push_prob(p);
                }
            }
            if eof {
                let total = source.audio().end();
                if total == 0 {
                    return Err(AudioError::Empty);
                }
                detector.finish(total, &mut spans);
            }
            Ok(())
        })?;
        if let Some(s) = &mut speakers {
            s.embed(source.audio(), eof)?;
        }
        for sp in spans.drain(..) {
            if let Some(c) = merger.push(sp) {
                send(c, source.audio())?;
            }
        }
        if eof {
            if let Some(c) = merger.finish() {
                send(c, source.audio())?;
            }
            break;
        }
        let mut keep = detector.earliest_needed().min(merger.open_start().unwrap_or(usize::MAX));
        if let Some(s) = &speakers {
            keep = keep.min(s.earliest_needed());
        }
        source.drop_before(keep);
        if let Some(total) = expected {
            let f = (source.audio().end() as f64 / SR / total).min(1.0);
            obs.progress(Stage::Decode, f);
            obs.progress(Stage::Vad, f);
        }
    }
    obs.progress(Stage::Decode, 1.0);
    obs.progress(Stage::Vad, 1.0);
    tx.send(Msg::End { samples: source.audio().end() }).map_err(|_| gone())?;
    let damage = source.damage();
    if let Some(damage) = &damage {
        obs.log(Stage::Decode, &format!("warning: {damage}"));
    }
    // Clustering runs here while the other thread finishes the last batches.
    Ok(Produced { turns: speakers.map(Speakers::finish).transpose()?, damage })
}
