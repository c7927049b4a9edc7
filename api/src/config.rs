//! The api's settings: the sections it shares with the worker (`jobs::config::Settings`) and
//! its own, loaded by `jobs::config::load`.

use std::path::PathBuf;
use std::time::Duration;

use jobs::config::ConfigError;
use jobs::runtime::RuntimeSettings;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    #[serde(flatten)]
    pub shared: jobs::Settings,
    pub api: ApiSettings,
    #[serde(default)]
    pub metrics: MetricsSettings,
    #[serde(default)]
    pub webhooks: WebhookSettings,
    #[serde(default)]
    pub openai: OpenAiSettings,
    pub worker: WorkerModels,
}

jobs::with_shared_settings!(Settings);

/// The one key of the worker's section the api reads: the models directory that
/// `GET /v1/models` lists (shared with the workers).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerModels {
    pub models_dir: PathBuf,
}

impl Settings {
    /// Loads from `APP_CONFIG_DIR` (default `config/`) and the environment.
    pub fn load() -> Result<Self, ConfigError> {
        let settings: Self = jobs::config::load()?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn load_from(dir: &std::path::Path, environment: &str) -> Result<Self, ConfigError> {
        let settings: Self = jobs::config::load_from(dir, environment)?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.shared.validate()?;
        let invalid = |m: &str| Err(ConfigError::Invalid(m.into()));
        let w = &self.webhooks;
        if w.max_attempts < 1 || w.backoff_secs < 0.0 || w.timeout_secs <= 0.0 || w.poll_secs <= 0.0 {
            return invalid(
                "webhooks: max_attempts must be at least 1, backoff_secs not negative, timeout_secs and poll_secs positive",
            );
        }
        if self.openai.wait_secs <= 0.0 {
            return invalid("openai.wait_secs must be positive");
        }
        if !(0.0..=3600.0).contains(&self.api.status_cache_secs) {
            return invalid("api.status_cache_secs must lie in 0..3600");
        }
        if self.metrics.refresh_secs <= 0.0 {
            return invalid("metrics.refresh_secs must be positive");
        }
        Ok(())
    }

    /// The runtime settings' initial values, from the configuration files.
    pub fn runtime_defaults(&self) -> RuntimeSettings {
        RuntimeSettings::defaults(&self.shared, self.api.max_upload_mb)
    }
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
pub struct ApiSettings {
    pub host: String,
    pub port: u16,
    pub max_upload_mb: u64,
    pub workers: usize,
    /// Longest a status read may come from memory before the job is read again; PostgreSQL
    /// notifications invalidate it sooner. 0: every status read goes to PostgreSQL.
    #[serde(default = "default_status_cache_secs")]
    pub status_cache_secs: f64,
    /// The most files or inputs one `POST /v1/batches` may carry.
    #[serde(default = "default_max_batch_items")]
    pub max_batch_items: usize,
}

fn default_status_cache_secs() -> f64 {
    1.0
}

fn default_max_batch_items() -> usize {
    100
}

impl ApiSettings {
    /// `None` when status reads are not cached.
    pub fn status_cache_ttl(&self) -> Option<Duration> {
        (self.status_cache_secs > 0.0).then(|| Duration::from_secs_f64(self.status_cache_secs))
    }
}
