//! Workers, health, readiness, documentation and the error shape of unknown routes.

use std::time::Duration;

use jobs::WorkerInfo;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, spawn_app_with, test_settings, TcpProxy};
use testkit::wait_until;

#[tokio::test]
async fn workers_and_queue_counts() {
    let app = spawn_app().await;
    let body: Value = app.get("/v1/workers").await.json().await.unwrap();
    assert_eq!(body, json!({"workers": [], "queue": {"queued": 0, "running": 0}}));

    let a = app.submit().await;
    app.submit().await;
    app.claim(a).await;
    let worker = WorkerInfo {
        id: "gpu-1".into(),
        hostname: "box".into(),
        device: "cuda:0".into(),
        version: "0.1.0".into(),
        started_at: chrono::Utc::now(),
        heartbeat_at: chrono::Utc::now(),
        current_job: Some(a),
        loaded_models: vec!["tiny.en".into()],
    };
    app.store.worker_heartbeat(&worker).await.unwrap();
    let body: Value = app.get("/v1/workers").await.json().await.unwrap();
    assert_eq!(body["queue"], json!({"queued": 1, "running": 1}));
    let workers = body["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 1);
    assert_eq!((workers[0]["id"].as_str(), workers[0]["device"].as_str()), (Some("gpu-1"), Some("cuda:0")));
    assert_eq!(workers[0]["current_job"], a.to_string());
}

#[tokio::test]
async fn health_and_ready() {
    let app = spawn_app().await;
    for path in ["/health", "/ready"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.json::<Value>().await.unwrap(), json!({"status": "ok"}));
    }
}

#[tokio::test]
async fn ready_fails_when_redis_becomes_unreachable() {
    let proxy = TcpProxy::start("127.0.0.1:6379").await;
    let app = spawn_app_with(|s| s.redis.url = format!("redis://127.0.0.1:{}", proxy.port)).await;
    assert_eq!(app.get("/ready").await.status(), StatusCode::OK);
    proxy.cut();
    let response = wait_until(Duration::from_secs(15), "/ready to fail", || async {
        let response = app.get("/ready").await;
        (response.status() != StatusCode::OK).then_some(response)
    })
    .await;
    let message = assert_error(response, StatusCode::SERVICE_UNAVAILABLE, "not_ready").await;
    assert_eq!(message, "not ready: redis unreachable");
    assert_eq!(app.get("/health").await.status(), StatusCode::OK, "alive all the same");
    // Submissions still succeed: the job waits in PostgreSQL for the reconciler.
    assert_eq!(app.post_json(&json!({"path": app.input_file("a.wav")})).await.status(), StatusCode::ACCEPTED);
}

/// A PostgreSQL that goes away answers `503 database_unavailable` with `Retry-After` within two
/// seconds on every route that needs it (not a hang and a 500), and the service recovers by
/// itself when it is back.
#[tokio::test]
async fn database_outage_answers_503_quickly_and_recovers() {
    let proxy = TcpProxy::start("127.0.0.1:5432").await;
    let app = spawn_app_with(|s| s.database.url = s.database.url.replace(":5432/", &format!(":{}/", proxy.port))).await;
    let id = app.submit().await;
    assert_eq!(app.get(&format!("/v1/jobs/{id}")).await.status(), StatusCode::OK);
    proxy.cut();
    let path = app.input_file("b.wav");
    for request in [
        app.client.post(app.url("/v1/jobs")).json(&json!({"path": path})),
        app.client.get(app.url(&format!("/v1/jobs/{id}"))),
        app.client.get(app.url("/v1/jobs")),
        app.client.get(app.url(&format!("/v1/jobs/{id}/logs"))),
    ] {
        let started = std::time::Instant::now();
        let response = request.send().await.unwrap();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "answered after {took:?}");
        assert_eq!(response.headers()["retry-after"], "5");
        assert_error(response, StatusCode::SERVICE_UNAVAILABLE, "database_unavailable").await;
    }
    proxy.restore();
    wait_until(Duration::from_secs(15), "submissions to succeed again", || async {
        let response = app.post_json(&json!({"path": path})).await;
        (response.status() == StatusCode::ACCEPTED).then_some(())
    })
    .await;
    assert_eq!(app.get(&format!("/v1/jobs/{id}")).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn start_up_fails_clearly_without_redis() {
    let storage = tempfile::TempDir::new().unwrap();
    let root = tempfile::TempDir::new().unwrap();
    let (mut settings, _backends) = test_settings(storage.path(), root.path());
    settings.redis.url = "redis://127.0.0.1:1".into();
    let error = api::Application::build(settings).await.err().expect("no Redis, no start");
    assert!(format!("{error:#}").contains("Redis"), "{error:#}");
}

/// `/docs` answers the page itself, not a redirect, and its relative links still reach the
/// files under `/docs/`.
#[tokio::test]
async fn docs_without_a_slash_serves_the_page() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let docs = client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = docs.text().await.unwrap();
    assert!(html.contains("swagger"), "{html}");
    assert!(html.contains(r#"<base href="/docs/">"#), "{html}");
    for asset in ["swagger-ui.css", "swagger-ui-bundle.js", "swagger-initializer.js"] {
        assert!(html.contains(&format!("./{asset}")), "{asset} in {html}");
        let file = client.get(app.url(&format!("/docs/{asset}"))).send().await.unwrap();
        assert_eq!(file.status(), StatusCode::OK, "{asset}");
    }
    assert_eq!(client.post(app.url("/docs")).send().await.unwrap().status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn docs_and_spec_are_served() {
    let app = spawn_app().await;
    let docs = app.get("/docs/").await;
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger"));
    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    let mut operations: Vec<&str> = spec["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    operations.sort();
    assert_eq!(
        operations,
        [
            "cancelBatch",
            "cancelJob",
            "collectWorkerModels",
            "createTranscription",
            "createTranslation",
            "deleteBatch",
            "deleteJob",
            "drainWorker",
            "getBatch",
            "getConfig",
            "getConfigOptions",
            "getJobEvents",
            "getJobEventsWs",
            "getJobResult",
            "getJobStatus",
            "getJobs",
            "getLogs",
            "getModels",
            "getServerStatus",
            "health",
            "metrics",
            "ready",
            "restartWorker",
            "setConfig",
            "submitBatch",
            "submitJob"
        ]
    );
    let body = &spec["paths"]["/v1/jobs"]["post"]["requestBody"]["content"];
    assert!(body["application/json"].is_object() && body["multipart/form-data"].is_object());
}

#[test]
fn committed_openapi_spec_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = api::openapi::spec_json();
    assert!(
        committed == generated,
        "openapi/openapi.json is out of date with the code; regenerate it with\n    cargo run -p api -- openapi > openapi/openapi.json"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let app = spawn_app().await;
    assert_error(app.get("/v2/nothing").await, StatusCode::NOT_FOUND, "not_found").await;
    let put = app.client.put(app.url("/v1/jobs")).send().await.unwrap();
    assert_eq!(put.headers()["allow"], "GET, POST");
    assert_error(put, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    let id = uuid::Uuid::now_v7();
    let post = app.client.post(app.url(&format!("/v1/jobs/{id}"))).send().await.unwrap();
    assert_eq!(post.headers()["allow"], "GET, DELETE");
    assert_error(post, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    let post = app.client.post(app.url("/health")).send().await.unwrap();
    assert_eq!(post.headers()["allow"], "GET");
    assert_error(post, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    let get = app.client.get(app.url("/v1/audio/transcriptions")).send().await.unwrap();
    assert_eq!((get.status(), &get.headers()["allow"]), (StatusCode::METHOD_NOT_ALLOWED, &"POST".parse().unwrap()));
}

/// Request heads that actix-http refuses before any routing (an over-long target, an over-large
/// head, too many headers) still answer in the error shape, and close the connection.
#[tokio::test]
async fn refused_request_heads_answer_in_the_error_shape() {
    let app = spawn_app().await;
    let get = |target: String, headers: String| format!("GET {target} HTTP/1.1\r\nhost: x\r\n{headers}\r\n");
    let cases = [
        (get(format!("/v1/jobs?x={}", "a".repeat(100_000)), String::new()), 414, "uri_too_long"),
        (get(format!("/v1/jobs?{}", "status=queued&".repeat(5_000)), String::new()), 414, "uri_too_long"),
        (get(format!("/v1/jobs?x={}", "a".repeat(1_000_000)), String::new()), 431, "headers_too_large"),
        (get("/v1/jobs".into(), (0..200).map(|i| format!("x-h{i}: v\r\n")).collect()), 431, "headers_too_large"),
        (get("/v1/jobs".into(), "bad header: v\r\n".into()), 400, "malformed_request"),
    ];
    for (request, status, code) in cases {
        let (head, body) = raw_exchange(&app, request.into_bytes()).await;
        assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{code}: {head}");
        for header in ["content-type: application/json", "connection: close"] {
            assert!(head.contains(header), "{code}: {head}");
        }
        let body: Value = serde_json::from_str(&body).unwrap_or_else(|err| panic!("{code}: {err}: {body:?}"));
        assert_eq!(body["error"]["code"], code);
        assert_eq!(body["error"]["type"], "invalid_request");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(app.get("/v1/workers").await.status(), StatusCode::OK);
}

/// A request head that does not arrive in time is answered in the error shape too.
#[tokio::test]
async fn a_request_head_that_never_ends_times_out_in_the_error_shape() {
    let app = spawn_app().await;
    let (head, body) = raw_exchange(&app, b"GET /v1/jobs HTTP/1.1\r\nhost: x\r\n".to_vec()).await;
    assert!(head.starts_with("HTTP/1.1 408 ") && head.contains("content-type: application/json"), "{head}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "request_timeout");
}

/// Sends `request` on a new connection (writing while reading: the server stops reading a head it
/// refuses) and returns the answer's head and body, read until the server closes.
async fn raw_exchange(app: &crate::helpers::TestApp, request: Vec<u8>) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://")).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    // The task keeps the writing half, so the connection is not half-closed after the request.
    let write = tokio::spawn(async move {
        let _ = writer.write_all(&request).await;
        writer
    });
    let mut answer = Vec::new();
    let mut chunk = [0; 8192];
    // A reset after the answer (the server closed with part of the request unread) ends it too.
    while let Ok(n @ 1..) = tokio::time::timeout(Duration::from_secs(10), reader.read(&mut chunk)).await.unwrap() {
        answer.extend_from_slice(&chunk[..n]);
    }
    write.abort();
    let answer = String::from_utf8(answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (head.to_owned(), body.to_owned())
}
