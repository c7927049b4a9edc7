//! Presets: named bundles of decoding settings from `config/presets.toml`.

use serde::{Deserialize, Serialize};

use crate::compute::{ComputeType, Device};
use crate::names::or_list;
use crate::speakers::SpeakerModel;

/// A named bundle of decoding settings. Every field is optional: a job's own options win.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    #[serde(default)]
    pub description: String,
    pub model: Option<String>,
    pub beam_size: Option<u32>,
    pub batch_size: Option<u32>,
    pub word_timestamps: Option<bool>,
    pub diarize: Option<bool>,
    /// Decode without timestamp tokens, one segment per VAD chunk (faster-whisper's batched
    /// pipeline and WhisperX do this; word timestamps still time every word).
    pub without_timestamps: Option<bool>,
    /// Silero speech onset probability (0..1).
    pub vad_onset: Option<f32>,
    /// Silero speech offset probability (0..1, at most the onset).
    pub vad_offset: Option<f32>,
    /// Longest chunk handed to Whisper, in seconds (1..30).
    pub chunk_size: Option<f32>,
    /// Devices in order of preference (`cuda`, `cuda:N`, `cpu`, `auto`): a worker uses the first
    /// its machine has, and fails the job if it has none of them. Default: the worker's device.
    #[schema(value_type = Option<Vec<String>>)]
    pub device: Option<Vec<Device>>,
    /// `auto` (f32 on CPU, f16 on CUDA), `float32` or `float16` (computed as f32 on a CPU).
    #[schema(value_type = Option<String>)]
    pub compute_type: Option<ComputeType>,
    /// Which bundled speaker model diarizes: `resemblyzer` (cheap) or `campplus` (CAM++ with
    /// segmentation and spectral clustering: about half Resemblyzer's error on meetings, at
    /// several times its cost). Default: the worker's (`worker.speaker_model` and the settings
    /// beside it; Resemblyzer unless changed).
    #[schema(value_type = Option<String>)]
    pub speaker_model: Option<SpeakerModel>,
}

/// A preset whose values cannot work together; names are checked when it is read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidPreset(pub String);

impl Preset {
    pub fn validate(&self) -> Result<(), InvalidPreset> {
        let invalid = |m: String| Err(InvalidPreset(m));
        let unit = |v: Option<f32>| v.is_none_or(|x| (0.0..=1.0).contains(&x));
        if !unit(self.vad_onset)
            || !unit(self.vad_offset)
            || self.vad_offset.zip(self.vad_onset).is_some_and(|(off, on)| off > on)
        {
            return invalid("vad_onset and vad_offset must lie in 0..1, offset <= onset".into());
        }
        if self.chunk_size.is_some_and(|c| !(1.0..=30.0).contains(&c)) {
            return invalid("chunk_size must lie in 1..30 seconds".into());
        }
        if self.device.as_ref().is_some_and(Vec::is_empty) {
            return invalid(format!("device must list {}", or_list(Device::NAMES)));
        }
        if self.beam_size == Some(0) || self.batch_size == Some(0) {
            return invalid("beam_size and batch_size must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_values_are_checked() {
        let p: Preset = serde_json::from_str(
            r#"{"device": ["cuda:1", "cpu"], "compute_type": "float16", "speaker_model": "campplus"}"#,
        )
        .unwrap();
        assert_eq!(p.device, Some(vec![Device::Cuda(Some(1)), Device::Cpu]));
        assert_eq!(serde_json::to_value(&p).unwrap()["device"], serde_json::json!(["cuda:1", "cpu"]));
        p.validate().unwrap();
        let err = serde_json::from_str::<Preset>(r#"{"speaker_model": "ecapa"}"#).unwrap_err().to_string();
        assert!(err.contains("expected resemblyzer or campplus"), "{err}");
        let empty = Preset { device: Some(vec![]), ..Default::default() };
        assert_eq!(empty.validate().unwrap_err().0, "device must list cpu, cuda, cuda:N or auto");
        let wide = Preset { vad_onset: Some(0.3), vad_offset: Some(0.5), ..Default::default() };
        assert!(wide.validate().is_err());
    }
}
