//! Turns a job's options and its preset into what the speech pipeline takes.

use jobs::config::{Preset, Settings};
use jobs::{JobOptions, Task};

/// The job's own options win over the preset's; the preset wins over the pipeline's defaults.
pub fn resolve(settings: &Settings, options: &JobOptions) -> speech::Options {
    let preset_name = options.preset.as_deref().unwrap_or(&settings.jobs.default_preset);
    let preset = settings.preset(preset_name).map(|(_, p)| p.clone()).unwrap_or_default();
    merge(&preset, options)
}

/// [`resolve`] with the default preset given (the runtime setting in force).
pub fn resolve_with_default(settings: &Settings, default_preset: &str, options: &JobOptions) -> speech::Options {
    let preset_name = options.preset.as_deref().unwrap_or(default_preset);
    let preset = settings.preset(preset_name).map(|(_, p)| p.clone()).unwrap_or_default();
    merge(&preset, options)
}

pub fn merge(preset: &Preset, options: &JobOptions) -> speech::Options {
    speech::Options {
        model: options.model.clone().or_else(|| preset.model.clone()),
        language: options.language.clone(),
        allowed_languages: options.allowed_languages.clone(),
        task: match options.task.unwrap_or_default() {
            Task::Transcribe => speech::Task::Transcribe,
            Task::Translate => speech::Task::Translate,
        },
        word_timestamps: options.word_timestamps.or(preset.word_timestamps).unwrap_or(false),
        diarize: options.diarize.or(preset.diarize).unwrap_or(false),
        min_speakers: options.min_speakers,
        max_speakers: options.max_speakers,
        initial_prompt: options.initial_prompt.clone(),
        beam_size: preset.beam_size,
        batch_size: preset.batch_size,
        without_timestamps: preset.without_timestamps,
        vad_onset: preset.vad_onset,
        vad_offset: preset.vad_offset,
        chunk_size: preset.chunk_size,
        device: preset.device.clone(),
        compute_type: preset.compute_type.clone(),
        // Settings::load_from refuses a preset naming another speaker model.
        speaker_model: preset.speaker_model.as_deref().and_then(|m| m.parse().ok()),
        ..speech::Options::default()
    }
}
