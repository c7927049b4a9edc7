//! Speech processing: decoding any audio to 16 kHz mono, and the transcription pipeline.
//! Knows nothing of jobs: callers hand it a file and an [`Observer`] for progress,
//! log lines and cancellation.
//!
//! Modules, each using only those listed before it: `dsp` (the sample rate, mel filters), `tensor` (reading values off a tensor),
//! [`audio`] (decoding), [`vad`] (Silero), [`whisper`] (the model and its decoding), `error`
//! and `observer` (the vocabulary of a run), `source` (the one decode + VAD loop),
//! [`diarize`] (speakers), `pipeline` ([`Pipeline`]: the runner on top).

pub mod audio;
pub mod cuda;
pub mod diarize;
mod dsp;
mod error;
mod observer;
mod pipeline;
mod source;
mod tensor;
pub mod vad;
pub mod whisper;

pub use error::SpeechError;
pub use observer::{Observer, Stage};
pub use pipeline::{Pipeline, PipelineConfig};
pub use transcript;
