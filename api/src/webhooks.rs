//! Webhook delivery. When a job with a `callback_url` finishes, a trigger queues a delivery in
//! `webhook_deliveries` (the outbox); this task, running in every api process, takes due
//! deliveries with `FOR UPDATE SKIP LOCKED` and POSTs the job's status JSON (the `getJobStatus`
//! body). It never blocks a worker.
//!
//! Each request carries `Webhook-Id` (the delivery), `Webhook-Timestamp` (Unix seconds) and
//! `Webhook-Signature: t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`, keyed with the
//! job owner's webhook secret (open mode: `webhooks.secret`). A 2xx answer delivers; anything else
//! is retried after `webhooks.backoff_secs`, doubling, up to `webhooks.max_attempts` attempts.
//! Every attempt is a line in the job's logs. Addresses are checked again at delivery, on every
//! resolved address (no redirects are followed).

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use jobs::store::DueDelivery;
use jobs::{JobStore, LogLevel};
use sha2::Sha256;

use crate::config::WebhookSettings;
use crate::views::JobView;

pub const ID_HEADER: &str = "Webhook-Id";
pub const TIMESTAMP_HEADER: &str = "Webhook-Timestamp";
pub const SIGNATURE_HEADER: &str = "Webhook-Signature";
/// Deliveries attempted at once by one process.
const BATCH: i64 = 16;

/// `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

pub struct Deliverer {
    store: JobStore,
    settings: WebhookSettings,
    allow_private: bool,
    client: reqwest::Client,
}

impl Deliverer {
    pub fn new(store: JobStore, settings: WebhookSettings, allow_private: bool) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .no_proxy() // a proxy would resolve names itself, around the address policy
            .dns_resolver(Arc::new(jobs::net::PolicyResolver { allow_private }))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.timeout())
            .timeout(settings.timeout())
            .user_agent(concat!("transcribe-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { store, settings, allow_private, client })
    }

    /// Runs forever, looking for due deliveries every `webhooks.poll_secs`.
    pub async fn run(self) {
        let mut tick = tokio::time::interval(self.settings.poll());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.deliver_due().await {
                tracing::warn!(error = %e, "webhook pass failed");
            }
        }
    }

    /// One pass: attempts every due delivery (a batch at a time, concurrently).
    pub async fn deliver_due(&self) -> jobs::store::Result<usize> {
        let mut total = 0;
        loop {
            let lease = self.settings.timeout() * 2 + Duration::from_secs(5);
            let due = self.store.take_due_deliveries(BATCH, lease).await?;
            total += due.len();
            let n = due.len() as i64;
            futures_util::future::join_all(due.into_iter().map(|d| self.attempt(d))).await;
            if n < BATCH {
                return Ok(total);
            }
        }
    }

    async fn attempt(&self, delivery: DueDelivery) {
        let span = tracing::info_span!("webhook", job_id = %delivery.job_id, delivery = delivery.id);
        let _ = tracing::Instrument::instrument(self.attempt_inner(&delivery), span).await;
    }

    async fn attempt_inner(&self, d: &DueDelivery) -> jobs::store::Result<()> {
        let Some(job) = self.store.get(d.job_id).await? else {
            return self.store.delivery_failed(d.id, "the job was deleted", None).await;
        };
        let secret = match job.owner {
            Some(owner) => self.store.webhook_secret(owner).await?.unwrap_or_default(),
            None => self.settings.secret.clone(),
        };
        let result = if secret.is_empty() {
            Err(Failure::permanent("no signing secret: set webhooks.secret (the service runs without API keys)"))
        } else {
            self.post(d, &JobView::from(&job), &secret).await
        };
        let n = d.attempts;
        let (level, message, retry_in) = match result {
            Ok(status) => {
                self.store.delivery_succeeded(d.id).await?;
                (LogLevel::Info, format!("webhook delivered to {} on attempt {n}: HTTP {status}", d.url), None)
            }
            Err(failure) => {
                let retry_in =
                    (failure.retry && n < self.settings.max_attempts as i32).then(|| self.settings.backoff(n as u32));
                self.store.delivery_failed(d.id, &failure.message, retry_in).await?;
                let next = match retry_in {
                    Some(delay) => format!("retrying in {:.1} s", delay.as_secs_f64()),
                    None => "giving up".to_string(),
                };
                (
                    LogLevel::Warn,
                    format!("webhook to {} failed on attempt {n}: {}; {next}", d.url, failure.message),
                    retry_in,
                )
            }
        };
        match retry_in {
            None if level == LogLevel::Warn => tracing::warn!(url = d.url, attempt = n, "{message}"),
            _ => tracing::info!(url = d.url, attempt = n, "{message}"),
        }
        self.store.log(d.job_id, level, Some("webhook"), Some("api"), &message).await
    }

    /// One POST; the HTTP status on success.
    async fn post(&self, d: &DueDelivery, view: &JobView, secret: &str) -> Result<u16, Failure> {
        // Checked again: the configuration may have changed since the job was submitted.
        let url = jobs::net::check_url(&d.url, self.allow_private).map_err(|e| Failure::permanent(e.to_string()))?;
        let body = serde_json::to_vec(view).map_err(|e| Failure::permanent(format!("encoding the body: {e}")))?;
        let timestamp = chrono::Utc::now().timestamp();
        let response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(ID_HEADER, d.id.to_string())
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature(secret, timestamp, &body))
            .body(body)
            .send()
            .await
            .map_err(|e| Failure::retry(describe(&e)))?;
        let status = response.status();
        if status.is_success() {
            Ok(status.as_u16())
        } else {
            Err(Failure::retry(format!("HTTP {}", status.as_u16())))
        }
    }
}

struct Failure {
    message: String,
    retry: bool,
}

impl Failure {
    fn retry(message: String) -> Self {
        Self { message, retry: true }
    }
    fn permanent(message: impl Into<String>) -> Self {
        Self { message: message.into(), retry: false }
    }
}

/// The error and its causes in one line (the resolver's refusal is a cause).
fn describe(e: &reqwest::Error) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message = format!("{message}: {s}");
        source = s.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_over_timestamp_dot_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        let sig = signature("whsec_test", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(sig, "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789");
        assert_ne!(sig, signature("whsec_other", 1_700_000_000, br#"{"a":1}"#));
        assert_ne!(sig, signature("whsec_test", 1_700_000_001, br#"{"a":1}"#));
    }
}
