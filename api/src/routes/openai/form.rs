//! The multipart form's text fields: parsing and checking them into job options and a response format.

use utoipa::ToSchema;
use vocab::{JobOptions, Task};

use crate::error::{ApiError, OpenAiError};
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum ResponseFormat {
    Json,
    Text,
    Srt,
    VerboseJson,
    Vtt,
}

impl ResponseFormat {
    fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "json" => Self::Json,
            "text" => Self::Text,
            "srt" => Self::Srt,
            "verbose_json" => Self::VerboseJson,
            "vtt" => Self::Vtt,
            _ => return None,
        })
    }
}

/// The multipart form OpenAI's audio endpoints take.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AudioRequestForm {
    /// The audio, any container and codec FFmpeg decodes.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// `whisper-1` (the default preset's model) or an installed model, e.g. `tiny.en`, `base`.
    model: String,
    /// ISO 639-1 code of the spoken language (transcriptions only).
    language: Option<String>,
    /// Text that primes the decoder.
    prompt: Option<String>,
    /// `json` (default), `text`, `srt`, `verbose_json` or `vtt`.
    response_format: Option<String>,
    /// 0 to 1; accepted for compatibility (decoding follows the preset's temperature fallback).
    temperature: Option<f32>,
    /// `word` and/or `segment` (repeat the field as `timestamp_granularities[]`); `word` adds word times to `verbose_json`.
    #[schema(rename = "timestamp_granularities[]")]
    timestamp_granularities: Option<Vec<String>>,
    /// `true`: answer with server-sent events, one `transcript.text.delta` per segment as it is
    /// transcribed, then `transcript.text.done` with the whole text (json or text format only).
    stream: Option<bool>,
}

pub(super) struct AudioRequest {
    pub(super) options: JobOptions,
    pub(super) format: ResponseFormat,
    pub(super) words: bool,
    pub(super) stream: bool,
}

pub(super) fn parse_fields(
    state: &AppState,
    fields: Vec<(String, String)>,
    task: Task,
) -> Result<AudioRequest, OpenAiError> {
    let mut options = JobOptions { task: Some(task), ..Default::default() };
    let mut format = ResponseFormat::Json;
    let (mut words, mut stream, mut model_given) = (false, false, false);
    for (name, value) in fields {
        let value = value.trim().to_string();
        match name.as_str() {
            "model" => {
                model_given = true;
                // OpenAI's model name means "the default"; anything else names an installed model.
                if value != "whisper-1" && !value.is_empty() {
                    options.model = Some(value);
                }
            }
            "language" if !value.is_empty() => options.language = Some(value),
            "prompt" if !value.is_empty() => options.initial_prompt = Some(value),
            "response_format" => {
                format = ResponseFormat::parse(&value).ok_or_else(|| {
                    OpenAiError::invalid(
                        "response_format",
                        "invalid_format",
                        format!("unknown response_format {value:?}; use json, text, srt, verbose_json or vtt"),
                    )
                })?
            }
            "temperature" => {
                let t: f32 = value.parse().map_err(|_| {
                    OpenAiError::invalid("temperature", "invalid_option", "temperature must be a number")
                })?;
                if !(0.0..=1.0).contains(&t) {
                    return Err(OpenAiError::invalid(
                        "temperature",
                        "invalid_option",
                        "temperature must be between 0 and 1",
                    ));
                }
            }
            "timestamp_granularities[]" | "timestamp_granularities" => match value.as_str() {
                "word" => words = true,
                "segment" => {}
                other => {
                    return Err(OpenAiError::invalid(
                        "timestamp_granularities",
                        "invalid_option",
                        format!("unknown timestamp granularity {other:?}; use word or segment"),
                    ))
                }
            },
            "stream" => {
                stream = match value.as_str() {
                    "true" | "True" | "1" => true,
                    "false" | "False" | "0" | "" => false,
                    _ => return Err(OpenAiError::invalid("stream", "invalid_option", "stream must be true or false")),
                }
            }
            "language" | "prompt" => {}
            other => {
                return Err(OpenAiError::invalid(other, "invalid_body", format!("unknown field `{other}`")));
            }
        }
    }
    if !model_given {
        return Err(OpenAiError::invalid("model", "invalid_option", "`model` is required, e.g. whisper-1"));
    }
    if task == Task::Translate && options.language.is_some() {
        return Err(OpenAiError::invalid("language", "invalid_option", "translations take no language"));
    }
    if stream && !matches!(format, ResponseFormat::Json | ResponseFormat::Text) {
        return Err(OpenAiError::invalid(
            "stream",
            "invalid_option",
            "stream=true works with response_format json or text",
        ));
    }
    if words {
        options.word_timestamps = Some(true);
    }
    let options = jobs::validate::options_with_default(&state.settings, &state.default_preset(), options)
        .map_err(ApiError::from)?;
    Ok(AudioRequest { options, format, words, stream })
}
