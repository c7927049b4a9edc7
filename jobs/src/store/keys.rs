//! API keys. Only a hash of each secret is stored; the bearer token itself is shown once, when
//! the key is created (`api keys create`). A key owns the jobs it submits.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use uuid::Uuid;

use super::{JobStore, Result};

const KEY_COLUMNS: &str = "id, name, prefix, admin, max_queued, created_at, revoked_at";

/// A key as stored, without its secret.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the token, to recognise it.
    pub prefix: String,
    /// Sees every job, reads `GET /v1/workers`, changes runtime configuration.
    pub admin: bool,
    /// At most this many of the key's jobs may wait in the queue at once; `None`: no limit.
    pub max_queued: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key about to be stored.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub id: Uuid,
    pub name: String,
    /// Hex sha256 of the whole token.
    pub key_hash: String,
    pub prefix: String,
    pub admin: bool,
    pub max_queued: Option<i32>,
}

/// What a bearer token turned out to be.
#[derive(Debug, Clone)]
pub struct KeyLookup {
    /// The active key with that hash, if any.
    pub key: Option<ApiKey>,
    /// Whether any active key exists (none: the service runs open).
    pub any_active: bool,
}

impl JobStore {
    pub async fn create_key(&self, key: &NewApiKey) -> Result<ApiKey> {
        let sql = format!(
            "INSERT INTO api_keys (id, name, key_hash, prefix, admin, max_queued) VALUES ($1, $2, $3, $4, $5, $6)
             RETURNING {KEY_COLUMNS}"
        );
        Ok(sqlx::query_as(&sql)
            .bind(key.id)
            .bind(&key.name)
            .bind(&key.key_hash)
            .bind(&key.prefix)
            .bind(key.admin)
            .bind(key.max_queued)
            .fetch_one(self.pool())
            .await?)
    }

    /// Every key, revoked ones included, oldest first.
    pub async fn list_keys(&self) -> Result<Vec<ApiKey>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id");
        Ok(sqlx::query_as(&sql).fetch_all(self.pool()).await?)
    }

    /// Revokes a key (at once, for every process); `None` when there is no such key.
    /// Revoking twice keeps the first revocation time.
    pub async fn revoke_key(&self, id: Uuid) -> Result<Option<ApiKey>> {
        let sql = format!(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING {KEY_COLUMNS}"
        );
        Ok(sqlx::query_as(&sql).bind(id).fetch_optional(self.pool()).await?)
    }

    /// Whether any key is active; with none, the service runs open.
    pub async fn any_active_key(&self) -> Result<bool> {
        Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM api_keys WHERE revoked_at IS NULL)")
            .fetch_one(self.pool())
            .await?)
    }

    /// One round trip: the active key with this hash (if a hash is given) and whether any key
    /// is active at all.
    pub async fn lookup_key(&self, key_hash: Option<&str>) -> Result<KeyLookup> {
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM api_keys WHERE revoked_at IS NULL) AS any_active, k.*
             FROM (SELECT 1) AS one
             LEFT JOIN (SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL) AS k ON true"
        );
        let row = sqlx::query(&sql).bind(key_hash).fetch_one(self.pool()).await?;
        let any_active: bool = row.try_get("any_active")?;
        let id: Option<Uuid> = row.try_get("id")?;
        let key = match id {
            Some(_) => Some(sqlx::FromRow::from_row(&row)?),
            None => None,
        };
        Ok(KeyLookup { key, any_active })
    }
}

impl JobStore {
    /// How many of this key's jobs are queued.
    pub async fn queued_count_of(&self, owner: Uuid) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM jobs WHERE owner = $1 AND status = 'queued'")
            .bind(owner)
            .fetch_one(self.pool())
            .await?)
    }
}
