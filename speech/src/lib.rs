//! Speech processing: decoding any audio to 16 kHz mono, and the transcription pipeline.
//! Knows nothing of jobs: callers hand it a file and an [`Observer`] for progress,
//! log lines and cancellation.

pub mod audio;
pub mod diarize;
mod dsp;
mod pipeline;
pub mod vad;
pub mod whisper;

pub use pipeline::{Observer, Options, Pipeline, PipelineConfig, SpeakerModel, SpeechError, Stage, Task};
pub use transcript;
