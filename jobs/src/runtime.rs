//! Runtime settings: a few settings an admin changes through `PUT /v1/config` without restarting
//! anything. They are stored in PostgreSQL (`runtime_config`, one row with a version); every
//! process polls the version and reloads when it moved. Until the first change they are the
//! configuration files' values.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::Settings;
use crate::store::{JobStore, Result};
use crate::validate::InvalidField;

pub const MAX_UPLOAD_MB_LIMIT: u64 = 1024 * 1024;
pub const MAX_RETENTION_HOURS: u64 = 24 * 365 * 10;

/// The settings that can change at run time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RuntimeSettings {
    /// Preset of jobs that name none.
    #[schema(example = "BALANCED")]
    pub default_preset: String,
    /// Largest upload accepted, in MiB.
    #[schema(minimum = 1, maximum = 1048576)]
    pub max_upload_mb: u64,
    /// Finished jobs' audio and results are deleted this many hours after they finished; 0 keeps
    /// them until the job is deleted.
    pub retention_hours: u64,
}

impl RuntimeSettings {
    /// The configuration files' values; `max_upload_mb` is the api's `api.max_upload_mb`.
    pub fn defaults(settings: &Settings, max_upload_mb: u64) -> Self {
        Self {
            default_preset: settings.jobs.default_preset.clone(),
            max_upload_mb,
            retention_hours: settings.jobs.retention_hours,
        }
    }

    pub fn validate(&self, settings: &Settings) -> std::result::Result<(), InvalidField> {
        let invalid = |field, message: String| Err(InvalidField { field, message });
        if settings.preset(&self.default_preset).is_none() {
            let known: Vec<&str> = settings.presets.keys().map(String::as_str).collect();
            return invalid(
                "default_preset",
                format!("unknown preset {:?}; known presets: {}", self.default_preset, known.join(", ")),
            );
        }
        if !(1..=MAX_UPLOAD_MB_LIMIT).contains(&self.max_upload_mb) {
            return invalid("max_upload_mb", format!("must be between 1 and {MAX_UPLOAD_MB_LIMIT}"));
        }
        if self.retention_hours > MAX_RETENTION_HOURS {
            return invalid("retention_hours", format!("must be between 0 (keep) and {MAX_RETENTION_HOURS}"));
        }
        Ok(())
    }

    /// Applies a partial update; fields left out keep their value. The preset name is
    /// normalised to its configured spelling.
    pub fn updated(&self, settings: &Settings, update: RuntimeUpdate) -> std::result::Result<Self, InvalidField> {
        let mut next = Self {
            default_preset: update.default_preset.unwrap_or_else(|| self.default_preset.clone()),
            max_upload_mb: update.max_upload_mb.unwrap_or(self.max_upload_mb),
            retention_hours: update.retention_hours.unwrap_or(self.retention_hours),
        };
        next.validate(settings)?;
        if let Some((name, _)) = settings.preset(&next.default_preset) {
            next.default_preset = name.to_string();
        }
        Ok(next)
    }
}

/// A change to the runtime settings: only the fields given change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuntimeUpdate {
    #[schema(example = "LOW_LATENCY")]
    pub default_preset: Option<String>,
    /// MiB, 1 to `MAX_UPLOAD_MB_LIMIT` (1 TiB).
    #[schema(minimum = 1, maximum = 1048576)]
    pub max_upload_mb: Option<u64>,
    /// Hours, 0 (keep) to `MAX_RETENTION_HOURS` (ten years).
    #[schema(minimum = 0, maximum = 87600)]
    pub retention_hours: Option<u64>,
}

/// The runtime settings with their version (0: never changed, the files' values).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Versioned {
    pub version: i64,
    pub settings: RuntimeSettings,
    pub updated_at: Option<DateTime<Utc>>,
}

impl JobStore {
    /// The stored runtime settings over the files' values.
    pub async fn runtime_settings(&self, defaults: &RuntimeSettings) -> Result<Versioned> {
        let Some(stored) = self.stored_runtime().await? else {
            return Ok(Versioned { version: 0, settings: defaults.clone(), updated_at: None });
        };
        // Stored fields override; fields a newer release added fall back to the files' values.
        let mut merged = serde_json::to_value(defaults).expect("plain data serializes");
        if let (Some(base), serde_json::Value::Object(stored)) = (merged.as_object_mut(), stored.settings) {
            base.extend(stored);
        }
        let settings = serde_json::from_value(merged).unwrap_or_else(|_| defaults.clone());
        Ok(Versioned { version: stored.version, settings, updated_at: Some(stored.updated_at) })
    }

    /// Stores new runtime settings and bumps the version.
    pub async fn save_runtime_settings(&self, settings: &RuntimeSettings) -> Result<Versioned> {
        let document = serde_json::to_value(settings).expect("plain data serializes");
        let (version, updated_at) = self.store_runtime(&document).await?;
        Ok(Versioned { version, settings: settings.clone(), updated_at: Some(updated_at) })
    }
}

/// The current runtime settings of one process, shared by its tasks.
#[derive(Debug)]
pub struct Runtime {
    defaults: RuntimeSettings,
    current: RwLock<Arc<Versioned>>,
}

impl Runtime {
    pub fn new(defaults: RuntimeSettings) -> Self {
        let current = Versioned { version: 0, settings: defaults.clone(), updated_at: None };
        Self { defaults, current: RwLock::new(Arc::new(current)) }
    }

    pub fn get(&self) -> Arc<Versioned> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Takes `next` unless it is older than what this process already has.
    pub fn set(&self, next: Versioned) {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if next.version >= current.version {
            *current = Arc::new(next);
        }
    }

    /// Reloads from the store when the stored version differs from this process's.
    pub async fn refresh(&self, store: &JobStore) -> Result<bool> {
        let version = store.runtime_version().await?;
        if version == self.get().version {
            return Ok(false);
        }
        let loaded = store.runtime_settings(&self.defaults).await?;
        tracing::info!(version = loaded.version, settings = ?loaded.settings, "runtime settings changed");
        self.set(loaded);
        Ok(true)
    }

    /// Polls the version every `every`, forever.
    pub async fn watch(self: Arc<Self>, store: JobStore, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.refresh(&store).await {
                tracing::warn!(error = %e, "could not read the runtime settings");
            }
        }
    }
}
