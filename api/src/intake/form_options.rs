//! Job options given as multipart text fields (one per option, or one `options` JSON field), for
//! every form that submits jobs: `POST /v1/jobs` and `POST /v1/batches`.

use serde_json::{Map, Value};
use vocab::JobOptions;

use crate::error::ApiError;

/// Option fields collected from the form, turned into `JobOptions` by serde so that type errors
/// read the same as for JSON.
#[derive(Default)]
pub struct FormOptions {
    fields: Map<String, Value>,
    json: Option<String>,
}

impl FormOptions {
    pub fn add(&mut self, name: String, value: String) -> Result<(), ApiError> {
        match name.as_str() {
            "options" if self.json.is_some() => {
                Err(ApiError::InvalidBody("form field `options` given more than once".into()))
            }
            "options" => {
                self.json = Some(value);
                Ok(())
            }
            "allowed_languages" => {
                let list = self.fields.entry(name).or_insert_with(|| Value::Array(vec![]));
                if let Value::Array(list) = list {
                    let codes = value.split(',').map(str::trim).filter(|s| !s.is_empty());
                    list.extend(codes.map(|s| Value::String(s.to_string())));
                }
                Ok(())
            }
            known if JobOptions::FIELDS.contains(&known) => {
                if self.fields.contains_key(known) {
                    return Err(ApiError::InvalidBody(format!("form field `{known}` given more than once")));
                }
                let typed = match known {
                    // Booleans and numbers parse as JSON; anything else stays a string and
                    // fails deserialization with serde's message.
                    "word_timestamps" | "diarize" | "min_speakers" | "max_speakers" | "timestamp_offset" => {
                        serde_json::from_str(value.trim()).unwrap_or(Value::String(value))
                    }
                    _ => Value::String(value),
                };
                self.fields.insert(name, typed);
                Ok(())
            }
            other => Err(ApiError::InvalidBody(format!(
                "unknown form field `{other}`; expected `file`, `options`, `callback_url` or one of {}",
                JobOptions::FIELDS.join(", ")
            ))),
        }
    }

    pub fn into_options(self) -> Result<JobOptions, ApiError> {
        let (value, what) = match self.json {
            Some(_) if !self.fields.is_empty() => {
                return Err(ApiError::InvalidBody(
                    "give options either as separate form fields or as one `options` JSON field, not both".into(),
                ))
            }
            Some(json) => (
                serde_json::from_str(&json).map_err(|e| ApiError::InvalidBody(format!("form field `options`: {e}")))?,
                "form field `options`",
            ),
            None => (Value::Object(self.fields), "form fields"),
        };
        serde_json::from_value(value).map_err(|e| ApiError::InvalidBody(format!("{what}: {e}")))
    }
}
