//! Runs one claimed job: fetch, the speech pipeline, and the fenced final write, with the
//! lease renewed by heartbeat throughout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobs::{Fence, Job, JobStore, LogLevel, Outcome};
use tokio::sync::mpsc;
use tracing::{info, warn, Instrument};

use crate::model_choice::{NoneInstalled, DEFAULT_MODEL};
use crate::observer::{Event, JobObserver, StageTimes};
use crate::Worker;

/// The stage before the pipeline's own: bringing the input to a local file.
const FETCH: &str = "fetch";

/// Why the attempt ended without an outcome worth writing.
enum Abandon {
    /// Another worker owns the job now; writing anything would be wrong.
    LeaseLost,
    /// This process is shutting down; hand the job back to the queue.
    Shutdown,
}

pub async fn run(worker: &Worker, job: Job, cancel: Arc<AtomicBool>) {
    let fence = Fence { job_id: job.id, worker_id: worker.id.clone(), attempt: job.attempt };
    let span = tracing::info_span!("job", job_id = %job.id, attempt = job.attempt);
    async {
        let lease_lost = Arc::new(AtomicBool::new(false));
        let heartbeat = tokio::spawn(heartbeat(
            worker.store.clone(),
            fence.clone(),
            worker.settings.queue.clone(),
            cancel.clone(),
            lease_lost.clone(),
        ));
        let started = Instant::now();
        let mut stages = StageTimes::default();
        let outcome = attempt(worker, &job, &fence, cancel.clone(), &mut stages).await;
        heartbeat.abort();
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(_) if lease_lost.load(Ordering::Relaxed) => {
                warn!("lease lost; leaving the job to its new owner");
                return;
            }
            Err(Abandon::LeaseLost) => return,
            Err(Abandon::Shutdown) => {
                release(worker, &fence).await;
                return;
            }
        };
        let outcome = match outcome {
            Outcome::Failed { code, message } => Outcome::Failed { code, message: crate::redact::paths(&message) },
            other => other,
        };
        let mut summary = match &outcome {
            Outcome::Succeeded { duration_secs, .. } => {
                let secs = started.elapsed().as_secs_f64();
                format!("succeeded: {duration_secs:.1} s of audio in {secs:.1} s")
            }
            Outcome::Failed { code, message } => format!("failed ({code}): {message}"),
            Outcome::Canceled => "canceled".to_string(),
        };
        if !stages.is_empty() {
            if let Err(e) = worker.store.set_stage_secs(&fence, &stages.by_name()).await {
                warn!(error = %e, "could not record stage times");
            }
            summary += &format!("; stage times: {stages}");
        }
        // A PostgreSQL that is down for a moment should not cost the work: the write is fenced, so
        // retrying it is safe, and for a lease's length nobody else may have taken the job.
        let give_up = Instant::now() + worker.settings.queue.lease();
        let mut pause = Duration::from_millis(250);
        loop {
            match worker.store.finish(&fence, &outcome, &summary).await {
                Ok(true) => info!(summary, "job finished"),
                Ok(false) => warn!("final write rejected: the lease was lost"),
                Err(e) if e.is_unavailable() && Instant::now() + pause < give_up => {
                    warn!(error = %e, "final write failed; retrying while the database is unavailable");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                    continue;
                }
                Err(e) => warn!(error = %e, "final write failed; the reaper will retry the job"),
            }
            break;
        }
    }
    .instrument(span)
    .await
}

/// Runs the attempt and adds each stage's busy time to `stages` as it goes.
async fn attempt(
    worker: &Worker,
    job: &Job,
    fence: &Fence,
    cancel: Arc<AtomicBool>,
    stages: &mut StageTimes,
) -> Result<Outcome, Abandon> {
    let shutdown = || worker.shutting_down.load(Ordering::Relaxed);
    let canceled_or_shutdown = |outcome: Outcome| if shutdown() { Err(Abandon::Shutdown) } else { Ok(outcome) };

    // The model is settled first: a worker with none of the preset's models fetches nothing.
    let default_preset = worker.runtime.get().settings.default_preset.clone();
    let mut options = crate::options::resolve_with_default(&worker.settings, &default_preset, &job.options);
    match crate::model_choice::choose(&worker.pipeline, &worker.settings.worker.models_dir, &mut options) {
        Ok(line) => {
            info!("{line}");
            log(&worker.store, fence, LogLevel::Info, Some("transcribe"), &line).await;
        }
        Err(e) => return Ok(Outcome::Failed { code: NoneInstalled::CODE.into(), message: e.to_string() }),
    }
    let model = options.model.clone().unwrap_or_else(|| DEFAULT_MODEL.to_string());

    set_progress(&worker.store, fence, FETCH, 0.0).await?;
    let fetch_started = Instant::now();
    let fetched = worker.fetcher.fetch(job.id, &job.input, &cancel).await;
    stages.add(FETCH, fetch_started.elapsed());
    let input = match fetched {
        Ok(input) => input,
        Err(crate::fetch::FetchError::Canceled) => return canceled_or_shutdown(Outcome::Canceled),
        Err(e) => return Ok(Outcome::Failed { code: e.code().into(), message: e.to_string() }),
    };
    log(&worker.store, fence, LogLevel::Info, Some(FETCH), "input ready").await;

    let (tx, mut rx) = mpsc::unbounded_channel();
    let observer = Arc::new(JobObserver::new(cancel.clone(), tx));
    let pipeline = worker.pipeline.clone();
    let path = input.path.clone();
    let pipeline_observer = observer.clone();
    // The pipeline's own log lines carry the job's span (job_id, attempt) on the blocking thread too.
    let span = tracing::Span::current();
    let mut task = tokio::task::spawn_blocking(move || {
        let _span = span.enter();
        pipeline.run(&path, &options, &*pipeline_observer)
    });

    let interval = worker.settings.queue.progress_interval();
    let mut last_write = Instant::now() - interval;
    let mut pending: Option<(&'static str, f32)> = None;
    let offset = job.options.timestamp_offset.unwrap_or(0.0);
    let mut partials = Partials { offset, ..Partials::default() };
    let result = loop {
        tokio::select! {
            done = &mut task => break done,
            Some(event) = rx.recv() => match event {
                Event::Log { stage, message } => log(&worker.store, fence, LogLevel::Info, Some(stage), &message).await,
                Event::Progress { stage, overall } => pending = Some((stage, overall)),
                Event::Segments(segments) => partials.push(segments),
            },
            _ = tokio::time::sleep(Duration::from_millis(100)), if pending.is_some() || partials.has_unsent() => {}
        }
        // Progress and finished segments go out together, at most once per interval.
        if last_write.elapsed() >= interval && (pending.is_some() || partials.has_unsent()) {
            let mut written = Ok(());
            if let Some((stage, overall)) = pending.take() {
                written = set_progress(&worker.store, fence, stage, overall).await;
            }
            if written.is_ok() {
                written = partials.write(&worker.store, fence).await;
            }
            if let Err(abandon) = written {
                // Stop the pipeline before this worker takes another job.
                cancel.store(true, Ordering::Relaxed);
                let _ = task.await;
                return Err(abandon);
            }
            last_write = Instant::now();
        }
    };
    // Segments still unsent are not worth a write: the final result, written next, replaces them.
    while let Ok(event) = rx.try_recv() {
        if let Event::Log { stage, message } = event {
            log(&worker.store, fence, LogLevel::Info, Some(stage), &message).await;
        }
    }
    drop(input);
    stages.add_clock(&observer.clock);
    // Progress events are written at most once per interval, so the last may not have been:
    // the job ends showing the last stage that ran and all the progress it made.
    if let Some((last, _)) = observer.clock.times().last() {
        set_progress(&worker.store, fence, last.as_str(), observer.overall()).await?;
    }
    if matches!(result, Ok(Ok(_))) {
        worker.loaded_models.lock().unwrap().insert(model);
    }
    // Shifted once, here, so that every format and every reader of the result sees the same times.
    let result = result.map(|run| run.map(|transcript| transcript.shifted(offset)));
    match result {
        Ok(Ok(transcript)) => match serde_json::to_value(&transcript) {
            Ok(result) => Ok(Outcome::Succeeded { result, duration_secs: transcript.duration }),
            Err(e) => Ok(Outcome::Failed {
                code: "internal_error".into(),
                message: format!("could not encode the result: {e}"),
            }),
        },
        Ok(Err(speech::SpeechError::Cancelled)) => canceled_or_shutdown(Outcome::Canceled),
        Ok(Err(e)) => Ok(Outcome::Failed { code: e.code().into(), message: e.to_string() }),
        Err(join) => {
            Ok(Outcome::Failed { code: "internal_error".into(), message: format!("the pipeline crashed: {join}") })
        }
    }
}

/// Segments the pipeline has finished, stored in order as partial results (`stream=true` on the
/// OpenAI-compatible routes reads them) so that a client sees text before the job ends.
#[derive(Default)]
struct Partials {
    /// How many are stored: the index of `unsent[0]`.
    stored: i32,
    unsent: Vec<transcript::Segment>,
    /// A segment could not be encoded; storing more would leave a gap, so none are.
    broken: bool,
    /// The job's `timestamp_offset`: partials are stored as the result will be.
    offset: f64,
}

impl Partials {
    fn push(&mut self, mut segments: Vec<transcript::Segment>) {
        if !self.broken {
            segments.iter_mut().for_each(|s| s.shift(self.offset));
            self.unsent.extend(segments);
        }
    }

    fn has_unsent(&self) -> bool {
        !self.unsent.is_empty()
    }

    /// Appends the unsent segments. On a database error they stay unsent and go with the next
    /// write (appending is idempotent by index); a lost lease abandons the attempt.
    async fn write(&mut self, store: &JobStore, fence: &Fence) -> Result<(), Abandon> {
        if self.unsent.is_empty() {
            return Ok(());
        }
        let values: Result<Vec<serde_json::Value>, _> = self.unsent.iter().map(serde_json::to_value).collect();
        let values = match values {
            Ok(values) => values,
            Err(e) => {
                warn!(error = %e, "could not encode a finished segment; no more partial results for this attempt");
                self.broken = true;
                self.unsent.clear();
                return Ok(());
            }
        };
        match store.append_partials(fence, self.stored, &values).await {
            Ok(true) => {
                self.stored += values.len() as i32;
                self.unsent.clear();
                Ok(())
            }
            Ok(false) => Err(Abandon::LeaseLost),
            Err(e) => {
                // As with progress, the heartbeat decides whether the lease still holds.
                warn!(error = %e, "could not store finished segments; retrying with the next write");
                Ok(())
            }
        }
    }
}

async fn set_progress(store: &JobStore, fence: &Fence, stage: &str, progress: f32) -> Result<(), Abandon> {
    match store.set_progress(fence, stage, progress).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(Abandon::LeaseLost),
        Err(e) => {
            // A database hiccup: the heartbeat decides whether the lease still holds.
            warn!(error = %e, "could not record progress");
            Ok(())
        }
    }
}

/// A line in the job's log, written only while this attempt still holds the job.
async fn log(store: &JobStore, fence: &Fence, level: LogLevel, stage: Option<&str>, message: &str) {
    match store.log_fenced(fence, level, stage, &crate::redact::paths(message)).await {
        Ok(true) => {}
        Ok(false) => warn!(message, "log line dropped: this attempt no longer holds the job"),
        Err(e) => warn!(error = %e, "could not write a job log line"),
    }
}

/// Renews the lease every heartbeat; raises `cancel` when cancellation was requested (a backup
/// for the Redis channel) or when the lease is lost.
async fn heartbeat(
    store: JobStore,
    fence: Fence,
    queue: jobs::config::QueueSettings,
    cancel: Arc<AtomicBool>,
    lost: Arc<AtomicBool>,
) {
    let mut tick = tokio::time::interval(queue.heartbeat());
    tick.tick().await;
    loop {
        tick.tick().await;
        match store.renew_lease(&fence, queue.lease()).await {
            Ok(Some(cancel_requested)) => {
                if cancel_requested {
                    cancel.store(true, Ordering::Relaxed);
                }
            }
            Ok(None) => {
                lost.store(true, Ordering::Relaxed);
                cancel.store(true, Ordering::Relaxed);
                return;
            }
            Err(e) => warn!(error = %e, "lease renewal failed; retrying"),
        }
    }
}

async fn release(worker: &Worker, fence: &Fence) {
    match worker.store.release(fence).await {
        Ok(true) => {
            info!("handed the job back to the queue (shutting down)");
            let _ = worker.queue.dispatch(fence.job_id).await;
        }
        Ok(false) => {}
        Err(e) => warn!(error = %e, "could not hand the job back; the reaper will"),
    }
}
