//! Whisper on libtorch: model loading (CTranslate2 and Hugging Face directories, openai-whisper
//! `.pt` checkpoints), the network, decoding and windowed transcription.

mod align;
mod config;
mod ct2;
mod decode;
mod error;
mod hf;
mod linear;
mod logits;
mod mel;
mod model;
mod pickle;
mod pt;
mod tokenizer;
mod transcribe;
mod words;

use std::path::{Path, PathBuf};

use tch::{Device, Tensor};

pub use config::Config;
pub use ct2::{load as load_ct2, Ct2Model};
pub use error::ModelError;
pub use linear::{LinearKind, Precision};
pub use mel::{MelExtractor, N_SAMPLES};
pub use tokenizer::WhisperTokenizer;
pub use transcribe::{compression_ratio, DecodingOptions, WindowResult, WindowSegment, TIME_PRECISION};
pub use words::WordTiming;

use config::Weights;
use error::Result;
use model::{Decoder, Encoder};

/// A loaded Whisper model with its tokenizer, ready to transcribe 30 s windows.
pub struct Whisper {
    pub config: Config,
    pub tokenizer: WhisperTokenizer,
    pub(crate) encoder: Encoder,
    pub(crate) decoder: Decoder,
    pub(crate) mel: MelExtractor,
    /// The model's default suppression list (what `-1` means in `suppress_tokens`).
    pub suppress_ids: Vec<i64>,
    /// `(layer, head)` pairs of the decoder's cross-attention used to time words.
    pub alignment_heads: Vec<(i64, i64)>,
    pub device: Device,
    pub precision: Precision,
    pub dir: PathBuf,
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|e| ModelError::Invalid { path: path.to_path_buf(), reason: e.to_string() })
}

fn id_list(v: &serde_json::Value, key: &str) -> Option<Vec<i64>> {
    v.get(key).and_then(|a| a.as_array()).map(|a| a.iter().filter_map(|x| x.as_i64()).collect())
}

/// `alignment_heads: [[layer, head], ...]` as both CTranslate2 and transformers configs write it.
fn head_pairs(v: &serde_json::Value) -> Option<Vec<(i64, i64)>> {
    let pairs: Vec<(i64, i64)> = v
        .get("alignment_heads")?
        .as_array()?
        .iter()
        .filter_map(|p| Some((p.get(0)?.as_i64()?, p.get(1)?.as_i64()?)))
        .collect();
    (!pairs.is_empty()).then_some(pairs)
}

/// openai-whisper's default when a model names no alignment heads: every head of the upper half
/// of the decoder layers.
fn default_alignment_heads(c: &Config) -> Vec<(i64, i64)> {
    (c.n_text_layer / 2..c.n_text_layer).flat_map(|l| (0..c.n_text_head).map(move |h| (l, h))).collect()
}

impl Whisper {
    /// Loads a CTranslate2 directory (`model.bin`, `config.json`, `tokenizer.json`), a
    /// Hugging Face transformers directory (`config.json`, `model.safetensors`, `tokenizer.json`)
    /// or an openai-whisper checkpoint (a `.pt` file, or a directory holding one; its tokenizer is
    /// found as [`Whisper::load_with`] says). Runs in f32 on the CPU and f16 on CUDA.
    pub fn load(path: &Path, device: Device) -> Result<Self> {
        Self::load_as(path, device, Precision::auto(device))
    }

    /// [`Whisper::load`] computing in `precision`.
    pub fn load_as(path: &Path, device: Device, precision: Precision) -> Result<Self> {
        Self::load_with(path, device, precision, &[])
    }

    /// [`Whisper::load_as`]; an openai-whisper checkpoint, which has no tokenizer, takes the
    /// `tokenizer.json` beside it, else that of an installed `whisper-*` model with the same
    /// vocabulary (English-only or multilingual) in the checkpoint's parent folder or in
    /// `models_dirs`.
    pub fn load_with(path: &Path, device: Device, precision: Precision, models_dirs: &[&Path]) -> Result<Self> {
        if !path.exists() {
            return Err(ModelError::NotFound(path.to_path_buf()));
        }
        let dir = path;
        let mut checkpoint = None;
        let (tensors, heads, suppress, langs, align) = if dir.join("model.bin").is_file() {
            let m = ct2::load(&dir.join("model.bin"))?;
            if !m.spec.is_empty() && m.spec != "WhisperSpec" {
                return Err(ModelError::UnknownLayout {
                    dir: dir.to_path_buf(),
                    reason: format!("model.bin holds a {} model, not Whisper", m.spec),
                });
            }
            let cfg_path = dir.join("config.json");
            let (suppress, langs, align) = if cfg_path.is_file() {
                let cfg = read_json(&cfg_path)?;
                (id_list(&cfg, "suppress_ids"), id_list(&cfg, "lang_ids"), head_pairs(&cfg))
            } else {
                (None, None, None)
            };
            (m.variables, None, suppress, langs, align)
        } else if dir.join("model.safetensors").is_file() && dir.join("config.json").is_file() {
            let meta = hf::meta(dir)?;
            (hf::load(dir)?, Some(meta.heads), meta.suppress_ids, meta.lang_ids, meta.alignment_heads)
        } else if let Some(file) = pt::find(path) {
            // openai-whisper keeps no suppression list or alignment heads in a checkpoint: its
            // defaults (non-speech tokens, the upper half of the decoder) apply, as below.
            let m = pt::load(&file)?;
            checkpoint = Some(file);
            (m.variables, Some(m.heads), None, None, None)
        } else {
            return Err(ModelError::UnknownLayout {
                dir: dir.to_path_buf(),
                reason: "expected model.bin (CTranslate2), config.json + model.safetensors (transformers) or one \
                         .pt file (openai-whisper)"
                    .into(),
            });
        };
        let mut weights = Weights::new(tensors, dir.to_path_buf());
        let config = weights.config(heads)?;
        weights.device = device;
        weights.kind = precision.kind;
        let tokenizer_path = match &checkpoint {
            Some(file) => pt::tokenizer_for(file, config.n_vocab, models_dirs)?,
            None => dir.join("tokenizer.json"),
        };
        let tokenizer = WhisperTokenizer::load(&tokenizer_path, config.is_multilingual(), langs.as_deref())?;
        let encoder = Encoder::load(&weights, &config)?;
        let decoder = Decoder::load(&weights, &config, precision.decoder)?;
        let suppress_ids = suppress.unwrap_or_else(|| tokenizer.non_speech_tokens());
        let alignment_heads = align
            .filter(|h| {
                h.iter().all(|&(l, h)| (0..config.n_text_layer).contains(&l) && (0..config.n_text_head).contains(&h))
            })
            .unwrap_or_else(|| default_alignment_heads(&config));
        Ok(Self {
            alignment_heads,
            mel: MelExtractor::new(config.n_mels),
            precision,
            config,
            tokenizer,
            encoder,
            decoder,
            suppress_ids,
            device,
            dir: dir.to_path_buf(),
        })
    }

    /// Log-mel features of clips (each at most 30 s, zero-padded): [B, n_mels, 3000].
    pub fn features(&self, clips: &[&[f32]]) -> Tensor {
        self.mel.batch(clips)
    }

    /// Encodes mel features [B, n_mels, 3000] into audio states [B, 1500, d].
    pub fn encode(&self, mel: &Tensor) -> Tensor {
        let _guard = tch::no_grad_guard();
        self.encoder.forward(&mel.to_device(self.device).to_kind(self.precision.kind))
    }
}
