//! The Whisper models `worker models pull` knows by name, each with the Hugging Face repository it
//! comes from (faster-whisper's names and CTranslate2 conversions, as its `utils._MODELS` maps
//! them), and the name a model is installed under (`models_dir/whisper-NAME`). Defined once here
//! so the worker, which downloads them, and the api, which lists models, agree.

use std::path::{Path, PathBuf};

use crate::names::or_list;

/// A model is installed as `models_dir/whisper-NAME`.
pub const DIR_PREFIX: &str = "whisper-";

/// A model known by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogModel {
    pub name: &'static str,
    /// `owner/repo` on the Hugging Face hub.
    pub repo: &'static str,
}

const fn entry(name: &'static str, repo: &'static str) -> CatalogModel {
    CatalogModel { name, repo }
}

/// Every model `pull` knows by name, smallest first.
pub const CATALOG: &[CatalogModel] = &[
    entry("tiny", "Systran/faster-whisper-tiny"),
    entry("tiny.en", "Systran/faster-whisper-tiny.en"),
    entry("base", "Systran/faster-whisper-base"),
    entry("base.en", "Systran/faster-whisper-base.en"),
    entry("small", "Systran/faster-whisper-small"),
    entry("small.en", "Systran/faster-whisper-small.en"),
    entry("medium", "Systran/faster-whisper-medium"),
    entry("medium.en", "Systran/faster-whisper-medium.en"),
    entry("large-v1", "Systran/faster-whisper-large-v1"),
    entry("large-v2", "Systran/faster-whisper-large-v2"),
    entry("large-v3", "Systran/faster-whisper-large-v3"),
    entry("large-v3-turbo", "mobiuslabsgmbh/faster-whisper-large-v3-turbo"),
    entry("distil-large-v3", "Systran/faster-distil-whisper-large-v3"),
];

/// Joins a repository's owner and name in its installed name: `owner/repo` installs as
/// `whisper-owner--repo`. Hub names never hold `--`, so the name reads back unambiguously.
pub const REPO_SEPARATOR: &str = "--";

/// What a pull fetches, and where it lands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSource {
    /// The installed name: the catalogue name, or `owner--repo`. The model is used by this name.
    pub name: String,
    /// `owner/repo` on the hub.
    pub repo: String,
}

impl ModelSource {
    /// A catalogue name, or any `owner/repo` on the hub.
    pub fn resolve(name: &str) -> Result<Self, ModelNameError> {
        if let Some(model) = CATALOG.iter().find(|m| m.name == name) {
            return Ok(Self { name: model.name.to_string(), repo: model.repo.to_string() });
        }
        let Some((owner, repo)) = name.split_once('/') else {
            return Err(ModelNameError::Unknown { given: name.to_string() });
        };
        if !is_hub_name(owner) || !is_hub_name(repo) {
            return Err(ModelNameError::InvalidRepo { given: name.to_string() });
        }
        Ok(Self { name: format!("{owner}{REPO_SEPARATOR}{repo}"), repo: name.to_string() })
    }

    /// The model's directory name inside the models directory.
    pub fn dir_name(&self) -> String {
        format!("{DIR_PREFIX}{}", self.name)
    }
}

/// One side of `owner/repo` as the hub allows it: letters, digits, `-`, `_`, `.`, not starting
/// or ending with `-` or `.`, no `--` or `..` (so it can neither escape a directory nor blur
/// [`REPO_SEPARATOR`]), at most 96 characters.
fn is_hub_name(part: &str) -> bool {
    let edge_ok = |c: char| c.is_ascii_alphanumeric() || c == '_';
    !part.is_empty()
        && part.len() <= 96
        && part.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && part.starts_with(edge_ok)
        && part.ends_with(edge_ok)
        && !part.contains("--")
        && !part.contains("..")
}

/// An installed model: a `whisper-NAME` directory of the models directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledModel {
    /// NAME, as `--model` and the jobs' `model` option take it.
    pub name: String,
    pub dir: PathBuf,
}

impl InstalledModel {
    /// The bytes of the files under the model's directory.
    pub fn size_on_disk(&self) -> u64 {
        size_on_disk(&self.dir)
    }
}

/// The models installed in `models_dir`, sorted by name; none when it does not exist. Hidden
/// directories (a pull's `.whisper-NAME.partial`) are not models.
pub fn installed(models_dir: &Path) -> std::io::Result<Vec<InstalledModel>> {
    let entries = match std::fs::read_dir(models_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(e),
    };
    let mut models = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)).map(str::to_string) else {
            continue;
        };
        let dir = entry.path();
        if dir.is_dir() {
            models.push(InstalledModel { name, dir });
        }
    }
    models.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(models)
}

fn size_on_disk(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => size_on_disk(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// A name `pull` cannot fetch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelNameError {
    #[error(
        "unknown model {given:?}: known names are {}; or name a Hugging Face repository as owner/repo",
        known_names()
    )]
    Unknown { given: String },
    #[error(
        "{given:?} is not a Hugging Face repository name (owner/repo: letters, digits, '-', '_', '.', no '--' or '..')"
    )]
    InvalidRepo { given: String },
}

/// The catalogue's names, `a, b or c`.
pub fn known_names() -> String {
    or_list(&CATALOG.iter().map(|m| m.name).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_names_resolve_to_their_repositories() {
        let turbo = ModelSource::resolve("large-v3-turbo").unwrap();
        assert_eq!(turbo.repo, "mobiuslabsgmbh/faster-whisper-large-v3-turbo");
        assert_eq!(turbo.dir_name(), "whisper-large-v3-turbo");
        assert_eq!(ModelSource::resolve("tiny.en").unwrap().repo, "Systran/faster-whisper-tiny.en");
        let names: std::collections::BTreeSet<_> = CATALOG.iter().map(|m| m.name).collect();
        assert_eq!(names.len(), CATALOG.len(), "a name is listed twice");
    }

    #[test]
    fn a_repository_installs_under_owner_and_name() {
        let source = ModelSource::resolve("Systran/faster-whisper-small").unwrap();
        assert_eq!(source.name, "Systran--faster-whisper-small");
        assert_eq!(source.dir_name(), "whisper-Systran--faster-whisper-small");
    }

    #[test]
    fn names_that_could_escape_or_blur_are_refused() {
        for bad in ["../etc", "a/..", "a/b/c", "a/", "/b", "a--b/c", "a/.hidden", "a/b c", "a/-b"] {
            assert!(matches!(ModelSource::resolve(bad), Err(ModelNameError::InvalidRepo { .. })), "{bad} was accepted");
        }
    }

    #[test]
    fn an_unknown_name_lists_the_known_ones() {
        let err = ModelSource::resolve("huge").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("\"huge\"") && text.contains("large-v3-turbo") && text.contains("owner/repo"), "{text}");
    }
}
