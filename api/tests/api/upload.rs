//! `POST /v1/jobs` with multipart uploads: streamed to storage, nothing kept when refused.

use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};

use futures_util::StreamExt;

use crate::helpers::{assert_error, spawn_app, TestApp};
use testkit::wait_until;

fn audio(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn form_with(data: Vec<u8>) -> Form {
    Form::new().part("file", Part::bytes(data).file_name("../meeting.wav").mime_str("audio/wav").unwrap())
}

async fn upload(app: &TestApp, form: Form) -> reqwest::Response {
    app.client.post(app.url("/v1/jobs")).multipart(form).send().await.unwrap()
}

#[tokio::test]
async fn an_upload_with_form_field_options_is_stored_and_queued() {
    let app = spawn_app().await;
    let data = audio(300_000);
    let form = form_with(data.clone())
        .text("language", "en")
        .text("allowed_languages", "en, de")
        .text("allowed_languages", "fr")
        .text("diarize", "true")
        .text("min_speakers", "1")
        .text("max_speakers", "3")
        .text("task", "transcribe")
        .text("initial_prompt", "Acme, Zoë");
    let response = upload(&app, form).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.unwrap();
    let id = body["id"].as_str().unwrap();
    let job = app.job(id.parse().unwrap()).await;
    assert_eq!(job["input"], json!({"type": "upload", "filename": "meeting.wav", "size_bytes": 300_000}));
    assert_eq!(
        job["options"],
        json!({"preset": "BALANCED", "language": "en", "allowed_languages": ["en", "de", "fr"], "task": "transcribe",
               "diarize": true, "min_speakers": 1, "max_speakers": 3, "initial_prompt": "Acme, Zoë"})
    );
    assert_eq!(app.stored_files(), vec![format!("{id}.audio")], "final name, no partial left");
    assert_eq!(std::fs::read(app.storage_dir.path().join(format!("{id}.audio"))).unwrap(), data);
}

#[tokio::test]
async fn options_can_come_as_one_json_field() {
    let app = spawn_app().await;
    let form = form_with(audio(1000)).text("options", r#"{"language": "de", "word_timestamps": true}"#);
    let response = upload(&app, form).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(app.job(id).await["options"], json!({"preset": "BALANCED", "language": "de", "word_timestamps": true}));

    let both = form_with(audio(1000)).text("options", r#"{"language": "de"}"#).text("diarize", "true");
    assert_error(upload(&app, both).await, StatusCode::BAD_REQUEST, "invalid_body").await;
    let unknown = form_with(audio(1000)).text("options", r#"{"colour": "red"}"#);
    assert!(assert_error(upload(&app, unknown).await, StatusCode::BAD_REQUEST, "invalid_body")
        .await
        .contains("colour"));
    assert_eq!(app.stored_files().len(), 1, "only the accepted upload is kept");
}

#[tokio::test]
async fn an_upload_over_the_limit_is_413_and_leaves_nothing() {
    let app = spawn_app().await;
    // Just over 1 MiB: streamed until the limit is crossed.
    let response = upload(&app, form_with(audio(1024 * 1024 + 10))).await;
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "upload_too_large").await;
    assert!(app.stored_files().is_empty(), "{:?}", app.stored_files());
    // Far over: refused from Content-Length before reading.
    let response = upload(&app, form_with(audio(3 * 1024 * 1024))).await;
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "upload_too_large").await;
    assert!(app.stored_files().is_empty());
    // Exactly the limit is fine.
    assert_eq!(upload(&app, form_with(audio(1024 * 1024))).await.status(), StatusCode::ACCEPTED);
    assert_eq!(app.count_jobs().await, 1);
}

#[tokio::test]
async fn a_chunked_upload_over_the_limit_is_413() {
    let app = spawn_app().await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..40).map(|_| Ok(audio(64 * 1024))).collect();
    let part = Part::stream(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))).file_name("big.wav");
    let response = app.client.post(app.url("/v1/jobs")).multipart(Form::new().part("file", part)).send().await;
    // The server stops reading at the limit and answers at once.
    assert_error(response.unwrap(), StatusCode::PAYLOAD_TOO_LARGE, "upload_too_large").await;
    assert!(app.stored_files().is_empty(), "{:?}", app.stored_files());
    assert_eq!(app.count_jobs().await, 0);
}

#[tokio::test]
async fn refused_uploads_keep_no_file() {
    let app = spawn_app().await;
    assert_error(upload(&app, form_with(vec![])).await, StatusCode::BAD_REQUEST, "empty_upload").await;
    assert_error(upload(&app, Form::new().text("language", "en")).await, StatusCode::BAD_REQUEST, "missing_file").await;
    let unknown = form_with(audio(100)).text("colour", "red");
    assert!(assert_error(upload(&app, unknown).await, StatusCode::BAD_REQUEST, "invalid_body")
        .await
        .contains("colour"));
    let bad_type = form_with(audio(100)).text("min_speakers", "two");
    assert!(assert_error(upload(&app, bad_type).await, StatusCode::BAD_REQUEST, "invalid_body").await.contains("two"));
    let bad_language = form_with(audio(100)).text("language", "xx");
    let message =
        assert_error(upload(&app, bad_language).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_option").await;
    assert!(message.starts_with("language"), "{message}");
    let options_first = Form::new().text("preset", "NOPE").part("file", Part::bytes(audio(100)).file_name("a.wav"));
    assert_error(upload(&app, options_first).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_option").await;
    let twice = form_with(audio(100)).part("file", Part::bytes(audio(100)).file_name("b.wav"));
    assert_error(upload(&app, twice).await, StatusCode::BAD_REQUEST, "invalid_body").await;
    let garbage = app
        .client
        .post(app.url("/v1/jobs"))
        .header("content-type", "multipart/form-data; boundary=xyz")
        .body("not multipart at all")
        .send()
        .await
        .unwrap();
    assert_error(garbage, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert!(app.stored_files().is_empty(), "{:?}", app.stored_files());
    assert_eq!(app.count_jobs().await, 0);
}

#[tokio::test]
async fn an_upload_replay_returns_the_first_job_and_keeps_one_file() {
    let app = spawn_app().await;
    let send = |data: Vec<u8>| {
        app.client.post(app.url("/v1/jobs")).header("Idempotency-Key", "upload-1").multipart(form_with(data)).send()
    };
    let first = send(audio(5000)).await.unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first: Value = first.json().await.unwrap();
    let again = send(audio(5000)).await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap()["id"], first["id"]);
    let mut changed = audio(5000);
    changed[10] ^= 1;
    assert_error(send(changed).await.unwrap(), StatusCode::CONFLICT, "idempotency_key_reused").await;
    assert_eq!(app.stored_files(), vec![format!("{}.audio", first["id"].as_str().unwrap())]);
    assert_eq!(app.count_jobs().await, 1);
}

#[tokio::test]
async fn deleting_an_upload_job_removes_its_audio() {
    let app = spawn_app().await;
    let response = upload(&app, form_with(audio(2000))).await;
    let id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    assert_eq!(app.stored_files().len(), 1);
    let response = app.client.delete(app.url(&format!("/v1/jobs/{id}"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(app.stored_files().is_empty());
    assert_error(app.get(&format!("/v1/jobs/{id}")).await, StatusCode::NOT_FOUND, "job_not_found").await;
}

#[tokio::test]
async fn an_upload_cut_off_midway_leaves_no_partial_file() {
    let app = spawn_app().await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(audio(64 * 1024)), Ok(audio(64 * 1024)), Err(std::io::Error::other("client gave up"))];
    let slow = futures_util::stream::iter(chunks).then(|chunk| async move {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        chunk
    });
    let part = Part::stream(reqwest::Body::wrap_stream(slow)).file_name("cut.wav");
    let response = app.client.post(app.url("/v1/jobs")).multipart(Form::new().part("file", part)).send().await;
    assert!(response.is_err(), "the client aborted the request");
    wait_until(std::time::Duration::from_secs(10), "the partial upload to be removed", || async {
        app.stored_files().is_empty().then_some(())
    })
    .await;
    assert_eq!(app.count_jobs().await, 0);
}
