//! Live job events: `/v1/jobs/{id}/events` (server-sent events, read off a streaming response)
//! and `/v1/jobs/{id}/ws` (a real WebSocket client). The tests play the worker through the job
//! store (claim, progress, partial segments, the fenced finish), and drop connections to check
//! that a client resuming from its last event id gets exactly the rest.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use jobs::{Fence, Outcome};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use transcript::{Segment, Transcript};
use uuid::Uuid;

use crate::helpers::{assert_error, sample_transcript, spawn_app, TestApp};
use crate::openai::partial;

/// Events must arrive within this long after the change that makes them.
const WITHIN: Duration = Duration::from_secs(20);

/// One event: `(event name, data)`; ids are checked apart.
type Event = (String, Value);

/// Reads server-sent events off a streaming response (keepalive comments skipped).
struct SseReader {
    response: reqwest::Response,
    buffer: String,
    /// The id of the last event read.
    last_id: Option<String>,
}

impl SseReader {
    async fn open(app: &TestApp, id: Uuid, resume: Resume<'_>) -> Self {
        let mut request = app.client.get(app.url(&format!("/v1/jobs/{id}/events")));
        match resume {
            Resume::Start => {}
            Resume::Header(last) => request = request.header("Last-Event-ID", last),
            Resume::Since(since) => request = request.query(&[("since", since)]),
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        Self { response, buffer: String::new(), last_id: None }
    }

    /// The next event; `None` once the stream has ended.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| block.lines().find_map(|l| l.strip_prefix(name)).map(str::to_string);
                let Some(data) = field("data: ") else { continue };
                self.last_id = Some(field("id: ").unwrap_or_else(|| panic!("an id: {block:?}")));
                let data = serde_json::from_str(&data).unwrap_or_else(|_| panic!("{block:?}"));
                return Some((field("event: ").unwrap(), data));
            }
            let chunk =
                tokio::time::timeout(WITHIN, self.response.chunk()).await.expect("an event in time").unwrap()?;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    async fn expect(&mut self, expected: &[Event]) -> String {
        for want in expected {
            assert_eq!(self.next().await.as_ref(), Some(want));
        }
        self.last_id.clone().unwrap()
    }
}

enum Resume<'a> {
    Start,
    Header(&'a str),
    Since(&'a str),
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn ws_url(app: &TestApp, id: Uuid, since: Option<&str>) -> String {
    let base = app.url(&format!("/v1/jobs/{id}/ws")).replacen("http", "ws", 1);
    match since {
        Some(since) => format!("{base}?since={since}"),
        None => base,
    }
}

/// The next message of a WebSocket: `Ok((event, data), id)`, or `Err(close code)` at its end.
async fn ws_next(ws: &mut Ws) -> Result<(Event, Option<String>), Option<CloseCode>> {
    loop {
        let message = tokio::time::timeout(WITHIN, ws.next()).await.expect("a message in time");
        match message {
            Some(Ok(Message::Text(text))) => {
                let message: Value = serde_json::from_str(text.as_str()).unwrap();
                let id = message["id"].as_str().map(String::from);
                return Ok(((message["event"].as_str().unwrap().to_string(), message["data"].clone()), id));
            }
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| f.code)),
            Some(Ok(_)) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

async fn ws_expect(ws: &mut Ws, expected: &[Event]) -> String {
    let mut last = None;
    for want in expected {
        let (got, id) = ws_next(ws).await.unwrap_or_else(|code| panic!("closed ({code:?}) before {want:?}"));
        assert_eq!(&got, want);
        last = id;
    }
    last.expect("events have ids")
}

fn status(status: &str, stage: Option<&str>, attempt: i32, worker: Option<&str>) -> Event {
    ("status".into(), json!({"status": status, "stage": stage, "attempt": attempt, "worker_id": worker}))
}

fn progress(progress: f64) -> Event {
    ("progress".into(), json!({"progress": progress}))
}

fn segment(index: usize, segment: Value) -> Event {
    ("segment".into(), json!({"index": index, "segment": segment}))
}

/// The sample transcript with a third segment, so that some segments come only with the result.
fn transcript() -> Transcript {
    let mut transcript = sample_transcript();
    transcript.segments.push(Segment { start: 3.3, end: 3.4, text: " Again.".into(), ..Default::default() });
    transcript
}

fn final_segment(index: usize) -> Value {
    serde_json::to_value(&transcript().segments[index]).unwrap()
}

fn succeeded() -> Outcome {
    Outcome::Succeeded { result: serde_json::to_value(transcript()).unwrap(), duration_secs: 3.5 }
}

#[tokio::test]
async fn server_sent_events_follow_a_job_and_a_reconnect_gets_exactly_the_rest() {
    let app = spawn_app().await;
    let id = app.submit().await;
    let segments = transcript().segments;
    let mut events = SseReader::open(&app, id, Resume::Start).await;
    let first = events.expect(&[status("queued", None, 0, None)]).await;
    assert_eq!(first, "0.-.0.queued.0.-", "the id scheme the README documents");

    let fence = app.claim(id).await;
    events.expect(&[status("running", None, 1, Some("worker-1"))]).await;
    assert!(app.store.set_progress(&fence, "transcribe", 0.25).await.unwrap());
    events.expect(&[status("running", Some("transcribe"), 1, Some("worker-1")), progress(0.25)]).await;
    assert!(app.store.append_partials(&fence, 0, &[partial(&segments[0])]).await.unwrap());
    let after_first = events.expect(&[segment(0, partial(&segments[0]))]).await;

    // The client goes away; a segment is stored meanwhile. Back with `Last-Event-ID`, it gets
    // that segment and nothing it had: the next event after it is the next change.
    drop(events);
    assert!(app.store.append_partials(&fence, 1, &[partial(&segments[1])]).await.unwrap());
    let mut events = SseReader::open(&app, id, Resume::Header(&after_first)).await;
    events.expect(&[segment(1, partial(&segments[1]))]).await;
    assert!(app.store.set_progress(&fence, "transcribe", 0.5).await.unwrap());
    let half = events.expect(&[progress(0.5)]).await;

    // Away again while the job ends: the result's remaining segment, then the final status.
    drop(events);
    assert!(app.store.finish(&fence, &succeeded(), "done").await.unwrap());
    let mut events = SseReader::open(&app, id, Resume::Since(&half)).await;
    let end = events
        .expect(&[
            progress(1.0),
            segment(2, final_segment(2)),
            status("succeeded", Some("transcribe"), 1, Some("worker-1")),
        ])
        .await;
    assert_eq!(events.next().await, None, "the stream ends after the final status");

    // With the final status already had: 204, which stops an EventSource from reconnecting.
    let done = app.client.get(app.url(&format!("/v1/jobs/{id}/events"))).header("Last-Event-ID", &end).send().await;
    assert_eq!(done.unwrap().status(), StatusCode::NO_CONTENT);

    // A late client from the start gets the whole story in one go: the result is the truth.
    let mut events = SseReader::open(&app, id, Resume::Start).await;
    let whole: Vec<Event> = (0..3).map(|i| segment(i, final_segment(i))).collect();
    events.expect(&[progress(1.0)]).await;
    events.expect(&whole).await;
    events.expect(&[status("succeeded", Some("transcribe"), 1, Some("worker-1"))]).await;
    assert_eq!(events.next().await, None);
}

#[tokio::test]
async fn a_websocket_follows_a_job_across_attempts_and_resumes_with_since() {
    let app = spawn_app().await;
    let id = app.submit().await;
    let segments = transcript().segments;
    let first = app.claim(id).await;
    assert!(app.store.set_progress(&first, "transcribe", 0.5).await.unwrap());
    let both: Vec<Value> = segments[..2].iter().map(partial).collect();
    assert!(app.store.append_partials(&first, 0, &both).await.unwrap());

    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&app, id, None)).await.unwrap();
    ws_expect(
        &mut ws,
        &[
            status("running", Some("transcribe"), 1, Some("worker-1")),
            progress(0.5),
            segment(0, both[0].clone()),
            segment(1, both[1].clone()),
        ],
    )
    .await;

    // The worker is lost: the job goes back to the queue, and attempt 2 starts over elsewhere.
    sqlx::query("UPDATE jobs SET lease_until = now() - interval '1 second' WHERE id = $1")
        .bind(id)
        .execute(app.store.pool())
        .await
        .unwrap();
    app.store.reap_expired().await.unwrap();
    let requeued = ws_expect(&mut ws, &[status("queued", Some("transcribe"), 1, Some("worker-1"))]).await;

    // The connection drops (no close frame) while another worker claims the job.
    drop(ws);
    let job = app.store.claim(id, "worker-2", Duration::from_secs(30)).await.unwrap().expect("claimable again");
    let second = Fence { job_id: id, worker_id: "worker-2".into(), attempt: job.attempt };
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&app, id, Some(&requeued))).await.unwrap();
    ws_expect(&mut ws, &[status("running", None, 2, Some("worker-2")), progress(0.0)]).await;
    assert!(app.store.append_partials(&second, 0, &both[..1]).await.unwrap());
    let restarted = ws_expect(&mut ws, &[segment(0, both[0].clone())]).await;

    // The client leaves with a close frame; the job ends while it is away.
    ws.send(Message::Close(None)).await.unwrap();
    while ws.next().await.is_some() {}
    assert!(app.store.finish(&second, &succeeded(), "done").await.unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&app, id, Some(&restarted))).await.unwrap();
    ws_expect(
        &mut ws,
        &[
            progress(1.0),
            segment(1, final_segment(1)),
            segment(2, final_segment(2)),
            status("succeeded", None, 2, Some("worker-2")),
        ],
    )
    .await;
    assert_eq!(ws_next(&mut ws).await.map(|_| ()), Err(Some(CloseCode::Normal)), "a close frame ends it");
}

#[tokio::test]
async fn a_failed_or_canceled_job_ends_the_stream_with_its_final_status() {
    let app = spawn_app().await;
    let canceled = app.submit().await;
    let mut events = SseReader::open(&app, canceled, Resume::Start).await;
    events.expect(&[status("queued", None, 0, None)]).await;
    let cancel = app.client.post(app.url(&format!("/v1/jobs/{canceled}/cancel"))).send().await.unwrap();
    assert!(cancel.status().is_success());
    events.expect(&[status("canceled", None, 0, None)]).await;
    assert_eq!(events.next().await, None);

    let failed = app.submit().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&app, failed, None)).await.unwrap();
    ws_expect(&mut ws, &[status("queued", None, 0, None)]).await;
    let fence = app.claim(failed).await;
    let outcome = Outcome::Failed { code: "decode_failed".into(), message: "not audio".into() };
    assert!(app.store.finish(&fence, &outcome, "failed").await.unwrap());
    let ((name, data), _) = loop {
        let next = ws_next(&mut ws).await.unwrap();
        if next.0 .1["status"] != "running" {
            break next;
        }
    };
    assert_eq!(name, "status");
    assert_eq!(
        (&data["status"], &data["error"]),
        (&json!("failed"), &json!({"code": "decode_failed", "message": "not audio"}))
    );
    assert_eq!(ws_next(&mut ws).await.map(|_| ()), Err(Some(CloseCode::Normal)));
}

#[tokio::test]
async fn a_job_deleted_while_followed_ends_the_stream_with_an_error() {
    let app = spawn_app().await;
    let id = app.submit().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&app, id, None)).await.unwrap();
    ws_expect(&mut ws, &[status("queued", None, 0, None)]).await;
    let deleted = app.client.delete(app.url(&format!("/v1/jobs/{id}"))).send().await.unwrap();
    assert!(deleted.status().is_success());
    let ((name, data), event_id) = ws_next(&mut ws).await.unwrap();
    assert_eq!((name.as_str(), event_id), ("error", None), "no id: a resume goes on from the last event");
    assert_eq!((&data["error"]["code"], &data["error"]["type"]), (&json!("job_not_found"), &json!("invalid_request")));
    assert_eq!(ws_next(&mut ws).await.map(|_| ()), Err(Some(CloseCode::Error)));
}

#[tokio::test]
async fn unknown_jobs_bad_ids_and_other_keys_jobs_are_refused_before_the_stream() {
    let app = spawn_app().await;
    let unknown = Uuid::now_v7();
    assert_error(app.get(&format!("/v1/jobs/{unknown}/events")).await, StatusCode::NOT_FOUND, "job_not_found").await;
    assert_error(app.get("/v1/jobs/123/events").await, StatusCode::BAD_REQUEST, "invalid_job_id").await;
    let id = app.submit().await;
    let bad = app.get(&format!("/v1/jobs/{id}/events?since=7")).await;
    assert_error(bad, StatusCode::BAD_REQUEST, "invalid_query").await;
    let bad = app.client.get(app.url(&format!("/v1/jobs/{id}/events"))).header("Last-Event-ID", "x").send().await;
    assert_error(bad.unwrap(), StatusCode::BAD_REQUEST, "invalid_query").await;
    // The header wins over `since`, but a malformed `since` beside it is still refused.
    let url = app.url(&format!("/v1/jobs/{id}/events?since=X"));
    let bad = app.client.get(url).header("Last-Event-ID", "0.-.0.queued.0.-").send().await;
    assert_error(bad.unwrap(), StatusCode::BAD_REQUEST, "invalid_query").await;
    let mut from_start = SseReader::open(&app, id, Resume::Header("")).await;
    from_start.expect(&[status("queued", None, 0, None)]).await;
    let plain = app.get(&format!("/v1/jobs/{id}/ws")).await;
    assert_error(plain, StatusCode::BAD_REQUEST, "invalid_body").await;
    match tokio_tungstenite::connect_async(ws_url(&app, unknown, None)).await {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 404),
        other => panic!("expected a 404 handshake answer, got {other:?}"),
    }

    // Keys: another key's job is not found, on both routes; the owner follows it.
    let owner = app.create_key("owner", false, None).await;
    let other = app.create_key("other", false, None).await;
    let mine = app.submit_as(&owner).await;
    let path = format!("/v1/jobs/{mine}/events");
    assert_error(app.get_as(&path, &other).await, StatusCode::NOT_FOUND, "job_not_found").await;
    let mut request = ws_url(&app, mine, None).into_client_request().unwrap();
    request.headers_mut().insert("Authorization", format!("Bearer {other}").parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 404),
        other => panic!("expected a 404 handshake answer, got {other:?}"),
    }
    let mut request = ws_url(&app, mine, None).into_client_request().unwrap();
    request.headers_mut().insert("Authorization", format!("Bearer {owner}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    ws_expect(&mut ws, &[status("queued", None, 0, None)]).await;
}
