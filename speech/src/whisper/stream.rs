//! One job: audio blocks -> VAD -> chunks of at most 30 s -> batches through Whisper.
//! Memory stays flat: only the audio that an open chunk or pending speech may still need is
//! kept, and chunks are transcribed as soon as a batch fills.

use std::path::Path;

use transcript::{Segment, Transcript, Word};

use super::{DecodingOptions, Whisper};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use crate::audio::AudioReader;
use crate::diarize::{assign_speakers, DiarizeOptions, Diarizer, SpeakerTurn, SpeechFeed};
use crate::pipeline::{Observer, Options, SpeechError, Stage, Task, SR};
use crate::vad::{Chunk, ChunkMerger, SileroVad, Span, SpeechDetector, VadOptions, VadStream, WINDOW};

enum Msg {
    Start { expected: Option<f64> },
    Chunk(Chunk, Vec<f32>),
    End { samples: usize, vad_seconds: f64 },
}

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
pub(crate) fn run(
    model: Arc<Mutex<Whisper>>,
    vad_path: &Path,
    o: &Options,
    observer: &dyn Observer,
    reader: AudioReader,
    threads: i32,
    diarize: Option<(&Diarizer, DiarizeOptions)>,
) -> Result<Transcript, SpeechError> {
    let vad = VadStream::new(SileroVad::load(vad_path)?);
    let batch = o.batch_size.unwrap_or(8).max(1) as usize;
    let (tx, rx) = sync_channel::<Msg>(batch + 1);
    std::thread::scope(|s| {
        let worker = s.spawn(move || {
            let m = model.lock().unwrap_or_else(|e| e.into_inner());
            Job::new(&m, o, observer, threads)?.consume(rx)
        });
        let produced = produce(reader, vad, &vad_options(o), &tx, observer, diarize);
        drop(tx);
        let transcribed =
            worker.join().unwrap_or_else(|_| Err(SpeechError::Inference("transcription thread panicked".into())));
        match (produced, transcribed) {
            (_, Err(e)) if !matches!(e, SpeechError::Cancelled) => Err(e),
            (Err(e), _) | (Ok(_), Err(e)) => Err(e),
            (Ok(turns), Ok(mut t)) => {
                if let Some(turns) = turns {
                    assign_speakers(&mut t, &turns);
                }
                Ok(t)
            }
        }
    })
}

/// Decodes, runs Silero on every 512-sample window, cuts and merges speech into chunks and
/// sends them on. Keeps only the audio an open chunk or pending speech may still need.
fn produce<'d>(
    mut reader: AudioReader,
    mut vad: VadStream,
    o: &VadOptions,
    tx: &SyncSender<Msg>,
    obs: &'d dyn Observer,
    diarize: Option<(&'d Diarizer, DiarizeOptions)>,
) -> Result<Option<Vec<SpeakerTurn>>, SpeechError> {
    tch::set_num_threads(1); // Silero is a small recurrent model: one thread is fastest.
    let expected = reader.duration_hint().filter(|t| *t > 0.0);
    let gone = || SpeechError::Cancelled;
    tx.send(Msg::Start { expected }).map_err(|_| gone())?;
    let mut speakers = diarize.map(|(d, options)| Speakers::new(d, options, obs, expected));
    let mut detector = SpeechDetector::new(o);
    let mut merger = ChunkMerger::new(o.chunk_size_s);
    let mut buf = Buffer { start: 0, data: Vec::new() };
    let mut vad_pos = 0usize;
    let mut probs: Vec<f32> = Vec::new();
    let mut spans: Vec<Span> = Vec::new();
    let mut vad_seconds = 0.0;
    obs.progress(Stage::Decode, 0.0);
    obs.progress(Stage::Vad, 0.0);
    let send = |c: Chunk, buf: &Buffer| {
        let audio = buf.slice(c.start, c.end).to_vec();
        tx.send(Msg::Chunk(c, audio)).map_err(|_| gone())
    };
    let mut eof = false;
    while !eof {
        if obs.is_cancelled() {
            return Err(SpeechError::Cancelled);
        }
        let t0;
        match reader.next_block()? {
            Some(block) => {
                buf.data.extend_from_slice(&block);
                t0 = std::time::Instant::now();
                vad.push(&block, &mut probs)?;
            }
            None => {
                eof = true;
                t0 = std::time::Instant::now();
                vad.finish(&mut probs)?;
            }
        }
        for p in probs.drain(..) {
            push_prob(p, &mut detector, &mut spans, &mut speakers);
            vad_pos += WINDOW;
        }
        if eof {
            let total = buf.end();
            if total == 0 {
                return Err(crate::audio::AudioError::Empty.into());
            }
            detector.finish(total, &mut spans);
        }
        vad_seconds += t0.elapsed().as_secs_f64();
        if let Some(s) = &mut speakers {
            s.embed(&buf, eof)?;
        }
        for sp in spans.drain(..) {
            if let Some(c) = merger.push(sp) {
                send(c, &buf)?;
            }
        }
        if eof {
            if let Some(c) = merger.finish() {
                send(c, &buf)?;
            }
            break;
        }
        let mut keep = detector.earliest_needed().min(merger.open_start().unwrap_or(usize::MAX)).min(vad_pos);
        if let Some(s) = &speakers {
            keep = keep.min(s.feed.earliest_needed());
        }
        buf.drop_before(keep);
        if let Some(total) = expected {
            let f = (buf.end() as f64 / SR / total).min(1.0);
            obs.progress(Stage::Decode, f);
            obs.progress(Stage::Vad, f);
        }
    }
    obs.progress(Stage::Decode, 1.0);
    obs.progress(Stage::Vad, 1.0);
    tx.send(Msg::End { samples: buf.end(), vad_seconds }).map_err(|_| gone())?;
    // Clustering runs here while the other thread finishes the last batches.
    speakers.map(Speakers::finish).transpose()
}

/// One Silero probability to Whisper's span detector and, when diarizing, to the diarizer.
fn push_prob(p: f32, detector: &mut SpeechDetector, spans: &mut Vec<Span>, speakers: &mut Option<Speakers>) {
    detector.push(p, spans);
    if let Some(s) = speakers {
        s.feed.push_prob(p);
    }
}

/// Diarization fed from the transcription's own VAD and audio ([`SpeechFeed`]: the diarizer's
/// tight spans over the same probabilities, or its segmentation model checked by them).
struct Speakers<'d> {
    feed: SpeechFeed<'d>,
    options: DiarizeOptions,
    seconds: f64,
}

impl<'d> Speakers<'d> {
    fn new(d: &'d Diarizer, options: DiarizeOptions, obs: &'d dyn Observer, expected: Option<f64>) -> Self {
        let mut session = d.session();
        session.set_observer(obs);
        if let Some(t) = expected {
            session.set_expected_samples((t * SR) as usize);
        }
        let feed = SpeechFeed::new(session, &crate::diarize::vad_options());
        Self { feed, options, seconds: 0.0 }
    }

    /// Embeds the speech released so far (still in `buf`: the buffer keeps what the feed needs).
    fn embed(&mut self, buf: &Buffer, eof: bool) -> Result<(), SpeechError> {
        let t0 = std::time::Instant::now();
        self.feed.feed(buf.start, &buf.data, eof)?;
        self.seconds += t0.elapsed().as_secs_f64();
        Ok(())
    }

    fn finish(self) -> Result<Vec<SpeakerTurn>, SpeechError> {
        let t0 = std::time::Instant::now();
        let turns = self.feed.finish(&self.options)?;
        tracing::debug!(embed_s = self.seconds, cluster_s = t0.elapsed().as_secs_f64(), "diarized");
        Ok(turns)
    }
}

struct Job<'a> {
    model: &'a Whisper,
    decoding: DecodingOptions,
    batch_size: usize,
    allowed: Option<Vec<String>>,
    observer: &'a dyn Observer,
    prompt: Vec<i64>,
    language: Option<String>,
    /// Final segments, in time order.
    segments: Vec<Segment>,
    /// Decoded segments that may still get earlier neighbours.
    unreleased: Vec<Segment>,
    transcribed_until: f64,
    chunks: usize,
    expected: Option<f64>,
    word_timestamps: bool,
    /// Seconds spent in VAD, mel + encoder, decoding, word alignment.
    timings: [f64; 4],
    threads: i32,
}

/// Audio samples from absolute index `start` on.
struct Buffer {
    start: usize,
    data: Vec<f32>,
}

impl Buffer {
    fn end(&self) -> usize {
        self.start + self.data.len()
    }
    fn slice(&self, a: usize, b: usize) -> &[f32] {
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

impl<'a> Job<'a> {
    fn new(model: &'a Whisper, o: &Options, observer: &'a dyn Observer, threads: i32) -> Result<Self, SpeechError> {
        let d = DecodingOptions::default();
        let condition = o.condition_on_previous_text.unwrap_or(false);
        let decoding = DecodingOptions {
            language: o.language.clone(),
            translate: o.task == Task::Translate,
            beam_size: o.beam_size.map(|b| b.max(1) as usize).unwrap_or(d.beam_size),
            best_of: o.best_of.map(|b| b.max(1) as usize).unwrap_or(d.best_of),
            patience: o.patience.unwrap_or(d.patience),
            length_penalty: o.length_penalty.unwrap_or(d.length_penalty),
            temperatures: o.temperature.clone().filter(|t| !t.is_empty()).unwrap_or(d.temperatures),
            compression_ratio_threshold: o.compression_ratio_threshold.or(d.compression_ratio_threshold),
            log_prob_threshold: o.log_prob_threshold.or(d.log_prob_threshold),
            no_speech_threshold: o.no_speech_threshold.or(d.no_speech_threshold),
            suppress_tokens: o.suppress_tokens.clone().unwrap_or(d.suppress_tokens),
            suppress_blank: o.suppress_blank.unwrap_or(d.suppress_blank),
            without_timestamps: o.without_timestamps.unwrap_or(d.without_timestamps),
            initial_prompt: o.initial_prompt.clone(),
            condition_on_previous_text: condition,
            ..d
        };
        let batch_size = if condition { 1 } else { o.batch_size.unwrap_or(8).max(1) as usize };
        let tok = &model.tokenizer;
        let allowed = o.allowed_languages.clone().filter(|a| !a.is_empty());
        let language = if !tok.is_multilingual() {
            match o.language.as_deref() {
                None | Some("en") => Some("en".to_string()),
                Some(l) => return Err(SpeechError::UnsupportedLanguage(format!("{l}: the model is English-only"))),
            }
        } else {
            if let Some(a) = &allowed {
                if let Some(bad) = a.iter().find(|l| tok.language_token(l).is_none()) {
                    return Err(SpeechError::UnsupportedLanguage(format!("{bad} is not a language of this model")));
                }
            }
            match o.language.as_deref() {
                Some(l) if tok.language_token(l).is_none() => {
                    return Err(SpeechError::UnsupportedLanguage(format!("{l} is not a language of this model")))
                }
                Some(l) if allowed.as_ref().is_some_and(|a| !a.iter().any(|x| x == l)) => {
                    return Err(SpeechError::UnsupportedLanguage(format!("{l} is not in allowed_languages")))
                }
                l => l.map(String::from),
            }
        };
        let prompt = match o.initial_prompt.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => tok.encode(&format!(" {p}")),
            None => Vec::new(),
        };
        Ok(Self {
            model,
            decoding,
            batch_size,
            allowed,
            observer,
            prompt,
            language,
            segments: Vec::new(),
            unreleased: Vec::new(),
            transcribed_until: 0.0,
            chunks: 0,
            expected: None,
            word_timestamps: o.word_timestamps,
            timings: [0.0; 4],
            threads: threads.max(1),
        })
    }

    /// Takes chunks from the VAD thread, transcribes them batch by batch.
    fn consume(mut self, rx: Receiver<Msg>) -> Result<Transcript, SpeechError> {
        tch::set_num_threads(self.threads);
        let obs = self.observer;
        let mut ready: Vec<(Chunk, Vec<f32>)> = Vec::new();
        let mut total = None;
        for msg in rx {
            match msg {
                Msg::Start { expected } => self.expected = expected,
                Msg::Chunk(c, audio) => {
                    ready.push((c, audio));
                    if ready.len() >= self.batch_size {
                        self.transcribe(&mut ready)?;
                        self.release(ready.first().map(|(c, _)| c.start as f64 / SR));
                    }
                }
                Msg::End { samples, vad_seconds } => {
                    total = Some(samples);
                    self.timings[0] = vad_seconds;
                }
            }
        }
        // The VAD thread stopped early (error or cancel); it reports why.
        let Some(total) = total else { return Err(SpeechError::Cancelled) };
        let duration = total as f64 / SR;
        self.expected = Some(duration);
        while !ready.is_empty() {
            self.transcribe(&mut ready)?;
            self.release(ready.first().map(|(c, _)| c.start as f64 / SR));
        }
        self.release(None);
        obs.progress(Stage::Transcribe, 1.0);
        let word_segments = self.segments.iter().flat_map(|s| s.words.iter().cloned()).collect();
        let [vad, enc, dec, align] = self.timings;
        obs.log(
            Stage::Transcribe,
            &format!(
                "transcribed {duration:.2} s of audio in {} windows, {} segments (vad {vad:.2} s, encoder {enc:.2} s, decoder {dec:.2} s, word alignment {align:.2} s)",
                self.chunks,
                self.segments.len()
            ),
        );
        Ok(Transcript {
            language: self.language.clone(),
            duration,
            segments: self.segments,
            word_segments,
            ..Transcript::default()
        })
    }

    /// Moves the decoded segments that start before `frontier` (all with `None`) to the
    /// transcript and tells the observer. Later audio can only add segments after the frontier:
    /// continuations of a window are decoded in a later batch than its neighbours, so segments
    /// wait here until nothing before them is pending.
    fn release(&mut self, frontier: Option<f64>) {
        self.unreleased.sort_by(|a, b| a.start.total_cmp(&b.start));
        let n = match frontier {
            Some(f) => self.unreleased.iter().take_while(|s| s.start < f).count(),
            None => self.unreleased.len(),
        };
        if n > 0 {
            let done: Vec<Segment> = self.unreleased.drain(..n).collect();
            self.observer.segments(&done);
            self.segments.extend(done);
        }
    }

    /// Transcribes up to one batch from the front of `ready`.
    fn transcribe(&mut self, ready: &mut Vec<(Chunk, Vec<f32>)>) -> Result<(), SpeechError> {
        let n = ready.len().min(self.batch_size);
        let batch: Vec<(Chunk, Vec<f32>)> = ready.drain(..n).collect();
        let obs = self.observer;
        if obs.is_cancelled() {
            return Err(SpeechError::Cancelled);
        }
        let m = self.model;
        let clips: Vec<&[f32]> = batch.iter().map(|(_, a)| a.as_slice()).collect();
        let t0 = std::time::Instant::now();
        let mel = m.features(&clips);
        let enc = tch::no_grad(|| m.encode(&mel));
        if obs.is_cancelled() {
            return Err(SpeechError::Cancelled);
        }
        let language = match &self.language {
            Some(l) => l.clone(),
            None => {
                let first = enc.narrow(0, 0, 1);
                let (lang, p) = m.detect_language(&first, self.allowed.as_deref()).remove(0);
                obs.log(Stage::Transcribe, &format!("detected language {lang} (p={p:.2})"));
                self.language = Some(lang.clone());
                lang
            }
        };
        let durations: Vec<f64> = batch.iter().map(|(c, _)| (c.end - c.start) as f64 / SR).collect();
        let cancel = || obs.is_cancelled();
        let t1 = std::time::Instant::now();
        let mut results = m.decode_windows(&enc, &durations, &self.prompt, &language, &self.decoding, &cancel);
        self.timings[1] += (t1 - t0).as_secs_f64();
        self.timings[2] += t1.elapsed().as_secs_f64();
        if self.word_timestamps && results.len() == batch.len() {
            let t2 = std::time::Instant::now();
            for (i, r) in results.iter_mut().enumerate() {
                let window = enc.narrow(0, i as i64, 1);
                m.align_words(&window, &mut r.segments, &language, self.decoding.translate, durations[i]);
            }
            self.timings[3] += t2.elapsed().as_secs_f64();
        }
        if obs.is_cancelled() || results.len() != batch.len() {
            return Err(SpeechError::Cancelled);
        }
        let mut again = Vec::new();
        for ((chunk, audio), r) in batch.iter().zip(results) {
            let offset = chunk.start as f64 / SR;
            tracing::debug!(
                start = offset,
                duration = audio.len() as f64 / SR,
                consumed = r.consumed,
                temperature = r.temperature,
                tokens = r.text_tokens.len(),
                "window decoded"
            );
            let consumed = (r.consumed * SR) as usize;
            if consumed + (0.2 * SR) as usize <= audio.len() && !obs.is_cancelled() {
                // The model stopped at a timestamp before the end: decode the rest again.
                let rest = Chunk { start: chunk.start + consumed, end: chunk.end, spans: Vec::new() };
                again.push((rest, audio[consumed..].to_vec()));
            }
            for s in &r.segments {
                let words = s
                    .words
                    .iter()
                    .filter(|w| !w.word.trim().is_empty())
                    .map(|w| Word {
                        word: w.word.trim().to_string(),
                        start: round3(offset + w.start),
                        end: round3(offset + w.end),
                        score: round3(w.probability),
                        speaker: None,
                    })
                    .collect();
                self.unreleased.push(Segment {
                    start: round3(offset + s.start),
                    end: round3(offset + s.end),
                    text: s.text.clone(),
                    words,
                    avg_logprob: s.avg_logprob,
                    no_speech_prob: s.no_speech_prob,
                    ..Segment::default()
                });
            }
            if self.decoding.condition_on_previous_text {
                if r.temperature > self.decoding.prompt_reset_on_temperature {
                    self.prompt.clear();
                } else {
                    self.prompt.extend(&r.text_tokens);
                }
            }
            self.transcribed_until = chunk.start as f64 / SR + r.consumed;
            self.chunks += 1;
        }
        // Continuations go first so segments stay in time order.
        ready.splice(0..0, again);
        if let Some(total) = self.expected.filter(|t| *t > 0.0) {
            obs.progress(Stage::Transcribe, (self.transcribed_until / total).min(1.0));
        }
        Ok(())
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
