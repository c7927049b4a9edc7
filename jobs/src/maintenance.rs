//! The reaper and the reconciler. Every worker runs them; running them in many processes at
//! once is safe because every change is a conditional update.

use std::time::Duration;

use tracing::{info, warn};
use uuid::Uuid;

use crate::model::JobStatus;
use crate::queue::Queue;
use crate::store::{JobStore, StoreError};

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
