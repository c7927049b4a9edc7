//! Drain and restart requests (`POST /v1/workers/{id}/drain`, `/restart`), as the api makes
//! them: stored in the worker's presence row, then announced on Redis.

#[allow(dead_code)] // the support module serves worker.rs too; this file uses part of it
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jobs::store::Drain;
use jobs::{JobInput, JobStatus};
use support::{spawn_env, TestEnv};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// A one-file HTTP server that holds every response until [`Gate::open`].
struct Gate {
    addr: std::net::SocketAddr,
    requests: Arc<AtomicUsize>,
    open: watch::Sender<bool>,
}

impl Gate {
    async fn start(body: Vec<u8>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let (open, opened) = watch::channel(false);
        let (counter, body) = (requests.clone(), Arc::new(body));
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (counter, body, mut opened) = (counter.clone(), body.clone(), opened.clone());
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                    let _ = opened.wait_for(|open| *open).await;
                    let head =
                        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(&body).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self { addr, requests, open }
    }

    fn url(&self) -> String {
        format!("http://{}/audio.flac", self.addr)
    }

    fn open(&self) {
        self.open.send_replace(true);
    }
}

/// Asks worker `id` to drain, the way the api does.
async fn request(env: &TestEnv, id: &str, drain: Drain) {
    let asked = env.store.request_drain(id, drain, Duration::from_secs(30)).await.unwrap();
    assert!(asked.is_some(), "worker {id} is live");
    env.queue.publish_drain(id).await.unwrap();
}

#[tokio::test]
async fn a_drained_worker_finishes_its_job_takes_no_other_and_exits() {
    let env = spawn_env(|_| {}).await;
    let mut worker = env.start_worker();
    let gate = Gate::start(std::fs::read(testkit::fixture("jfk.flac")).unwrap()).await;
    let held = env.submit(JobInput::Url { url: gate.url() }).await;
    let worker_id = env.wait_status(held, JobStatus::Running, Duration::from_secs(30)).await.worker_id.unwrap();
    testkit::wait_until(Duration::from_secs(30), "the download to start", || async {
        (gate.requests.load(Ordering::SeqCst) > 0).then_some(())
    })
    .await;
    let next = env.submit(JobInput::Path { path: env.sample_input().to_string_lossy().into() }).await;

    request(&env, &worker_id, Drain::Exit).await;
    // The worker says in the running job's log that it heard.
    testkit::wait_until(Duration::from_secs(10), "the worker to hear the drain", || async {
        let logs = env.store.logs(held, 0, 100).await.unwrap();
        logs.iter().any(|l| l.message.contains("is draining")).then_some(())
    })
    .await;
    gate.open();

    let job = env.wait_finished(held, Duration::from_secs(60)).await;
    assert_eq!(job.status(), JobStatus::Succeeded, "{:?}", job.error_message);
    assert_eq!(worker.exited(Duration::from_secs(30)).await.code(), Some(0));
    let next = env.store.get(next).await.unwrap().unwrap();
    assert_eq!((next.status(), next.attempt), (JobStatus::Queued, 0), "the drained worker took no new job");
    assert!(env.store.live_workers(Duration::from_secs(30)).await.unwrap().is_empty(), "it left the registry");
}

#[tokio::test]
async fn an_idle_worker_asked_to_restart_exits_with_the_restart_status() {
    let env = spawn_env(|_| {}).await;
    let mut worker = env.start_worker();
    let live = testkit::wait_until(Duration::from_secs(30), "the worker to report itself", || async {
        env.store.live_workers(Duration::from_secs(30)).await.unwrap().pop()
    })
    .await;
    request(&env, &live.id, Drain::Restart).await;
    let status = worker.exited(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(i32::from(Drain::RESTART_EXIT_CODE)));
}
