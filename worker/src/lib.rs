//! The worker: takes job ids from the Redis stream, claims them in PostgreSQL, runs the speech
//! pipeline, and writes the outcome behind a fence. Also runs the reaper and the reconciler.
//! Asked to drain (`POST /v1/workers/{id}/drain` or `/restart`), it finishes its job, takes no
//! other, and exits ([`Exit`]).

pub mod config;
mod fetch;
mod job;
mod model_choice;
pub mod models;
mod observer;
pub mod options;
mod redact;
pub mod transcribe;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use jobs::store::Drain;
use jobs::{AudioStorage, Delivery, Fence, JobStore, LogLevel, Queue, WorkerInfo};
use tracing::{info, warn};
use uuid::Uuid;

use crate::config::Settings;

/// The job this process is running (its attempt's fence) and the flag that stops it.
type Current = Arc<Mutex<Option<(Fence, Arc<AtomicBool>)>>>;

/// Why [`Worker::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The shutdown signal (SIGTERM, Ctrl-C).
    Stopped,
    /// Drained on request.
    Drained(Drain),
}

pub struct Worker {
    pub id: String,
    settings: Settings,
    store: JobStore,
    queue: Queue,
    fetcher: fetch::Fetcher,
    pipeline: Arc<speech::Pipeline>,
    current: Current,
    shutting_down: Arc<AtomicBool>,
    /// The drain asked of this worker (`None` until one is): it takes no new job.
    drain: Mutex<Option<Drain>>,
    /// Runtime settings (`PUT /v1/config`), polled from PostgreSQL.
    runtime: Arc<jobs::runtime::Runtime>,
    /// Models this process has run jobs with (the pipeline keeps them loaded), for the heartbeat.
    loaded_models: Mutex<std::collections::BTreeSet<String>>,
}

impl Worker {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let store = JobStore::connect(&settings.database.url, settings.database.max_connections.min(8))
            .await
            .context("connecting to PostgreSQL")?;
        let queue =
            Queue::connect(&settings.redis.url, &settings.redis.key_prefix).await.context("connecting to Redis")?;
        let storage = AudioStorage::new(&settings.storage.dir).context("opening audio storage")?;
        let fetcher = fetch::Fetcher::new(storage, settings.inputs.clone(), settings.worker.work_dir.clone())?;
        let pipeline =
            speech::Pipeline::new(settings.worker.pipeline_config()).context("starting the speech pipeline")?;
        let runtime = Arc::new(jobs::runtime::Runtime::new(settings.runtime_defaults()));
        if let Err(e) = runtime.refresh(&store).await {
            warn!(error = %e, "could not read the runtime settings; using the configuration files' values");
        }
        let host = hostname();
        let id = format!("{host}-{}-{}", std::process::id(), &Uuid::now_v7().simple().to_string()[26..]);
        Ok(Self {
            id,
            settings,
            store,
            queue,
            fetcher,
            pipeline: Arc::new(pipeline),
            current: Arc::default(),
            shutting_down: Arc::default(),
            drain: Mutex::default(),
            runtime,
            loaded_models: Mutex::default(),
        })
    }

    /// Runs until `shutdown` resolves (a job in progress is handed back to the queue then), or
    /// until a drain asked of it is done (its job finished).
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<Exit> {
        let this = Arc::new(self);
        info!(worker_id = %this.id, device = %this.settings.worker.device, "worker started");
        let q = &this.settings.queue;
        let background = [
            tokio::spawn(jobs::maintenance::run(
                this.store.clone(),
                this.queue.clone(),
                q.reaper_interval(),
                q.dispatch_interval(),
            )),
            tokio::spawn(presence(this.clone())),
            tokio::spawn(this.runtime.clone().watch(this.store.clone(), this.settings.runtime.poll())),
            tokio::spawn(listen_for_cancellations(this.clone())),
            tokio::spawn(listen_for_gc(this.clone())),
            tokio::spawn(listen_for_drain(this.clone())),
        ];
        let mut consume = tokio::spawn(consume(this.clone()));
        let exit = tokio::select! {
            _ = shutdown => {
                info!("shutting down");
                this.shutting_down.store(true, Ordering::Relaxed);
                if let Some((_, cancel)) = this.current.lock().unwrap().as_ref() {
                    cancel.store(true, Ordering::Relaxed);
                }
                let _ = tokio::time::timeout(Duration::from_secs(30), consume).await;
                Exit::Stopped
            }
            // The consumer returns by itself only once drained.
            consumed = &mut consume => {
                consumed.context("the job consumer stopped")?;
                let drain = this.drain().unwrap_or(Drain::Exit);
                info!(drain = drain.as_str(), "drained: exiting");
                Exit::Drained(drain)
            }
        };
        for task in background {
            task.abort();
        }
        let _ = this.store.remove_worker(&this.id).await;
        Ok(exit)
    }

    fn drain(&self) -> Option<Drain> {
        *self.drain.lock().unwrap()
    }

    /// Whether this worker must take no new job.
    fn stopping(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed) || self.drain().is_some()
    }

    /// Refreshes this worker's presence row, and takes up a drain stored there.
    async fn heartbeat(&self) {
        let current = self.current.lock().unwrap().as_ref().map(|(fence, _)| fence.job_id);
        match self.store.worker_heartbeat(&self.info(current)).await {
            Ok(Some(drain)) => self.start_draining(drain).await,
            Ok(None) => {}
            Err(e) => warn!(error = %e, "worker heartbeat failed"),
        }
    }

    async fn start_draining(&self, drain: Drain) {
        if self.drain.lock().unwrap().replace(drain) == Some(drain) {
            return;
        }
        info!(drain = drain.as_str(), "drain requested: finishing the current job, taking no other");
        let fence = self.current.lock().unwrap().as_ref().map(|(fence, _)| fence.clone());
        if let Some(fence) = fence {
            let message =
                format!("worker {} is draining ({}): this job finishes, then it exits", self.id, drain.as_str());
            if let Err(e) = self.store.log_fenced(&fence, LogLevel::Info, None, &message).await {
                warn!(error = %e, "could not log the drain on the current job");
            }
        }
    }

    fn info(&self, current_job: Option<Uuid>) -> WorkerInfo {
        WorkerInfo {
            id: self.id.clone(),
            hostname: hostname(),
            device: self.settings.worker.device.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: chrono::Utc::now(),
            heartbeat_at: chrono::Utc::now(),
            current_job,
            loaded_models: self.loaded_models.lock().unwrap().iter().cloned().collect(),
        }
    }
}

async fn consume(worker: Arc<Worker>) {
    let block = Duration::from_secs(1);
    let mut consumer = loop {
        match worker.queue.consumer(&worker.id, block).await {
            Ok(c) => break c,
            Err(e) => {
                warn!(error = %e, "cannot read the job stream; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let mut last_reclaim = tokio::time::Instant::now();
    while !worker.stopping() {
        // Deliveries a dead consumer left pending are re-checked like new ones.
        let stale_after = worker.settings.queue.lease() * 2;
        let mut deliveries = Vec::new();
        if last_reclaim.elapsed() >= stale_after {
            last_reclaim = tokio::time::Instant::now();
            deliveries = consumer.reclaim(stale_after).await.unwrap_or_default();
        }
        match consumer.next().await {
            Ok(Some(d)) => deliveries.push(d),
            Ok(None) => {}
            Err(e) => {
                warn!(error = %e, "reading the job stream failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        for delivery in deliveries {
            handle(&worker, &delivery).await;
            if let Err(e) = consumer.ack(&delivery).await {
                warn!(error = %e, "ack failed; the delivery may come again (harmless)");
            }
        }
    }
}

async fn handle(worker: &Arc<Worker>, delivery: &Delivery) {
    let Some(id) = delivery.job_id else {
        warn!(entry = %delivery.entry_id, "stream entry without a job id; skipped");
        return;
    };
    if worker.shutting_down.load(Ordering::Relaxed) {
        return; // the reconciler will dispatch it again
    }
    if worker.drain().is_some() {
        // Read just as the drain came: announce it again at once for another worker.
        if let Err(e) = worker.queue.dispatch(id).await {
            warn!(job_id = %id, error = %e, "could not hand the job back; the reconciler will dispatch it again");
        }
        return;
    }
    let job = match worker.store.claim(id, &worker.id, worker.settings.queue.lease()).await {
        Ok(Some(job)) => job,
        Ok(None) => return, // canceled, finished, or claimed elsewhere: a duplicate delivery
        Err(e) => {
            warn!(job_id = %id, error = %e, "claim failed; the reconciler will dispatch it again");
            return;
        }
    };
    let cancel = Arc::new(AtomicBool::new(job.cancel_requested));
    let fence = Fence { job_id: id, worker_id: worker.id.clone(), attempt: job.attempt };
    *worker.current.lock().unwrap() = Some((fence, cancel.clone()));
    worker.heartbeat().await;
    job::run(worker, job, cancel).await;
    *worker.current.lock().unwrap() = None;
    worker.heartbeat().await;
}

/// Keeps this worker's row fresh so `GET /v1/workers` lists it, and reads the drain requests
/// stored there (the truth, should a wake-up on Redis be missed).
async fn presence(worker: Arc<Worker>) {
    let mut tick = tokio::time::interval(worker.settings.queue.heartbeat());
    loop {
        tick.tick().await;
        worker.heartbeat().await;
    }
}

/// Reads this worker's presence row at once when a drain request for it is announced.
async fn listen_for_drain(worker: Arc<Worker>) {
    loop {
        match worker.queue.drain_requests().await {
            Ok(mut ids) => {
                while let Some(id) = ids.next().await {
                    if id == worker.id {
                        worker.heartbeat().await;
                    }
                }
                warn!("drain channel closed; subscribing again");
            }
            Err(e) => warn!(error = %e, "cannot subscribe to drain requests; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Stops the current job as soon as its cancellation is announced on Redis.
async fn listen_for_cancellations(worker: Arc<Worker>) {
    loop {
        match worker.queue.cancellations().await {
            Ok(mut ids) => {
                while let Some(id) = ids.next().await {
                    if let Some((current, cancel)) = worker.current.lock().unwrap().as_ref() {
                        if current.job_id == id {
                            cancel.store(true, Ordering::Relaxed);
                        }
                    }
                }
                warn!("cancellation channel closed; subscribing again");
            }
            Err(e) => warn!(error = %e, "cannot subscribe to cancellations; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Drops the cached models when `POST /v1/workers/gc` asks; a running job keeps its model until
/// it ends.
async fn listen_for_gc(worker: Arc<Worker>) {
    loop {
        match worker.queue.gc_requests().await {
            Ok(mut requests) => {
                while requests.next().await.is_some() {
                    let dropped = worker.pipeline.drop_models();
                    worker.loaded_models.lock().unwrap().clear();
                    info!(dropped, "dropped cached models on request");
                }
                warn!("model gc channel closed; subscribing again");
            }
            Err(e) => warn!(error = %e, "cannot subscribe to model gc requests; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}
