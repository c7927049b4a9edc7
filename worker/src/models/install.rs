//! Puts verified files in place as one model: they are gathered in `.whisper-NAME.partial`
//! (hidden from the pipeline and the api, which look for `whisper-*`), which is then renamed to
//! `whisper-NAME` in one step.

use std::path::{Path, PathBuf};

use super::hub::Fetched;
use super::ModelsError;

/// Installs `files` as `models_dir/dir_name`; returns that directory.
pub fn install(models_dir: &Path, dir_name: &str, files: &[Fetched]) -> Result<PathBuf, ModelsError> {
    std::fs::create_dir_all(models_dir).map_err(|e| ModelsError::io("creating", models_dir, e))?;
    let partial = Partial::create(models_dir.join(format!(".{dir_name}.partial")))?;
    for file in files {
        link_or_copy(&file.path, &partial.0.join(&file.name))?;
    }
    let target = models_dir.join(dir_name);
    if target.exists() {
        let name = dir_name.strip_prefix("whisper-").unwrap_or(dir_name).to_string();
        return Err(ModelsError::AlreadyInstalled { name, path: target });
    }
    std::fs::rename(&partial.0, &target).map_err(|e| ModelsError::io("renaming into place", &target, e))?;
    Ok(target)
}

/// A hard link to the cached file when both are on one file system (no second copy on disk),
/// else a copy.
fn link_or_copy(cached: &Path, to: &Path) -> Result<(), ModelsError> {
    let source = std::fs::canonicalize(cached).map_err(|e| ModelsError::io("resolving", cached, e))?;
    if std::fs::hard_link(&source, to).is_ok() {
        return Ok(());
    }
    std::fs::copy(&source, to).map(drop).map_err(|e| ModelsError::io("copying into", to, e))
}

/// The staging directory; removed unless it was renamed into place.
struct Partial(PathBuf);

impl Partial {
    /// A fresh one: a stale one from an interrupted install is removed first.
    fn create(path: PathBuf) -> Result<Self, ModelsError> {
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(|e| ModelsError::io("removing the stale", &path, e))?;
        }
        std::fs::create_dir(&path).map_err(|e| ModelsError::io("creating", &path, e))?;
        Ok(Self(path))
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if self.0.exists() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
