//! Which job or batch a request may touch: the `{id}` path segment parsed, and the row read only
//! if the caller may see it (another key's job or batch is "not found", never "forbidden").

use std::sync::Arc;

use jobs::Job;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// The job, if it exists and the caller may see it; another key's job is "not found" too.
pub async fn visible_job(state: &AppState, caller: &Caller, id: Uuid) -> Result<Job, ApiError> {
    match state.store.get(id).await? {
        Some(job) if caller.can_see(&job) => Ok(job),
        _ => Err(ApiError::JobNotFound(id)),
    }
}

/// [`visible_job`] through the job cache: possibly as old as the last notification not yet
/// heard (milliseconds), so only for reads that show the job, never for decisions that write.
pub async fn visible_job_cached(state: &AppState, caller: &Caller, id: Uuid) -> Result<Arc<Job>, ApiError> {
    match state.jobs.get(&state.store, id).await? {
        Some(job) if caller.can_see(&job) => Ok(job),
        _ => Err(ApiError::JobNotFound(id)),
    }
}

/// The batch, if it exists and the caller may see it: the jobs' rule, by the batch's owner.
pub async fn visible_batch(state: &AppState, caller: &Caller, id: Uuid) -> Result<jobs::model::Batch, ApiError> {
    match state.store.batch(id).await? {
        Some(batch) if caller.scope().is_none_or(|owner| batch.owner == Some(owner)) => Ok(batch),
        _ => Err(ApiError::BatchNotFound(id)),
    }
}

/// Parses a batch's `{id}` path segment.
pub fn parse_batch_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::InvalidBatchId(raw.chars().take(64).collect()))
}

/// Parses the `{id}` path segment.
pub fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::InvalidJobId(raw.chars().take(64).collect()))
}
