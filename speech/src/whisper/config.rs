//! Hyper-parameters of a Whisper model and the weight store its layers load from.

use std::collections::HashMap;
use std::path::PathBuf;

use tch::{Device, Kind, Tensor};

use super::error::{ModelError, Result};

/// Every hyper-parameter of the network; derived from the weights so that all sizes
/// (tiny .. large-v3, 80 or 128 mel bins) load without a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub n_mels: i64,
    /// Encoder positions (1500 for 30 s).
    pub n_audio_ctx: i64,
    pub n_audio_state: i64,
    pub n_audio_head: i64,
    pub n_audio_layer: i64,
    pub n_vocab: i64,
    /// Decoder positions (448).
    pub n_text_ctx: i64,
    pub n_text_state: i64,
    pub n_text_head: i64,
    pub n_text_layer: i64,
}

impl Config {
    /// Multilingual models have the language tokens (vocabulary of 51865 or more).
    pub fn is_multilingual(&self) -> bool {
        self.n_vocab >= 51865
    }
}

/// Weights under CTranslate2's Whisper names (`encoder/layer_0/self_attention/linear_0/weight`,
/// fused QKV), whatever format they came from.
pub struct Weights {
    pub(crate) tensors: HashMap<String, Tensor>,
    pub(crate) source: PathBuf,
    pub(crate) device: Device,
    pub(crate) kind: Kind,
}

impl Weights {
    pub fn new(tensors: HashMap<String, Tensor>, source: PathBuf) -> Self {
        Self { tensors, source, device: Device::Cpu, kind: Kind::Float }
    }

    fn missing(&self, name: &str) -> ModelError {
        ModelError::Invalid { path: self.source.clone(), reason: format!("weight {name} is missing") }
    }

    /// A float weight on the model's device and kind, checked against the expected shape.
    pub fn get(&self, name: &str, shape: &[i64]) -> Result<Tensor> {
        let t = self.tensors.get(name).ok_or_else(|| self.missing(name))?;
        if t.size() != shape {
            return Err(ModelError::Invalid {
                path: self.source.clone(),
                reason: format!("weight {name} has shape {:?}, expected {shape:?}", t.size()),
            });
        }
        Ok(t.to_device(self.device).to_kind(self.kind))
    }

    pub fn size(&self, name: &str) -> Result<Vec<i64>> {
        Ok(self.tensors.get(name).ok_or_else(|| self.missing(name))?.size())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    fn scalar(&self, name: &str) -> Option<i64> {
        self.tensors.get(name).and_then(|t| t.f_int64_value(&[]).ok())
    }

    fn count_layers(&self, prefix: &str) -> i64 {
        let mut n = 0;
        while self.tensors.keys().any(|k| k.starts_with(&format!("{prefix}/layer_{n}/"))) {
            n += 1;
        }
        n
    }

    /// Derives the configuration from the weights' shapes (and the stored head counts).
    pub fn config(&self, heads_hint: Option<(i64, i64)>) -> Result<Config> {
        let conv1 = self.size("encoder/conv1/weight")?;
        let emb = self.size("decoder/embeddings/weight")?;
        let apos = self.size("encoder/position_encodings/encodings")?;
        let tpos = self.size("decoder/position_encodings/encodings")?;
        if conv1.len() != 3 || emb.len() != 2 || apos.len() != 2 || tpos.len() != 2 {
            return Err(ModelError::Invalid {
                path: self.source.clone(),
                reason: "unexpected rank of the embedding weights".into(),
            });
        }
        let (ah, th) = match heads_hint {
            Some(h) => h,
            None => (
                self.scalar("encoder/num_heads").unwrap_or(conv1[0] / 64),
                self.scalar("decoder/num_heads").unwrap_or(emb[1] / 64),
            ),
        };
        let cfg = Config {
            n_mels: conv1[1],
            n_audio_ctx: apos[0],
            n_audio_state: conv1[0],
            n_audio_head: ah,
            n_audio_layer: self.count_layers("encoder"),
            n_vocab: emb[0],
            n_text_ctx: tpos[0],
            n_text_state: emb[1],
            n_text_head: th,
            n_text_layer: self.count_layers("decoder"),
        };
        if cfg.n_audio_layer == 0 || cfg.n_text_layer == 0 || ah <= 0 || th <= 0 || cfg.n_audio_state % ah != 0 {
            return Err(ModelError::Invalid {
                path: self.source.clone(),
                reason: format!("inconsistent model configuration {cfg:?}"),
            });
        }
        Ok(cfg)
    }
}
