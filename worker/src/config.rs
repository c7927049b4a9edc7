//! The worker's settings: the sections it shares with the api (`jobs::config::Settings`) and
//! its own `[worker]` section, loaded by `jobs::config::load`.

use std::path::{Path, PathBuf};

use jobs::config::ConfigError;
use jobs::runtime::RuntimeSettings;
use serde::{Deserialize, Serialize};
use vocab::{Clustering, Device};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    #[serde(flatten)]
    pub shared: jobs::Settings,
    pub worker: WorkerSettings,
    pub api: ApiUploads,
}

jobs::with_shared_settings!(Settings);

/// The one key of the api's section the worker reads: the upload limit's initial value, one of
/// the runtime settings every process holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiUploads {
    pub max_upload_mb: u64,
}

impl Settings {
    /// Loads from `APP_CONFIG_DIR` (default `config/`) and the environment.
    pub fn load() -> Result<Self, ConfigError> {
        let settings: Self = jobs::config::load()?;
        settings.shared.validate()?;
        Ok(settings)
    }

    pub fn load_from(dir: &Path, environment: &str) -> Result<Self, ConfigError> {
        let settings: Self = jobs::config::load_from(dir, environment)?;
        settings.shared.validate()?;
        Ok(settings)
    }

    /// The runtime settings' initial values, from the configuration files.
    pub fn runtime_defaults(&self) -> RuntimeSettings {
        RuntimeSettings::defaults(&self.shared, self.api.max_upload_mb)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    pub models_dir: PathBuf,
    pub work_dir: PathBuf,
    pub device: Device,
    /// Whisper models kept loaded, least recently used dropped first.
    #[serde(default = "default_model_cache_size")]
    pub model_cache_size: usize,
    /// A TorchScript speaker-embedding module (`waveform [B, T] -> [B, D]`, 16 kHz) used for
    /// diarization instead of Resemblyzer.
    #[serde(default)]
    pub speaker_model: Option<PathBuf>,
    /// Cosine similarity below which clusters are different speakers; set it with `speaker_model`
    /// (the default, 0.75, suits Resemblyzer).
    #[serde(default)]
    pub speaker_threshold: Option<f32>,
    /// Overlap-aware speech regions for diarization from pyannote's segmentation-3.0
    /// (`models_dir/pyannote-segmentation/`). Pays off with a strong `speaker_model` (CAM++: AMI
    /// DER 41.8 / 27.1 % -> 22.9 / 24.1 %); Resemblyzer's embeddings of the shorter one-speaker
    /// stretches are too unreliable, so it is off by default.
    #[serde(default)]
    pub speaker_segmentation: bool,
    /// How speaker embeddings become speakers: `agglomerative` (default; a similarity threshold,
    /// `speaker_threshold`) or `spectral` (the number of speakers from the eigengap, no
    /// threshold; with CAM++ and segmentation it scores AMI 17.9 % pooled).
    #[serde(default)]
    pub speaker_clustering: Clustering,
}

impl WorkerSettings {
    /// The speech pipeline's settings from the worker's (`worker transcribe` overrides some).
    pub fn pipeline_config(&self) -> speech::PipelineConfig {
        speech::PipelineConfig {
            models_dir: self.models_dir.clone(),
            device: Some(self.device),
            speaker_model: self.speaker_model.clone(),
            speaker_threshold: self.speaker_threshold,
            speaker_segmentation: self.speaker_segmentation,
            speaker_clustering: self.speaker_clustering,
            model_cache: Some(self.model_cache_size),
            ..Default::default()
        }
    }
}

fn default_model_cache_size() -> usize {
    2
}
