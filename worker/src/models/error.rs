//! What can go wrong managing models, each case saying what to do about it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelsError {
    #[error(transparent)]
    Name(#[from] vocab::catalog::ModelNameError),
    #[error(
        "{endpoint} refused access to {repo} (HTTP {status}): it is gated, private or does not exist; \
         for a gated or private repository set HF_TOKEN to a token that may read it (and accept its terms on the hub)"
    )]
    Unauthorized { repo: String, endpoint: String, status: u16 },
    #[error("{endpoint} has no {what} in {repo} at revision {revision:?} (HTTP 404)")]
    NotFound { repo: String, revision: String, what: String, endpoint: String },
    #[error(
        "cannot reach the model hub at {endpoint} (no network?): {reason}; HF_ENDPOINT names another hub or mirror"
    )]
    Unreachable { endpoint: String, reason: String },
    #[error("the download of {file} was interrupted: {reason}; run the same pull again to resume it")]
    Interrupted { file: String, reason: String },
    #[error("no space left on the device holding {}: free some, then run the pull again (it resumes)", path.display())]
    DiskFull { path: PathBuf },
    #[error(
        "{file} is corrupted: its {algorithm} is {actual}, the hub says {expected}; \
         the file was deleted and nothing was installed"
    )]
    Corrupt { file: String, algorithm: &'static str, expected: String, actual: String },
    #[error("the hub gives no checksum this client can check for {file} (ETag {etag:?}); an unverified file is not installed")]
    Unverifiable { file: String, etag: String },
    #[error(
        "{repo} holds no Whisper model: expected config.json with model.bin (CTranslate2) or \
         *.safetensors (transformers); it has {files}"
    )]
    NotWhisper { repo: String, files: String },
    #[error("{name} is already installed at {}; remove it first (worker models remove {name})", path.display())]
    AlreadyInstalled { name: String, path: PathBuf },
    #[error("no model {name:?} is installed in {}", dir.display())]
    NotInstalled { name: String, dir: PathBuf },
    #[error("{given:?} is not an installed model's name (it must not hold '/', '\\' or '..')")]
    BadName { given: String },
    #[error("the hub at {endpoint} answered HTTP {status} for {what}")]
    Hub { endpoint: String, status: u16, what: String },
    #[error("model hub client: {0}")]
    Client(String),
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ModelsError {
    /// An I/O failure on `path`; a full disk gets its own error, since freeing space is the fix.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::StorageFull {
            Self::DiskFull { path }
        } else {
            Self::Io { action, path, source }
        }
    }
}

/// An error and its causes, `a: b: c` (reqwest's own message leaves out why a connection failed).
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}
