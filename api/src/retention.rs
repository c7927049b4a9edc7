//! Retention: every `runtime.retention_pass_secs`, deletes the results and stored audio of jobs
//! that finished more than `retention_hours` ago (a runtime setting; 0 keeps everything). The
//! job rows stay, marked `purged_at`; their result answers `410 result_expired`. Safe in many
//! processes at once (`FOR UPDATE SKIP LOCKED`).

use std::sync::Arc;
use std::time::Duration;

use jobs::runtime::Runtime;
use jobs::{AudioStorage, JobInput, JobStore};

const BATCH: i64 = 500;

/// One pass; how many jobs were purged.
pub async fn purge_once(store: &JobStore, storage: &AudioStorage, hours: u64) -> jobs::store::Result<usize> {
    if hours == 0 {
        return Ok(0);
    }
    let age = Duration::from_secs(hours * 3600);
    let mut total = 0;
    loop {
        let purged = store.purge_finished(age, BATCH).await?;
        for job in &purged {
            if let JobInput::Upload { key, .. } = &job.input {
                if let Err(e) = storage.delete(key).await {
                    tracing::warn!(job_id = %job.id, key, error = %e, "retention: could not delete the audio");
                }
            }
        }
        total += purged.len();
        if (purged.len() as i64) < BATCH {
            break;
        }
    }
    if total > 0 {
        tracing::info!(jobs = total, hours, "retention: deleted audio and results of old jobs");
    }
    Ok(total)
}

pub async fn run(store: JobStore, storage: AudioStorage, runtime: Arc<Runtime>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let hours = runtime.get().settings.retention_hours;
        if let Err(e) = purge_once(&store, &storage, hours).await {
            tracing::warn!(error = %e, "retention pass failed");
        }
    }
}
