//! Test environment: a fresh database and Redis key prefix per test, worker processes started
//! from the real binary, and a small HTTP server for URL inputs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jobs::{Job, JobInput, JobStatus, JobStore, NewJob, Queue};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;
use vocab::JobOptions;
use worker::config::Settings;

/// Timing tests hold this exclusively so that no other test's transcription competes for the
/// CPU while they measure; every other test holds it shared.
static CPU: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

pub enum CpuGuard {
    Shared(#[allow(dead_code)] tokio::sync::RwLockReadGuard<'static, ()>),
    Exclusive(#[allow(dead_code)] tokio::sync::RwLockWriteGuard<'static, ()>),
}

pub struct TestEnv {
    pub settings: Settings,
    pub store: JobStore,
    pub queue: Queue,
    pub input_root: PathBuf,
    config_dir: PathBuf,
    _dir: tempfile::TempDir,
    workers: AtomicUsize,
    _cpu: CpuGuard,
    /// Declared last so it is dropped last: the database goes after the pool that uses it.
    _backends: testkit::TestBackends,
}

/// A fresh deployment: its own database, Redis prefix, storage and input directories, and
/// short leases and intervals so failures are noticed within seconds.
pub async fn spawn_env(customize: impl FnOnce(&mut Settings)) -> TestEnv {
    let cpu = CpuGuard::Shared(CPU.read().await);
    build_env(customize, cpu).await
}

/// Like [`spawn_env`], with the machine to itself (for tests that measure time).
pub async fn spawn_env_alone(customize: impl FnOnce(&mut Settings)) -> TestEnv {
    let cpu = CpuGuard::Exclusive(CPU.write().await);
    build_env(customize, cpu).await
}

async fn build_env(customize: impl FnOnce(&mut Settings), cpu: CpuGuard) -> TestEnv {
    let mut settings = Settings::load_from(&testkit::repo_root().join("config"), "test").expect("config/ loads");
    let dir = tempfile::tempdir().unwrap();
    let backends = testkit::TestBackends::new();
    settings.database.url = backends.database_url();
    settings.database.max_connections = 5;
    settings.redis.key_prefix = backends.redis_prefix();
    settings.storage.dir = dir.path().join("audio");
    std::fs::create_dir_all(&settings.storage.dir).unwrap();
    let input_root = dir.path().join("inputs");
    std::fs::create_dir_all(&input_root).unwrap();
    settings.inputs.path_roots = vec![input_root.clone()];
    settings.inputs.allow_private_urls = true;
    settings.inputs.url_timeout_secs = 60;
    settings.worker.work_dir = dir.path().join("work");
    settings.worker.models_dir = testkit::models_dir();
    settings.queue.lease_secs = 2.0;
    settings.queue.heartbeat_secs = 0.5;
    settings.queue.reaper_interval_secs = 0.5;
    settings.queue.dispatch_interval_secs = 1.0;
    settings.queue.progress_interval_secs = 0.2;
    customize(&mut settings);
    settings.validate().unwrap();

    let config_dir = dir.path().join("config");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(config_dir.join("default.toml"), toml::to_string(&settings).unwrap()).unwrap();

    let store = JobStore::connect(&settings.database.url, 5)
        .await
        .expect("PostgreSQL on 127.0.0.1:5432 (scripts/setup.sh starts it)");
    let queue = Queue::connect(&settings.redis.url, &settings.redis.key_prefix).await.expect("Redis on 127.0.0.1:6379");
    TestEnv {
        settings,
        store,
        queue,
        input_root,
        config_dir,
        _dir: dir,
        workers: AtomicUsize::new(0),
        _cpu: cpu,
        _backends: backends,
    }
}

impl TestEnv {
    pub async fn submit(&self, input: JobInput) -> Uuid {
        self.submit_with(input, JobOptions::default()).await
    }

    pub async fn submit_with(&self, input: JobInput, options: JobOptions) -> Uuid {
        let options = jobs::validate::options(&self.settings, options).unwrap();
        let job = NewJob {
            id: Uuid::now_v7(),
            input,
            options,
            idempotency_key: None,
            request_hash: None,
            max_attempts: self.settings.queue.max_attempts,
        };
        match jobs::enqueue(&self.store, &self.queue, job).await.unwrap() {
            jobs::Inserted::Created(job) => job.id,
            jobs::Inserted::Existing(_) => unreachable!("no idempotency key"),
        }
    }

    /// A short real recording inside the input root.
    pub fn sample_input(&self) -> PathBuf {
        let target = self.input_root.join("sample.wav");
        if !target.exists() {
            std::fs::copy(testkit::fixture("librispeech/1089-134686-0002.wav"), &target).unwrap();
        }
        target
    }

    pub fn start_worker(&self) -> WorkerProcess {
        let n = self.workers.fetch_add(1, Ordering::Relaxed);
        // Kept outside the temporary directory so a failed test's worker logs can be read.
        let logs = std::env::temp_dir().join("worker-test-logs");
        std::fs::create_dir_all(&logs).unwrap();
        let log =
            std::fs::File::create(logs.join(format!("{}-{n}.log", self.settings.redis.key_prefix.replace(':', "_"))))
                .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_worker"))
            .current_dir(testkit::repo_root())
            .env("APP_CONFIG_DIR", &self.config_dir)
            .env("APP_ENVIRONMENT", "test")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start the worker binary");
        WorkerProcess { child }
    }

    pub async fn wait_status(&self, id: Uuid, status: JobStatus, within: Duration) -> Job {
        self.wait(id, within, |j| j.status() == status).await
    }

    pub async fn wait_finished(&self, id: Uuid, within: Duration) -> Job {
        self.wait(id, within, |j| j.status().is_finished()).await
    }

    pub async fn wait(&self, id: Uuid, within: Duration, done: impl Fn(&Job) -> bool) -> Job {
        let get = || async { self.store.get(id).await.unwrap().expect("job exists") };
        if let Some(job) = testkit::poll(within, || async { Some(get().await).filter(|job| done(job)) }).await {
            return job;
        }
        let job = get().await;
        let logs = self.store.logs(id, 0, 1000).await.unwrap();
        let lines: Vec<String> = logs.iter().map(|l| format!("{} {:?} {}", l.at, l.worker_id, l.message)).collect();
        panic!("job {id} still {:?} after {within:?}: {job:?}\nlog:\n{}", job.status(), lines.join("\n"));
    }

    /// Waits until the workers have read and acknowledged every entry of the job stream.
    pub async fn wait_deliveries_settled(&self, within: Duration) {
        let client = redis::Client::open(self.settings.redis.url.as_str()).unwrap();
        let conn = client.get_multiplexed_async_connection().await.unwrap();
        let stream = format!("{}jobs", self.settings.redis.key_prefix);
        testkit::wait_until(within, "every delivery to be read and acknowledged", || {
            let (mut conn, stream) = (conn.clone(), stream.clone());
            async move {
                let reply: redis::streams::StreamInfoGroupsReply =
                    redis::cmd("XINFO").arg("GROUPS").arg(&stream).query_async(&mut conn).await.unwrap();
                let settled = |g: &redis::streams::StreamInfoGroup| g.pending == 0 && g.lag == Some(0);
                (!reply.groups.is_empty() && reply.groups.iter().all(settled)).then_some(())
            }
        })
        .await
    }

    /// Deletes every Redis key of this deployment, as a restart of a Redis without persistence would.
    pub async fn flush_redis(&self) {
        let client = redis::Client::open(self.settings.redis.url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.settings.redis.key_prefix))
            .query_async(&mut conn)
            .await
            .unwrap();
        for key in keys {
            redis::cmd("DEL").arg(key).query_async::<i64>(&mut conn).await.unwrap();
        }
    }
}

pub struct WorkerProcess {
    child: Child,
}

impl WorkerProcess {
    pub fn kill_hard(&mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }

    pub fn terminate(&mut self) {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
    }

    /// Waits for the process to exit by itself; its exit status.
    #[allow(dead_code)] // drain.rs only
    pub async fn exited(&mut self, within: Duration) -> std::process::ExitStatus {
        testkit::poll(within, || {
            let status = self.child.try_wait().unwrap();
            async move { status }
        })
        .await
        .unwrap_or_else(|| panic!("the worker still runs after {within:?}"))
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A one-route HTTP server on loopback. With `stall`, the first response sends its headers and
/// a few bytes, then stalls that long; later responses are immediate.
pub struct Served {
    pub addr: SocketAddr,
    requests: Arc<AtomicUsize>,
}

impl Served {
    pub async fn start(body: Vec<u8>, stall: Option<Duration>) -> Self {
        Self::serve(200, body, stall).await
    }

    pub async fn status(code: u16) -> Self {
        Self::serve(code, b"nope".to_vec(), None).await
    }

    async fn serve(code: u16, body: Vec<u8>, stall: Option<Duration>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let body = Arc::new(body);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let body = body.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let mut seen = Vec::new();
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => seen.extend_from_slice(&buf[..k]),
                        }
                    }
                    let head =
                        format!("HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                    let _ = socket.write_all(head.as_bytes()).await;
                    match stall {
                        Some(pause) if n == 0 => {
                            let _ = socket.write_all(&body[..body.len().min(1024)]).await;
                            tokio::time::sleep(pause).await;
                        }
                        _ => {
                            let _ = socket.write_all(&body).await;
                        }
                    }
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self { addr, requests }
    }

    pub fn url(&self) -> String {
        format!("http://{}/audio", self.addr)
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}
