//! The webhook outbox: deliveries are queued by a trigger when a job with a `callback_url`
//! finishes, and taken by any number of delivering processes with `FOR UPDATE SKIP LOCKED`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{JobStore, Result};

/// A delivery due now, taken by this process for one attempt.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueDelivery {
    pub id: i64,
    pub job_id: Uuid,
    pub url: String,
    /// Including the attempt about to be made.
    pub attempts: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct WebhookDelivery {
    pub id: i64,
    pub job_id: Uuid,
    pub url: String,
    /// `pending`, `delivered` or `failed` (gave up).
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl JobStore {
    /// Takes up to `limit` due deliveries for one attempt each. A taken delivery is not due again
    /// for `lease`, so a process that dies mid-attempt only delays it.
    pub async fn take_due_deliveries(&self, limit: i64, lease: Duration) -> Result<Vec<DueDelivery>> {
        Ok(sqlx::query_as(
            "UPDATE webhook_deliveries d SET attempts = d.attempts + 1,
                 next_attempt_at = now() + make_interval(secs => $2)
             FROM (SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= now()
                   ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) due
             WHERE d.id = due.id
             RETURNING d.id, d.job_id, d.url, d.attempts",
        )
        .bind(limit)
        .bind(lease.as_secs_f64())
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn delivery_succeeded(&self, id: i64) -> Result<()> {
        sqlx::query(
            "UPDATE webhook_deliveries SET status = 'delivered', finished_at = now(), last_error = NULL WHERE id = $1",
        )
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records a failed attempt: due again after `retry_in`, or given up when `None`.
    pub async fn delivery_failed(&self, id: i64, error: &str, retry_in: Option<Duration>) -> Result<()> {
        match retry_in {
            Some(delay) => sqlx::query(
                "UPDATE webhook_deliveries SET last_error = $2, next_attempt_at = now() + make_interval(secs => $3)
                 WHERE id = $1",
            )
            .bind(id)
            .bind(error)
            .bind(delay.as_secs_f64()),
            None => sqlx::query(
                "UPDATE webhook_deliveries SET status = 'failed', last_error = $2, finished_at = now() WHERE id = $1",
            )
            .bind(id)
            .bind(error),
        }
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The deliveries of one job, oldest first.
    pub async fn deliveries(&self, job_id: Uuid) -> Result<Vec<WebhookDelivery>> {
        Ok(sqlx::query_as(
            "SELECT id, job_id, url, status, attempts, last_error, next_attempt_at, finished_at
             FROM webhook_deliveries WHERE job_id = $1 ORDER BY id",
        )
        .bind(job_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// The secret that signs webhooks of this key's jobs.
    pub async fn webhook_secret(&self, key_id: Uuid) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT webhook_secret FROM api_keys WHERE id = $1")
            .bind(key_id)
            .fetch_optional(self.pool())
            .await?)
    }
}
