//! One decoding pass over a batch of encoded windows: greedy, beam search (with patience and
//! length penalty as CTranslate2 / faster-whisper) or sampling at a temperature (best of N).

use tch::{Kind, Tensor};

use super::error::{ModelError, Result};
use super::logits::LogitFilter;
use super::model::{Decoder, DecoderState};
use crate::tensor::read_vec;

#[derive(Debug, Clone)]
pub struct PassOptions {
    pub beam_size: usize,
    pub patience: f32,
    pub length_penalty: f32,
    /// 0 = greedy or beam search; above 0 sampling with `best_of` candidates.
    pub temperature: f32,
    pub best_of: usize,
    pub max_new_tokens: usize,
    pub seed: u64,
}

#[derive(Debug, Clone)]
pub struct Hypothesis {
    /// Generated tokens, without the prompt and without the final `<|endoftext|>`.
    pub tokens: Vec<i64>,
    pub avg_logprob: f64,
    pub no_speech_prob: f64,
}

fn score(h: &(Vec<i64>, f64), lp: f32) -> f64 {
    let len = h.0.len().max(1) as f64;
    if lp == 0.0 {
        h.1
    } else {
        h.1 / len.powf(lp as f64)
    }
}

/// Decodes every window of `audio` ([B, 1500, d]) from the same `prompt`, whose
/// `sot_index` is the position of `<|startoftranscript|>` (for the no-speech probability).
#[allow(clippy::needless_range_loop, clippy::too_many_arguments)]
pub fn run(
    decoder: &Decoder,
    audio: &Tensor,
    prompt: &[i64],
    sot_index: usize,
    no_speech: Option<i64>,
    filter: &LogitFilter,
    o: &PassOptions,
    cancel: &dyn Fn() -> bool,
) -> Result<Vec<Hypothesis>> {
    let b = audio.size()[0] as usize;
    let sampling = o.temperature > 0.0;
    let g = if sampling { o.best_of.max(1) } else { o.beam_size.max(1) };
    let rows = b * g;
    let device = audio.device();
    let mut state: DecoderState = decoder.start(audio, g as i64);
    let p = prompt.len() as i64;
    let tokens = Tensor::from_slice(prompt).view([1, p]).repeat([rows as i64, 1]).to_device(device);
    let hidden = decoder.forward(&tokens, 0, &mut state);
    // No-speech probability at the start-of-transcript position, from the first row of each audio.
    let no_speech_prob: Vec<f64> = match no_speech {
        Some(ns) => {
            let h = hidden.select(1, sot_index as i64);
            let probs = decoder.logits(&h).softmax(-1, Kind::Float).select(1, ns).to_device(tch::Device::Cpu);
            let v: Vec<f32> = read_vec(&probs, "no-speech probabilities")?;
            (0..b).map(|i| v.get(i * g).copied().unwrap_or(0.0) as f64).collect()
        }
        None => vec![0.0; b],
    };
    let mut logits = decoder.logits(&hidden.select(1, p - 1));
    let max_new = o.max_new_tokens.min((decoder.n_ctx() - p).max(0) as usize);
    let vocab = logits.size()[1] as usize;

    let mut seqs: Vec<Vec<i64>> = vec![Vec::new(); rows];
    let mut sums = vec![0f64; rows];
    let mut done = vec![false; rows];
    let mut finished: Vec<Vec<(Vec<i64>, f64)>> = vec![Vec::new(); b];
    let max_candidates = ((g as f32) * o.patience).round().max(1.0) as usize;
    if sampling {
        tch::manual_seed(o.seed as i64);
    }

    let bias = filter.static_bias(vocab as i64, device);
    let mut active: Vec<usize> = (0..rows).collect();
    let (mut t_host, mut t_model) = (0f64, 0f64);
    for step in 0..max_new {
        if cancel() {
            break;
        }
        let th = std::time::Instant::now();
        let act_seqs: Vec<&[i64]> = active.iter().map(|&r| seqs[r].as_slice()).collect();
        let lp = filter.log_probs(&logits, &bias, &act_seqs);
        let mut next = vec![filter.eot; rows];
        if !sampling && g > 1 {
            // Beam search, per audio: the best g+1 continuations of every beam.
            let k = (g + 1).min(vocab);
            let (vals, idx) = lp.topk(k as i64, -1, true, true);
            let vals: Vec<f32> = read_vec(&vals.to_device(tch::Device::Cpu).view([-1]), "beam log-probabilities")?;
            let idx: Vec<i64> = read_vec(&idx.to_device(tch::Device::Cpu).view([-1]), "beam tokens")?;
            let mut source: Vec<i64> = (0..rows as i64).collect();
            let mut new_seqs = seqs.clone();
            let mut new_sums = sums.clone();
            for i in 0..b {
                if finished[i].len() >= max_candidates {
                    continue;
                }
                let mut cands: Vec<(f64, usize, i64)> = Vec::new();
                let beams = if step == 0 { 1 } else { g };
                for j in 0..beams {
                    let r = i * g + j;
                    for c in 0..k {
                        let v = vals[r * k + c];
                        if v.is_finite() {
                            cands.push((sums[r] + v as f64, r, idx[r * k + c]));
                        }
                    }
                }
                cands.sort_by(|a, c| c.0.total_cmp(&a.0));
                let mut saved = 0;
                let mut newly = Vec::new();
                for (s, r, t) in cands {
                    if t == filter.eot {
                        newly.push((seqs[r].clone(), s));
                    } else {
                        let dst = i * g + saved;
                        let mut sq = seqs[r].clone();
                        sq.push(t);
                        new_seqs[dst] = sq;
                        new_sums[dst] = s;
                        source[dst] = r as i64;
                        next[dst] = t;
                        saved += 1;
                        if saved == g {
                            break;
                        }
                    }
                }
                for h in newly {
                    if finished[i].len() >= max_candidates {
                        break;
                    }
                    finished[i].push(h);
                }
            }
            seqs = new_seqs;
            sums = new_sums;
            if source.iter().enumerate().any(|(i, s)| *s != i as i64) {
                let index = Tensor::from_slice(&source).to_device(device);
                state.reorder(&index, p + step as i64);
            }
            if finished.iter().all(|f| f.len() >= max_candidates) {
                break;
            }
        } else {
            let picked = if sampling {
                (&lp / o.temperature as f64).softmax(-1, Kind::Float).multinomial(1, true)
            } else {
                lp.argmax(-1, true)
            };
            let chosen_lp = lp.gather(1, &picked, false);
            let picked: Vec<i64> = read_vec(&picked.to_device(tch::Device::Cpu).view([-1]), "picked tokens")?;
            let chosen_lp: Vec<f32> =
                read_vec(&chosen_lp.to_device(tch::Device::Cpu).view([-1]), "picked log-probabilities")?;
            for (i, &r) in active.iter().enumerate() {
                if done[r] {
                    continue;
                }
                let t = picked[i];
                sums[r] += chosen_lp[i] as f64;
                if t == filter.eot {
                    done[r] = true;
                } else {
                    seqs[r].push(t);
                    next[r] = t;
                }
            }
            if done.iter().all(|d| *d) {
                break;
            }
            // Greedy rows that finished leave the batch, so a long window costs only itself.
            if g == 1 && active.iter().any(|r| done[*r]) {
                let keep: Vec<i64> = (0..active.len() as i64).filter(|i| !done[active[*i as usize]]).collect();
                state.select_rows(&Tensor::from_slice(&keep).to_device(device));
                active.retain(|r| !done[*r]);
            }
        }
        t_host += th.elapsed().as_secs_f64();
        if step + 1 == max_new {
            break;
        }
        let tm = std::time::Instant::now();
        let input: Vec<i64> = active.iter().map(|&r| next[r]).collect();
        let input = Tensor::from_slice(&input).view([active.len() as i64, 1]).to_device(device);
        let hidden = decoder.forward(&input, p + step as i64, &mut state);
        logits = decoder.logits(&hidden.select(1, 0));
        t_model += tm.elapsed().as_secs_f64();
    }
    tracing::debug!(rows, host_s = t_host, model_s = t_model, "decoding pass");

    (0..b)
        .map(|i| {
            let mut cands: Vec<(Vec<i64>, f64)> = if !sampling && g > 1 {
                let mut f = finished[i].clone();
                if f.len() < g {
                    let mut rest: Vec<usize> = (i * g..(i + 1) * g).collect();
                    rest.sort_by(|a, c| sums[*c].total_cmp(&sums[*a]));
                    for r in rest {
                        if f.len() >= g {
                            break;
                        }
                        f.push((seqs[r].clone(), sums[r]));
                    }
                }
                f
            } else {
                (i * g..(i + 1) * g).map(|r| (seqs[r].clone(), sums[r])).collect()
            };
            cands.sort_by(|a, c| score(c, o.length_penalty).total_cmp(&score(a, o.length_penalty)));
            let (tokens, sum) = cands.into_iter().next().ok_or(ModelError::NoHypothesis)?;
            let avg = sum / (tokens.len() as f64 + 1.0);
            Ok(Hypothesis { tokens, avg_logprob: avg, no_speech_prob: no_speech_prob[i] })
        })
        .collect()
}
