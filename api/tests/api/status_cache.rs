//! Status reads come from the job cache: a worker's writes reach them through PostgreSQL
//! notifications, this process's own writes at once, and a lost listener serves nothing stale.
//! The cache's time-to-live is an hour here, so only invalidation can explain a fresh read.

use std::time::Duration;

use jobs::Outcome;
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{assert_error, spawn_app_with, TestApp};
use testkit::wait_until;

async fn spawn_cached_app() -> TestApp {
    let app = spawn_app_with(|s| s.api.status_cache_secs = 3600.0).await;
    listener(&app, None).await;
    app
}

/// The pid of the app's notification listener, once it listens (and is not `old`).
async fn listener(app: &TestApp, old: Option<i32>) -> i32 {
    wait_until(Duration::from_secs(10), "the app to listen for notifications", || async {
        let pids: Vec<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
        )
        .fetch_all(app.store.pool())
        .await
        .unwrap();
        pids.into_iter().find(|&pid| Some(pid) != old)
    })
    .await
}

/// A new job, read once so that the app has it in its cache.
async fn cached_job(app: &TestApp) -> Uuid {
    let id = app.submit().await;
    assert_eq!(app.job(id).await["status"], "queued");
    id
}

/// Writes made while this is off announce nothing, like a write that would bypass the trigger.
async fn trigger(app: &TestApp, on: bool) {
    let sql = format!("ALTER TABLE jobs {} TRIGGER jobs_changed", if on { "ENABLE" } else { "DISABLE" });
    sqlx::query(&sql).execute(app.store.pool()).await.unwrap();
}

/// Polls the status until `check` accepts it; a notification takes milliseconds.
async fn status_until(app: &TestApp, id: Uuid, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    wait_until(Duration::from_secs(5), what, || async {
        let job = app.job(id).await;
        check(&job).then_some(job)
    })
    .await
}

#[tokio::test]
async fn a_workers_writes_reach_status_reads_through_notifications() {
    let app = spawn_cached_app().await;
    let id = cached_job(&app).await;
    // The row is served from memory: a change that announces nothing is not seen.
    trigger(&app, false).await;
    sqlx::query("UPDATE jobs SET progress = 0.25 WHERE id = $1").bind(id).execute(app.store.pool()).await.unwrap();
    assert_eq!(app.job(id).await["progress"], 0.0, "served from the cache");
    trigger(&app, true).await;

    let fence = app.claim(id).await;
    status_until(&app, id, "running", |j| j["status"] == "running").await;
    assert!(app.store.set_progress(&fence, "transcribe", 0.5).await.unwrap());
    status_until(&app, id, "progress", |j| j["progress"] == 0.5 && j["stage"] == "transcribe").await;
    let outcome = Outcome::Failed { code: "decode_failed".into(), message: "no audio".into() };
    assert!(app.store.finish(&fence, &outcome, "failed").await.unwrap());
    status_until(&app, id, "failed", |j| j["status"] == "failed").await;
    app.store.delete(id).await.unwrap();
    wait_until(Duration::from_secs(5), "the deletion", || async {
        (app.get(&format!("/v1/jobs/{id}")).await.status() == StatusCode::NOT_FOUND).then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_next_read_after_a_cancel_or_delete_shows_it() {
    let app = spawn_cached_app().await;
    let (a, b) = (cached_job(&app).await, cached_job(&app).await);
    // Without notifications only the app's own invalidation can make these visible.
    trigger(&app, false).await;
    let response = app.client.post(app.url(&format!("/v1/jobs/{a}/cancel"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.job(a).await["status"], "canceled");
    let response = app.client.delete(app.url(&format!("/v1/jobs/{b}"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_error(app.get(&format!("/v1/jobs/{b}")).await, StatusCode::NOT_FOUND, "job_not_found").await;
}

#[tokio::test]
async fn a_lost_listener_serves_nothing_stale_and_comes_back() {
    let app = spawn_cached_app().await;
    let id = cached_job(&app).await;
    trigger(&app, false).await;
    let fence = app.claim(id).await;
    assert_eq!(app.job(id).await["status"], "queued", "served from the cache");
    trigger(&app, true).await;

    let old = listener(&app, None).await;
    sqlx::query("SELECT pg_terminate_backend($1)").bind(old).execute(app.store.pool()).await.unwrap();
    // Bypassed while down, emptied when back: the write it never heard of shows.
    status_until(&app, id, "running after the listener was lost", |j| j["status"] == "running").await;
    listener(&app, Some(old)).await;
    assert!(app.store.set_progress(&fence, "decode", 0.75).await.unwrap());
    status_until(&app, id, "progress after reconnecting", |j| j["progress"] == 0.75).await;
}
