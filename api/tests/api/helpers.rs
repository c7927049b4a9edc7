//! `spawn_app()` and helpers shared by the tests.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api::config::Settings;
use api::startup::Application;
use jobs::{Fence, JobStore, Outcome, Queue};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use tempfile::TempDir;
use testkit::{TestBackends, REDIS_URL};
use transcript::{Segment, SpeakerTurn, Transcript, Word};
use uuid::Uuid;

pub struct TestApp {
    pub address: String,
    pub settings: Settings,
    pub store: JobStore,
    pub queue: Queue,
    pub client: reqwest::Client,
    pub storage_dir: TempDir,
    pub input_root: TempDir,
    /// Declared last so it is dropped last: the database goes after the pool that uses it.
    _backends: TestBackends,
}

/// Settings from `config/` for a fresh database, Redis prefix, storage dir and input root; the
/// database and the Redis keys go when the returned guard is dropped.
pub fn test_settings(storage: &Path, root: &Path) -> (Settings, TestBackends) {
    let mut settings = Settings::load_from(&testkit::repo_root().join("config"), "test").expect("config/ loads");
    let backends = TestBackends::new();
    settings.database.url = backends.database_url();
    settings.database.max_connections = 8;
    settings.redis.url = REDIS_URL.into();
    settings.redis.key_prefix = backends.redis_prefix();
    settings.api.host = "127.0.0.1".into();
    settings.api.port = 0;
    settings.api.workers = 1;
    settings.api.max_upload_mb = 1;
    settings.storage.dir = storage.to_path_buf();
    settings.inputs.path_roots = vec![root.to_path_buf()];
    settings.inputs.allow_private_urls = false;
    settings.worker.models_dir = testkit::models_dir();
    (settings, backends)
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(customise: impl FnOnce(&mut Settings)) -> TestApp {
    let storage_dir = TempDir::new().unwrap();
    let input_root = TempDir::new().unwrap();
    let (mut settings, backends) = test_settings(storage_dir.path(), input_root.path());
    customise(&mut settings);
    let app = Application::build(settings.clone()).await.expect("the application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let store = JobStore::connect(&settings.database.url, 4).await.unwrap();
    let queue = Queue::connect(REDIS_URL, &settings.redis.key_prefix).await.unwrap();
    let client = reqwest::Client::new();
    TestApp { address, settings, store, queue, client, storage_dir, input_root, _backends: backends }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post_json(&self, body: &Value) -> Response {
        self.client.post(self.url("/v1/jobs")).json(body).send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// Writes a file under the input root and returns its path.
    pub fn input_file(&self, name: &str) -> PathBuf {
        let path = self.input_root.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"RIFF....WAVE").unwrap();
        path
    }

    /// Submits a path job and returns its id.
    pub async fn submit(&self) -> Uuid {
        let path = self.input_file("a.wav");
        let response = self.post_json(&serde_json::json!({"path": path})).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let body: Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().parse().unwrap()
    }

    pub async fn job(&self, id: Uuid) -> Value {
        let response = self.get(&format!("/v1/jobs/{id}")).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// What a worker does when it takes a job.
    pub async fn claim(&self, id: Uuid) -> Fence {
        let job = self.store.claim(id, "worker-1", Duration::from_secs(30)).await.unwrap().expect("claimable");
        Fence { job_id: id, worker_id: "worker-1".into(), attempt: job.attempt }
    }

    /// Claims and finishes a job the way a worker does.
    pub async fn finish(&self, id: Uuid, outcome: Outcome) {
        let fence = self.claim(id).await;
        assert!(self.store.finish(&fence, &outcome, "finished").await.unwrap());
    }

    /// Creates an API key the way `api keys create` does; returns its token.
    pub async fn create_key(&self, name: &str, admin: bool, max_queued: Option<i32>) -> String {
        let key = api::auth::create_key(&self.store, name, admin, max_queued).await.unwrap().1;
        // The app hears of a first key through a PostgreSQL notification, within milliseconds;
        // until then token-less requests still pass as in open mode.
        testkit::wait_until(Duration::from_secs(5), "keys to be enforced", || async {
            (self.client.get(self.url("/v1/workers")).send().await.unwrap().status() == 401).then_some(())
        })
        .await;
        key
    }

    pub async fn get_as(&self, path: &str, token: &str) -> Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    pub async fn post_json_as(&self, body: &Value, token: &str) -> Response {
        self.client.post(self.url("/v1/jobs")).bearer_auth(token).json(body).send().await.unwrap()
    }

    /// Submits a path job with a key and returns its id.
    pub async fn submit_as(&self, token: &str) -> Uuid {
        let path = self.input_file("a.wav");
        let response = self.post_json_as(&serde_json::json!({"path": path}), token).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let body: Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().parse().unwrap()
    }

    pub async fn count_jobs(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM jobs").fetch_one(self.store.pool()).await.unwrap()
    }

    pub async fn stream_len(&self) -> i64 {
        let mut conn = redis::Client::open(REDIS_URL).unwrap().get_multiplexed_async_connection().await.unwrap();
        redis::cmd("XLEN").arg(format!("{}jobs", self.settings.redis.key_prefix)).query_async(&mut conn).await.unwrap()
    }

    /// Names of the files in the storage directory.
    pub fn stored_files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.storage_dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

/// Asserts an error response's status, shape and code; returns its message.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> String {
    let got = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "body: {text}");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    let error = &body["error"];
    assert_eq!(error["code"], code, "body: {text}");
    let kind = if status.is_server_error() { "internal" } else { "invalid_request" };
    assert_eq!(error["type"], kind, "body: {text}");
    assert_eq!(body.as_object().unwrap().len(), 1, "only `error`: {text}");
    error["message"].as_str().unwrap().to_string()
}

pub fn sample_transcript() -> Transcript {
    let words = vec![
        Word { word: "Hello".into(), start: 0.5, end: 0.9, score: 0.9, speaker: Some("SPEAKER_00".into()) },
        Word { word: "world.".into(), start: 1.0, end: 1.6, score: 0.8, speaker: Some("SPEAKER_00".into()) },
    ];
    Transcript {
        language: Some("en".into()),
        duration: 3.5,
        segments: vec![
            Segment {
                start: 0.5,
                end: 1.6,
                text: " Hello world.".into(),
                speaker: Some("SPEAKER_00".into()),
                words: words.clone(),
                avg_logprob: -0.2,
                no_speech_prob: 0.01,
            },
            Segment {
                start: 2.0,
                end: 3.2,
                text: " Bye.".into(),
                speaker: Some("SPEAKER_01".into()),
                ..Default::default()
            },
        ],
        word_segments: words,
        diarization: Some(vec![
            SpeakerTurn { start: 0.4, end: 1.7, speaker: "SPEAKER_00".into() },
            SpeakerTurn { start: 1.9, end: 3.3, speaker: "SPEAKER_01".into() },
        ]),
        note: None,
    }
}

/// A TCP forwarder that can be cut and restored, to make a server unreachable under a running app.
pub struct TcpProxy {
    pub port: u16,
    target: &'static str,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl TcpProxy {
    pub async fn start(target: &'static str) -> Self {
        let proxy = Self { port: 0, target, tasks: Arc::new(Mutex::new(Vec::new())) };
        let port = proxy.listen(0);
        Self { port, ..proxy }
    }

    /// Closes the listening port and every forwarded connection.
    pub fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Listens again on the same port after [`TcpProxy::cut`].
    pub fn restore(&self) {
        self.listen(self.port);
    }

    fn listen(&self, port: u16) -> u16 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(([127, 0, 0, 1], port).into()).unwrap();
        let listener = socket.listen(64).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (target, conns) = (self.target, self.tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns.lock().unwrap().push(conn);
            }
        });
        self.tasks.lock().unwrap().push(accept);
        port
    }
}
