//! Brings a job's input to a local file: stored uploads and server paths are read in place,
//! URLs are downloaded with a size limit, a timeout, and the address policy enforced on every
//! resolved address and every redirect.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use jobs::config::InputSettings;
use jobs::{validate, AudioStorage, JobInput};
use reqwest::dns::{Name, Resolve, Resolving};
use tokio::io::AsyncWriteExt;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("the uploaded audio is missing from storage")]
    UploadMissing,
    #[error("input path refused: {0}")]
    Path(#[from] validate::PathRefused),
    #[error("URL refused: {0}")]
    UrlRefused(String),
    #[error("download failed: {0}")]
    Download(String),
    #[error("download is larger than the {0} MB limit")]
    TooLarge(u64),
    #[error("download did not finish within {0} s")]
    Timeout(u64),
    #[error("canceled")]
    Canceled,
    #[error("local storage: {0}")]
    Io(#[from] std::io::Error),
}

impl FetchError {
    pub fn code(&self) -> &'static str {
        match self {
            FetchError::UploadMissing => "input_missing",
            FetchError::Path(validate::PathRefused::NotFound(_)) => "input_missing",
            FetchError::Path(_) => "path_not_allowed",
            FetchError::UrlRefused(_) => "url_not_allowed",
            FetchError::Download(_) => "download_failed",
            FetchError::TooLarge(_) => "input_too_large",
            FetchError::Timeout(_) => "download_timeout",
            FetchError::Canceled => "canceled",
            FetchError::Io(_) => "storage_error",
        }
    }
}

/// A local file holding the input; a downloaded one is removed when this is dropped.
pub struct LocalInput {
    pub path: PathBuf,
    temporary: bool,
}

impl Drop for LocalInput {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

pub struct Fetcher {
    storage: AudioStorage,
    inputs: InputSettings,
    roots: Vec<PathBuf>,
    work_dir: PathBuf,
    client: reqwest::Client,
}

impl Fetcher {
    pub fn new(storage: AudioStorage, inputs: InputSettings, work_dir: PathBuf) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&work_dir)?;
        let roots = validate::canonical_roots(&inputs.path_roots);
        let allow_private = inputs.allow_private_urls;
        let client = reqwest::Client::builder()
            .no_proxy() // a proxy would resolve names itself, around the address policy
            .dns_resolver(Arc::new(PolicyResolver { allow_private }))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= 5 {
                    attempt.error("more than 5 redirects")
                } else if let Err(e) = jobs::net::check_url(attempt.url().as_str(), allow_private) {
                    attempt.error(format!("redirect refused: {e}"))
                } else {
                    attempt.follow()
                }
            }))
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(inputs.url_timeout_secs))
            .user_agent(concat!("transcribe-worker/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { storage, inputs, roots, work_dir, client })
    }

    pub async fn fetch(
        &self,
        job_id: uuid::Uuid,
        input: &JobInput,
        cancel: &AtomicBool,
    ) -> Result<LocalInput, FetchError> {
        match input {
            JobInput::Upload { key, .. } => {
                let path = self.storage.path(key).ok_or(FetchError::UploadMissing)?;
                if !path.is_file() {
                    return Err(FetchError::UploadMissing);
                }
                Ok(LocalInput { path, temporary: false })
            }
            // Checked again here: this worker's roots may differ from the api's, and the
            // file may have changed since submission.
            JobInput::Path { path } => {
                Ok(LocalInput { path: validate::input_path(&self.roots, path)?, temporary: false })
            }
            JobInput::Url { url } => {
                let target = self.work_dir.join(format!("{job_id}.download"));
                let local = LocalInput { path: target, temporary: true };
                self.download(url, &local.path, cancel).await?;
                Ok(local)
            }
        }
    }

    /// Downloads `url` to `target`, stopping within 100 ms of `cancel` being raised.
    async fn download(&self, url: &str, target: &Path, cancel: &AtomicBool) -> Result<(), FetchError> {
        tokio::select! {
            done = self.download_to(url, target) => done,
            _ = raised(cancel) => Err(FetchError::Canceled),
        }
    }

    async fn download_to(&self, url: &str, target: &Path) -> Result<(), FetchError> {
        let url = jobs::net::check_url(url, self.inputs.allow_private_urls)
            .map_err(|e| FetchError::UrlRefused(e.to_string()))?;
        let limit = self.inputs.url_max_mb * 1024 * 1024;
        let timeout = self.inputs.url_timeout_secs;
        let response = self.client.get(url).send().await.map_err(|e| describe(e, timeout))?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Download(format!("the server answered {status}")));
        }
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(FetchError::TooLarge(self.inputs.url_max_mb));
        }
        let mut file = tokio::fs::File::create(target).await?;
        let mut written: u64 = 0;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| describe(e, timeout))?;
            written += chunk.len() as u64;
            if written > limit {
                return Err(FetchError::TooLarge(self.inputs.url_max_mb));
            }
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        Ok(())
    }
}

async fn raised(flag: &AtomicBool) {
    while !flag.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn describe(e: reqwest::Error, timeout: u64) -> FetchError {
    if e.is_timeout() {
        return FetchError::Timeout(timeout);
    }
    // The resolver's and the redirect policy's refusals are in the error's sources.
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let text = s.to_string();
        if text.contains("not allowed") || text.contains("refused") {
            return FetchError::UrlRefused(text);
        }
        message = format!("{message}: {text}");
        source = s.source();
    }
    FetchError::Download(message)
}

/// Resolves names with the system resolver and drops forbidden addresses.
struct PolicyResolver {
    allow_private: bool,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> =
                addrs.iter().copied().filter(|a| allow_private || !jobs::net::is_forbidden(a.ip())).collect();
            if allowed.is_empty() && !addrs.is_empty() {
                let err: Box<dyn std::error::Error + Send + Sync> = format!(
                    "{host} resolves to a loopback, private, link-local or metadata address, which is not allowed"
                )
                .into();
                return Err(err);
            }
            Ok(Box::new(allowed.into_iter()) as Box<dyn Iterator<Item = SocketAddr> + Send>)
        })
    }
}
