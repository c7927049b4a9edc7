//! `jobs.max_queued_total`: a limit on the jobs queued in the whole service, whoever submits.

use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{assert_error, spawn_app_with};

#[tokio::test]
async fn submissions_over_the_service_wide_limit_get_503_queue_full_with_retry_after() {
    let app = spawn_app_with(|s| {
        s.jobs.max_queued_total = 2;
        s.jobs.queue_full_retry_secs = 7;
    })
    .await;
    let body = json!({"path": app.input_file("a.wav")});
    let keyed =
        |key: &'static str| app.client.post(app.url("/v1/jobs")).header("Idempotency-Key", key).json(&body).send();
    let first = keyed("first").await.unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first: Uuid = first.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
    app.submit().await;

    let refused = app.post_json(&body).await;
    assert_eq!(refused.headers()["retry-after"], "7");
    let message = assert_error(refused, StatusCode::SERVICE_UNAVAILABLE, "queue_full").await;
    assert!(message.contains('2'), "{message}");
    let form = Form::new().part("file", Part::bytes(vec![1u8; 1000]));
    let upload = app.client.post(app.url("/v1/jobs")).multipart(form).send().await.unwrap();
    assert_error(upload, StatusCode::SERVICE_UNAVAILABLE, "queue_full").await;
    assert!(app.stored_files().is_empty(), "the refused upload is not kept");

    // The OpenAI routes refuse in OpenAI's shape, with the same header.
    let form = Form::new().part("file", Part::bytes(vec![1u8; 1000]).file_name("a.wav")).text("model", "whisper-1");
    let openai = app.client.post(app.url("/v1/audio/transcriptions")).multipart(form).send().await.unwrap();
    assert_eq!(openai.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(openai.headers()["retry-after"], "7");
    let error = openai.json::<Value>().await.unwrap()["error"].clone();
    assert_eq!((error["code"].as_str(), error["type"].as_str()), (Some("queue_full"), Some("server_error")));
    assert_eq!(app.count_jobs().await, 2);

    // A retry of an accepted submission gets its job; a job that starts frees a place.
    let replay = keyed("first").await.unwrap();
    assert_eq!(replay.status(), StatusCode::ACCEPTED);
    assert_eq!(replay.json::<Value>().await.unwrap()["id"], first.to_string());
    app.claim(first).await;
    app.submit().await;
    assert_error(app.post_json(&body).await, StatusCode::SERVICE_UNAVAILABLE, "queue_full").await;
}

#[tokio::test]
async fn concurrent_submissions_never_pass_the_limit() {
    let app = spawn_app_with(|s| s.jobs.max_queued_total = 5).await;
    let body = json!({"path": app.input_file("a.wav")});
    // Sent at once, so the enqueuer inserts them in batches: the limit holds within a batch too.
    let answers =
        futures_util::future::join_all((0..40).map(|_| app.client.post(app.url("/v1/jobs")).json(&body).send())).await;
    let mut statuses: Vec<u16> = answers.into_iter().map(|r| r.unwrap().status().as_u16()).collect();
    statuses.sort();
    assert_eq!(statuses.iter().filter(|&&s| s == 202).count(), 5, "{statuses:?}");
    assert!(statuses.iter().all(|&s| s == 202 || s == 503), "{statuses:?}");
    assert_eq!(app.count_jobs().await, 5);
}
