//! The reaper and the reconciler. Every worker runs them; running them in many processes at
//! once is safe because every change is a conditional update.

use std::time::Duration;

use tracing::{info, warn};
use uuid::Uuid;

use crate::model::JobStatus;
use crate::queue::Queue;
use crate::store::{Inserted, JobStore, NewJob, StoreError, Submitter};

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The batching task stopped before answering (it panicked); the job may or may not exist.
    #[error("the submission was dropped before it was answered")]
    Abandoned,
}

/// Inserts a job and wakes a worker. If Redis is unreachable the job stays queued in
/// PostgreSQL and the reconciler dispatches it later, so the submission still succeeds.
pub async fn enqueue(store: &JobStore, queue: &Queue, job: NewJob) -> Result<Inserted, EnqueueError> {
    enqueue_as(store, queue, job, &Submitter::default()).await
}

/// [`enqueue`] for a submitter: the job is theirs, and their queue limit applies.
pub async fn enqueue_as(
    store: &JobStore,
    queue: &Queue,
    job: NewJob,
    submitter: &Submitter,
) -> Result<Inserted, EnqueueError> {
    let inserted = store.insert_as(job, submitter).await?;
    if let Inserted::Created(job) = &inserted {
        if let Err(e) = queue.dispatch(job.id).await {
            warn!(job_id = %job.id, error = %e, "dispatch failed; the reconciler will retry");
        }
    }
    Ok(inserted)
}

/// One pass of the reaper: expired leases go back to the queue (and are dispatched) or end.
pub async fn reap_once(store: &JobStore, queue: &Queue) -> Result<usize, StoreError> {
    let reaped = store.reap_expired().await?;
    for job in &reaped {
        info!(job_id = %job.id, status = job.status.as_str(), "reaped a job whose lease expired");
        if job.status == JobStatus::Queued {
            dispatch_quietly(queue, job.id).await;
        }
    }
    Ok(reaped.len())
}

/// One pass of the reconciler: queued jobs not picked up within `interval` are dispatched again.
pub async fn reconcile_once(store: &JobStore, queue: &Queue, interval: Duration) -> Result<usize, StoreError> {
    let stale = store.take_stale_queued(interval).await?;
    for id in &stale {
        dispatch_quietly(queue, *id).await;
    }
    if !stale.is_empty() {
        info!(count = stale.len(), "re-dispatched queued jobs");
    }
    Ok(stale.len())
}

async fn dispatch_quietly(queue: &Queue, id: Uuid) {
    if let Err(e) = queue.dispatch(id).await {
        warn!(job_id = %id, error = %e, "dispatch failed; will retry on the next pass");
    }
}

/// Runs the reaper and the reconciler forever at their intervals.
pub async fn run(store: JobStore, queue: Queue, reaper_every: Duration, dispatch_interval: Duration) {
    let mut reaper = tokio::time::interval(reaper_every);
    let mut reconciler = tokio::time::interval((dispatch_interval / 2).max(Duration::from_millis(100)));
    reaper.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    reconciler.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = reaper.tick() => {
                if let Err(e) = reap_once(&store, &queue).await {
                    warn!(error = %e, "reaper pass failed");
                }
            }
            _ = reconciler.tick() => {
                if let Err(e) = reconcile_once(&store, &queue, dispatch_interval).await {
                    warn!(error = %e, "reconciler pass failed");
                }
            }
        }
    }
}
