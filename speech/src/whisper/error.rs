//! Errors of model loading and inference.

use std::path::PathBuf;

use crate::tensor::TensorRead;

/// What went wrong loading or running a Whisper model. Never a panic: every malformed input
/// names the file and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model not found: {0} does not exist (run scripts/setup-models.sh, or pass a model directory)")]
    NotFound(PathBuf),
    #[error("model directory {dir} has no {file}")]
    MissingFile { dir: PathBuf, file: String },
    #[error("model file {path} is truncated: {what}")]
    Truncated { path: PathBuf, what: String },
    #[error("model file {path} is invalid: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("model directory {dir} has an unknown layout: {reason}")]
    UnknownLayout { dir: PathBuf, reason: String },
    #[error("tokenizer {path}: {reason}")]
    Tokenizer { path: PathBuf, reason: String },
    #[error("reading {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("inference failed: {0}")]
    Torch(#[from] tch::TchError),
    #[error("inference failed: {0}")]
    TensorRead(#[from] TensorRead),
    /// Decoding ended a window with no candidate text at all (not even an empty one).
    #[error("inference failed: decoding produced no hypothesis for a window")]
    NoHypothesis,
    /// Language detection had no language to choose from.
    #[error("no language to detect: {0}")]
    NoLanguage(String),
}

impl ModelError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            ModelError::NotFound(_) => "model_not_found",
            ModelError::Torch(_) | ModelError::TensorRead(_) | ModelError::NoHypothesis => "inference_failed",
            ModelError::NoLanguage(_) => "unsupported_language",
            _ => "model_invalid",
        }
    }
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;
