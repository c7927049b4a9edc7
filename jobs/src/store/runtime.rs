//! The runtime settings' row (`runtime_config`): one JSON document and its version. What the
//! document says is the business of the `runtime` module, which reads and writes it here.

use chrono::{DateTime, Utc};

use super::{JobStore, Result};

/// The stored document as written.
#[derive(Debug, Clone)]
pub struct StoredRuntime {
    pub version: i64,
    pub settings: serde_json::Value,
    pub updated_at: DateTime<Utc>,
}

impl JobStore {
    /// `None` until the runtime settings were first changed.
    pub async fn stored_runtime(&self) -> Result<Option<StoredRuntime>> {
        let row: Option<(i64, serde_json::Value, DateTime<Utc>)> =
            sqlx::query_as("SELECT version, settings, updated_at FROM runtime_config")
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|(version, settings, updated_at)| StoredRuntime { version, settings, updated_at }))
    }

    /// The version alone: what processes poll.
    pub async fn runtime_version(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COALESCE((SELECT version FROM runtime_config), 0)")
            .fetch_one(self.pool())
            .await?)
    }

    /// Stores a new document and bumps the version; returns the new version and its time.
    pub async fn store_runtime(&self, settings: &serde_json::Value) -> Result<(i64, DateTime<Utc>)> {
        Ok(sqlx::query_as(
            "INSERT INTO runtime_config (id, version, settings) VALUES (true, 1, $1)
             ON CONFLICT (id) DO UPDATE SET version = runtime_config.version + 1, settings = EXCLUDED.settings,
                 updated_at = now()
             RETURNING version, updated_at",
        )
        .bind(sqlx::types::Json(settings))
        .fetch_one(self.pool())
        .await?)
    }
}
