//! The transcribing half of a run: takes the chunks the runner cuts, transcribes them batch by
//! batch on its own thread, and releases segments to the observer in time order.

use std::sync::mpsc::Receiver;

use tch::Tensor;
use transcript::{Segment, Transcript, Word};
use vocab::{Options, Task};

use crate::dsp::SR;
use crate::error::SpeechError;
use crate::observer::{Observer, Stage};
use crate::vad::Chunk;
use crate::whisper::{DecodingOptions, ModelError, Whisper};

/// What the runner sends the transcriber, in this order: one `Start`, the chunks, one `End`.
pub(super) enum Msg {
    Start { expected: Option<f64> },
    Chunk(Chunk, Vec<f32>),
    End { samples: usize },
}

pub(super) struct Transcriber<'a> {
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
    threads: i32,
}

impl<'a> Transcriber<'a> {
    pub(super) fn new(
        model: &'a Whisper,
        o: &Options,
        observer: &'a dyn Observer,
        threads: i32,
    ) -> Result<Self, SpeechError> {
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
            threads: threads.max(1),
        })
    }

    /// Takes chunks from the VAD thread, transcribes them batch by batch.
    pub(super) fn consume(mut self, rx: Receiver<Msg>) -> Result<Transcript, SpeechError> {
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
                Msg::End { samples } => total = Some(samples),
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
        obs.log(
            Stage::Transcribe,
            &format!(
                "transcribed {duration:.2} s of audio in {} windows, {} segments",
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
        let enc = obs.timed(Stage::Transcribe, || {
            let mel = m.features(&clips);
            // On a CPU, a few windows at a time, so that a cancel is heard within about a second
            // rather than after a whole batch: pairs for tiny models, whose per-call overhead a
            // pair still amortises (single windows cost tiny.en a third more), single windows
            // from base up, which batching barely speeds up there.
            let group = if m.config.n_audio_state < 512 { 2 } else { 1 };
            let parts = if m.device.is_cuda() { vec![mel] } else { mel.split(group, 0) };
            let mut encoded = Vec::with_capacity(parts.len());
            for part in &parts {
                if obs.is_cancelled() {
                    return Err(SpeechError::Cancelled);
                }
                encoded.push(tch::no_grad(|| m.encode(part)));
            }
            Ok(Tensor::cat(&encoded, 0))
        })?;
        if obs.is_cancelled() {
            return Err(SpeechError::Cancelled);
        }
        let language = match &self.language {
            Some(l) => l.clone(),
            None => {
                let first = enc.narrow(0, 0, 1);
                let detected = obs.timed(Stage::Transcribe, || m.detect_language(&first, self.allowed.as_deref()))?;
                let (lang, p) =
                    detected.into_iter().next().ok_or(ModelError::NoLanguage("no window to detect it in".into()))?;
                obs.log(Stage::Transcribe, &format!("detected language {lang} (p={p:.2})"));
                self.language = Some(lang.clone());
                lang
            }
        };
        let durations: Vec<f64> = batch.iter().map(|(c, _)| (c.end - c.start) as f64 / SR).collect();
        let cancel = || obs.is_cancelled();
        let mut results = obs.timed(Stage::Transcribe, || {
            m.decode_windows(&enc, &durations, &self.prompt, &language, &self.decoding, &cancel)
        })?;
        if self.word_timestamps && results.len() == batch.len() {
            let translate = self.decoding.translate;
            obs.timed(Stage::Align, || {
                results.iter_mut().enumerate().try_for_each(|(i, r)| {
                    if obs.is_cancelled() {
                        return Err(SpeechError::Cancelled);
                    }
                    let window = enc.narrow(0, i as i64, 1);
                    m.align_words(&window, &mut r.segments, &language, translate, durations[i])
                        .map_err(SpeechError::from)
                })
            })?;
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
