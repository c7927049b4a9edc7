//! Queuing a job: an INSERT and an XADD, batched with other submissions that arrive at the same
//! time (`jobs::Enqueuer`), and the check of the callback a submitter asks for.

use jobs::{Inserted, Job, JobInput, NewJob, Submitter};
use uuid::Uuid;
use vocab::JobOptions;

use crate::error::ApiError;
use crate::state::AppState;

/// Inserts the job and wakes a worker. Returns the job and whether it is an earlier one
/// returned for the same idempotency key.
pub async fn enqueue(
    state: &AppState,
    submitter: &Submitter,
    id: Uuid,
    input: JobInput,
    options: JobOptions,
    idempotency_key: Option<String>,
    request_hash: Option<String>,
) -> Result<(Job, bool), ApiError> {
    crate::installed::require(state, options.model.as_deref()).await?;
    let new =
        NewJob { id, input, options, idempotency_key, request_hash, max_attempts: state.settings.queue.max_attempts };
    let submitter = Submitter { max_queued_total: state.settings.jobs.queue_limit(), ..submitter.clone() };
    match state.enqueuer.enqueue(new, submitter).await {
        Ok(Inserted::Created(job)) => Ok((job, false)),
        Ok(Inserted::Existing(job)) => Ok((job, true)),
        Err(jobs::enqueuer::EnqueueError::Store(jobs::StoreError::QueueFull { limit })) => {
            Err(ApiError::QueueFull { limit, retry_after: state.settings.jobs.queue_full_retry_secs })
        }
        Err(jobs::enqueuer::EnqueueError::Store(e)) => Err(e.into()),
        Err(e @ jobs::enqueuer::EnqueueError::Abandoned) => Err(ApiError::internal(e)),
    }
}

/// Checks a `callback_url` like a URL input, and that its deliveries can be signed.
pub fn check_callback(
    state: &AppState,
    submitter: &Submitter,
    raw: Option<String>,
) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    use jobs::net::UrlRefused;
    let url = jobs::net::check_url(&raw, state.settings.inputs.allow_private_urls).map_err(|e| match e {
        UrlRefused::Malformed(_) | UrlRefused::NoHost => ApiError::InvalidCallbackUrl(e.to_string()),
        UrlRefused::Scheme(_) | UrlRefused::ForbiddenAddress(_) => ApiError::CallbackUrlNotAllowed(e.to_string()),
    })?;
    if submitter.owner.is_none() && state.settings.webhooks.secret.is_empty() {
        return Err(ApiError::WebhookSecretNotConfigured);
    }
    Ok(Some(url.into()))
}
