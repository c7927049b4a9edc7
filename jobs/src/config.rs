//! Layered configuration: `config/default.toml`, `config/presets.toml`, then
//! `config/<APP_ENVIRONMENT>.toml`, then `APP_`-prefixed environment variables.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use vocab::{Clustering, Preset};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub api: ApiSettings,
    pub jobs: JobSettings,
    pub storage: StorageSettings,
    pub inputs: InputSettings,
    pub queue: QueueSettings,
    pub worker: WorkerSettings,
    #[serde(default)]
    pub metrics: MetricsSettings,
    #[serde(default)]
    pub webhooks: WebhookSettings,
    #[serde(default)]
    pub runtime: RuntimePollSettings,
    #[serde(default)]
    pub openai: OpenAiSettings,
    #[serde(default)]
    pub presets: BTreeMap<String, Preset>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// How often the api counts jobs by state and live workers for `/metrics`, and folds newly
    /// finished jobs into its duration histograms.
    pub refresh_secs: f64,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self { refresh_secs: 15.0 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookSettings {
    /// Signs webhooks of jobs submitted without an API key (open mode). Jobs of a key are signed
    /// with that key's own secret. Empty: `callback_url` is refused in open mode.
    pub secret: String,
    /// Attempts per delivery, the first included.
    pub max_attempts: u32,
    /// Wait after the first failed attempt; it doubles after each further one (at most an hour).
    pub backoff_secs: f64,
    /// Time limit of one attempt (connecting and answering).
    pub timeout_secs: f64,
    /// How often each api process looks for due deliveries.
    pub poll_secs: f64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self { secret: String::new(), max_attempts: 8, backoff_secs: 2.0, timeout_secs: 10.0, poll_secs: 1.0 }
    }
}

impl WebhookSettings {
    /// The wait after failed attempt number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
        Duration::from_secs_f64((self.backoff_secs * factor).min(3600.0))
    }
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout_secs)
    }
    pub fn poll(&self) -> Duration {
        Duration::from_secs_f64(self.poll_secs)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimePollSettings {
    /// How often every process checks whether runtime settings (`PUT /v1/config`) changed.
    pub poll_secs: f64,
    /// How often the api deletes audio and results of jobs past `retention_hours`.
    pub retention_pass_secs: f64,
}

impl Default for RuntimePollSettings {
    fn default() -> Self {
        Self { poll_secs: 2.0, retention_pass_secs: 60.0 }
    }
}

impl RuntimePollSettings {
    pub fn poll(&self) -> Duration {
        Duration::from_secs_f64(self.poll_secs)
    }
    pub fn retention_pass(&self) -> Duration {
        Duration::from_secs_f64(self.retention_pass_secs)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenAiSettings {
    /// How long `POST /v1/audio/transcriptions` waits for its job before answering 504 (the job
    /// goes on).
    pub wait_secs: f64,
}

impl Default for OpenAiSettings {
    fn default() -> Self {
        Self { wait_secs: 600.0 }
    }
}

impl OpenAiSettings {
    pub fn wait(&self) -> Duration {
        Duration::from_secs_f64(self.wait_secs)
    }
}

impl MetricsSettings {
    pub fn refresh(&self) -> Duration {
        Duration::from_secs_f64(self.refresh_secs)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    pub url: String,
    /// Every key and channel starts with this, so several deployments (or tests) share a server.
    pub key_prefix: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    pub host: String,
    pub port: u16,
    pub max_upload_mb: u64,
    pub workers: usize,
    /// Longest a status read may come from memory before the job is read again; PostgreSQL
    /// notifications invalidate it sooner. 0: every status read goes to PostgreSQL.
    #[serde(default = "default_status_cache_secs")]
    pub status_cache_secs: f64,
}

fn default_status_cache_secs() -> f64 {
    1.0
}

impl ApiSettings {
    /// `None` when status reads are not cached.
    pub fn status_cache_ttl(&self) -> Option<Duration> {
        (self.status_cache_secs > 0.0).then(|| Duration::from_secs_f64(self.status_cache_secs))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSettings {
    pub default_preset: String,
    /// Finished jobs' audio and results are deleted this many hours after they finished; 0 keeps
    /// them. A runtime setting (`PUT /v1/config`); this is its initial value.
    #[serde(default)]
    pub retention_hours: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSettings {
    pub path_roots: Vec<PathBuf>,
    pub allow_private_urls: bool,
    pub url_max_mb: u64,
    pub url_timeout_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSettings {
    pub max_attempts: i32,
    pub lease_secs: f64,
    pub heartbeat_secs: f64,
    pub reaper_interval_secs: f64,
    pub dispatch_interval_secs: f64,
    pub progress_interval_secs: f64,
    pub worker_timeout_secs: f64,
}

impl QueueSettings {
    pub fn lease(&self) -> Duration {
        Duration::from_secs_f64(self.lease_secs)
    }
    pub fn heartbeat(&self) -> Duration {
        Duration::from_secs_f64(self.heartbeat_secs)
    }
    pub fn reaper_interval(&self) -> Duration {
        Duration::from_secs_f64(self.reaper_interval_secs)
    }
    pub fn dispatch_interval(&self) -> Duration {
        Duration::from_secs_f64(self.dispatch_interval_secs)
    }
    pub fn progress_interval(&self) -> Duration {
        Duration::from_secs_f64(self.progress_interval_secs)
    }
    pub fn worker_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.worker_timeout_secs)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    pub models_dir: PathBuf,
    pub work_dir: PathBuf,
    pub device: String,
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

fn default_model_cache_size() -> usize {
    2
}

/// Variables that choose how configuration loads rather than what it says.
const CONTROL_VARIABLES: &[&str] = &["APP_ENVIRONMENT", "APP_CONFIG_DIR", "APP_LOG_JSON"];

/// `APP_*` variables that override settings.
fn setting_variables() -> config::Map<String, String> {
    std::env::vars().filter(|(k, _)| k.starts_with("APP_") && !CONTROL_VARIABLES.contains(&k.as_str())).collect()
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Settings {
    /// Loads from `APP_CONFIG_DIR` (default `config/`) and the environment.
    pub fn load() -> Result<Self, ConfigError> {
        let dir = std::env::var("APP_CONFIG_DIR").unwrap_or_else(|_| "config".into());
        let environment = std::env::var("APP_ENVIRONMENT").unwrap_or_else(|_| "local".into());
        Self::load_from(Path::new(&dir), &environment)
    }

    pub fn load_from(dir: &Path, environment: &str) -> Result<Self, ConfigError> {
        let layers = config::Config::builder()
            // The shipped files are built in, so a binary run from any directory has every
            // setting; files on disk override them.
            .add_source(config::File::from_str(include_str!("../../config/default.toml"), config::FileFormat::Toml))
            .add_source(config::File::from_str(include_str!("../../config/presets.toml"), config::FileFormat::Toml))
            .add_source(config::File::from(dir.join("default.toml")).required(false))
            .add_source(config::File::from(dir.join("presets.toml")).required(false))
            .add_source(config::File::from(dir.join(format!("{environment}.toml"))).required(false))
            .add_source(
                config::Environment::with_prefix("APP")
                    .prefix_separator("_")
                    .separator("__")
                    .list_separator(",")
                    .with_list_parse_key("inputs.path_roots")
                    .try_parsing(true)
                    .source(Some(setting_variables())),
            )
            .build()?;
        // Each preset alone first, so that an error names its preset.
        let presets = match layers.get::<BTreeMap<String, config::Value>>("presets") {
            Err(config::ConfigError::NotFound(_)) => BTreeMap::new(),
            found => found?,
        };
        for (name, preset) in presets {
            let name = name.to_uppercase();
            preset.try_deserialize::<Preset>().map_err(|e| ConfigError::Invalid(format!("presets.{name}: {e}")))?;
        }
        let mut settings: Settings = layers.try_deserialize()?;
        // The config crate lower-cases keys; preset names are conventionally upper case.
        settings.presets =
            std::mem::take(&mut settings.presets).into_iter().map(|(k, v)| (k.to_uppercase(), v)).collect();
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        let q = &self.queue;
        if q.max_attempts < 1 {
            return invalid("queue.max_attempts must be at least 1".into());
        }
        if q.heartbeat_secs <= 0.0 || q.lease_secs <= q.heartbeat_secs {
            return invalid("queue.lease_secs must be longer than queue.heartbeat_secs (> 0)".into());
        }
        if q.reaper_interval_secs <= 0.0 || q.dispatch_interval_secs <= 0.0 || q.progress_interval_secs < 0.0 {
            return invalid("queue intervals must be positive".into());
        }
        let w = &self.webhooks;
        if w.max_attempts < 1 || w.backoff_secs < 0.0 || w.timeout_secs <= 0.0 || w.poll_secs <= 0.0 {
            return invalid(
                "webhooks: max_attempts must be at least 1, backoff_secs not negative, timeout_secs and poll_secs positive"
                    .into(),
            );
        }
        if self.runtime.poll_secs <= 0.0 || self.runtime.retention_pass_secs <= 0.0 {
            return invalid("runtime.poll_secs and runtime.retention_pass_secs must be positive".into());
        }
        if self.openai.wait_secs <= 0.0 {
            return invalid("openai.wait_secs must be positive".into());
        }
        if !(0.0..=3600.0).contains(&self.api.status_cache_secs) {
            return invalid("api.status_cache_secs must lie in 0..3600".into());
        }
        if self.metrics.refresh_secs <= 0.0 {
            return invalid("metrics.refresh_secs must be positive".into());
        }
        for (name, p) in &self.presets {
            p.validate().map_err(|e| ConfigError::Invalid(format!("presets.{name}: {e}")))?;
        }
        if self.preset(&self.jobs.default_preset).is_none() {
            return invalid(format!("jobs.default_preset {:?} is not a defined preset", self.jobs.default_preset));
        }
        Ok(())
    }

    /// Finds a preset by name, ignoring case.
    pub fn preset(&self, name: &str) -> Option<(&str, &Preset)> {
        self.presets.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(k, v)| (k.as_str(), v))
    }
}
