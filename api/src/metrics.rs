//! Prometheus metrics of the api process, served at `GET /metrics` in the text format.
//!
//! - `http_request_duration_seconds{method,route,status}`: every request, by route pattern.
//! - `transcribe_jobs{state}`, `transcribe_queue_depth`, `transcribe_workers_live`: gauges
//!   refreshed every `metrics.refresh_secs` by a background task (one `GROUP BY` and one small
//!   query), never per scrape.
//! - `transcribe_job_duration_seconds{status}` (started to finished),
//!   `transcribe_job_queue_wait_seconds` (created to started),
//!   `transcribe_stage_duration_seconds{stage}` (the job's `stage_secs`: the time each stage was
//!   busy, as the worker measured around the stage's work; stages on different threads overlap,
//!   so a job's stages may add up to more than its duration),
//!   `transcribe_job_real_time_factor` (processing time over audio length, succeeded jobs) and
//!   `transcribe_audio_seconds_total`: histograms and counters fed by the same task, which reads
//!   the jobs that finished since its last pass. They count from this process's start, like any
//!   Prometheus counter; with several api processes, scrape one of them for these.

use std::time::Duration;

use chrono::{DateTime, Utc};
use jobs::store::FinishedJob;
use jobs::JobStore;
use prometheus::{
    Counter, Encoder, Histogram, HistogramOpts, HistogramVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use uuid::Uuid;

const DURATION_BUCKETS: &[f64] = &[1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 10800.0];
/// A short file's stages take milliseconds (fetch, decode), a long one's minutes.
const STAGE_BUCKETS: &[f64] =
    &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0];
const HTTP_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
const RTF_BUCKETS: &[f64] = &[0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0];
/// At most this many finished jobs are read per query while catching up.
const BATCH: i64 = 1000;

pub struct Metrics {
    registry: Registry,
    http: HistogramVec,
    jobs: IntGaugeVec,
    queue_depth: IntGauge,
    workers: IntGauge,
    job_duration: HistogramVec,
    queue_wait: Histogram,
    stage_duration: HistogramVec,
    real_time_factor: Histogram,
    audio_seconds: Counter,
    refreshed: IntGauge,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let histogram = |name: &str, help: &str, buckets: &[f64], labels: &[&str]| {
            let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets.to_vec()), labels).unwrap();
            registry.register(Box::new(h.clone())).unwrap();
            h
        };
        let http = histogram(
            "http_request_duration_seconds",
            "HTTP requests by method, route pattern and status",
            HTTP_BUCKETS,
            &["method", "route", "status"],
        );
        let job_duration = histogram(
            "transcribe_job_duration_seconds",
            "Processing time of finished jobs, from start to finish, by final status",
            DURATION_BUCKETS,
            &["status"],
        );
        let stage_duration = histogram(
            "transcribe_stage_duration_seconds",
            "Time each stage of finished jobs was busy (the jobs' stage_secs); stages overlap",
            STAGE_BUCKETS,
            &["stage"],
        );
        let queue_wait = Histogram::with_opts(
            HistogramOpts::new("transcribe_job_queue_wait_seconds", "Time finished jobs waited before they started")
                .buckets(DURATION_BUCKETS.to_vec()),
        )
        .unwrap();
        let real_time_factor = Histogram::with_opts(
            HistogramOpts::new(
                "transcribe_job_real_time_factor",
                "Processing time over audio length of succeeded jobs (below 1: faster than real time)",
            )
            .buckets(RTF_BUCKETS.to_vec()),
        )
        .unwrap();
        let jobs = IntGaugeVec::new(Opts::new("transcribe_jobs", "Jobs by state"), &["state"]).unwrap();
        let queue_depth = IntGauge::new("transcribe_queue_depth", "Jobs waiting for a worker").unwrap();
        let workers = IntGauge::new("transcribe_workers_live", "Workers whose heartbeat is recent").unwrap();
        let audio_seconds =
            Counter::new("transcribe_audio_seconds_total", "Seconds of audio in succeeded jobs").unwrap();
        let refreshed = IntGauge::new(
            "transcribe_metrics_refreshed_timestamp_seconds",
            "When the job and worker gauges were last read from PostgreSQL (Unix time)",
        )
        .unwrap();
        for collector in [
            Box::new(queue_wait.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(real_time_factor.clone()),
            Box::new(jobs.clone()),
            Box::new(queue_depth.clone()),
            Box::new(workers.clone()),
            Box::new(audio_seconds.clone()),
            Box::new(refreshed.clone()),
        ] {
            registry.register(collector).unwrap();
        }
        for state in jobs::JobStatus::ALL {
            jobs.with_label_values(&[state.as_str()]).set(0);
        }
        Self {
            registry,
            http,
            jobs,
            queue_depth,
            workers,
            job_duration,
            queue_wait,
            stage_duration,
            real_time_factor,
            audio_seconds,
            refreshed,
        }
    }

    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.http.with_label_values(&[method, route, &status.to_string()]).observe(seconds);
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("metrics encode");
        String::from_utf8(out).expect("the text format is UTF-8")
    }

    fn observe_finished(&self, job: &FinishedJob) {
        let processing = job.started_at.map(|start| seconds(start, job.finished_at));
        if let Some(secs) = processing {
            self.job_duration.with_label_values(&[&job.status]).observe(secs);
        }
        if let Some(start) = job.started_at {
            self.queue_wait.observe(seconds(job.created_at, start));
        }
        for (stage, secs) in job.stage_secs.iter().flatten() {
            self.stage_duration.with_label_values(&[stage]).observe(*secs);
        }
        if job.status == "succeeded" {
            if let (Some(secs), Some(audio)) = (processing, job.duration_secs.filter(|d| *d > 0.0)) {
                self.real_time_factor.observe(secs / audio);
                self.audio_seconds.inc_by(audio);
            }
        }
    }

    /// One pass: the gauges, then the jobs finished since `watermark`, which moves forward.
    pub async fn refresh(
        &self,
        store: &JobStore,
        worker_timeout: Duration,
        watermark: &mut (DateTime<Utc>, Uuid),
    ) -> jobs::store::Result<()> {
        let (counts, workers) = tokio::join!(store.state_counts(), store.live_workers(worker_timeout));
        let counts = counts?;
        for state in jobs::JobStatus::ALL {
            let n = counts.iter().find(|(s, _)| s == state.as_str()).map_or(0, |(_, n)| *n);
            self.jobs.with_label_values(&[state.as_str()]).set(n);
            if state == jobs::JobStatus::Queued {
                self.queue_depth.set(n);
            }
        }
        self.workers.set(workers?.len() as i64);
        loop {
            let finished = store.finished_since(*watermark, BATCH).await?;
            for job in &finished {
                self.observe_finished(job);
                *watermark = (job.finished_at, job.id);
            }
            if (finished.len() as i64) < BATCH {
                break;
            }
        }
        self.refreshed.set(Utc::now().timestamp());
        Ok(())
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    ((to - from).num_milliseconds().max(0) as f64) / 1000.0
}

/// Refreshes `metrics` forever at `every`; histograms start with the jobs that finish after
/// this task starts.
pub async fn run(metrics: std::sync::Arc<Metrics>, store: JobStore, every: Duration, worker_timeout: Duration) {
    let mut watermark = loop {
        match store.now().await {
            Ok(now) => break (now, Uuid::nil()),
            Err(e) => {
                tracing::warn!(error = %e, "metrics: cannot read the database clock; retrying");
                tokio::time::sleep(every).await;
            }
        }
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = metrics.refresh(&store, worker_timeout, &mut watermark).await {
            tracing::warn!(error = %e, "metrics refresh failed");
        }
    }
}
