//! Logit filters applied before each decoding step, as openai-whisper / faster-whisper do:
//! suppress blank at the start, suppress tokens, and the timestamp rules. The history-dependent
//! rules are computed per row on the host as ranges; the masking itself runs batched in torch.

use tch::{Kind, Tensor};

/// Which tokens a row may not produce next.
pub struct LogitFilter {
    pub eot: i64,
    pub timestamp_begin: i64,
    pub no_timestamps: i64,
    pub blank: Vec<i64>,
    pub suppress: Vec<i64>,
    pub suppress_blank: bool,
    pub timestamps: bool,
    pub max_initial_timestamp_index: Option<i64>,
}

impl LogitFilter {
    /// Additive bias over the vocabulary: -inf on the tokens suppressed at every step.
    pub fn static_bias(&self, vocab: i64, device: tch::Device) -> Tensor {
        let mut bias = vec![0f32; vocab as usize];
        let mut off = |t: i64| {
            if t >= 0 && t < vocab {
                bias[t as usize] = f32::NEG_INFINITY;
            }
        };
        self.suppress.iter().for_each(|t| off(*t));
        if self.timestamps {
            off(self.no_timestamps);
        }
        Tensor::from_slice(&bias).to_device(device)
    }

    /// Token ranges `[from, to)` that the row's history forbids next (`sampled` holds the
    /// tokens generated after the prompt).
    pub fn ranges(&self, sampled: &[i64], vocab: i64, out: &mut Vec<(i64, i64)>) {
        out.clear();
        if sampled.is_empty() && self.suppress_blank {
            out.extend(self.blank.iter().map(|t| (*t, t + 1)));
            out.push((self.eot, self.eot + 1));
        }
        if !self.timestamps {
            return;
        }
        let tb = self.timestamp_begin;
        let is_ts = |t: &i64| *t >= tb;
        let last_ts = sampled.last().is_some_and(is_ts);
        let penultimate_ts = sampled.len() < 2 || is_ts(&sampled[sampled.len() - 2]);
        if last_ts {
            if penultimate_ts {
                out.push((tb, vocab));
            } else {
                out.push((0, self.eot));
            }
        }
        if let Some(&last) = sampled.iter().rev().find(|t| is_ts(t)) {
            // Timestamps never go backwards.
            let limit = if last_ts && !penultimate_ts { last } else { last + 1 };
            out.push((tb, limit));
        }
        if sampled.is_empty() {
            out.push((0, tb));
            if let Some(m) = self.max_initial_timestamp_index {
                out.push((tb + m + 1, vocab));
            }
        }
    }

    /// Applies every rule to `logits` [R, V] and returns the log-probabilities [R, V].
    pub fn log_probs(&self, logits: &Tensor, bias: &Tensor, seqs: &[&[i64]]) -> Tensor {
        let vocab = logits.size()[1];
        let masked = logits + bias;
        let mut ranges = Vec::new();
        for (r, seq) in seqs.iter().enumerate() {
            self.ranges(seq, vocab, &mut ranges);
            let row = masked.get(r as i64);
            for &(a, b) in &ranges {
                let (a, b) = (a.clamp(0, vocab), b.clamp(0, vocab));
                if b > a {
                    let _ = row.narrow(0, a, b - a).fill_(f64::NEG_INFINITY);
                }
            }
        }
        if self.timestamps && self.timestamp_begin < vocab {
            // When the timestamps together are likelier than any text token, force a timestamp
            // (compared on logits: both sides share the same normaliser).
            let tb = self.timestamp_begin;
            let lse = masked.narrow(1, tb, vocab - tb).logsumexp([1], false);
            let max_text = masked.narrow(1, 0, tb).amax([1], false);
            let force = lse.gt_tensor(&max_text).unsqueeze(1);
            let _ = masked.narrow(1, 0, tb).masked_fill_(&force, f64::NEG_INFINITY);
        }
        masked.log_softmax(-1, Kind::Float)
    }
}
