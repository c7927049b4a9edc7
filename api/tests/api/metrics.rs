//! `GET /metrics`: request histograms, job and worker gauges, job and stage durations.

use std::collections::BTreeMap;
use std::time::Duration;

use jobs::{Outcome, WorkerInfo};
use reqwest::StatusCode;

use crate::helpers::{sample_transcript, spawn_app_with, TestApp};
use testkit::wait_until;

async fn scrape(app: &TestApp) -> String {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    response.text().await.unwrap()
}

/// The value of a sample line, e.g. `transcribe_jobs{state="queued"}`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test]
async fn metrics_show_requests_jobs_workers_and_durations() {
    let app = spawn_app_with(|s| s.metrics.refresh_secs = 0.1).await;
    let app = &app;
    wait_until(Duration::from_secs(10), "a first refresh", || async move {
        sample(&scrape(app).await, "transcribe_metrics_refreshed_timestamp_seconds").filter(|t| *t > 0.0)
    })
    .await;
    let text = scrape(app).await;
    assert_eq!(sample(&text, r#"transcribe_jobs{state="failed"}"#), Some(0.0), "every state, even when empty");
    assert!(text.contains("# TYPE transcribe_job_queue_wait_seconds histogram"), "{text}");

    let (_queued, running, done) = (app.submit().await, app.submit().await, app.submit().await);
    app.claim(running).await;
    let fence = app.claim(done).await;
    let stages = BTreeMap::from([("fetch".to_string(), 0.5), ("transcribe".to_string(), 2.0)]);
    assert!(app.store.set_stage_secs(&fence, &stages).await.unwrap());
    let outcome =
        Outcome::Succeeded { result: serde_json::to_value(sample_transcript()).unwrap(), duration_secs: 10.0 };
    assert!(app.store.finish(&fence, &outcome, "done").await.unwrap());
    let worker = WorkerInfo {
        id: "w-1".into(),
        hostname: "box".into(),
        device: "cpu".into(),
        version: "0.1.0".into(),
        started_at: chrono::Utc::now(),
        heartbeat_at: chrono::Utc::now(),
        current_job: Some(running),
        loaded_models: vec![],
    };
    app.store.worker_heartbeat(&worker).await.unwrap();
    assert_eq!(app.get(&format!("/v1/jobs/{}", uuid::Uuid::now_v7())).await.status(), StatusCode::NOT_FOUND);

    let text = wait_until(Duration::from_secs(10), "the finished job in the histograms", || async move {
        let text = scrape(app).await;
        sample(&text, "transcribe_job_real_time_factor_count").filter(|n| *n == 1.0).map(|_| text)
    })
    .await;
    let expected = [
        (r#"transcribe_jobs{state="queued"}"#, 1.0),
        (r#"transcribe_jobs{state="running"}"#, 1.0),
        (r#"transcribe_jobs{state="succeeded"}"#, 1.0),
        ("transcribe_queue_depth", 1.0),
        ("transcribe_workers_live", 1.0),
        (r#"transcribe_job_duration_seconds_count{status="succeeded"}"#, 1.0),
        ("transcribe_job_queue_wait_seconds_count", 1.0),
        (r#"transcribe_stage_duration_seconds_count{stage="transcribe"}"#, 1.0),
        (r#"transcribe_stage_duration_seconds_sum{stage="transcribe"}"#, 2.0),
        (r#"transcribe_stage_duration_seconds_sum{stage="fetch"}"#, 0.5),
        ("transcribe_audio_seconds_total", 10.0),
        (r#"http_request_duration_seconds_count{method="POST",route="/v1/jobs",status="202"}"#, 3.0),
        (r#"http_request_duration_seconds_count{method="GET",route="/v1/jobs/{id}",status="404"}"#, 1.0),
    ];
    for (series, value) in expected {
        assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
    }
    assert!(sample(&text, "transcribe_job_real_time_factor_sum").unwrap() < 1.0, "ms of work for 10 s of audio");

    // Counted once: later passes read on from their watermark.
    let refreshed = |text: &str| sample(text, "transcribe_metrics_refreshed_timestamp_seconds").unwrap();
    let seen = refreshed(&text);
    let text = wait_until(Duration::from_secs(10), "a later refresh", || async move {
        let text = scrape(app).await;
        (refreshed(&text) > seen).then_some(text)
    })
    .await;
    assert_eq!(sample(&text, "transcribe_job_real_time_factor_count"), Some(1.0));
}

#[tokio::test]
async fn metrics_stay_open_when_keys_exist() {
    let app = spawn_app_with(|_| {}).await;
    app.create_key("someone", false, None).await;
    assert_eq!(app.get("/v1/jobs").await.status(), StatusCode::UNAUTHORIZED);
    assert!(scrape(&app).await.contains("transcribe_queue_depth"));
    let text = scrape(&app).await;
    assert_eq!(
        sample(&text, r#"http_request_duration_seconds_count{method="GET",route="/v1/jobs",status="401"}"#),
        Some(1.0),
        "{text}"
    );
}
