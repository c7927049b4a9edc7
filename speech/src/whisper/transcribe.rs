//! Transcribing a batch of windows (each at most 30 s): prompt, temperature fallback,
//! no-speech skipping, and segments from timestamp tokens.

use std::io::Write;

use tch::{Kind, Tensor};

use super::decode::{self, Hypothesis, PassOptions};
use super::error::{ModelError, Result};
use super::logits::LogitFilter;
use super::words::WordTiming;
use super::Whisper;
use crate::tensor::read_vec;

/// Seconds per timestamp token.
pub const TIME_PRECISION: f64 = 0.02;

/// How to decode; defaults are faster-whisper's.
#[derive(Debug, Clone)]
pub struct DecodingOptions {
    /// Language code; `None` on a multilingual model means detect.
    pub language: Option<String>,
    pub translate: bool,
    pub beam_size: usize,
    pub best_of: usize,
    pub patience: f32,
    pub length_penalty: f32,
    /// Temperatures tried in order while a result fails the thresholds.
    pub temperatures: Vec<f32>,
    pub compression_ratio_threshold: Option<f64>,
    pub log_prob_threshold: Option<f64>,
    pub no_speech_threshold: Option<f64>,
    /// `-1` stands for the model's default list (config `suppress_ids`).
    pub suppress_tokens: Vec<i64>,
    pub suppress_blank: bool,
    pub without_timestamps: bool,
    pub max_initial_timestamp: f64,
    pub initial_prompt: Option<String>,
    pub condition_on_previous_text: bool,
    pub prompt_reset_on_temperature: f32,
}

impl Default for DecodingOptions {
    fn default() -> Self {
        Self {
            language: None,
            translate: false,
            beam_size: 5,
            best_of: 5,
            patience: 1.0,
            length_penalty: 1.0,
            temperatures: vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
            compression_ratio_threshold: Some(2.4),
            log_prob_threshold: Some(-1.0),
            no_speech_threshold: Some(0.6),
            suppress_tokens: vec![-1],
            suppress_blank: true,
            without_timestamps: false,
            max_initial_timestamp: 1.0,
            initial_prompt: None,
            condition_on_previous_text: false,
            prompt_reset_on_temperature: 0.5,
        }
    }
}

/// A piece of text with times relative to its window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowSegment {
    pub start: f64,
    pub end: f64,
    pub text: String,
    pub tokens: Vec<i64>,
    pub avg_logprob: f64,
    pub no_speech_prob: f64,
    /// Filled by `Whisper::align_words` when word timestamps are asked for.
    pub words: Vec<WordTiming>,
}

/// The outcome for one window.
#[derive(Debug, Clone)]
pub struct WindowResult {
    pub segments: Vec<WindowSegment>,
    /// All generated text tokens (for conditioning the next window).
    pub text_tokens: Vec<i64>,
    pub temperature: f32,
    pub skipped_no_speech: bool,
    /// Seconds of the window the segments account for; the rest must be decoded again
    /// (faster-whisper's seek to the last timestamp pair).
    pub consumed: f64,
}

pub fn compression_ratio(text: &str) -> f64 {
    if text.is_empty() {
        return 0.0;
    }
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = e.write_all(text.as_bytes());
    let z = e.finish().unwrap_or_default();
    text.len() as f64 / z.len().max(1) as f64
}

impl Whisper {
    /// `<|startoftranscript|>` [language, task] for this model.
    pub fn sot_sequence(&self, language: &str, translate: bool) -> Vec<i64> {
        let t = &self.tokenizer;
        let mut s = vec![t.sot];
        if t.is_multilingual() {
            if let Some(l) = t.language_token(language) {
                s.push(l);
            }
            let task = if translate { t.translate } else { t.transcribe };
            s.extend(task);
        }
        s
    }

    fn filter(&self, o: &DecodingOptions) -> LogitFilter {
        let t = &self.tokenizer;
        let mut suppress: Vec<i64> = Vec::new();
        for &s in &o.suppress_tokens {
            if s == -1 {
                suppress.extend(&self.suppress_ids);
            } else if s >= 0 {
                suppress.push(s);
            }
        }
        suppress.extend([t.sot, t.sot_prev]);
        suppress.extend(t.transcribe.iter().chain(&t.translate).chain(&t.sot_lm).chain(&t.no_speech));
        suppress.sort_unstable();
        suppress.dedup();
        LogitFilter {
            eot: t.eot,
            timestamp_begin: t.timestamp_begin,
            no_timestamps: t.no_timestamps,
            blank: t.encode(" "),
            suppress,
            suppress_blank: o.suppress_blank,
            timestamps: !o.without_timestamps,
            max_initial_timestamp_index: Some((o.max_initial_timestamp / TIME_PRECISION).round() as i64),
        }
    }

    /// Builds the prompt: [`<|startofprev|>` previous...] sot-sequence [`<|notimestamps|>`].
    /// Returns the prompt and the index of `<|startoftranscript|>` in it.
    pub fn prompt(&self, previous: &[i64], language: &str, o: &DecodingOptions) -> (Vec<i64>, usize) {
        let mut p = Vec::new();
        if !previous.is_empty() {
            p.push(self.tokenizer.sot_prev);
            let keep = (self.config.n_text_ctx as usize / 2).saturating_sub(1);
            p.extend(&previous[previous.len().saturating_sub(keep)..]);
        }
        let sot_index = p.len();
        p.extend(self.sot_sequence(language, o.translate));
        if o.without_timestamps {
            p.push(self.tokenizer.no_timestamps);
        }
        (p, sot_index)
    }

    /// Decodes encoded windows ([B, 1500, d]) with temperature fallback. `durations` are the
    /// windows' lengths in seconds, `previous` the conditioning tokens (shared by the batch).
    #[allow(clippy::too_many_arguments)]
    pub fn decode_windows(
        &self,
        audio: &Tensor,
        durations: &[f64],
        previous: &[i64],
        language: &str,
        o: &DecodingOptions,
        cancel: &dyn Fn() -> bool,
    ) -> Result<Vec<WindowResult>> {
        let _guard = tch::no_grad_guard();
        let b = durations.len();
        let (prompt, sot_index) = self.prompt(previous, language, o);
        let filter = self.filter(o);
        let mut attempts: Vec<Vec<(Hypothesis, f32, f64)>> = vec![Vec::new(); b];
        let mut chosen: Vec<Option<(Hypothesis, f32)>> = vec![None; b];
        let temps = if o.temperatures.is_empty() { vec![0.0] } else { o.temperatures.clone() };
        for (k, &temp) in temps.iter().enumerate() {
            let pending: Vec<usize> = (0..b).filter(|i| chosen[*i].is_none()).collect();
            if pending.is_empty() {
                break;
            }
            let idx =
                Tensor::from_slice(&pending.iter().map(|i| *i as i64).collect::<Vec<_>>()).to_device(audio.device());
            let sub = if pending.len() == b { audio.shallow_clone() } else { audio.index_select(0, &idx) };
            let pass = PassOptions {
                beam_size: o.beam_size,
                patience: o.patience,
                length_penalty: o.length_penalty,
                temperature: temp,
                best_of: o.best_of,
                max_new_tokens: self.config.n_text_ctx as usize / 2,
                seed: 0x9E37_79B9_7F4A_7C15 ^ (k as u64 + 1),
            };
            let hyps =
                decode::run(&self.decoder, &sub, &prompt, sot_index, self.tokenizer.no_speech, &filter, &pass, cancel)?;
            if cancel() {
                return Ok(Vec::new());
            }
            for (h, &i) in hyps.into_iter().zip(&pending) {
                let text = self.tokenizer.decode(&h.tokens);
                let cr = compression_ratio(text.trim());
                tracing::debug!(window = i, temp, cr, avg_logprob = h.avg_logprob, text, "attempt");
                let mut fallback = o.compression_ratio_threshold.is_some_and(|t| cr > t)
                    || o.log_prob_threshold.is_some_and(|t| h.avg_logprob < t);
                if o.no_speech_threshold.is_some_and(|t| h.no_speech_prob > t)
                    && o.log_prob_threshold.is_some_and(|t| h.avg_logprob < t)
                {
                    fallback = false;
                }
                if !fallback {
                    chosen[i] = Some((h, temp));
                } else {
                    attempts[i].push((h, temp, cr));
                }
            }
        }
        // Windows every temperature failed. Where the first, deterministic attempt already
        // repeated itself, one more candidate joins them: the same window at temperature 0
        // without timestamp tokens, which can drive Whisper into a loop of one short segment
        // ("<|0.00|> Thank you.<|1.00|><|1.00|> Thank you.<|2.00|>..." on a child's unclear
        // sentence, where sampling only found other loops); faster-whisper's batched pipeline
        // decodes in that mode throughout. The pick among them is faster-whisper's.
        let failed: Vec<usize> = (0..b).filter(|i| chosen[*i].is_none() && !attempts[*i].is_empty()).collect();
        let looped: Vec<usize> = failed
            .iter()
            .copied()
            .filter(|i| o.compression_ratio_threshold.is_some_and(|t| attempts[*i][0].2 > t))
            .collect();
        if !looped.is_empty() && !o.without_timestamps {
            for (i, h, cr) in self.decode_plain(audio, &looped, previous, language, o, cancel)? {
                attempts[i].push((h, 0.0, cr));
            }
            if cancel() {
                return Ok(Vec::new());
            }
        }
        for i in failed {
            let below: Vec<&(Hypothesis, f32, f64)> =
                attempts[i].iter().filter(|a| o.compression_ratio_threshold.is_none_or(|t| a.2 <= t)).collect();
            let pool: Vec<&(Hypothesis, f32, f64)> =
                if below.is_empty() { attempts[i].iter().collect() } else { below };
            let best = pool.into_iter().max_by(|a, c| a.0.avg_logprob.total_cmp(&c.0.avg_logprob)).cloned();
            chosen[i] = best.map(|(h, t, _)| (h, t));
        }
        Ok(chosen
            .into_iter()
            .zip(durations)
            .map(|(c, &dur)| {
                let (h, temp) =
                    c.unwrap_or((Hypothesis { tokens: vec![], avg_logprob: 0.0, no_speech_prob: 0.0 }, 0.0));
                let mut skip = o.no_speech_threshold.is_some_and(|t| h.no_speech_prob > t);
                if o.log_prob_threshold.is_some_and(|t| h.avg_logprob > t) {
                    skip = false;
                }
                if skip {
                    return WindowResult {
                        segments: vec![],
                        text_tokens: vec![],
                        temperature: temp,
                        skipped_no_speech: true,
                        consumed: dur,
                    };
                }
                let (segments, consumed) = self.split_segments(&h, dur);
                let text_tokens: Vec<i64> = segments.iter().flat_map(|s| s.tokens.iter().copied()).collect();
                WindowResult { segments, consumed, text_tokens, temperature: temp, skipped_no_speech: false }
            })
            .collect())
    }

    /// Decodes `windows` (indices into `audio`) again at temperature 0 without timestamp
    /// tokens; returns each window's hypothesis with its compression ratio. Its text becomes one
    /// segment over the window, the whole window consumed.
    fn decode_plain(
        &self,
        audio: &Tensor,
        windows: &[usize],
        previous: &[i64],
        language: &str,
        o: &DecodingOptions,
        cancel: &dyn Fn() -> bool,
    ) -> Result<Vec<(usize, Hypothesis, f64)>> {
        let plain = DecodingOptions { without_timestamps: true, ..o.clone() };
        let (prompt, sot_index) = self.prompt(previous, language, &plain);
        let filter = self.filter(&plain);
        let idx = Tensor::from_slice(&windows.iter().map(|i| *i as i64).collect::<Vec<_>>()).to_device(audio.device());
        let sub = audio.index_select(0, &idx);
        let pass = PassOptions {
            beam_size: o.beam_size,
            patience: o.patience,
            length_penalty: o.length_penalty,
            temperature: 0.0,
            best_of: o.best_of,
            max_new_tokens: self.config.n_text_ctx as usize / 2,
            seed: 0,
        };
        let hyps =
            decode::run(&self.decoder, &sub, &prompt, sot_index, self.tokenizer.no_speech, &filter, &pass, cancel)?;
        Ok(hyps
            .into_iter()
            .zip(windows)
            .map(|(h, &i)| {
                let cr = compression_ratio(self.tokenizer.decode(&h.tokens).trim());
                tracing::debug!(window = i, cr, avg_logprob = h.avg_logprob, "attempt without timestamps");
                (i, h, cr)
            })
            .collect())
    }

    /// Cuts a window's tokens into segments at consecutive timestamp tokens, as faster-whisper
    /// does; returns them with the seconds consumed (up to the last pair unless the output
    /// ends with a single timestamp).
    fn split_segments(&self, h: &Hypothesis, duration: f64) -> (Vec<WindowSegment>, f64) {
        let tb = self.tokenizer.timestamp_begin;
        let toks = &h.tokens;
        let ts = |t: i64| (t - tb) as f64 * TIME_PRECISION;
        let seg = |start: f64, end: f64, part: &[i64]| {
            let text_toks: Vec<i64> = part.iter().copied().filter(|t| *t < self.tokenizer.eot).collect();
            let start = start.min(duration);
            WindowSegment {
                start,
                end: end.min(duration).max(start),
                text: self.tokenizer.decode(&text_toks),
                tokens: text_toks,
                avg_logprob: h.avg_logprob,
                no_speech_prob: h.no_speech_prob,
                words: Vec::new(),
            }
        };
        let single_ending = toks.len() >= 2 && toks[toks.len() - 2] < tb && toks[toks.len() - 1] >= tb;
        let pairs: Vec<usize> = (1..toks.len()).filter(|&i| toks[i] >= tb && toks[i - 1] >= tb).collect();
        let mut out = Vec::new();
        let mut consumed = duration;
        if pairs.is_empty() {
            let end = match toks.iter().rev().find(|t| **t >= tb) {
                Some(&t) if t != tb => ts(t),
                _ => duration,
            };
            out.push(seg(0.0, end, toks));
        } else {
            let mut cuts = pairs.clone();
            if single_ending {
                cuts.push(toks.len());
            }
            let mut last = 0;
            for &c in &cuts {
                let part = &toks[last..c];
                if !part.is_empty() {
                    let start = if part[0] >= tb { ts(part[0]) } else { 0.0 };
                    let end = if part[part.len() - 1] >= tb { ts(part[part.len() - 1]) } else { duration };
                    out.push(seg(start, end, part));
                }
                last = c;
            }
            if !single_ending {
                let end = ts(toks[last - 1]);
                // Never stall: a window that does not advance is consumed whole.
                if end >= 1.0 {
                    consumed = end.min(duration);
                }
            }
        }
        out.retain(|s| !s.text.trim().is_empty());
        (out, consumed)
    }

    /// Most likely language of each window (restricted to `allowed` when given), with its
    /// probability. [`ModelError::NoLanguage`] when no language of the model is allowed.
    pub fn detect_language(&self, audio: &Tensor, allowed: Option<&[String]>) -> Result<Vec<(String, f64)>> {
        let _guard = tch::no_grad_guard();
        let t = &self.tokenizer;
        let langs: Vec<&(String, i64)> =
            t.languages.iter().filter(|(c, _)| allowed.is_none_or(|a| a.iter().any(|x| x == c))).collect();
        if langs.is_empty() {
            return Err(ModelError::NoLanguage(match allowed {
                Some(a) => format!("none of the allowed languages {a:?} is a language of this model"),
                None => "the model names no languages".into(),
            }));
        }
        let b = audio.size()[0];
        let mut state = self.decoder.start(audio, 1);
        let sot = Tensor::from_slice(&[t.sot]).view([1, 1]).repeat([b, 1]).to_device(audio.device());
        let h = self.decoder.forward(&sot, 0, &mut state);
        let logits = self.decoder.logits(&h.select(1, 0));
        let ids = Tensor::from_slice(&langs.iter().map(|(_, i)| *i).collect::<Vec<_>>()).to_device(audio.device());
        let probs = logits.index_select(1, &ids).softmax(-1, Kind::Float).to_device(tch::Device::Cpu);
        (0..b)
            .map(|i| {
                let row: Vec<f32> = read_vec(&probs.get(i), "language probabilities")?;
                let (k, p) = row.iter().enumerate().fold((0, f32::MIN), |a, (k, v)| if *v > a.1 { (k, *v) } else { a });
                Ok((langs[k].0.clone(), p as f64))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::compression_ratio;

    /// zlib's own figure (Python: `len(b) / len(zlib.compress(b))`), which openai-whisper's and
    /// faster-whisper's thresholds were set against: a looping window must cross 2.4.
    #[test]
    fn compression_ratio_is_zlibs() {
        let looped = "Thank you very much. Thank you very much. Thank you very much. Thank you. \
                      Thank you very much. Thank you.";
        assert_eq!(looped.len(), 105);
        assert!((compression_ratio(looped) - 105.0 / 34.0).abs() < 1e-9, "{}", compression_ratio(looped));
        let plain = "And so, my fellow Americans, ask not what your country can do for you.";
        assert!(compression_ratio(plain) < 1.5);
        assert_eq!(compression_ratio(""), 0.0);
    }
}
