//! What one run of the speech pipeline is asked to do: a job's options over its preset.

use serde::{Deserialize, Serialize};

use crate::compute::{ComputeType, Device};
use crate::job_options::JobOptions;
use crate::preset::Preset;
use crate::speakers::SpeakerModel;
use crate::task::Task;

/// What the caller wants from one run; already validated by the caller. Every `None` means
/// the default named on the field (faster-whisper's / WhisperX's defaults).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// A model directory path, or a name under the pipeline's models directory
    /// (`tiny.en` -> `whisper-tiny.en`, `base` -> `whisper-base`): the job's own `model`, or
    /// the one its runner chose from `model_preference`. Default `tiny.en`.
    pub model: Option<String>,
    /// The preset's models in order of preference, when the job names no `model`: whoever runs
    /// the options sets `model` to the first one installed (see [`Options::first_installed`]).
    pub model_preference: Option<Vec<String>>,
    /// ISO 639-1 code; `None` detects the language on the first chunk (English-only models: `en`).
    pub language: Option<String>,
    /// Restricts language detection (and a given `language`) to these codes.
    pub allowed_languages: Option<Vec<String>>,
    pub task: Task,
    /// Per-word start, end and score from the alignment heads' cross-attention.
    pub word_timestamps: bool,
    /// Speaker turns, and the speaker of every segment and word.
    pub diarize: bool,
    pub min_speakers: Option<u32>,
    pub max_speakers: Option<u32>,
    /// Text that conditions the decoder on every chunk (names, spellings).
    pub initial_prompt: Option<String>,
    /// Beam width at temperature 0; 1 is greedy. Default 5.
    pub beam_size: Option<u32>,
    /// Chunks encoded and decoded together. Default 8.
    pub batch_size: Option<u32>,
    /// Beam search patience (finished candidates = round(beam_size * patience)). Default 1.0.
    pub patience: Option<f32>,
    /// Hypotheses are ranked by sum_logprob / length^length_penalty. Default 1.0.
    pub length_penalty: Option<f32>,
    /// Temperatures tried in order when a result fails the thresholds.
    /// Default [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]; `[0.0]` disables fallback.
    pub temperature: Option<Vec<f32>>,
    /// Samples drawn at a temperature above 0. Default 5.
    pub best_of: Option<u32>,
    /// Fallback when the text's zlib compression ratio exceeds this. Default 2.4.
    pub compression_ratio_threshold: Option<f64>,
    /// Fallback when the average log-probability is below this. Default -1.0.
    pub log_prob_threshold: Option<f64>,
    /// A chunk is silence when its no-speech probability exceeds this and the average
    /// log-probability is below `log_prob_threshold`. Default 0.6.
    pub no_speech_threshold: Option<f64>,
    /// Feed each chunk's text to the next as prompt (forces batch size 1). Default false (WhisperX).
    pub condition_on_previous_text: Option<bool>,
    /// Decode without timestamp tokens: one segment per chunk. Default false.
    pub without_timestamps: Option<bool>,
    /// Token ids never produced; -1 means the model's default list. Default [-1].
    pub suppress_tokens: Option<Vec<i64>>,
    /// Forbid a blank or end-of-text as the first token. Default true.
    pub suppress_blank: Option<bool>,
    /// VAD speech onset probability. Default 0.5.
    pub vad_onset: Option<f32>,
    /// VAD speech offset probability. Default onset - 0.15.
    pub vad_offset: Option<f32>,
    /// Longest chunk in seconds (at most 30). Default 30.
    pub chunk_size: Option<f32>,
    /// Devices in order of preference; the first one this machine has is used. Default: the
    /// pipeline's device.
    pub device: Option<Vec<Device>>,
    /// Default `auto`.
    pub compute_type: Option<ComputeType>,
    /// The speaker model that diarizes. Default: the pipeline's own (its configured speaker
    /// model and the settings beside it).
    pub speaker_model: Option<SpeakerModel>,
}

impl Options {
    /// The job's own options win over the preset's; the preset wins over the pipeline's defaults.
    pub fn merge(preset: &Preset, job: &JobOptions) -> Self {
        Self {
            model: job.model.clone(),
            // A job that names its model wants that one, not a fallback.
            model_preference: if job.model.is_some() { None } else { preset.model.clone() },
            language: job.language.clone(),
            allowed_languages: job.allowed_languages.clone(),
            task: job.task.unwrap_or_default(),
            word_timestamps: job.word_timestamps.or(preset.word_timestamps).unwrap_or(false),
            diarize: job.diarize.or(preset.diarize).unwrap_or(false),
            min_speakers: job.min_speakers,
            max_speakers: job.max_speakers,
            initial_prompt: job.initial_prompt.clone(),
            beam_size: preset.beam_size,
            batch_size: preset.batch_size,
            without_timestamps: preset.without_timestamps,
            vad_onset: preset.vad_onset,
            vad_offset: preset.vad_offset,
            chunk_size: preset.chunk_size,
            device: preset.device.clone(),
            compute_type: preset.compute_type,
            speaker_model: preset.speaker_model,
            ..Self::default()
        }
    }

    /// The model to run: `model` when set, else the first entry of `model_preference` that
    /// `installed` accepts. `Ok(None)`: neither names a model (the runner's default).
    /// `Err`: the preference list names none that is installed.
    pub fn first_installed(&self, installed: impl Fn(&str) -> bool) -> Result<Option<&str>, &[String]> {
        if let Some(model) = &self.model {
            return Ok(Some(model));
        }
        match &self.model_preference {
            None => Ok(None),
            Some(list) => list.iter().find(|m| installed(m)).map(|m| Some(m.as_str())).ok_or(list.as_slice()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_job_wins_over_the_preset() {
        let preset = Preset {
            model: Some(vec!["base".into()]),
            word_timestamps: Some(true),
            diarize: Some(true),
            beam_size: Some(2),
            compute_type: Some(ComputeType::Float32),
            ..Default::default()
        };
        let job = JobOptions { model: Some("tiny".into()), diarize: Some(false), ..Default::default() };
        let o = Options::merge(&preset, &job);
        assert_eq!((o.model.as_deref(), o.word_timestamps, o.diarize), (Some("tiny"), true, false));
        assert_eq!(o.model_preference, None, "the job's model replaces the preset's list");
        assert_eq!((o.beam_size, o.compute_type, o.task), (Some(2), Some(ComputeType::Float32), Task::Transcribe));
        assert_eq!(Options::merge(&Preset::default(), &JobOptions::default()), Options::default());
    }

    #[test]
    fn the_first_installed_model_of_the_preset_list_runs() {
        let preset =
            Preset { model: Some(vec!["large-v3".into(), "medium".into(), "base".into()]), ..Default::default() };
        let o = Options::merge(&preset, &JobOptions::default());
        assert_eq!(o.model, None);
        let installed = |names: &'static [&'static str]| move |m: &str| names.contains(&m);
        assert_eq!(o.first_installed(installed(&["tiny.en", "base", "medium"])), Ok(Some("medium")));
        assert_eq!(o.first_installed(installed(&["base"])), Ok(Some("base")));
        let wanted: &[String] = &["large-v3".into(), "medium".into(), "base".into()];
        assert_eq!(o.first_installed(installed(&["tiny.en"])), Err(wanted));

        let job = JobOptions { model: Some("tiny.en".into()), ..Default::default() };
        let explicit = Options::merge(&preset, &job);
        assert_eq!(explicit.first_installed(installed(&[])), Ok(Some("tiny.en")), "not checked against the list");
        assert_eq!(Options::default().first_installed(installed(&[])), Ok(None));
    }
}
