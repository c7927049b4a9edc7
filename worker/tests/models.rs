//! `worker models pull|list|remove` against a local stand-in for the Hugging Face hub, which
//! serves the installed tiny.en model's files in the hub's URL layout (the repository listing,
//! `resolve` with ETag / X-Linked-Etag checksums, X-Repo-Commit and byte ranges) and can break
//! the way the real one does: a connection dropped mid-file, wrong bytes, a 401.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use sha1::Digest as _;

const TURBO_REPO: &str = "mobiuslabsgmbh/faster-whisper-large-v3-turbo";
const COMMIT: &str = "0f3c9a7e5b2d4c6a8e1f3b5d7c9a2e4f6b8d0c1a";

/// How the stand-in hub misbehaves.
#[derive(Clone, Debug, PartialEq)]
enum Fault {
    None,
    /// The first answer for a range of model.bin holding its middle breaks off halfway.
    DropModelBinOnce,
    /// This file's middle byte is flipped (its checksum stays the true one).
    Corrupt(&'static str),
    /// Every request answers this status.
    Status(u16),
}

/// One file request the hub answered: the file and the byte range asked for.
#[derive(Clone, Debug)]
struct Served {
    file: String,
    range: Option<(u64, u64)>,
}

struct HubState {
    repo: String,
    files: BTreeMap<String, Bytes>,
    fault: Mutex<Fault>,
    dropped: AtomicBool,
    served: Mutex<Vec<Served>>,
}

struct FakeHub {
    endpoint: String,
    state: Arc<HubState>,
    server: actix_web::dev::ServerHandle,
}

impl FakeHub {
    /// Serves tiny.en's files, and a README a pull must leave out, as `repo`.
    fn start(repo: &str, fault: Fault) -> Self {
        let mut files: BTreeMap<String, Bytes> = std::fs::read_dir(testkit::model("whisper-tiny.en"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| (p.file_name().unwrap().to_str().unwrap().to_string(), Bytes::from(std::fs::read(&p).unwrap())))
            .collect();
        files.insert("README.md".into(), Bytes::from_static(b"# not part of the model\n"));
        let state = Arc::new(HubState {
            repo: repo.to_string(),
            files,
            fault: Mutex::new(fault),
            dropped: AtomicBool::new(false),
            served: Mutex::default(),
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let data = web::Data::from(state.clone());
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = actix_web::HttpServer::new(move || {
                    actix_web::App::new().app_data(data.clone()).default_service(web::to(serve))
                })
                .workers(1)
                .bind("127.0.0.1:0")
                .unwrap();
                let addr: SocketAddr = server.addrs()[0];
                let server = server.run();
                tx.send((addr, server.handle())).unwrap();
                server.await.unwrap();
            })
        });
        let (addr, server) = rx.recv().unwrap();
        Self { endpoint: format!("http://{addr}"), state, server }
    }

    fn set_fault(&self, fault: Fault) {
        *self.state.fault.lock().unwrap() = fault;
    }

    fn served(&self) -> Vec<Served> {
        self.state.served.lock().unwrap().clone()
    }
}

impl Drop for FakeHub {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

async fn serve(req: HttpRequest, state: web::Data<HubState>) -> HttpResponse {
    let fault = state.fault.lock().unwrap().clone();
    if let Fault::Status(status) = fault {
        let status = actix_web::http::StatusCode::from_u16(status).unwrap();
        return HttpResponse::build(status)
            .json(serde_json::json!({"error": "Access to this repository is restricted"}));
    }
    let path = req.path();
    if let Some(_revision) = path.strip_prefix(&format!("/api/models/{}/revision/", state.repo)) {
        let siblings: Vec<_> = state.files.keys().map(|f| serde_json::json!({ "rfilename": f })).collect();
        return HttpResponse::Ok().json(serde_json::json!({ "id": state.repo, "sha": COMMIT, "siblings": siblings }));
    }
    let Some((_revision, file)) =
        path.strip_prefix(&format!("/{}/resolve/", state.repo)).and_then(|r| r.split_once('/'))
    else {
        return HttpResponse::NotFound().body("no such repository");
    };
    let Some(content) = state.files.get(file) else { return HttpResponse::NotFound().body("no such file") };
    let len = content.len() as u64;
    let range = req.headers().get("range").and_then(|r| parse_range(r.to_str().ok()?, len));
    state.served.lock().unwrap().push(Served { file: file.to_string(), range });

    let mut content = content.clone();
    let middle = len / 2;
    if matches!(&fault, Fault::Corrupt(name) if *name == file) {
        let mut bytes = content.to_vec();
        bytes[middle as usize] ^= 0xff;
        content = Bytes::from(bytes);
    }
    let mut response = if range.is_some() { HttpResponse::PartialContent() } else { HttpResponse::Ok() };
    response.insert_header(("X-Repo-Commit", COMMIT)).insert_header(("Accept-Ranges", "bytes"));
    // Git LFS files (the weights) carry their SHA-256; the others their Git blob SHA-1.
    if file == "model.bin" {
        let sha256 = hex::encode(sha2::Sha256::digest(state.files[file].as_ref()));
        response
            .insert_header(("X-Linked-Etag", format!("\"{sha256}\"")))
            .insert_header(("ETag", format!("\"{sha256}\"")));
    } else {
        let mut git = sha1::Sha1::new();
        git.update(format!("blob {len}\0").as_bytes());
        git.update(state.files[file].as_ref());
        response.insert_header(("ETag", format!("\"{}\"", hex::encode(git.finalize()))));
    }
    let (start, end) = range.unwrap_or((0, len.saturating_sub(1)));
    if range.is_some() {
        response.insert_header(("Content-Range", format!("bytes {start}-{end}/{len}")));
    }
    let body = content.slice(start as usize..(end + 1).min(len) as usize);
    let breaks_here = fault == Fault::DropModelBinOnce && file == "model.bin" && start <= middle && middle <= end;
    if breaks_here && end > start && !state.dropped.swap(true, Ordering::SeqCst) {
        // Promise the whole range, send half of it, then break the connection off.
        let half = body.slice(..body.len() / 2);
        let chunks: Vec<Result<Bytes, actix_web::Error>> =
            vec![Ok(half), Err(actix_web::error::ErrorInternalServerError("connection dropped"))];
        let stream = futures_util::stream::iter(chunks);
        return response.body(actix_web::body::SizedStream::new(body.len() as u64, stream));
    }
    response.body(body)
}

/// `bytes=A-B` (B clamped to the file) or `bytes=A-`.
fn parse_range(header: &str, len: u64) -> Option<(u64, u64)> {
    let (start, end) = header.strip_prefix("bytes=")?.split_once('-')?;
    let start: u64 = start.parse().ok()?;
    let end = if end.is_empty() { len - 1 } else { end.parse::<u64>().ok()?.min(len - 1) };
    Some((start, end))
}

/// A models directory and a hub cache of its own, and the VAD model the pipeline needs.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("models")).unwrap();
        std::os::unix::fs::symlink(testkit::model("silero-vad"), dir.path().join("models/silero-vad")).unwrap();
        Self { dir }
    }

    fn models(&self) -> PathBuf {
        self.dir.path().join("models")
    }

    /// `worker ARGS --models-dir MODELS` with the hub at `endpoint`.
    fn worker(&self, endpoint: &str, args: &[&str]) -> Output {
        let output = Command::new(env!("CARGO_BIN_EXE_worker"))
            .current_dir(testkit::repo_root())
            .args(args)
            .arg("--models-dir")
            .arg(self.models())
            .env("HF_ENDPOINT", endpoint)
            .env("HF_HOME", self.dir.path().join("hf"))
            .env_remove("HF_TOKEN")
            .env("RUST_LOG", "info")
            .output()
            .expect("run the worker binary");
        eprintln!(
            "worker {args:?}: {}\n--- stdout\n{}--- stderr\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Entries of the models directory besides the VAD model (nothing half-installed).
    fn installed(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.models())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_str().unwrap().to_string())
            .filter(|n| n != "silero-vad")
            .collect();
        names.sort();
        names
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_str().unwrap().to_string()).collect();
    names.sort();
    names
}

#[test]
fn pull_installs_a_model_that_transcribes_then_list_and_remove() {
    let hub = FakeHub::start(TURBO_REPO, Fault::None);
    let scratch = Scratch::new();

    let pulled = scratch.worker(&hub.endpoint, &["models", "pull", "large-v3-turbo"]);
    assert!(pulled.status.success());
    assert_eq!(scratch.installed(), ["whisper-large-v3-turbo"]);
    let dir = scratch.models().join("whisper-large-v3-turbo");
    let mut expected: Vec<String> = hub.state.files.keys().filter(|f| *f != "README.md").cloned().collect();
    expected.sort();
    assert_eq!(file_names(&dir), expected, "the model's files, without the README");
    for file in &expected {
        assert_eq!(std::fs::read(dir.join(file)).unwrap(), hub.state.files[file].as_ref(), "{file}");
    }

    let listed = scratch.worker(&hub.endpoint, &["models", "list"]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    let line = listed.lines().find(|l| l.trim_start().starts_with("large-v3-turbo ")).unwrap();
    assert!(line.contains("ctranslate2") && line.contains("MiB"), "{line}");
    assert!(listed.contains("distil-large-v3") && listed.contains(TURBO_REPO), "{listed}");

    let transcribed = scratch
        .worker(&hub.endpoint, &["transcribe", "samples/jfk.flac", "--model", "large-v3-turbo", "--device", "cpu"]);
    assert!(transcribed.status.success());
    let text = String::from_utf8_lossy(&transcribed.stdout).to_lowercase();
    assert!(text.contains("ask not what your country"), "{text}");

    let again = scratch.worker(&hub.endpoint, &["models", "pull", "large-v3-turbo"]);
    assert!(!again.status.success() && stderr(&again).contains("already installed"));
    // What the worker image's MODELS runs at every start: no download when installed.
    let served = hub.served().len();
    let skipped = scratch.worker(&hub.endpoint, &["models", "pull", "--if-missing", "large-v3-turbo"]);
    assert!(skipped.status.success(), "{}", stderr(&skipped));
    assert_eq!(hub.served().len(), served, "an installed model is not fetched again");

    let escaped = scratch.worker(&hub.endpoint, &["models", "remove", "../silero-vad"]);
    assert!(!escaped.status.success() && stderr(&escaped).contains("not an installed model's name"));
    assert!(scratch.models().join("silero-vad").exists());
    let removed = scratch.worker(&hub.endpoint, &["models", "remove", "large-v3-turbo"]);
    assert!(removed.status.success());
    assert!(scratch.installed().is_empty());
}

#[test]
fn an_interrupted_pull_resumes_where_it_stopped() {
    let hub = FakeHub::start(TURBO_REPO, Fault::DropModelBinOnce);
    let scratch = Scratch::new();

    let broken = scratch.worker(&hub.endpoint, &["models", "pull", "large-v3-turbo"]);
    assert!(!broken.status.success());
    assert!(stderr(&broken).contains("interrupted") && stderr(&broken).contains("resume"));
    assert!(hub.state.dropped.load(Ordering::SeqCst), "the hub never broke a download off");
    assert!(scratch.installed().is_empty(), "a broken pull installed {:?}", scratch.installed());

    let before = hub.served().len();
    let resumed = scratch.worker(&hub.endpoint, &["models", "pull", "large-v3-turbo"]);
    assert!(resumed.status.success());
    assert_eq!(scratch.installed(), ["whisper-large-v3-turbo"]);
    let model = &hub.state.files["model.bin"];
    let installed = std::fs::read(scratch.models().join("whisper-large-v3-turbo/model.bin")).unwrap();
    assert!(installed == model.as_ref(), "the resumed model.bin differs from the hub's");
    // The second pull asked only for what the first had not finished (beyond the one-byte
    // probe each file's metadata takes).
    let second: Vec<(u64, u64)> = hub.served()[before..]
        .iter()
        .filter(|s| s.file == "model.bin")
        .filter_map(|s| s.range)
        .filter(|&(start, end)| (start, end) != (0, 0))
        .collect();
    assert!(!second.is_empty(), "the second pull did not download model.bin");
    let first_byte = second.iter().map(|r| r.0).min().unwrap();
    assert!(first_byte > 0, "the second pull started over: {second:?}");
    let fetched: u64 = second.iter().map(|(start, end)| end + 1 - start).sum();
    assert!(fetched < model.len() as u64, "the second pull fetched {fetched} of {} bytes", model.len());
}

#[test]
fn a_corrupted_file_is_refused_and_nothing_installed() {
    let hub = FakeHub::start(TURBO_REPO, Fault::Corrupt("model.bin"));
    let scratch = Scratch::new();

    let refused = scratch.worker(&hub.endpoint, &["models", "pull", "large-v3-turbo"]);
    assert!(!refused.status.success());
    let message = stderr(&refused);
    assert!(message.contains("model.bin is corrupted") && message.contains("SHA-256"), "{message}");
    assert!(scratch.installed().is_empty(), "a corrupted pull installed {:?}", scratch.installed());

    // The corrupted download was thrown away: once the hub sends the right bytes, a pull works.
    hub.set_fault(Fault::None);
    let pulled = scratch.worker(&hub.endpoint, &["models", "pull", "large-v3-turbo"]);
    assert!(pulled.status.success());
    assert_eq!(scratch.installed(), ["whisper-large-v3-turbo"]);
}

#[test]
fn a_pull_names_what_went_wrong() {
    let scratch = Scratch::new();

    let unknown = scratch.worker("http://127.0.0.1:9", &["models", "pull", "huge"]);
    assert!(!unknown.status.success());
    assert!(stderr(&unknown).contains("unknown model \"huge\"") && stderr(&unknown).contains("large-v3-turbo"));

    let gated = FakeHub::start(TURBO_REPO, Fault::Status(401));
    let refused = scratch.worker(&gated.endpoint, &["models", "pull", "large-v3-turbo"]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("HTTP 401") && stderr(&refused).contains("set HF_TOKEN"));

    // A port nothing listens on: the connection is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let offline = scratch.worker(&endpoint, &["models", "pull", "large-v3-turbo"]);
    assert!(!offline.status.success());
    assert!(stderr(&offline).contains(&format!("cannot reach the model hub at {endpoint}")));
    assert!(scratch.installed().is_empty());
}

#[test]
fn a_full_disk_is_named_and_nothing_installed() {
    let hub = FakeHub::start(TURBO_REPO, Fault::None);
    let scratch = Scratch::new();
    // model.bin's download file in the hub cache is /dev/full, where every write fails with
    // ENOSPC, as on a full disk.
    let sha256 = hex::encode(sha2::Sha256::digest(hub.state.files["model.bin"].as_ref()));
    let blobs = scratch.dir.path().join("hf/hub/models--mobiuslabsgmbh--faster-whisper-large-v3-turbo/blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    std::os::unix::fs::symlink("/dev/full", blobs.join(format!("{sha256}.sync.part"))).unwrap();

    let full = scratch.worker(&hub.endpoint, &["models", "pull", "large-v3-turbo"]);
    assert!(!full.status.success());
    let message = stderr(&full);
    assert!(message.contains("no space left on the device holding") && message.contains("hf/hub"), "{message}");
    assert!(scratch.installed().is_empty(), "a pull on a full disk installed {:?}", scratch.installed());
}

#[test]
fn the_worker_image_entrypoint_pulls_what_models_names_once() {
    let hub = FakeHub::start(TURBO_REPO, Fault::None);
    let scratch = Scratch::new();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_worker")).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    // As the image runs it: configuration from the environment, then `worker "$@"`.
    let start = || {
        Command::new(testkit::repo_root().join("scripts/worker-entrypoint.sh"))
            .current_dir(testkit::repo_root())
            .args(["models", "list"])
            .env("PATH", &path)
            .env("MODELS", "large-v3-turbo, ")
            .env("APP_WORKER__MODELS_DIR", scratch.models())
            .env("HF_ENDPOINT", &hub.endpoint)
            .env("HF_HOME", scratch.dir.path().join("hf"))
            .env_remove("HF_TOKEN")
            .output()
            .expect("run the entrypoint")
    };
    let first = start();
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(scratch.installed(), ["whisper-large-v3-turbo"]);
    let listed = String::from_utf8_lossy(&first.stdout).to_string();
    assert!(listed.lines().any(|l| l.trim_start().starts_with("large-v3-turbo ")), "then runs the worker: {listed}");
    let served = hub.served().len();
    let second = start();
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(hub.served().len(), served, "a restart downloads nothing it has");

    // A name the catalogue does not know stops the start before the worker runs.
    let failed = Command::new(testkit::repo_root().join("scripts/worker-entrypoint.sh"))
        .current_dir(testkit::repo_root())
        .args(["models", "list"])
        .env("PATH", &path)
        .env("MODELS", "large-v9")
        .env("APP_WORKER__MODELS_DIR", scratch.models())
        .env("HF_ENDPOINT", &hub.endpoint)
        .output()
        .unwrap();
    assert!(!failed.status.success() && failed.stdout.is_empty(), "{}", stderr(&failed));
}
