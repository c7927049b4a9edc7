//! Configuration: the sections both processes read ([`Settings`]) and the loader every process
//! uses for its own settings, layered: the shipped `config/default.toml` and
//! `config/presets.toml`, then the same files in the configuration directory, then
//! `config/<APP_ENVIRONMENT>.toml`, then `APP_`-prefixed environment variables. The api
//! (`api::config`) and the worker (`worker::config`) add their own sections to these.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use vocab::Preset;

/// The sections both the api and the worker read. A process's settings flatten this and add
/// their own sections, so it cannot refuse unknown keys itself; [`load_from`] checks the
/// section names instead, and each section refuses unknown keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub jobs: JobSettings,
    pub storage: StorageSettings,
    pub inputs: InputSettings,
    pub queue: QueueSettings,
    #[serde(default)]
    pub runtime: RuntimePollSettings,
    #[serde(default, deserialize_with = "upper_case_names")]
    pub presets: BTreeMap<String, Preset>,
}

/// Every section a configuration file may have, whichever process reads it.
pub const SECTIONS: &[&str] = &[
    "database", "redis", "api", "jobs", "storage", "inputs", "queue", "worker", "metrics", "webhooks", "runtime",
    "openai", "presets",
];

/// The config crate lower-cases keys; preset names are conventionally upper case.
fn upper_case_names<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, Preset>, D::Error> {
    let presets = BTreeMap::<String, Preset>::deserialize(deserializer)?;
    Ok(presets.into_iter().map(|(k, v)| (k.to_uppercase(), v)).collect())
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
pub struct JobSettings {
    pub default_preset: String,
    /// Finished jobs' audio and results are deleted this many hours after they finished; 0 keeps
    /// them. A runtime setting (`PUT /v1/config`); this is its initial value.
    #[serde(default)]
    pub retention_hours: u64,
    /// Submissions are refused (`503 queue_full`) while this many jobs are queued in the whole
    /// service; 0 means no limit.
    #[serde(default)]
    pub max_queued_total: u64,
    /// The `Retry-After` seconds of a `queue_full` refusal.
    #[serde(default = "default_queue_full_retry_secs")]
    pub queue_full_retry_secs: u64,
}

/// `jobs.queue_full_retry_secs` when the files leave it out.
pub const DEFAULT_QUEUE_FULL_RETRY_SECS: u64 = 30;

fn default_queue_full_retry_secs() -> u64 {
    DEFAULT_QUEUE_FULL_RETRY_SECS
}

impl JobSettings {
    /// The service-wide queue limit, `None` when there is none.
    pub fn queue_limit(&self) -> Option<i64> {
        (self.max_queued_total > 0).then(|| i64::try_from(self.max_queued_total).unwrap_or(i64::MAX))
    }
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

/// For a process's own settings struct, which flattens the shared [`Settings`] into a field
/// named `shared`: reads the shared sections as if they were its own (`settings.queue`).
#[macro_export]
macro_rules! with_shared_settings {
    ($process:ty) => {
        impl ::std::ops::Deref for $process {
            type Target = $crate::config::Settings;
            fn deref(&self) -> &Self::Target {
                &self.shared
            }
        }

        impl ::std::ops::DerefMut for $process {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.shared
            }
        }
    };
}

/// Loads a process's settings from `APP_CONFIG_DIR` (default `config/`) and the environment.
pub fn load<T: DeserializeOwned>() -> Result<T, ConfigError> {
    let dir = std::env::var("APP_CONFIG_DIR").unwrap_or_else(|_| "config".into());
    let environment = std::env::var("APP_ENVIRONMENT").unwrap_or_else(|_| "local".into());
    load_from(Path::new(&dir), &environment)
}

/// Loads a process's settings from `dir`; the caller validates them.
pub fn load_from<T: DeserializeOwned>(dir: &Path, environment: &str) -> Result<T, ConfigError> {
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
    let sections = layers.clone().try_deserialize::<BTreeMap<String, config::Value>>()?;
    if let Some(unknown) = sections.keys().find(|k| !SECTIONS.contains(&k.as_str())) {
        return Err(ConfigError::Invalid(format!(
            "unknown section `{unknown}`, expected one of {}",
            SECTIONS.join(", ")
        )));
    }
    // Each preset alone first, so that an error names its preset.
    let presets = match layers.get::<BTreeMap<String, config::Value>>("presets") {
        Err(config::ConfigError::NotFound(_)) => BTreeMap::new(),
        found => found?,
    };
    for (name, preset) in presets {
        let name = name.to_uppercase();
        preset.try_deserialize::<Preset>().map_err(|e| ConfigError::Invalid(format!("presets.{name}: {e}")))?;
    }
    Ok(layers.try_deserialize()?)
}

impl Settings {
    /// The shared sections alone (what the `jobs` tests read).
    pub fn load_from(dir: &Path, environment: &str) -> Result<Self, ConfigError> {
        let settings: Self = load_from(dir, environment)?;
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
        if self.runtime.poll_secs <= 0.0 || self.runtime.retention_pass_secs <= 0.0 {
            return invalid("runtime.poll_secs and runtime.retention_pass_secs must be positive".into());
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
