//! OpenAI-compatible `/v1/audio/transcriptions` and `/v1/audio/translations`: response formats,
//! streaming, OpenAI's error shape, and the official `openai` Python SDK against the server.
//! A stand-in worker finishes jobs the way a worker does (the worker crate's tests run the model).

use std::path::Path;
use std::time::Duration;

use jobs::{JobStore, Outcome};
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;
use vocab::Task;

use crate::helpers::{sample_transcript, spawn_app_with, TestApp};

/// Claims queued jobs and finishes them: with the sample transcript, or failed when the prompt
/// says `fail`.
fn stand_in_worker(store: JobStore) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM jobs WHERE status = 'queued'")
                .fetch_all(store.pool())
                .await
                .unwrap_or_default();
            for id in ids {
                let Ok(Some(job)) = store.claim(id, "stand-in", Duration::from_secs(30)).await else { continue };
                let fence = jobs::Fence { job_id: id, worker_id: "stand-in".into(), attempt: job.attempt };
                let outcome = if job.options.initial_prompt.as_deref() == Some("fail") {
                    Outcome::Failed { code: "unsupported_media".into(), message: "not audio".into() }
                } else {
                    Outcome::Succeeded {
                        result: serde_json::to_value(sample_transcript()).unwrap(),
                        duration_secs: 3.5,
                    }
                };
                let _ = store.finish(&fence, &outcome, "done").await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

fn form(fields: &[(&str, &str)]) -> Form {
    let mut form = Form::new().part("file", Part::bytes(vec![1u8; 2000]).file_name("talk.wav"));
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    form
}

async fn post(app: &TestApp, route: &str, form: Form) -> reqwest::Response {
    app.client.post(app.url(&format!("/v1/audio/{route}"))).multipart(form).send().await.unwrap()
}

/// Asserts OpenAI's error shape; returns `(type, param, code)`.
async fn openai_error(response: reqwest::Response, status: StatusCode) -> (String, Option<String>, String) {
    let got = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    let error = body["error"].as_object().unwrap_or_else(|| panic!("{text}"));
    let mut keys: Vec<&str> = error.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["code", "message", "param", "type"], "{text}");
    assert!(!error["message"].as_str().unwrap().is_empty());
    (
        error["type"].as_str().unwrap().to_string(),
        error["param"].as_str().map(String::from),
        error["code"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn transcriptions_answer_in_every_response_format() {
    let app = spawn_app_with(|_| {}).await;
    let _worker = stand_in_worker(app.store.clone());
    let response = post(&app, "transcriptions", form(&[("model", "whisper-1")])).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"text": "Hello world. Bye."}));

    let text = post(&app, "transcriptions", form(&[("model", "whisper-1"), ("response_format", "text")])).await;
    assert!(text.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(text.text().await.unwrap(), "Hello world. Bye.\n");
    let srt = post(&app, "transcriptions", form(&[("model", "whisper-1"), ("response_format", "srt")])).await;
    assert!(srt.text().await.unwrap().starts_with("1\n00:00:00,500 --> 00:00:01,600\n"));
    let vtt = post(&app, "transcriptions", form(&[("model", "whisper-1"), ("response_format", "vtt")])).await;
    assert!(vtt.text().await.unwrap().starts_with("WEBVTT"));

    let fields = [
        ("model", "tiny.en"),
        ("language", "en"),
        ("prompt", "Names: Ada."),
        ("temperature", "0.2"),
        ("response_format", "verbose_json"),
        ("timestamp_granularities[]", "word"),
        ("timestamp_granularities[]", "segment"),
    ];
    let verbose: Value = post(&app, "transcriptions", form(&fields)).await.json().await.unwrap();
    assert_eq!((verbose["task"].as_str(), verbose["language"].as_str()), (Some("transcribe"), Some("en")));
    assert_eq!((verbose["duration"].as_f64(), verbose["text"].as_str()), (Some(3.5), Some("Hello world. Bye.")));
    assert_eq!(verbose["segments"].as_array().unwrap().len(), 2);
    assert_eq!(verbose["segments"][0]["start"], 0.5);
    assert_eq!(verbose["words"][1], json!({"word": "world.", "start": 1.0, "end": 1.6}));

    // Each request is an ordinary job.
    let jobs: Value = app.get("/v1/jobs?limit=100").await.json().await.unwrap();
    let jobs = jobs["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 5);
    assert!(jobs.iter().all(|j| j["status"] == "succeeded" && j["input"]["filename"] == "talk.wav"));
    let options = &jobs[0]["options"];
    assert_eq!(options["model"], "tiny.en");
    assert_eq!((options["language"].as_str(), options["initial_prompt"].as_str()), (Some("en"), Some("Names: Ada.")));
    assert_eq!((options["word_timestamps"].as_bool(), options["task"].as_str()), (Some(true), Some("transcribe")));
    assert_eq!(jobs[4]["options"].get("model"), None, "whisper-1 means the default preset's model");
}

#[tokio::test]
async fn translations_run_translate_jobs_and_stream_answers_events() {
    let app = spawn_app_with(|_| {}).await;
    let _worker = stand_in_worker(app.store.clone());
    let response = post(&app, "translations", form(&[("model", "whisper-1")])).await;
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"text": "Hello world. Bye."}));
    let jobs: Value = app.get("/v1/jobs").await.json().await.unwrap();
    assert_eq!(jobs["jobs"][0]["options"]["task"], serde_json::to_value(Task::Translate).unwrap());

    let stream = post(&app, "transcriptions", form(&[("model", "whisper-1"), ("stream", "true")])).await;
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(stream.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let body = stream.text().await.unwrap();
    let events: Vec<Value> =
        body.split("\n\n").filter_map(|e| e.strip_prefix("data: ")).map(|e| serde_json::from_str(e).unwrap()).collect();
    assert_eq!(
        events,
        [
            json!({"type": "transcript.text.delta", "delta": " Hello world."}),
            json!({"type": "transcript.text.delta", "delta": " Bye."}),
            json!({"type": "transcript.text.done", "text": "Hello world. Bye."}),
        ]
    );
}

#[tokio::test]
async fn refusals_answer_in_openai_s_error_shape() {
    let app = spawn_app_with(|s| s.openai.wait_secs = 0.5).await;
    let bad = |fields: &'static [(&'static str, &'static str)], param: &'static str, code: &'static str| {
        let app = &app;
        async move {
            let got = openai_error(post(app, "transcriptions", form(fields)).await, StatusCode::BAD_REQUEST).await;
            assert_eq!(got, ("invalid_request_error".into(), Some(param.into()), code.into()), "{fields:?}");
        }
    };
    bad(&[], "model", "invalid_option").await;
    bad(&[("model", "whisper-1"), ("response_format", "xml")], "response_format", "invalid_format").await;
    bad(&[("model", "whisper-1"), ("temperature", "2")], "temperature", "invalid_option").await;
    bad(&[("model", "whisper-1"), ("temperature", "warm")], "temperature", "invalid_option").await;
    bad(&[("model", "whisper-1"), ("language", "xx")], "language", "invalid_option").await;
    bad(&[("model", "whisper-1"), ("timestamp_granularities[]", "char")], "timestamp_granularities", "invalid_option")
        .await;
    bad(&[("model", "whisper-1"), ("stream", "true"), ("response_format", "srt")], "stream", "invalid_option").await;
    bad(&[("model", "whisper-1"), ("voice", "x")], "voice", "invalid_body").await;
    bad(&[("model", "../etc")], "model", "invalid_option").await;
    let translated = post(&app, "translations", form(&[("model", "whisper-1"), ("language", "de")])).await;
    let got = openai_error(translated, StatusCode::BAD_REQUEST).await;
    assert_eq!(got.1.as_deref(), Some("language"));
    let no_file = app
        .client
        .post(app.url("/v1/audio/transcriptions"))
        .multipart(Form::new().text("model", "whisper-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(openai_error(no_file, StatusCode::BAD_REQUEST).await.1.as_deref(), Some("file"));
    assert_eq!(app.count_jobs().await, 0, "nothing queued for a refused request");
    assert!(app.stored_files().is_empty());

    // No worker: the wait ends in 504, the job goes on.
    let (kind, _, code) =
        openai_error(post(&app, "transcriptions", form(&[("model", "whisper-1")])).await, StatusCode::GATEWAY_TIMEOUT)
            .await;
    assert_eq!((kind.as_str(), code.as_str()), ("timeout_error", "timeout"));
    assert_eq!(app.count_jobs().await, 1);

    // A job that fails on its input is the client's fault.
    let _worker = stand_in_worker(app.store.clone());
    let failed = post(&app, "transcriptions", form(&[("model", "whisper-1"), ("prompt", "fail")])).await;
    let got = openai_error(failed, StatusCode::BAD_REQUEST).await;
    assert_eq!((got.1.as_deref(), got.2.as_str()), (Some("file"), "unsupported_media"));

    // Keys: 401 in OpenAI's shape on these routes.
    app.create_key("someone", false, None).await;
    let (kind, _, code) =
        openai_error(post(&app, "transcriptions", form(&[("model", "whisper-1")])).await, StatusCode::UNAUTHORIZED)
            .await;
    assert_eq!((kind.as_str(), code.as_str()), ("authentication_error", "missing_api_key"));
}

#[tokio::test]
async fn the_official_openai_python_sdk_works_against_the_server() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".venv/bin/python");
    let has_sdk =
        std::process::Command::new(&python).args(["-c", "import openai"]).output().is_ok_and(|o| o.status.success());
    assert!(has_sdk, "needs the openai SDK in .venv: {} -m pip install openai", python.display());

    let app = spawn_app_with(|_| {}).await;
    let token = app.create_key("sdk", false, None).await;
    let _worker = stand_in_worker(app.store.clone());
    let audio = app.input_root.path().join("talk.wav");
    std::fs::write(&audio, vec![1u8; 2000]).unwrap();
    let script = r#"
import sys, openai
base, key, path = sys.argv[1:4]
client = openai.OpenAI(base_url=base, api_key=key, max_retries=0)
f = lambda: open(path, "rb")
print("json:", client.audio.transcriptions.create(model="whisper-1", file=f()).text)
print("text:", client.audio.transcriptions.create(model="whisper-1", file=f(), response_format="text").strip())
v = client.audio.transcriptions.create(model="whisper-1", file=f(), response_format="verbose_json",
                                       timestamp_granularities=["word", "segment"])
print("verbose:", v.duration, len(v.segments), len(v.words))
print("translation:", client.audio.translations.create(model="whisper-1", file=f()).text)
for event in client.audio.transcriptions.create(model="whisper-1", file=f(), stream=True):
    print("event:", event.type, repr(getattr(event, "delta", None) or getattr(event, "text", None)))
try:
    client.audio.transcriptions.create(model="whisper-1", file=f(), response_format="xml")
except openai.BadRequestError as e:
    print("bad request:", e.status_code, e.param, e.code)
try:
    openai.OpenAI(base_url=base, api_key="wrong", max_retries=0).audio.transcriptions.create(model="whisper-1", file=f())
except openai.AuthenticationError as e:
    print("unauthorized:", e.status_code, e.code)
"#;
    let output = tokio::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(app.url("/v1"))
        .arg(&token)
        .arg(&audio)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let expected = [
        "json: Hello world. Bye.",
        "text: Hello world. Bye.",
        "verbose: 3.5 2 2",
        "translation: Hello world. Bye.",
        "event: transcript.text.delta ' Hello world.'",
        "event: transcript.text.delta ' Bye.'",
        "event: transcript.text.done 'Hello world. Bye.'",
        "bad request: 400 response_format invalid_format",
        "unauthorized: 401 invalid_api_key",
    ];
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected, "{stdout}");
}

/// Reads server-sent events off a streaming response, one `data:` payload at a time (comment
/// lines, the keep-alives, are skipped); `None` once the stream has ended.
struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) {
                    return Some(serde_json::from_str(data).unwrap_or_else(|_| panic!("{event:?}")));
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.response.chunk())
                .await
                .expect("an event within 20 s")
                .unwrap()?;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

/// Starts a `stream=true` request in the background (its headers come with the first delta);
/// returns it and the id of its job once queued.
async fn start_stream(app: &TestApp) -> (tokio::task::JoinHandle<reqwest::Response>, Uuid) {
    let (client, url) = (app.client.clone(), app.url("/v1/audio/transcriptions"));
    let request = tokio::spawn(async move {
        client.post(url).multipart(form(&[("model", "whisper-1"), ("stream", "true")])).send().await.unwrap()
    });
    let id = queued_job(app, Duration::from_secs(10), "the stream's job").await;
    (request, id)
}

/// The id of the job a client's request queued, once it is there.
async fn queued_job(app: &TestApp, within: Duration, what: &str) -> Uuid {
    let store = app.store.clone();
    testkit::wait_until(within, what, || {
        let store = store.clone();
        async move {
            sqlx::query_scalar("SELECT id FROM jobs WHERE status = 'queued'")
                .fetch_optional(store.pool())
                .await
                .unwrap()
        }
    })
    .await
}

async fn sse(request: tokio::task::JoinHandle<reqwest::Response>) -> SseReader {
    let response = tokio::time::timeout(Duration::from_secs(10), request).await.expect("headers within 10 s").unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    SseReader { response, buffer: String::new() }
}

/// A segment as a worker stores it before the job ends (speakers come only with the result).
pub(crate) fn partial(segment: &transcript::Segment) -> Value {
    serde_json::to_value(transcript::Segment { speaker: None, ..segment.clone() }).unwrap()
}

fn delta(text: &str) -> Value {
    json!({"type": "transcript.text.delta", "delta": text})
}

#[tokio::test]
async fn stream_sends_each_segment_while_the_job_is_still_running() {
    let app = spawn_app_with(|_| {}).await;
    let (request, id) = start_stream(&app).await;
    // A fake worker stores the first segment as partial result, the way the worker does.
    let fence = app.claim(id).await;
    let transcript = sample_transcript();
    assert!(app.store.append_partials(&fence, 0, &[partial(&transcript.segments[0])]).await.unwrap());
    let mut events = sse(request).await;
    assert_eq!(events.next().await, Some(delta(" Hello world.")));
    assert_eq!(app.store.get(id).await.unwrap().unwrap().status(), jobs::JobStatus::Running, "delta before the end");

    // The last segment was never stored as partial: it comes with the result, then `done`.
    let outcome = Outcome::Succeeded { result: serde_json::to_value(&transcript).unwrap(), duration_secs: 3.5 };
    assert!(app.store.finish(&fence, &outcome, "done").await.unwrap());
    assert_eq!(events.next().await, Some(delta(" Bye.")));
    assert_eq!(events.next().await, Some(json!({"type": "transcript.text.done", "text": "Hello world. Bye."})));
    assert_eq!(events.next().await, None, "the stream ends after done");
}

#[tokio::test]
async fn a_retried_job_s_stream_does_not_repeat_text_and_a_failure_ends_it_with_an_error_event() {
    let app = spawn_app_with(|_| {}).await;
    let (request, id) = start_stream(&app).await;
    let transcript = sample_transcript();
    let first = app.claim(id).await;
    assert!(app.store.append_partials(&first, 0, &[partial(&transcript.segments[0])]).await.unwrap());
    let mut events = sse(request).await;
    assert_eq!(events.next().await, Some(delta(" Hello world.")));

    // The worker is lost; attempt 2 transcribes from the start on another worker.
    sqlx::query("UPDATE jobs SET lease_until = now() - interval '1 second' WHERE id = $1")
        .bind(id)
        .execute(app.store.pool())
        .await
        .unwrap();
    app.store.reap_expired().await.unwrap();
    let job = app.store.claim(id, "worker-2", Duration::from_secs(30)).await.unwrap().expect("claimable again");
    let second = jobs::Fence { job_id: id, worker_id: "worker-2".into(), attempt: job.attempt };
    assert_eq!(second.attempt, 2);
    assert!(!app.store.append_partials(&first, 1, &[partial(&transcript.segments[1])]).await.unwrap());
    let both: Vec<Value> = transcript.segments.iter().map(partial).collect();
    assert!(app.store.append_partials(&second, 0, &both).await.unwrap());
    assert_eq!(events.next().await, Some(delta(" Bye.")), "the client already has ' Hello world.'");

    let failed = Outcome::Failed { code: "internal_error".into(), message: "the pipeline crashed".into() };
    assert!(app.store.finish(&second, &failed, "failed").await.unwrap());
    let error = events.next().await.unwrap();
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!((&error["error"]["type"], &error["error"]["code"]), (&json!("server_error"), &json!("internal_error")));
    assert!(error["error"]["message"].as_str().unwrap().contains("the pipeline crashed"), "{error}");
    assert_eq!(events.next().await, None);
}

#[tokio::test]
async fn the_openai_sdk_streams_deltas_before_the_job_ends_and_raises_a_mid_stream_error() {
    use tokio::io::AsyncBufReadExt;
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    let app = spawn_app_with(|_| {}).await;
    let audio = app.input_root.path().join("talk.wav");
    std::fs::write(&audio, vec![1u8; 2000]).unwrap();
    let script = r#"
import sys, openai
base, path = sys.argv[1:3]
client = openai.OpenAI(base_url=base, api_key="open", max_retries=0)
try:
    for event in client.audio.transcriptions.create(model="whisper-1", file=open(path, "rb"), stream=True):
        print("event:", event.type, repr(event.delta), flush=True)
except openai.APIError as e:
    print("error:", type(e).__name__, e.body["code"], flush=True)
"#;
    let mut child = tokio::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(app.url("/v1"))
        .arg(&audio)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (the openai SDK in .venv: pip install openai)", python.display()));
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let id = queued_job(&app, Duration::from_secs(20), "the SDK's job").await;
    let fence = app.claim(id).await;
    assert!(app.store.append_partials(&fence, 0, &[partial(&sample_transcript().segments[0])]).await.unwrap());
    let within = Duration::from_secs(20);
    let line = tokio::time::timeout(within, lines.next_line()).await.expect("a line within 20 s").unwrap();
    assert_eq!(line.as_deref(), Some("event: transcript.text.delta ' Hello world.'"));
    assert_eq!(app.store.get(id).await.unwrap().unwrap().status(), jobs::JobStatus::Running);
    let failed = Outcome::Failed { code: "internal_error".into(), message: "the pipeline crashed".into() };
    assert!(app.store.finish(&fence, &failed, "failed").await.unwrap());
    let line = tokio::time::timeout(within, lines.next_line()).await.expect("a line within 20 s").unwrap();
    assert_eq!(line.as_deref(), Some("error: APIError internal_error"));
    assert!(child.wait().await.unwrap().success());
}
