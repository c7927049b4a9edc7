//! Which job a request may touch: the `{id}` path segment parsed, and the job read only if the
//! caller may see it (another key's job is "not found", never "forbidden").

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

/// Parses the `{id}` path segment.
pub fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::InvalidJobId(raw.chars().take(64).collect()))
}
