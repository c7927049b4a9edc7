//! `worker models pull|list|remove`: the Whisper models in `worker.models_dir`, each a
//! `whisper-NAME` directory the speech pipeline loads by NAME.
//!
//! A pull lists the repository on the Hugging Face hub ([`hub`]), downloads the files a Whisper
//! model needs into the hub cache (`HF_HOME`; interrupted downloads resume there), checks each
//! against the hub's checksum ([`verify`]), and only then installs them under their final name
//! in one rename ([`install`]), so a half-downloaded model is never loadable. The names pull
//! knows are `vocab::catalog`'s.

pub mod cli;
mod error;
mod hub;
mod install;
mod local;
mod verify;

pub use error::ModelsError;
pub use local::{list, remove, InstalledModel, ModelFormat};

use std::path::{Path, PathBuf};

use vocab::catalog::ModelSource;

/// The directory `name` (a catalogue name or `owner/repo`) is installed in, if it is.
pub fn installed_dir(name: &str, models_dir: &Path) -> Result<Option<PathBuf>, ModelsError> {
    let target = models_dir.join(ModelSource::resolve(name)?.dir_name());
    Ok(target.exists().then_some(target))
}

/// Downloads `name` (a catalogue name or `owner/repo`) at `revision` (default `main`) and
/// installs it in `models_dir`; returns the model's directory.
pub async fn pull(name: &str, revision: Option<&str>, models_dir: &Path) -> Result<PathBuf, ModelsError> {
    let source = ModelSource::resolve(name)?;
    let target = models_dir.join(source.dir_name());
    if target.exists() {
        return Err(ModelsError::AlreadyInstalled { name: source.name, path: target });
    }
    let hub = hub::Hub::from_env()?;
    let files = hub.fetch(&source.repo, revision.unwrap_or("main")).await?;
    install::install(models_dir, &source.dir_name(), &files)
}
