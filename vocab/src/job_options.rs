//! What a client asks of a job, as the API takes it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::task::Task;

/// What the client asks of the transcription. Every field is optional; the preset fills gaps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobOptions {
    /// Preset name, e.g. `HIGH_ACCURACY` or `LOW_LATENCY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Spoken language (ISO 639-1, e.g. `en`); detected when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Restricts language detection to these languages (at least one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1)]
    pub allowed_languages: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<Task>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub word_timestamps: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diarize: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_speakers: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_speakers: Option<u32>,
    /// Text that primes the decoder: names, spellings, style.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_prompt: Option<String>,
    /// Model name, e.g. `tiny.en`, `base`, or one the operator installed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Seconds added to every time in the result (segments, words, speaker turns), for a
    /// recording cut from a longer one. At least 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0.0)]
    pub timestamp_offset: Option<f64>,
}

impl JobOptions {
    /// The field names, as JSON and forms spell them (a test keeps this in step with the struct).
    pub const FIELDS: [&'static str; 11] = [
        "preset",
        "language",
        "allowed_languages",
        "task",
        "word_timestamps",
        "diarize",
        "min_speakers",
        "max_speakers",
        "initial_prompt",
        "model",
        "timestamp_offset",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_lists_every_field() {
        let every = serde_json::json!({
            "preset": "BALANCED", "language": "en", "allowed_languages": ["en"], "task": "translate",
            "word_timestamps": true, "diarize": true, "min_speakers": 1, "max_speakers": 2,
            "initial_prompt": "p", "model": "tiny", "timestamp_offset": 12.5,
        });
        // Unknown fields are refused, and a field left unset would not come back out.
        let options: JobOptions = serde_json::from_value(every.clone()).unwrap();
        assert_eq!(serde_json::to_value(&options).unwrap(), every);
        let mut fields = JobOptions::FIELDS.to_vec();
        fields.sort_unstable();
        assert_eq!(every.as_object().unwrap().keys().collect::<Vec<_>>(), fields, "serde_json's map is sorted");
        let err = serde_json::from_str::<JobOptions>(r#"{"task": "summarize"}"#).unwrap_err().to_string();
        assert!(err.starts_with("unknown variant `summarize`, expected `transcribe` or `translate`"), "{err}");
    }
}
