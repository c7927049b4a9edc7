//! `getJobStatus` of a queued job: its place in the queue and when it should start.

use std::time::Duration;

use chrono::{DateTime, Utc};
use jobs::{Outcome, WorkerInfo};
use serde_json::Value;

use crate::helpers::{sample_transcript, spawn_app_with, TestApp};

fn worker(id: &str) -> WorkerInfo {
    WorkerInfo {
        id: id.into(),
        hostname: "box".into(),
        device: "cpu".into(),
        version: "0.1.0".into(),
        started_at: Utc::now(),
        heartbeat_at: Utc::now(),
        current_job: None,
        loaded_models: vec![],
    }
}

fn wait_secs(job: &Value) -> f64 {
    job["estimated_wait_secs"].as_f64().unwrap_or_else(|| panic!("an estimate: {job}"))
}

/// Reads the job and checks that its start time agrees with its wait.
async fn queued(app: &TestApp, id: uuid::Uuid) -> Value {
    let job = app.job(id).await;
    if let Some(start) = job["estimated_start_at"].as_str() {
        let start: DateTime<Utc> = start.parse().unwrap();
        let from_now = (start - Utc::now()).num_milliseconds() as f64 / 1000.0;
        assert!((from_now - wait_secs(&job)).abs() < 1.0, "{job}");
    }
    job
}

#[tokio::test]
async fn a_queued_job_shows_its_place_and_its_expected_start() {
    // Long-lived status cache entries: the place must be right all the same.
    let app = spawn_app_with(|s| s.api.status_cache_secs = 60.0).await;
    // The recent past: one job that took 7 s for 3.5 s of audio, a real-time factor of 2.
    let done = app.submit().await;
    let outcome = Outcome::Succeeded { result: serde_json::to_value(sample_transcript()).unwrap(), duration_secs: 3.5 };
    app.finish(done, outcome).await;
    sqlx::query("UPDATE jobs SET started_at = finished_at - interval '7 seconds' WHERE id = $1")
        .bind(done)
        .execute(app.store.pool())
        .await
        .unwrap();
    let (a, b, c) = (app.submit().await, app.submit().await, app.submit().await);

    // No live worker: a place, but no estimate.
    let job = queued(&app, b).await;
    assert_eq!(job["queue_position"], 2);
    assert!(job["estimated_wait_secs"].is_null() && job["estimated_start_at"].is_null(), "{job}");
    assert!(app.job(done).await["queue_position"].is_null(), "only queued jobs have a place");

    // One worker: each job ahead is 2 x 3.5 s of work.
    app.store.worker_heartbeat(&worker("w1")).await.unwrap();
    for (id, place, wait) in [(a, 1, 0.0), (b, 2, 7.0), (c, 3, 14.0)] {
        let job = queued(&app, id).await;
        assert_eq!(job["queue_position"], place, "{job}");
        assert!((wait_secs(&job) - wait).abs() < 0.2, "{job}");
    }

    // `a` starts: `b` moves up (its own row did not change) and waits for what is left of `a`.
    app.claim(a).await;
    let job = queued(&app, b).await;
    assert_eq!(job["queue_position"], 1, "{job}");
    assert!((6.0..=7.1).contains(&wait_secs(&job)), "{job}");
    // Even from a status cache that has not heard yet that `a` started.
    assert!(app.job(a).await["queue_position"].is_null());

    // A second worker shares the work: (7 left of `a` + 7 for `b`) / 2.
    app.store.worker_heartbeat(&worker("w2")).await.unwrap();
    let job = queued(&app, c).await;
    assert_eq!(job["queue_position"], 2, "{job}");
    assert!((6.0..=7.1).contains(&wait_secs(&job)), "{job}");
    // A draining worker takes nothing more: it does not count.
    app.store.request_drain("w2", jobs::store::Drain::Exit, Duration::from_secs(30)).await.unwrap().unwrap();
    assert!((12.0..=14.1).contains(&wait_secs(&queued(&app, c).await)));
}
