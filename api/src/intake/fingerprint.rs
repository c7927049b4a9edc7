//! The idempotency fingerprint of a submission: a retry with the same `Idempotency-Key` and the
//! same fingerprint returns the earlier job; the same key with another fingerprint is refused.

use jobs::JobInput;
use serde::Serialize;
use sha2::{Digest, Sha256};
use vocab::JobOptions;

/// What identifies a submission's input in its idempotency fingerprint.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HashedInput<'a> {
    Url { url: &'a str },
    Path { path: &'a str },
    Upload { filename: Option<&'a str>, size_bytes: u64, sha256: &'a str },
}

impl<'a> HashedInput<'a> {
    pub fn of(input: &'a JobInput, file_sha256: Option<&'a str>) -> Self {
        match input {
            JobInput::Url { url } => Self::Url { url },
            JobInput::Path { path } => Self::Path { path },
            JobInput::Upload { filename, size_bytes, .. } => Self::Upload {
                filename: filename.as_deref(),
                size_bytes: *size_bytes,
                sha256: file_sha256.unwrap_or(""),
            },
        }
    }
}

/// sha256 of the canonical JSON of input and (validated) options.
pub fn request_hash(input: &HashedInput<'_>, options: &JobOptions) -> String {
    let canonical = serde_json::to_vec(&(input, options)).expect("plain data serializes");
    format!("{:x}", Sha256::digest(&canonical))
}

/// The request fingerprint with the callback folded in (unchanged without one).
pub fn with_callback(hash: String, callback_url: &Option<String>) -> String {
    match callback_url {
        None => hash,
        Some(url) => format!("{:x}", Sha256::digest(format!("{hash}\n{url}").as_bytes())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_hash_depends_on_input_and_options() {
        let a = JobInput::Path { path: "/a.wav".into() };
        let b = JobInput::Path { path: "/b.wav".into() };
        let options = JobOptions::default();
        let hash = |input: &JobInput, options: &JobOptions| request_hash(&HashedInput::of(input, None), options);
        assert_eq!(hash(&a, &options), hash(&a.clone(), &options));
        assert_ne!(hash(&a, &options), hash(&b, &options));
        assert_ne!(hash(&a, &options), hash(&a, &JobOptions { diarize: Some(true), ..Default::default() }));
        assert_eq!(hash(&a, &options).len(), 64);
    }
}
