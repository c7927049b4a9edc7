//! Audio storage for uploads: a local directory, shared with workers on other machines.

use std::io;
use std::path::{Path, PathBuf};

use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct AudioStorage {
    dir: PathBuf,
}

impl AudioStorage {
    pub fn new(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    /// The key under which a job's upload is stored.
    pub fn key_for(job_id: Uuid) -> String {
        format!("{job_id}.audio")
    }

    /// Where the object with `key` lives; `None` for keys that could escape the directory.
    pub fn path(&self, key: &str) -> Option<PathBuf> {
        let safe = !key.is_empty()
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            && !key.starts_with('.');
        safe.then(|| self.dir.join(key))
    }

    /// A temporary path beside the final one; rename it into place when the upload completes.
    pub fn partial_path(&self, key: &str) -> Option<PathBuf> {
        self.path(key).map(|p| p.with_extension("partial"))
    }

    /// Removes a stored object; a missing one is fine.
    pub async fn delete(&self, key: &str) -> io::Result<()> {
        let Some(path) = self.path(key) else { return Ok(()) };
        remove_if_present(&path).await
    }
}

pub async fn remove_if_present(path: &Path) -> io::Result<()> {
    match tokio::fs::remove_file(path).await {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
