//! An OpenAI-style request whose client goes away cancels its job; one that was answered (even
//! with a timeout) does not.

use std::time::Duration;

use jobs::JobStatus;
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use uuid::Uuid;

use crate::helpers::{spawn_app, spawn_app_with, TestApp};

fn form(stream: bool) -> Form {
    Form::new()
        .part("file", Part::bytes(vec![1u8; 2000]).file_name("talk.wav"))
        .text("model", "whisper-1")
        .text("stream", stream.to_string())
}

/// Starts a request in a task; returns the task and the id of its job once queued.
async fn start(app: &TestApp, stream: bool) -> (tokio::task::JoinHandle<()>, Uuid) {
    let (client, url) = (reqwest::Client::new(), app.url("/v1/audio/transcriptions"));
    let request = tokio::spawn(async move {
        let response = client.post(url).multipart(form(stream)).send().await;
        // Only the stream answers before its job ends (its first event); read on until dropped.
        if let Ok(response) = response {
            let _ = response.bytes().await;
        }
    });
    let store = app.store.clone();
    let id = testkit::wait_until(Duration::from_secs(10), "the request's job", || {
        let store = store.clone();
        async move {
            sqlx::query_scalar("SELECT id FROM jobs WHERE status = 'queued'")
                .fetch_optional(store.pool())
                .await
                .unwrap()
        }
    })
    .await;
    (request, id)
}

async fn wait_canceled(app: &TestApp, id: Uuid) {
    testkit::wait_until(Duration::from_secs(10), "the job to be canceled", || async {
        let job = app.store.get(id).await.unwrap().unwrap();
        (job.status() == JobStatus::Canceled).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_client_that_goes_away_while_waiting_cancels_its_job() {
    let app = spawn_app().await;
    let (request, id) = start(&app, false).await;
    request.abort();
    wait_canceled(&app, id).await;
}

#[tokio::test]
async fn a_client_that_goes_away_mid_stream_cancels_its_job() {
    let app = spawn_app().await;
    let (request, id) = start(&app, true).await;
    // A running job is asked to stop, as `cancelJob` asks it.
    app.claim(id).await;
    request.abort();
    testkit::wait_until(Duration::from_secs(10), "the cancellation to be requested", || async {
        app.store.get(id).await.unwrap().unwrap().cancel_requested.then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_answered_request_leaves_its_job_alone() {
    let app = spawn_app_with(|s| s.openai.wait_secs = 0.3).await;
    let response = app.client.post(app.url("/v1/audio/transcriptions")).multipart(form(false)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    drop(response);
    let id: Uuid = sqlx::query_scalar("SELECT id FROM jobs").fetch_one(app.store.pool()).await.unwrap();
    // The guard is disarmed before the answer leaves, so nothing can cancel the job after it.
    assert_eq!(app.store.get(id).await.unwrap().unwrap().status(), JobStatus::Queued);
}
