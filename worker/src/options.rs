//! Turns a job's options and its preset into what the speech pipeline takes.

use jobs::Settings;
use vocab::{JobOptions, Preset};

/// The job's options over its preset (the default preset when it names none).
pub fn resolve(settings: &Settings, options: &JobOptions) -> speech::Options {
    resolve_with_default(settings, &settings.jobs.default_preset, options)
}

/// [`resolve`] with the default preset given (the runtime setting in force).
pub fn resolve_with_default(settings: &Settings, default_preset: &str, options: &JobOptions) -> speech::Options {
    let preset_name = options.preset.as_deref().unwrap_or(default_preset);
    let preset = settings.preset(preset_name).map(|(_, p)| p.clone()).unwrap_or_default();
    merge(&preset, options)
}

fn merge(preset: &Preset, options: &JobOptions) -> speech::Options {
    let o = vocab::Options::merge(preset, options);
    speech::Options {
        model: o.model,
        language: o.language,
        allowed_languages: o.allowed_languages,
        task: match o.task {
            vocab::Task::Transcribe => speech::Task::Transcribe,
            vocab::Task::Translate => speech::Task::Translate,
        },
        word_timestamps: o.word_timestamps,
        diarize: o.diarize,
        min_speakers: o.min_speakers,
        max_speakers: o.max_speakers,
        initial_prompt: o.initial_prompt,
        beam_size: o.beam_size,
        batch_size: o.batch_size,
        without_timestamps: o.without_timestamps,
        vad_onset: o.vad_onset,
        vad_offset: o.vad_offset,
        chunk_size: o.chunk_size,
        device: o.device.map(|list| list.iter().map(ToString::to_string).collect()),
        compute_type: o.compute_type.map(|c| c.to_string()),
        speaker_model: o.speaker_model.map(|m| match m {
            vocab::SpeakerModel::Resemblyzer => speech::SpeakerModel::Resemblyzer,
            vocab::SpeakerModel::Campplus => speech::SpeakerModel::Campplus,
        }),
        ..speech::Options::default()
    }
}
