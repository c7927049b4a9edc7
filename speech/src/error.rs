//! The crate's error: what a caller (a job) sees when a run fails, with a stable code.

use crate::audio::AudioError;
use crate::tensor::TensorRead;
use crate::vad::VadError;
use crate::whisper::ModelError;

#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error("cancelled")]
    Cancelled,
    /// The named model is neither a directory nor a name under the models directory.
    #[error("model not found: {0}")]
    ModelNotFound(String),
    /// The model directory exists but cannot be loaded (truncated, unknown layout, ...).
    #[error("model cannot be loaded: {0}")]
    ModelInvalid(String),
    #[error("unsupported language: {0}")]
    UnsupportedLanguage(String),
    #[error("invalid device: {0}")]
    InvalidDevice(String),
    #[error("inference failed: {0}")]
    Inference(String),
}

impl From<ModelError> for SpeechError {
    fn from(e: ModelError) -> Self {
        match e.code() {
            "model_not_found" => SpeechError::ModelNotFound(e.to_string()),
            "inference_failed" => SpeechError::Inference(e.to_string()),
            "unsupported_language" => SpeechError::UnsupportedLanguage(e.to_string()),
            _ => SpeechError::ModelInvalid(e.to_string()),
        }
    }
}

impl From<TensorRead> for SpeechError {
    fn from(e: TensorRead) -> Self {
        SpeechError::Inference(e.to_string())
    }
}

impl From<VadError> for SpeechError {
    fn from(e: VadError) -> Self {
        match e {
            VadError::NotFound(_) => SpeechError::ModelNotFound(e.to_string()),
            VadError::Torch(_) => SpeechError::Inference(e.to_string()),
        }
    }
}

impl From<tch::TchError> for SpeechError {
    fn from(e: tch::TchError) -> Self {
        SpeechError::Inference(e.to_string())
    }
}

impl SpeechError {
    /// A stable machine-readable code for job errors.
    pub fn code(&self) -> &'static str {
        match self {
            SpeechError::Audio(e) => e.code(),
            SpeechError::Cancelled => "canceled",
            SpeechError::ModelNotFound(_) => "model_not_found",
            SpeechError::ModelInvalid(_) => "model_invalid",
            SpeechError::UnsupportedLanguage(_) => "unsupported_language",
            SpeechError::InvalidDevice(_) => "invalid_device",
            SpeechError::Inference(_) => "inference_failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_failures_keep_their_job_codes() {
        let read =
            crate::tensor::read_vec::<f32>(&tch::Tensor::zeros([2, 2], tch::kind::FLOAT_CPU), "logits").unwrap_err();
        assert_eq!(SpeechError::from(ModelError::from(read)).code(), "inference_failed");
        assert_eq!(SpeechError::from(ModelError::NoHypothesis).code(), "inference_failed");
        let none = ModelError::NoLanguage("none of the allowed languages is a language of this model".into());
        assert_eq!(SpeechError::from(none).code(), "unsupported_language");
        assert_eq!(SpeechError::from(ModelError::NotFound("x".into())).code(), "model_not_found");
    }
}
