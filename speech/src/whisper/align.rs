//! Word timestamps as openai-whisper and faster-whisper compute them: the decoder reads the
//! window's text again, the cross-attention of the alignment heads says which audio frames
//! each token looked at, and dynamic time warping turns that into a monotonic path.

use tch::{Kind, Tensor};

use super::error::Result;
use super::transcribe::WindowSegment;
use super::words::{self, WordTiming};
use super::Whisper;
use crate::tensor::read_vec;

/// Encoder frames per second (20 ms each).
const FRAMES_PER_SECOND: f64 = 50.0;
/// Width of the median filter over the attention weights, in frames.
const MEDIAN_FILTER_WIDTH: i64 = 7;

impl Whisper {
    /// Times the words of one window's segments and fits them in. `audio` is the window's
    /// encoder output ([1, 1500, d]); `duration` the seconds of real audio in it. Segments
    /// get their `words` (times relative to the window) and start and end where their words do.
    pub fn align_words(
        &self,
        audio: &Tensor,
        segments: &mut [WindowSegment],
        language: &str,
        translate: bool,
        duration: f64,
    ) -> Result<()> {
        let text: Vec<i64> = segments.iter().flat_map(|s| s.tokens.iter().copied()).collect();
        if text.is_empty() {
            return Ok(());
        }
        let mut alignment = self.find_alignment(audio, &text, language, translate, duration)?;
        if alignment.is_empty() {
            return Ok(());
        }
        let median = words::median_duration(&alignment);
        words::clamp_at_sentence_ends(&mut alignment, median * 2.0);
        words::merge_punctuation(&mut alignment);
        let counts: Vec<usize> = segments.iter().map(|s| s.tokens.len()).collect();
        let mut last_speech = 0.0;
        for (seg, mut ws) in segments.iter_mut().zip(words::assign_to_segments(alignment, &counts)) {
            words::fit_segment(&mut ws, &mut seg.start, &mut seg.end, median, &mut last_speech);
            seg.words = words::join_unspaced(ws, language);
        }
        Ok(())
    }

    /// One `WordTiming` per word of `text` (a window's text tokens), in window time.
    fn find_alignment(
        &self,
        audio: &Tensor,
        text: &[i64],
        language: &str,
        translate: bool,
        duration: f64,
    ) -> Result<Vec<WordTiming>> {
        let _guard = tch::no_grad_guard();
        let t = &self.tokenizer;
        let sot = self.sot_sequence(language, translate);
        let mut tokens = sot.clone();
        tokens.push(t.no_timestamps);
        tokens.extend(text);
        tokens.push(t.eot);
        let n = tokens.len() as i64;
        if n > self.config.n_text_ctx {
            tracing::warn!(tokens = n, "window too long to align; its words get no timestamps");
            return Ok(Vec::new());
        }
        let device = audio.device();
        let input = Tensor::from_slice(&tokens).view([1, n]).to_device(device);
        let mut state = self.decoder.start(audio, 1);
        let (hidden, scores) = self.decoder.forward_with_scores(&input, &mut state);

        // Probability of each text token where it was read (position l predicts text[0]).
        let l = sot.len() as i64;
        let n_text = text.len() as i64;
        let logits = self.decoder.logits(&hidden.get(0).narrow(0, l, n_text)).narrow(1, 0, t.eot);
        let picked = Tensor::from_slice(text).view([n_text, 1]).to_device(device);
        let probs = logits.softmax(-1, Kind::Float).gather(1, &picked, false).to_device(tch::Device::Cpu);
        let probs: Vec<f32> = read_vec(&probs.view([-1]), "token probabilities")?;

        // Attention of the alignment heads over the real audio frames, normalised per frame
        // across tokens and smoothed in time.
        let frames = ((duration * FRAMES_PER_SECOND).round() as i64).clamp(1, audio.size()[1]);
        let heads: Vec<Tensor> =
            self.alignment_heads.iter().map(|&(layer, head)| scores[layer as usize].get(0).get(head)).collect();
        let w = Tensor::stack(&heads, 0).narrow(-1, 0, frames).softmax(-1, Kind::Float);
        let (std, mean) = w.std_mean_dim(-2, false, true);
        let w = median_filter(&((w - mean) / std), MEDIAN_FILTER_WIDTH);
        // Rows for the text tokens and the end of text.
        let matrix = w.mean_dim(0, false, Kind::Float).narrow(0, l, n_text + 1).neg().to_device(tch::Device::Cpu);
        let cost: Vec<f32> = read_vec(&matrix.contiguous().view([-1]), "alignment costs")?;
        let path = dtw(&cost, (n_text + 1) as usize, frames as usize);

        // The time of each token is where the path first reaches its row.
        let mut jump_times = Vec::with_capacity(text.len() + 1);
        let mut previous = None;
        for &(row, col) in &path {
            if previous != Some(row) {
                jump_times.push(col as f64 / FRAMES_PER_SECOND);
                previous = Some(row);
            }
        }
        let decode = |toks: &[i64]| t.decode(toks);
        let mut out = Vec::new();
        let mut first = 0;
        for (word, toks) in words::split_words(text, language, &decode) {
            let last = first + toks.len();
            let (Some(&start), Some(&end)) = (jump_times.get(first), jump_times.get(last)) else { break };
            let p = &probs[first.min(probs.len())..last.min(probs.len())];
            let probability =
                if p.is_empty() { 0.0 } else { p.iter().map(|x| *x as f64).sum::<f64>() / p.len() as f64 };
            out.push(WordTiming { word, tokens: toks, start, end, probability });
            first = last;
        }
        Ok(out)
    }
}

/// Median over a sliding window along the last axis, with reflected edges (as scipy and
/// openai-whisper do); inputs too short to reflect are returned unchanged.
fn median_filter(x: &Tensor, width: i64) -> Tensor {
    let pad = width / 2;
    if x.size().last().is_none_or(|&n| n <= pad) {
        return x.shallow_clone();
    }
    x.reflection_pad1d([pad, pad]).unfold(-1, width, 1).median_dim(-1, false).0
}

/// Cheapest monotonic path through a `rows` x `cols` cost matrix (row-major), from the top-left
/// to the bottom-right corner, moving down, right or diagonally; ties go right as in
/// openai-whisper. Returns the (row, col) cells in order.
fn dtw(cost: &[f32], rows: usize, cols: usize) -> Vec<(usize, usize)> {
    let w = cols + 1;
    let mut acc = vec![f32::INFINITY; (rows + 1) * w];
    // 0: diagonal, 1: from above, 2: from the left.
    let mut trace = vec![2u8; (rows + 1) * w];
    acc[0] = 0.0;
    for j in 1..=cols {
        for i in 1..=rows {
            let (c0, c1, c2) = (acc[(i - 1) * w + j - 1], acc[(i - 1) * w + j], acc[i * w + j - 1]);
            let (c, t) = if c0 < c1 && c0 < c2 {
                (c0, 0)
            } else if c1 < c0 && c1 < c2 {
                (c1, 1)
            } else {
                (c2, 2)
            };
            acc[i * w + j] = cost[(i - 1) * cols + j - 1] + c;
            trace[i * w + j] = t;
        }
    }
    let (mut i, mut j) = (rows, cols);
    let mut path = Vec::with_capacity(rows + cols);
    while i > 0 || j > 0 {
        path.push((i.saturating_sub(1), j.saturating_sub(1)));
        // The first row can only be left along it, the first column only upwards.
        let t = if i == 0 {
            2
        } else if j == 0 {
            1
        } else {
            trace[i * w + j]
        };
        match t {
            0 => {
                i -= 1;
                j -= 1;
            }
            1 => i -= 1,
            _ => j -= 1,
        }
    }
    path.reverse();
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtw_follows_the_cheap_diagonal() {
        // 3 tokens over 6 frames: token k is cheap on frames 2k and 2k+1.
        let mut cost = vec![1.0f32; 18];
        for k in 0..3 {
            cost[k * 6 + 2 * k] = -1.0;
            cost[k * 6 + 2 * k + 1] = -1.0;
        }
        let path = dtw(&cost, 3, 6);
        assert_eq!(path.first(), Some(&(0, 0)));
        assert_eq!(path.last(), Some(&(2, 5)));
        let firsts: Vec<usize> = (0..3).map(|r| path.iter().find(|c| c.0 == r).unwrap().1).collect();
        assert_eq!(firsts, [0, 2, 4]);
    }

    #[test]
    fn median_filter_removes_spikes() {
        let x = Tensor::from_slice(&[0f32, 0., 0., 9., 0., 0., 0., 0.]).view([1, 1, 8]);
        let y: Vec<f32> = Vec::try_from(&median_filter(&x, 7).view([-1])).unwrap();
        assert!(y.iter().all(|v| *v == 0.0), "{y:?}");
    }
}
