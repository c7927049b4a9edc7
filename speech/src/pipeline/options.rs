//! What a caller asks of one run: [`Options`] and the names they use.

use serde::{Deserialize, Serialize};

use crate::error::SpeechError;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    #[default]
    Transcribe,
    /// Into English (multilingual models only).
    Translate,
}

/// What the caller wants from one run; already validated by the caller. Every `None` means
/// the default named on the field (faster-whisper's / WhisperX's defaults).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Options {
    /// A model directory path, or a name under `PipelineConfig::models_dir`
    /// (`tiny.en` -> `whisper-tiny.en`, `base` -> `whisper-base`). Default `tiny.en`.
    pub model: Option<String>,
    /// ISO 639-1 code; `None` detects the language on the first chunk (English-only models: `en`).
    pub language: Option<String>,
    /// Restricts language detection (and a given `language`) to these codes.
    pub allowed_languages: Option<Vec<String>>,
    pub task: Task,
    /// Per-word start, end and score from the alignment heads' cross-attention.
    pub word_timestamps: bool,
    /// Speaker turns, and the speaker of every segment and word.
    pub diarize: bool,
    pub min_speakers: Option<u32>,
    pub max_speakers: Option<u32>,
    /// Text that conditions the decoder on every chunk (names, spellings).
    pub initial_prompt: Option<String>,
    /// Beam width at temperature 0; 1 is greedy. Default 5.
    pub beam_size: Option<u32>,
    /// Chunks encoded and decoded together. Default 8.
    pub batch_size: Option<u32>,
    /// Beam search patience (finished candidates = round(beam_size * patience)). Default 1.0.
    pub patience: Option<f32>,
    /// Hypotheses are ranked by sum_logprob / length^length_penalty. Default 1.0.
    pub length_penalty: Option<f32>,
    /// Temperatures tried in order when a result fails the thresholds.
    /// Default [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]; `[0.0]` disables fallback.
    pub temperature: Option<Vec<f32>>,
    /// Samples drawn at a temperature above 0. Default 5.
    pub best_of: Option<u32>,
    /// Fallback when the text's zlib compression ratio exceeds this. Default 2.4.
    pub compression_ratio_threshold: Option<f64>,
    /// Fallback when the average log-probability is below this. Default -1.0.
    pub log_prob_threshold: Option<f64>,
    /// A chunk is silence when its no-speech probability exceeds this and the average
    /// log-probability is below `log_prob_threshold`. Default 0.6.
    pub no_speech_threshold: Option<f64>,
    /// Feed each chunk's text to the next as prompt (forces batch size 1). Default false (WhisperX).
    pub condition_on_previous_text: Option<bool>,
    /// Decode without timestamp tokens: one segment per chunk. Default false.
    pub without_timestamps: Option<bool>,
    /// Token ids never produced; -1 means the model's default list. Default [-1].
    pub suppress_tokens: Option<Vec<i64>>,
    /// Forbid a blank or end-of-text as the first token. Default true.
    pub suppress_blank: Option<bool>,
    /// VAD speech onset probability. Default 0.5.
    pub vad_onset: Option<f32>,
    /// VAD speech offset probability. Default onset - 0.15.
    pub vad_offset: Option<f32>,
    /// Longest chunk in seconds (at most 30). Default 30.
    pub chunk_size: Option<f32>,
    /// Devices in order of preference (`cuda`, `cuda:N`, `cpu`); the first one this machine has
    /// is used. Default: the pipeline's device.
    pub device: Option<Vec<String>>,
    /// `auto` (f32 on CPU, f16 on CUDA), `float32` or `float16`; float16 on a CPU computes in
    /// float32, as CTranslate2 does. Default `auto`.
    pub compute_type: Option<String>,
    /// The speaker model that diarizes. Default: the pipeline's own
    /// (`PipelineConfig::speaker_model` and the settings beside it).
    pub speaker_model: Option<SpeakerModel>,
}

/// A bundled speaker model, with the diarization settings it was measured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpeakerModel {
    /// [`DiarizerConfig::resemblyzer`](crate::diarize::DiarizerConfig::resemblyzer): cheap.
    Resemblyzer,
    /// [`DiarizerConfig::campplus`](crate::diarize::DiarizerConfig::campplus): accurate.
    Campplus,
}

impl std::str::FromStr for SpeakerModel {
    type Err = SpeechError;

    /// `resemblyzer` or `campplus`, as presets and `--speaker-model` name them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "resemblyzer" => Ok(SpeakerModel::Resemblyzer),
            "campplus" => Ok(SpeakerModel::Campplus),
            other => Err(SpeechError::ModelNotFound(format!(
                "speaker model {other:?} (the bundled ones are resemblyzer and campplus)"
            ))),
        }
    }
}
