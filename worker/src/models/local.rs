//! The models already in the models directory: listing them, and removing one.

use std::path::{Path, PathBuf};

use vocab::catalog::{self, ModelSource};

use super::ModelsError;

/// An installed `whisper-NAME` directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledModel {
    /// NAME, as `--model` and the jobs' `model` option take it.
    pub name: String,
    pub size: u64,
    pub format: ModelFormat,
}

/// Which of the layouts the speech pipeline loads a model directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFormat {
    /// `model.bin` (faster-whisper's).
    CTranslate2,
    /// `config.json` and `*.safetensors`.
    Transformers,
    /// Neither: the pipeline cannot load it.
    Unknown,
}

impl ModelFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CTranslate2 => "ctranslate2",
            Self::Transformers => "transformers",
            Self::Unknown => "unknown",
        }
    }

    fn of(dir: &Path) -> Self {
        if dir.join("model.bin").is_file() {
            return Self::CTranslate2;
        }
        let has_safetensors = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(".safetensors")));
        if has_safetensors && dir.join("config.json").is_file() {
            Self::Transformers
        } else {
            Self::Unknown
        }
    }
}

/// The installed models, sorted by name; none when the directory does not exist.
pub fn list(models_dir: &Path) -> Result<Vec<InstalledModel>, ModelsError> {
    let installed = catalog::installed(models_dir).map_err(|e| ModelsError::io("reading", models_dir, e))?;
    Ok(installed
        .into_iter()
        .map(|m| InstalledModel { size: m.size_on_disk(), format: ModelFormat::of(&m.dir), name: m.name })
        .collect())
}

/// Deletes the installed model `name` (its installed name, or the catalogue name or
/// `owner/repo` it was pulled as); returns the directory it was in. It is first renamed out of
/// the pipeline's sight, so a half-deleted model is never loaded.
pub fn remove(models_dir: &Path, name: &str) -> Result<PathBuf, ModelsError> {
    let installed = match ModelSource::resolve(name) {
        Ok(source) => source.name,
        Err(_) => name.strip_prefix("whisper-").unwrap_or(name).to_string(),
    };
    if installed.is_empty() || installed.contains(['/', '\\']) || installed.contains("..") || installed.starts_with('.')
    {
        return Err(ModelsError::BadName { given: name.to_string() });
    }
    let dir = models_dir.join(format!("whisper-{installed}"));
    let is_dir = std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir());
    if !is_dir {
        return Err(ModelsError::NotInstalled { name: name.to_string(), dir: models_dir.to_path_buf() });
    }
    let doomed = models_dir.join(format!(".whisper-{installed}.removing"));
    std::fs::rename(&dir, &doomed).map_err(|e| ModelsError::io("moving aside", &dir, e))?;
    std::fs::remove_dir_all(&doomed).map_err(|e| ModelsError::io("deleting", &doomed, e))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_removes_installed_models_only() {
        let dir = tempfile::tempdir().unwrap();
        let models = dir.path();
        std::fs::create_dir_all(models.join("whisper-tiny.en")).unwrap();
        std::fs::write(models.join("whisper-tiny.en/model.bin"), [0u8; 10]).unwrap();
        std::fs::create_dir_all(models.join("whisper-a--b")).unwrap();
        std::fs::write(models.join("whisper-a--b/config.json"), "{}").unwrap();
        std::fs::write(models.join("whisper-a--b/model.safetensors"), [0u8; 5]).unwrap();
        std::fs::create_dir_all(models.join(".whisper-base.partial")).unwrap();
        std::fs::create_dir_all(models.join("silero-vad")).unwrap();

        let listed = list(models).unwrap();
        let summary: Vec<_> = listed.iter().map(|m| (m.name.as_str(), m.size, m.format)).collect();
        assert_eq!(summary, [("a--b", 7, ModelFormat::Transformers), ("tiny.en", 10, ModelFormat::CTranslate2)]);

        for bad in ["../silero-vad", "..", "a/../../x", ".whisper-base.partial"] {
            assert!(matches!(remove(models, bad), Err(ModelsError::BadName { .. })), "{bad} was accepted");
        }
        assert!(matches!(remove(models, "base"), Err(ModelsError::NotInstalled { .. })));
        assert!(models.join("silero-vad").is_dir());
        remove(models, "a/b").unwrap();
        remove(models, "whisper-tiny.en").unwrap();
        assert!(list(models).unwrap().is_empty());
        assert!(!models.join(".whisper-tiny.en.removing").exists());
    }
}
