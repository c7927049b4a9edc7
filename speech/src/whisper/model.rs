//! The Whisper network: one struct per layer with `load` and `forward`. Decoding lives in
//! `decode.rs`; this file only maps tensors to tensors.

use tch::{Kind, Tensor};

use super::config::{Config, Weights};
use super::error::Result;
use super::linear::{Linear, LinearKind};

struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    dim: i64,
}

impl LayerNorm {
    fn load(w: &Weights, prefix: &str, dim: i64) -> Result<Self> {
        Ok(Self {
            weight: w.get(&format!("{prefix}/gamma"), &[dim])?,
            bias: w.get(&format!("{prefix}/beta"), &[dim])?,
            dim,
        })
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        x.layer_norm([self.dim], Some(&self.weight), Some(&self.bias), 1e-5, false)
    }
}

/// [B, T, H*D] -> [B, H, T, D]
fn heads(x: &Tensor, n_head: i64) -> Tensor {
    let (b, t, c) = x.size3().expect("rank 3");
    x.view([b, t, n_head, c / n_head]).transpose(1, 2)
}

/// [B, H, T, D] -> [B, T, H*D]
fn merge(x: &Tensor) -> Tensor {
    let (b, h, t, d) = x.size4().expect("rank 4");
    x.transpose(1, 2).reshape([b, t, h * d])
}

/// Key/value cache of one decoder self-attention layer, preallocated for the whole context.
pub struct KvCache {
    pub k: Tensor,
    pub v: Tensor,
}

struct SelfAttention {
    ln: LayerNorm,
    qkv: Linear,
    out: Linear,
    n_head: i64,
    dim: i64,
}

impl SelfAttention {
    fn load(w: &Weights, prefix: &str, dim: i64, n_head: i64, linear: LinearKind) -> Result<Self> {
        Ok(Self {
            ln: LayerNorm::load(w, &format!("{prefix}/layer_norm"), dim)?,
            qkv: Linear::load(w, &format!("{prefix}/linear_0"), 3 * dim, dim, linear)?,
            out: Linear::load(w, &format!("{prefix}/linear_1"), dim, dim, linear)?,
            n_head,
            dim,
        })
    }

    /// Pre-norm self-attention with residual. With a cache, `x` holds the tokens at
    /// positions `offset..offset+n` and attends causally to everything before them.
    fn forward(&self, x: &Tensor, cache: Option<(&mut KvCache, i64)>) -> Tensor {
        let qkv = self.qkv.forward(&self.ln.forward(x));
        let parts = qkv.split(self.dim, -1);
        let (q, k, v) = (heads(&parts[0], self.n_head), heads(&parts[1], self.n_head), heads(&parts[2], self.n_head));
        let y = match cache {
            None => Tensor::scaled_dot_product_attention::<Tensor>(&q, &k, &v, None, 0.0, false, None, false),
            Some((cache, offset)) => {
                let n = q.size()[2];
                cache.k.narrow(2, offset, n).copy_(&k);
                cache.v.narrow(2, offset, n).copy_(&v);
                let k = cache.k.narrow(2, 0, offset + n);
                let v = cache.v.narrow(2, 0, offset + n);
                // Causal within the new tokens, full view of the cached ones.
                let mask = if n > 1 {
                    let m = Tensor::ones([n, offset + n], (Kind::Bool, x.device())).tril(offset);
                    Some(m)
                } else {
                    None
                };
                Tensor::scaled_dot_product_attention(&q, &k, &v, mask, 0.0, false, None, false)
            }
        };
        x + self.out.forward(&merge(&y))
    }
}

struct CrossAttention {
    ln: LayerNorm,
    q: Linear,
    kv: Linear,
    out: Linear,
    n_head: i64,
    dim: i64,
}

impl CrossAttention {
    fn load(w: &Weights, prefix: &str, dim: i64, n_head: i64, linear: LinearKind) -> Result<Self> {
        Ok(Self {
            ln: LayerNorm::load(w, &format!("{prefix}/layer_norm"), dim)?,
            q: Linear::load(w, &format!("{prefix}/linear_0"), dim, dim, linear)?,
            kv: Linear::load(w, &format!("{prefix}/linear_1"), 2 * dim, dim, linear)?,
            out: Linear::load(w, &format!("{prefix}/linear_2"), dim, dim, linear)?,
            n_head,
            dim,
        })
    }

    /// Keys and values of the encoder output, computed once per audio: [B, H, 1500, D] each.
    fn project(&self, xa: &Tensor) -> (Tensor, Tensor) {
        let kv = self.kv.forward(xa);
        let parts = kv.split(self.dim, -1);
        (heads(&parts[0], self.n_head), heads(&parts[1], self.n_head))
    }

    /// `x` has `group` rows per audio (beams): the rows of one audio become extra query
    /// positions so the keys/values are never copied per beam.
    fn forward(&self, x: &Tensor, kv: &(Tensor, Tensor), group: i64) -> Tensor {
        let q = heads(&self.q.forward(&self.ln.forward(x)), self.n_head); // [R, H, n, D]
        let (r, h, n, d) = q.size4().expect("rank 4");
        let b = r / group;
        let q = q.view([b, group, h, n, d]).permute([0, 2, 1, 3, 4]).reshape([b, h, group * n, d]);
        let y = if q.device() == tch::Device::Cpu {
            // A few queries over 1500 keys: libtorch's CPU attention kernel, tiled for long
            // queries, took 1.5x the time of the plain products (8 rows, tiny.en).
            let scores = q.matmul(&kv.0.transpose(-1, -2)) * (1.0 / (d as f64).sqrt());
            scores.softmax(-1, q.kind()).matmul(&kv.1)
        } else {
            Tensor::scaled_dot_product_attention::<Tensor>(&q, &kv.0, &kv.1, None, 0.0, false, None, false)
        };
        let y = y.view([b, h, group, n, d]).permute([0, 2, 1, 3, 4]).reshape([r, h, n, d]);
        x + self.out.forward(&merge(&y))
    }

    /// One row per audio, with the scaled attention scores before the softmax
    /// ([B, H, n, 1500], f32), which word alignment reads.
    fn forward_with_scores(&self, x: &Tensor, kv: &(Tensor, Tensor)) -> (Tensor, Tensor) {
        let q = heads(&self.q.forward(&self.ln.forward(x)), self.n_head);
        let d = q.size()[3];
        let scores = q.matmul(&kv.0.transpose(-1, -2)) * (1.0 / (d as f64).sqrt());
        let y = scores.softmax(-1, Kind::Float).to_kind(q.kind()).matmul(&kv.1);
        (x + self.out.forward(&merge(&y)), scores.to_kind(Kind::Float))
    }
}

struct Mlp {
    ln: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

impl Mlp {
    fn load(w: &Weights, prefix: &str, dim: i64, linear: LinearKind) -> Result<Self> {
        Ok(Self {
            ln: LayerNorm::load(w, &format!("{prefix}/layer_norm"), dim)?,
            fc1: Linear::load(w, &format!("{prefix}/linear_0"), 4 * dim, dim, linear)?,
            fc2: Linear::load(w, &format!("{prefix}/linear_1"), dim, 4 * dim, linear)?,
        })
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        x + self.fc2.forward(&self.fc1.forward(&self.ln.forward(x)).gelu("none"))
    }
}

struct EncoderLayer {
    attn: SelfAttention,
    mlp: Mlp,
}

pub struct Encoder {
    conv1_w: Tensor,
    conv1_b: Tensor,
    conv2_w: Tensor,
    conv2_b: Tensor,
    positions: Tensor,
    layers: Vec<EncoderLayer>,
    ln_post: LayerNorm,
}

impl Encoder {
    pub fn load(w: &Weights, c: &Config) -> Result<Self> {
        let d = c.n_audio_state;
        // Quantized activations cost accuracy here for little speed (linear.rs, Precision::INT8).
        let linear = LinearKind::Model;
        let mut layers = Vec::new();
        for i in 0..c.n_audio_layer {
            let p = format!("encoder/layer_{i}");
            layers.push(EncoderLayer {
                attn: SelfAttention::load(w, &format!("{p}/self_attention"), d, c.n_audio_head, linear)?,
                mlp: Mlp::load(w, &format!("{p}/ffn"), d, linear)?,
            });
        }
        Ok(Self {
            conv1_w: w.get("encoder/conv1/weight", &[d, c.n_mels, 3])?,
            conv1_b: w.get("encoder/conv1/bias", &[d])?,
            conv2_w: w.get("encoder/conv2/weight", &[d, d, 3])?,
            conv2_b: w.get("encoder/conv2/bias", &[d])?,
            positions: w.get("encoder/position_encodings/encodings", &[c.n_audio_ctx, d])?,
            layers,
            ln_post: LayerNorm::load(w, "encoder/layer_norm", d)?,
        })
    }

    /// Mel features [B, n_mels, 3000] -> audio states [B, 1500, d].
    pub fn forward(&self, mel: &Tensor) -> Tensor {
        let x = mel.conv1d(&self.conv1_w, Some(&self.conv1_b), [1], [1], [1], 1).gelu("none");
        let x = x.conv1d(&self.conv2_w, Some(&self.conv2_b), [2], [1], [1], 1).gelu("none");
        let x = x.permute([0, 2, 1]);
        let n = x.size()[1];
        let mut x = x + self.positions.narrow(0, 0, n);
        for l in &self.layers {
            x = l.mlp.forward(&l.attn.forward(&x, None));
        }
        self.ln_post.forward(&x)
    }
}

struct DecoderLayer {
    attn: SelfAttention,
    cross: CrossAttention,
    mlp: Mlp,
}

pub struct Decoder {
    embedding: Tensor,
    projection: Linear,
    positions: Tensor,
    layers: Vec<DecoderLayer>,
    ln: LayerNorm,
    n_head: i64,
    dim: i64,
    n_ctx: i64,
}

/// Per-batch decoder state: cross-attention keys/values and the self-attention caches.
pub struct DecoderState {
    pub cross: Vec<(Tensor, Tensor)>,
    pub cache: Vec<KvCache>,
    /// Rows per audio (beam size or number of samples).
    pub group: i64,
}

impl DecoderState {
    /// Keeps only the given rows (greedy decoding, one row per audio).
    pub fn select_rows(&mut self, index: &Tensor) {
        for (k, v) in &mut self.cross {
            *k = k.index_select(0, index);
            *v = v.index_select(0, index);
        }
        for c in &mut self.cache {
            c.k = c.k.index_select(0, index);
            c.v = c.v.index_select(0, index);
        }
    }

    /// Reorders the cached rows after a beam step (`index` holds source rows).
    pub fn reorder(&mut self, index: &Tensor, len: i64) {
        for c in &mut self.cache {
            let k = c.k.narrow(2, 0, len).index_select(0, index);
            let v = c.v.narrow(2, 0, len).index_select(0, index);
            c.k.narrow(2, 0, len).copy_(&k);
            c.v.narrow(2, 0, len).copy_(&v);
        }
    }
}

impl Decoder {
    pub fn load(w: &Weights, c: &Config, linear: LinearKind) -> Result<Self> {
        let d = c.n_text_state;
        let mut layers = Vec::new();
        for i in 0..c.n_text_layer {
            let p = format!("decoder/layer_{i}");
            layers.push(DecoderLayer {
                attn: SelfAttention::load(w, &format!("{p}/self_attention"), d, c.n_text_head, linear)?,
                cross: CrossAttention::load(w, &format!("{p}/attention"), d, c.n_text_head, linear)?,
                mlp: Mlp::load(w, &format!("{p}/ffn"), d, linear)?,
            });
        }
        let embedding = w.get("decoder/embeddings/weight", &[c.n_vocab, d])?;
        let projection = if w.contains("decoder/projection/weight") {
            Linear::load(w, "decoder/projection", c.n_vocab, d, linear)?
        } else {
            Linear::from_matrix(&embedding, linear)
        };
        Ok(Self {
            embedding,
            projection,
            positions: w.get("decoder/position_encodings/encodings", &[c.n_text_ctx, d])?,
            layers,
            ln: LayerNorm::load(w, "decoder/layer_norm", d)?,
            n_head: c.n_text_head,
            dim: d,
            n_ctx: c.n_text_ctx,
        })
    }

    /// Prepares the state for `rows` decoding rows (`group` per audio) over `audio` [B, 1500, d].
    pub fn start(&self, audio: &Tensor, group: i64) -> DecoderState {
        let b = audio.size()[0];
        let cross = self.layers.iter().map(|l| l.cross.project(audio)).collect();
        let hd = self.dim / self.n_head;
        let opts = (audio.kind(), audio.device());
        let cache = self
            .layers
            .iter()
            .map(|_| KvCache {
                k: Tensor::zeros([b * group, self.n_head, self.n_ctx, hd], opts),
                v: Tensor::zeros([b * group, self.n_head, self.n_ctx, hd], opts),
            })
            .collect();
        DecoderState { cross, cache, group }
    }

    /// Tokens [R, n] at positions `offset..offset+n` -> hidden states [R, n, d].
    pub fn forward(&self, tokens: &Tensor, offset: i64, state: &mut DecoderState) -> Tensor {
        let n = tokens.size()[1];
        let mut x = Tensor::embedding(&self.embedding, tokens, -1, false, false) + self.positions.narrow(0, offset, n);
        for (i, l) in self.layers.iter().enumerate() {
            x = l.attn.forward(&x, Some((&mut state.cache[i], offset)));
            x = l.cross.forward(&x, &state.cross[i], state.group);
            x = l.mlp.forward(&x);
        }
        self.ln.forward(&x)
    }

    /// Like `forward` from offset 0 with one row per audio, also returning every layer's
    /// cross-attention scores ([B, H, n, 1500] each) for word alignment.
    pub fn forward_with_scores(&self, tokens: &Tensor, state: &mut DecoderState) -> (Tensor, Vec<Tensor>) {
        let n = tokens.size()[1];
        let mut x = Tensor::embedding(&self.embedding, tokens, -1, false, false) + self.positions.narrow(0, 0, n);
        let mut scores = Vec::with_capacity(self.layers.len());
        for (i, l) in self.layers.iter().enumerate() {
            x = l.attn.forward(&x, Some((&mut state.cache[i], 0)));
            let (y, s) = l.cross.forward_with_scores(&x, &state.cross[i]);
            scores.push(s);
            x = l.mlp.forward(&y);
        }
        (self.ln.forward(&x), scores)
    }

    /// Hidden states [.., d] -> logits [.., vocab] in f32.
    pub fn logits(&self, hidden: &Tensor) -> Tensor {
        let size = hidden.size();
        let rows = hidden.reshape([-1, self.dim]);
        let logits = self.projection.forward_few_rows(&rows).to_kind(Kind::Float).contiguous();
        let mut shape = size[..size.len() - 1].to_vec();
        shape.push(logits.size()[1]);
        logits.view(shape.as_slice())
    }

    pub fn n_ctx(&self) -> i64 {
        self.n_ctx
    }
}
