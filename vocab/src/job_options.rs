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
    /// Restricts language detection to these languages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
}

impl JobOptions {
    /// The field names, as JSON and forms spell them (a test keeps this in step with the struct).
    pub const FIELDS: [&'static str; 10] = [
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
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_lists_every_field_in_order() {
        let full = JobOptions {
            preset: Some("BALANCED".into()),
            language: Some("en".into()),
            allowed_languages: Some(vec!["en".into()]),
            task: Some(Task::Translate),
            word_timestamps: Some(true),
            diarize: Some(true),
            min_speakers: Some(1),
            max_speakers: Some(2),
            initial_prompt: Some("p".into()),
            model: Some("tiny".into()),
        };
        let json = serde_json::to_value(&full).unwrap();
        let names: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        let mut fields = JobOptions::FIELDS.to_vec();
        fields.sort_unstable();
        assert_eq!(names, fields, "serde_json's map is sorted");
        let err = serde_json::from_str::<JobOptions>(r#"{"task": "summarize"}"#).unwrap_err().to_string();
        assert!(err.starts_with("unknown variant `summarize`, expected `transcribe` or `translate`"), "{err}");
    }
}
