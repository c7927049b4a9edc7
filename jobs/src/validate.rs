//! Checks made when a job is submitted, so a worker never starts on a request it must refuse.

use std::path::{Path, PathBuf};

use crate::config::Settings;
use vocab::JobOptions;

/// Whisper's languages (ISO 639-1 and the few codes Whisper adds).
pub const LANGUAGES: &[&str] = &[
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv", "it", "id", "hi", "fi",
    "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no", "th", "ur", "hr", "bg", "lt", "la", "mi", "ml",
    "cy", "sk", "te", "fa", "lv", "bn", "sr", "az", "sl", "kn", "et", "mk", "br", "eu", "is", "hy", "ne", "mn", "bs",
    "kk", "sq", "sw", "gl", "mr", "pa", "si", "km", "sn", "yo", "so", "af", "oc", "ka", "be", "tg", "sd", "gu", "am",
    "yi", "lo", "uz", "fo", "ht", "ps", "tk", "nn", "mt", "sa", "lb", "my", "bo", "tl", "mg", "as", "tt", "haw", "ln",
    "ha", "ba", "jw", "su", "yue",
];

pub const MAX_SPEAKERS: u32 = 64;
pub const MAX_PROMPT_CHARS: usize = 2000;
/// A billion seconds (about 31 years): beyond any recording, and well within the millisecond
/// precision of an f64.
pub const MAX_TIMESTAMP_OFFSET: f64 = 1e9;

/// A request that cannot be accepted, with the field to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidField {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> InvalidField {
    InvalidField { field, message: message.into() }
}

fn check_language(field: &'static str, code: &str) -> Result<(), InvalidField> {
    if LANGUAGES.contains(&code) {
        Ok(())
    } else {
        Err(invalid(field, format!("unknown language {code:?}; use an ISO 639-1 code Whisper knows, e.g. \"en\"")))
    }
}

/// Validates options against the configuration and fills in the preset's name.
pub fn options(settings: &Settings, options: JobOptions) -> Result<JobOptions, InvalidField> {
    options_with_default(settings, &settings.jobs.default_preset, options)
}

/// [`options`] with the default preset given (the runtime setting in force).
pub fn options_with_default(
    settings: &Settings,
    default_preset: &str,
    mut options: JobOptions,
) -> Result<JobOptions, InvalidField> {
    let preset = options.preset.as_deref().unwrap_or(default_preset);
    let (name, _) = settings.preset(preset).ok_or_else(|| {
        let known: Vec<&str> = settings.presets.keys().map(String::as_str).collect();
        invalid("preset", format!("unknown preset {preset:?}; known presets: {}", known.join(", ")))
    })?;
    options.preset = Some(name.to_string());

    if let Some(language) = &options.language {
        check_language("language", language)?;
    }
    if let Some(allowed) = &options.allowed_languages {
        if allowed.is_empty() {
            return Err(invalid("allowed_languages", "must list at least one language, or be left out"));
        }
        for code in allowed {
            check_language("allowed_languages", code)?;
        }
        if let Some(language) = &options.language {
            if !allowed.contains(language) {
                return Err(invalid("language", format!("{language:?} is not in allowed_languages")));
            }
        }
    }
    for (field, value) in [("min_speakers", options.min_speakers), ("max_speakers", options.max_speakers)] {
        if let Some(n) = value {
            if n == 0 || n > MAX_SPEAKERS {
                return Err(invalid(field, format!("must be between 1 and {MAX_SPEAKERS}")));
            }
        }
    }
    if let (Some(min), Some(max)) = (options.min_speakers, options.max_speakers) {
        if min > max {
            return Err(invalid("min_speakers", format!("{min} is more than max_speakers ({max})")));
        }
    }
    if let Some(prompt) = &options.initial_prompt {
        if prompt.chars().count() > MAX_PROMPT_CHARS {
            return Err(invalid("initial_prompt", format!("longer than {MAX_PROMPT_CHARS} characters")));
        }
        // PostgreSQL cannot store it (jsonb refuses \u0000), and it means nothing in a prompt.
        if prompt.contains('\0') {
            return Err(invalid("initial_prompt", "must not contain NUL characters"));
        }
    }
    if let Some(offset) = options.timestamp_offset {
        if !(offset.is_finite() && (0.0..=MAX_TIMESTAMP_OFFSET).contains(&offset)) {
            return Err(invalid(
                "timestamp_offset",
                format!("must be a number of seconds from 0 to {MAX_TIMESTAMP_OFFSET:e}, not {offset}"),
            ));
        }
    }
    if let Some(model) = &options.model {
        let ok = !model.is_empty()
            && model.len() <= 64
            && model.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            && !model.starts_with('.');
        if !ok {
            return Err(invalid(
                "model",
                "a model name: letters, digits, '.', '_' and '-' (e.g. \"tiny.en\"), not a path",
            ));
        }
    }
    Ok(options)
}

/// Why a `{"path": ...}` input was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PathRefused {
    #[error("path must be absolute")]
    NotAbsolute,
    #[error("no such file: {0}")]
    NotFound(String),
    #[error("not a regular file: {0}")]
    NotAFile(String),
    #[error("path resolves outside the allowed input directories")]
    OutsideRoots,
    #[error("path inputs are disabled: no input roots are configured")]
    NoRoots,
}

/// The configured input roots, canonicalised once; roots that do not exist are dropped.
pub fn canonical_roots(roots: &[PathBuf]) -> Vec<PathBuf> {
    roots.iter().filter_map(|root| root.canonicalize().ok()).collect()
}

/// Canonicalises `raw` (following symlinks and `..`) and accepts it only inside one of `roots`,
/// which must come from [`canonical_roots`].
pub fn input_path(roots: &[PathBuf], raw: &str) -> Result<PathBuf, PathRefused> {
    if roots.is_empty() {
        return Err(PathRefused::NoRoots);
    }
    let path = Path::new(raw);
    if !path.is_absolute() {
        return Err(PathRefused::NotAbsolute);
    }
    let resolved = path.canonicalize().map_err(|_| PathRefused::NotFound(raw.to_string()))?;
    let inside = roots.iter().any(|root| resolved.starts_with(root));
    if !inside {
        return Err(PathRefused::OutsideRoots);
    }
    if !resolved.metadata().map(|m| m.is_file()).unwrap_or(false) {
        return Err(PathRefused::NotAFile(raw.to_string()));
    }
    Ok(resolved)
}
