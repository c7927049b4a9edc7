//! The options a job runs with: its own over its preset's ([`vocab::Options::merge`]).

use jobs::Settings;
use vocab::{JobOptions, Options};

/// The job's options over its preset (the default preset when it names none).
pub fn resolve(settings: &Settings, options: &JobOptions) -> Options {
    resolve_with_default(settings, &settings.jobs.default_preset, options)
}

/// [`resolve`] with the default preset given (the runtime setting in force).
pub fn resolve_with_default(settings: &Settings, default_preset: &str, options: &JobOptions) -> Options {
    let preset_name = options.preset.as_deref().unwrap_or(default_preset);
    let preset = settings.preset(preset_name).map(|(_, p)| p.clone()).unwrap_or_default();
    Options::merge(&preset, options)
}
