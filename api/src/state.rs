//! [`AppState`]: what every handler shares, built once by `startup`.

use std::path::PathBuf;
use std::sync::Arc;

use jobs::runtime::Runtime;
use jobs::{AudioStorage, Enqueuer, JobStore, Queue};

use crate::config::Settings;
use crate::jobcache::JobCache;
use crate::keywatch::KeyWatch;
use crate::metrics::Metrics;

/// What every handler shares. One instance per process, behind an `Arc` (`web::Data`).
pub struct AppState {
    pub settings: Settings,
    pub store: JobStore,
    pub queue: Queue,
    /// Inserts submissions, many per statement under load.
    pub enqueuer: Enqueuer,
    pub storage: AudioStorage,
    /// `inputs.path_roots`, canonicalised once at start-up.
    pub roots: Vec<PathBuf>,
    pub metrics: Arc<Metrics>,
    /// Runtime settings in force (`PUT /v1/config`), polled from PostgreSQL.
    pub runtime: Arc<Runtime>,
    /// Whether any API key is active, kept current by PostgreSQL notifications.
    pub keys: Arc<KeyWatch>,
    /// Job rows for status reads, kept current by PostgreSQL notifications.
    pub jobs: Arc<JobCache>,
}

impl AppState {
    pub fn max_upload_mb(&self) -> u64 {
        self.runtime.get().settings.max_upload_mb
    }

    pub fn max_upload_bytes(&self) -> u64 {
        self.max_upload_mb().saturating_mul(1024 * 1024)
    }

    pub fn default_preset(&self) -> String {
        self.runtime.get().settings.default_preset.clone()
    }
}
