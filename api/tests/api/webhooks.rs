//! Webhooks: `callback_url` checks at submission, signed deliveries with retries and backoff,
//! every attempt in the job's logs, giving up after the last attempt.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jobs::Outcome;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use crate::helpers::{assert_error, sample_transcript, spawn_app_with, TestApp};
use testkit::wait_until;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// An HTTP server answering the given statuses in turn (the last one from then on).
struct Receiver {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(statuses: &[u16]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let (log, statuses) = (received.clone(), statuses.to_vec());
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let Some(request) = read_request(&mut conn).await else { continue };
                let n = {
                    let mut log = log.lock().unwrap();
                    log.push(request);
                    log.len()
                };
                let status = statuses[(n - 1).min(statuses.len() - 1)];
                let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = conn.write_all(reply.as_bytes()).await;
            }
        });
        Self { port, received }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

async fn read_request(conn: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let headers: HashMap<String, String> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    while buf.len() < header_end + length {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(Received { headers, body: buf[header_end..].to_vec() })
}

/// Checks `Webhook-Signature: t=...,v1=...` against the secret, independently of the server.
fn verify(request: &Received, secret: &str) {
    use hmac::Mac;
    let timestamp = &request.headers["webhook-timestamp"];
    let signature = &request.headers["webhook-signature"];
    let (t, v1) = signature.split_once(',').unwrap();
    assert_eq!(t, format!("t={timestamp}"));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(&request.body);
    let expected = v1.strip_prefix("v1=").unwrap();
    mac.verify_slice(&hex::decode(expected).unwrap()).expect("the signature matches the body and secret");
    let age = chrono::Utc::now().timestamp() - timestamp.parse::<i64>().unwrap();
    assert!((0..60).contains(&age), "a fresh timestamp");
}

async fn webhook_app(secret: &str, max_attempts: u32) -> TestApp {
    let secret = secret.to_string();
    spawn_app_with(move |s| {
        s.inputs.allow_private_urls = true; // the receiver listens on 127.0.0.1
        s.webhooks.secret = secret;
        s.webhooks.max_attempts = max_attempts;
        s.webhooks.backoff_secs = 0.1;
        s.webhooks.poll_secs = 0.05;
        s.webhooks.timeout_secs = 5.0;
    })
    .await
}

async fn submit_with_callback(app: &TestApp, token: Option<&str>, url: &str) -> Uuid {
    let path = app.input_file("a.wav");
    let mut request = app.client.post(app.url("/v1/jobs")).json(&json!({"path": path, "callback_url": url}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    response.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_finished_job_is_posted_signed_with_retries_until_accepted() {
    let app = webhook_app("", 5).await;
    let token = app.create_key("hooks", false, None).await;
    let key = app.store.list_keys().await.unwrap().remove(0);
    let secret = app.store.webhook_secret(key.id).await.unwrap().unwrap();
    assert!(secret.starts_with("whsec_") && secret.len() > 60, "{secret}");

    let receiver = Receiver::start(&[500, 503, 200]).await;
    let id = submit_with_callback(&app, Some(&token), &receiver.url()).await;
    let job: Value = app.get_as(&format!("/v1/jobs/{id}"), &token).await.json().await.unwrap();
    assert_eq!(job["callback_url"], receiver.url());
    let outcome = Outcome::Succeeded { result: serde_json::to_value(sample_transcript()).unwrap(), duration_secs: 3.5 };
    app.finish(id, outcome).await;

    let store = &app.store;
    let delivery = wait_until(Duration::from_secs(20), "the delivery", || async move {
        let d = store.deliveries(id).await.unwrap().pop()?;
        (d.status != "pending").then_some(d)
    })
    .await;
    assert_eq!((delivery.status.as_str(), delivery.attempts), ("delivered", 3), "{delivery:?}");
    let received = receiver.received();
    assert_eq!(received.len(), 3);
    for request in &received {
        verify(request, &secret);
        assert_eq!(request.headers["content-type"], "application/json");
        assert_eq!(request.headers["webhook-id"], delivery.id.to_string());
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!((body["id"].as_str(), body["status"].as_str()), (Some(id.to_string().as_str()), Some("succeeded")));
        assert_eq!(body["duration"], 3.5);
    }

    // The delivery's state is written before its log line.
    wait_until(Duration::from_secs(5), "the delivered log line", || async move {
        let logs = store.logs(id, 0, 100).await.unwrap();
        logs.iter().any(|l| l.message.starts_with("webhook delivered")).then_some(())
    })
    .await;
    let logs: Value = app.get_as(&format!("/v1/jobs/{id}/logs"), &token).await.json().await.unwrap();
    let lines: Vec<&str> = logs["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["stage"] == "webhook")
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].contains("attempt 1: HTTP 500; retrying in 0.1 s"), "{}", lines[0]);
    assert!(lines[1].contains("attempt 2: HTTP 503; retrying in 0.2 s"), "{}", lines[1]);
    assert!(lines[2].contains("delivered") && lines[2].contains("attempt 3: HTTP 200"), "{}", lines[2]);
}

#[tokio::test]
async fn delivery_gives_up_after_the_last_attempt_and_covers_cancellation() {
    let app = webhook_app("whsec_server", 2).await;
    let receiver = Receiver::start(&[500]).await;
    let id = submit_with_callback(&app, None, &receiver.url()).await;
    let cancel = app.client.post(app.url(&format!("/v1/jobs/{id}/cancel"))).send().await.unwrap();
    assert_eq!(cancel.status(), StatusCode::OK);

    let store = &app.store;
    let delivery = wait_until(Duration::from_secs(20), "the delivery to give up", || async move {
        let d = store.deliveries(id).await.unwrap().pop()?;
        (d.status != "pending").then_some(d)
    })
    .await;
    assert_eq!((delivery.status.as_str(), delivery.attempts), ("failed", 2));
    assert_eq!(delivery.last_error.as_deref(), Some("HTTP 500"));
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    verify(&received[0], "whsec_server"); // open mode: the server's secret
    assert_eq!(serde_json::from_slice::<Value>(&received[0].body).unwrap()["status"], "canceled");
    // The delivery's state is written before its log line.
    wait_until(Duration::from_secs(5), "the giving-up log line", || async move {
        let logs = store.logs(id, 0, 100).await.unwrap();
        logs.iter().any(|l| l.message.ends_with("failed on attempt 2: HTTP 500; giving up")).then_some(())
    })
    .await;

    // A job without a callback queues nothing.
    let plain = app.submit().await;
    app.finish(plain, Outcome::Canceled).await;
    assert!(app.store.deliveries(plain).await.unwrap().is_empty());
}

#[tokio::test]
async fn callback_urls_are_checked_at_submission() {
    let app = spawn_app_with(|s| s.webhooks.secret = "whsec_server".into()).await;
    let path = app.input_file("a.wav");
    for (url, status, code) in [
        ("not a url", StatusCode::BAD_REQUEST, "invalid_callback_url"),
        ("ftp://example.com/hook", StatusCode::UNPROCESSABLE_ENTITY, "callback_url_not_allowed"),
        ("http://127.0.0.1:9/hook", StatusCode::UNPROCESSABLE_ENTITY, "callback_url_not_allowed"),
        ("http://169.254.169.254/latest", StatusCode::UNPROCESSABLE_ENTITY, "callback_url_not_allowed"),
        ("http://localhost/hook", StatusCode::UNPROCESSABLE_ENTITY, "callback_url_not_allowed"),
    ] {
        let response = app.post_json(&json!({"path": path, "callback_url": url})).await;
        let message = assert_error(response, status, code).await;
        assert!(message.starts_with("callback_url: "), "{message}");
    }
    // In a form too.
    let form = reqwest::multipart::Form::new()
        .text("callback_url", "http://10.0.0.1/hook")
        .part("file", reqwest::multipart::Part::bytes(vec![1u8; 100]));
    let upload = app.client.post(app.url("/v1/jobs")).multipart(form).send().await.unwrap();
    assert_error(upload, StatusCode::UNPROCESSABLE_ENTITY, "callback_url_not_allowed").await;
    assert_eq!(app.count_jobs().await, 0);
    assert!(app.stored_files().is_empty());

    let ok = app.post_json(&json!({"path": path, "callback_url": "https://hooks.example.com/t"})).await;
    assert_eq!(ok.status(), StatusCode::ACCEPTED);

    // Open mode with no server secret: deliveries could not be signed, so they are refused.
    let unsigned = spawn_app_with(|s| s.webhooks.secret = String::new()).await;
    let response = unsigned
        .post_json(&json!({"path": unsigned.input_file("a.wav"), "callback_url": "https://example.com/h"}))
        .await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "webhook_secret_not_configured").await;
}
