//! Presets: named bundles of decoding settings from `config/presets.toml`.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
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
    /// Models in order of preference (`tiny.en`, `large-v3`, a model directory): a worker runs
    /// the first it has installed, and fails the job if it has none of them. A job's own `model`
    /// replaces the list. Configuration may give one name as a string; it is a one-item list.
    #[serde(default, deserialize_with = "one_or_many")]
    pub model: Option<Vec<String>>,
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
    /// `auto` (f32 on CPU, f16 on CUDA), `float32`, `float16` (computed as f32 on a CPU),
    /// `bfloat16` or `int8` (the decoder's linear layers, f32 elsewhere).
    #[schema(value_type = Option<String>)]
    pub compute_type: Option<ComputeType>,
    /// Which bundled speaker model diarizes: `resemblyzer` (cheap), `campplus` (CAM++ with
    /// segmentation and spectral clustering: about half Resemblyzer's error on meetings, at
    /// several times its cost) or `campplus-fast` (the same on windows that do not overlap:
    /// about two thirds of its cost). Default: the worker's (`worker.speaker_model` and the
    /// settings beside it; Resemblyzer unless changed).
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
        if self.model.as_ref().is_some_and(|m| m.is_empty() || m.iter().any(|n| n.trim().is_empty())) {
            return invalid("model must name a model or list models in order of preference, none empty".into());
        }
        if self.beam_size == Some(0) || self.batch_size == Some(0) {
            return invalid("beam_size and batch_size must be at least 1".into());
        }
        Ok(())
    }
}

/// A preset's `model`: one name, or a list of names in order of preference.
fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<String>>, D::Error> {
    struct Names;
    impl<'de> Visitor<'de> for Names {
        type Value = Option<Vec<String>>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a model name or a list of model names")
        }

        fn visit_str<E: de::Error>(self, name: &str) -> Result<Self::Value, E> {
            Ok(Some(vec![name.to_string()]))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut names = Vec::new();
            while let Some(name) = seq.next_element::<String>()? {
                names.push(name);
            }
            Ok(Some(names))
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    deserializer.deserialize_any(Names)
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
        assert!(err.contains("expected resemblyzer, campplus or campplus-fast"), "{err}");
        let empty = Preset { device: Some(vec![]), ..Default::default() };
        assert_eq!(empty.validate().unwrap_err().0, "device must list cpu, cuda, cuda:N or auto");
        let wide = Preset { vad_onset: Some(0.3), vad_offset: Some(0.5), ..Default::default() };
        assert!(wide.validate().is_err());
    }

    #[test]
    fn model_is_one_name_or_a_preference_list() {
        let one: Preset = serde_json::from_str(r#"{"model": "tiny.en"}"#).unwrap();
        assert_eq!(one.model, Some(vec!["tiny.en".to_string()]));
        one.validate().unwrap();
        let list: Preset = serde_json::from_str(r#"{"model": ["large-v3", "medium", "base"]}"#).unwrap();
        assert_eq!(list.model, Some(vec!["large-v3".into(), "medium".into(), "base".into()]));
        list.validate().unwrap();
        assert_eq!(serde_json::to_value(&one).unwrap()["model"], serde_json::json!(["tiny.en"]));
        assert_eq!(serde_json::from_str::<Preset>("{}").unwrap().model, None);

        let expected = "model must name a model or list models in order of preference, none empty";
        for bad in [r#"{"model": []}"#, r#"{"model": ["base", ""]}"#, r#"{"model": ""}"#] {
            let p: Preset = serde_json::from_str(bad).unwrap();
            assert_eq!(p.validate().unwrap_err().0, expected, "{bad}");
        }
        let err = serde_json::from_str::<Preset>(r#"{"model": 5}"#).unwrap_err().to_string();
        assert!(err.contains("expected a model name or a list of model names"), "{err}");
        let err = serde_json::from_str::<Preset>(r#"{"model": ["base", 5]}"#).unwrap_err().to_string();
        assert!(err.contains("expected a string"), "{err}");
    }
}
