//! `drainWorker` and `restartWorker`, and the workers' state in `getServerStatus`.

use std::time::Duration;

use futures_util::StreamExt;
use jobs::store::Drain;
use jobs::WorkerInfo;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_error, spawn_app, TestApp};

fn worker(id: &str, current_job: Option<uuid::Uuid>) -> WorkerInfo {
    WorkerInfo {
        id: id.into(),
        hostname: "box".into(),
        device: "cuda:0".into(),
        version: "0.1.0".into(),
        started_at: chrono::Utc::now(),
        heartbeat_at: chrono::Utc::now(),
        current_job,
        loaded_models: vec![],
    }
}

async fn post(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.client.post(app.url(path)).bearer_auth(token).send().await.unwrap()
}

/// Each listed worker's state, by id.
async fn states(app: &TestApp, token: &str) -> Vec<(String, String)> {
    let body: Value = app.get_as("/v1/workers", token).await.json().await.unwrap();
    let workers = body["workers"].as_array().unwrap();
    workers.iter().map(|w| (w["id"].as_str().unwrap().into(), w["state"].as_str().unwrap().into())).collect()
}

#[tokio::test]
async fn an_admin_drains_and_restarts_workers_through_the_store_and_a_wake_up() {
    let app = spawn_app().await;
    let user = app.create_key("user", false, None).await;
    let admin = app.create_key("ops", true, None).await;
    let job = app.submit_as(&user).await;
    app.store.worker_heartbeat(&worker("gpu-1", Some(job))).await.unwrap();
    app.store.worker_heartbeat(&worker("gpu-2", None)).await.unwrap();
    let pair = |id: &str, state: &str| (id.to_string(), state.to_string());
    assert_eq!(states(&app, &admin).await, [pair("gpu-1", "busy"), pair("gpu-2", "idle")]);

    assert_error(post(&app, "/v1/workers/gpu-1/drain", &user).await, StatusCode::FORBIDDEN, "admin_required").await;
    assert_error(post(&app, "/v1/workers/nope/drain", &admin).await, StatusCode::NOT_FOUND, "worker_not_found").await;

    let mut wake_ups = app.queue.drain_requests().await.unwrap();
    let drained = post(&app, "/v1/workers/gpu-1/drain", &admin).await;
    assert_eq!(drained.status(), StatusCode::ACCEPTED);
    let drained: Value = drained.json().await.unwrap();
    assert_eq!((drained["id"].as_str(), drained["state"].as_str()), (Some("gpu-1"), Some("draining")));
    let heard = tokio::time::timeout(Duration::from_secs(5), wake_ups.next()).await.expect("a wake-up on Redis");
    assert_eq!(heard.as_deref(), Some("gpu-1"));
    // The store is the truth: the worker reads the request with its next heartbeat.
    let asked = app.store.worker_heartbeat(&worker("gpu-1", Some(job))).await.unwrap();
    assert_eq!(asked, Some(Drain::Exit));

    let restarted = post(&app, "/v1/workers/gpu-2/restart", &admin).await;
    assert_eq!(restarted.status(), StatusCode::ACCEPTED);
    assert_eq!(states(&app, &admin).await, [pair("gpu-1", "draining"), pair("gpu-2", "restarting")]);

    // A worker whose heartbeat stopped is not live: nothing to drain.
    sqlx::query("UPDATE workers SET heartbeat_at = now() - interval '1 hour' WHERE id = 'gpu-2'")
        .execute(app.store.pool())
        .await
        .unwrap();
    assert_error(post(&app, "/v1/workers/gpu-2/drain", &admin).await, StatusCode::NOT_FOUND, "worker_not_found").await;
}
