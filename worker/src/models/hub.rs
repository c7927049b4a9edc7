//! The Hugging Face hub side of a pull, through the `hf-hub` crate: the repository's file list,
//! then each file a Whisper model needs, downloaded into the hub cache (`HF_HOME/hub`, where an
//! interrupted download resumes from its last complete chunk) and verified.

use std::path::PathBuf;

use hf_hub::api::tokio::{Api, ApiBuilder, ApiError, ApiRepo};
use hf_hub::{Cache, Repo, RepoType};
use indicatif::{HumanBytes, ProgressBar};
use tracing::info;

use super::error::chain;
use super::{verify, ModelsError};

const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// A verified file in the hub cache.
#[derive(Debug)]
pub struct Fetched {
    /// Its name in the repository (and in the installed model).
    pub name: String,
    /// Where its content is.
    pub path: PathBuf,
}

pub struct Hub {
    api: Api,
    cache: Cache,
    endpoint: String,
}

impl Hub {
    /// The hub at `HF_ENDPOINT` (default huggingface.co), the cache in `HF_HOME`, and the token
    /// in `HF_TOKEN` or else the one `huggingface-cli login` saved there.
    pub fn from_env() -> Result<Self, ModelsError> {
        let endpoint = std::env::var("HF_ENDPOINT")
            .ok()
            .filter(|e| !e.is_empty())
            .map(|e| e.trim_end_matches('/').to_string())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        let cache = Cache::from_env();
        let token = std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty()).or_else(|| cache.token());
        let api = ApiBuilder::from_cache(cache.clone())
            .with_endpoint(endpoint.clone())
            .with_token(token)
            .with_progress(false)
            .build()
            .map_err(|e| ModelsError::Client(chain(&e)))?;
        Ok(Self { api, cache, endpoint })
    }

    /// The files of `repo_id` at `revision` that a Whisper model needs, each downloaded (or
    /// found in the cache) and verified. A corrupted file is deleted from the cache.
    pub async fn fetch(&self, repo_id: &str, revision: &str) -> Result<Vec<Fetched>, ModelsError> {
        let at = |what: &str| Request {
            endpoint: &self.endpoint,
            cache: self.cache.path(),
            repo: repo_id,
            revision,
            what: what.to_string(),
        };
        let listing = self.api.repo(Repo::with_revision(repo_id.to_string(), RepoType::Model, revision.to_string()));
        let repo_info = listing.info().await.map_err(|e| at("the file listing").error(e))?;
        let names = model_files(repo_id, repo_info.siblings.iter().map(|s| s.rfilename.as_str()))?;
        // Every file from the commit the listing named, whatever the branch does meanwhile.
        let pinned = Repo::with_revision(repo_id.to_string(), RepoType::Model, repo_info.sha.clone());
        let repo = self.api.repo(pinned.clone());
        let cached = self.cache.repo(pinned);
        info!(repo = repo_id, revision, commit = %repo_info.sha, files = names.len(), "pulling");
        let mut fetched = Vec::with_capacity(names.len());
        for name in names {
            let metadata = self.api.metadata(&repo.url(&name)).await.map_err(|e| at(&name).error(e))?;
            let path = match cached.get(&name) {
                Some(path) => path,
                None => {
                    info!(file = %name, size = %HumanBytes(metadata.size() as u64), "downloading");
                    download(&repo, &name).await.map_err(|e| at(&name).error(e))?
                }
            };
            if let Err(e) = verify::file(&path, &name, metadata.etag(), metadata.size()) {
                discard(&path);
                return Err(e);
            }
            fetched.push(Fetched { name, path });
        }
        Ok(fetched)
    }
}

async fn download(repo: &ApiRepo, name: &str) -> Result<PathBuf, ApiError> {
    // Drawn only when stderr is a terminal.
    repo.download_with_progress(name, ProgressBar::new(0)).await
}

/// Removes a cached file (the snapshot's link and the blob it points to), so that the next pull
/// downloads it again.
fn discard(pointer: &std::path::Path) {
    if let Ok(blob) = std::fs::canonicalize(pointer) {
        let _ = std::fs::remove_file(blob);
    }
    let _ = std::fs::remove_file(pointer);
}

/// The files among `files` that a Whisper model needs (CTranslate2 or transformers layout),
/// sorted; refuses a repository without configuration or weights.
pub fn model_files<'a>(repo: &str, files: impl Iterator<Item = &'a str>) -> Result<Vec<String>, ModelsError> {
    let all: Vec<&str> = files.collect();
    let mut wanted: Vec<String> = all.iter().filter(|f| is_model_file(f)).map(|f| f.to_string()).collect();
    wanted.sort();
    let has_weights = wanted.iter().any(|f| f == "model.bin" || f.ends_with(".safetensors"));
    if !has_weights || !wanted.iter().any(|f| f == "config.json") {
        return Err(ModelsError::NotWhisper { repo: repo.to_string(), files: all.join(", ") });
    }
    Ok(wanted)
}

/// Configuration, tokenizer and vocabulary files, and the weights: `model.bin` (CTranslate2) or
/// `model*.safetensors` (transformers); not the same weights in other frameworks' formats.
fn is_model_file(name: &str) -> bool {
    const NAMED: &[&str] = &[
        "config.json",
        "generation_config.json",
        "preprocessor_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "added_tokens.json",
        "normalizer.json",
        "vocab.json",
        "merges.txt",
        "model.bin",
        "model.safetensors.index.json",
    ];
    !name.contains('/')
        && (NAMED.contains(&name)
            || name.starts_with("vocabulary.")
            || (name.starts_with("model") && name.ends_with(".safetensors")))
}

/// What a hub request was about, to say so when it fails.
struct Request<'a> {
    endpoint: &'a str,
    cache: &'a std::path::Path,
    repo: &'a str,
    revision: &'a str,
    what: String,
}

impl Request<'_> {
    fn error(self, error: ApiError) -> ModelsError {
        match error {
            ApiError::RequestError(e) => self.request_error(e),
            ApiError::TooManyRetries(inner) => self.error(*inner),
            ApiError::IoError(e) => ModelsError::io("writing the hub cache", self.cache, e),
            other => ModelsError::Client(format!("{}: {}", self.what, chain(&other))),
        }
    }

    fn request_error(self, e: reqwest::Error) -> ModelsError {
        let endpoint = self.endpoint.to_string();
        if e.is_connect() {
            return ModelsError::Unreachable { endpoint, reason: chain(&e) };
        }
        match e.status().map(|s| s.as_u16()) {
            Some(status @ (401 | 403)) => ModelsError::Unauthorized { repo: self.repo.to_string(), endpoint, status },
            Some(404) => ModelsError::NotFound {
                repo: self.repo.to_string(),
                revision: self.revision.to_string(),
                what: self.what,
                endpoint,
            },
            Some(status) => ModelsError::Hub { endpoint, status, what: self.what },
            None if is_malformed_json(&e) => {
                ModelsError::Client(format!("{}: unreadable answer: {}", self.what, chain(&e)))
            }
            // Broken off mid-answer (connection reset, timeout, truncated body).
            None => ModelsError::Interrupted { file: self.what, reason: chain(&e) },
        }
    }
}

/// Whether the answer arrived whole but was not the JSON expected (reqwest calls both that and a
/// body cut short "decoding" errors).
fn is_malformed_json(error: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.is::<serde_json::Error>() {
            return true;
        }
        source = cause.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_a_whisper_model_needs_is_fetched() {
        let repo = [
            ".gitattributes",
            "README.md",
            "config.json",
            "model.bin",
            "tokenizer.json",
            "vocabulary.txt",
            "pytorch_model.bin",
            "flax_model.msgpack",
            "model.safetensors",
            "onnx/encoder.onnx",
        ];
        let files = model_files("a/b", repo.into_iter()).unwrap();
        assert_eq!(files, ["config.json", "model.bin", "model.safetensors", "tokenizer.json", "vocabulary.txt"]);
        let err = model_files("a/b", ["README.md", "pytorch_model.bin", "config.json"].into_iter()).unwrap_err();
        assert!(matches!(err, ModelsError::NotWhisper { .. }), "{err}");
    }
}
