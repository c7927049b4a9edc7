//! Which Whisper models this service can run: the `whisper-NAME` directories in
//! `worker.models_dir` (shared with the workers), and what live workers report loaded. Both the
//! model listing and the submission check read it, so a job never names a model nobody has.

use std::path::Path;

use crate::error::ApiError;
use crate::state::AppState;

/// `(name, size on disk)` of each installed model, sorted by name. A missing directory is none.
pub async fn scan(dir: &Path) -> Result<Vec<(String, u64)>, ApiError> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || scan_dir(&dir)).await.map_err(ApiError::internal)
}

/// Refuses a job option `model` that neither the models directory holds nor a live worker has
/// loaded, naming the models that are there.
pub async fn require(state: &AppState, model: Option<&str>) -> Result<(), ApiError> {
    let Some(name) = model else { return Ok(()) };
    let bare = name.strip_prefix("whisper-").unwrap_or(name);
    let mut installed: Vec<String> =
        scan(&state.settings.worker.models_dir).await?.into_iter().map(|(name, _)| name).collect();
    if installed.iter().any(|n| n == bare) {
        return Ok(());
    }
    let workers = state.store.live_workers(state.settings.queue.worker_timeout()).await?;
    if workers.iter().any(|w| w.loaded_models.iter().any(|m| m == bare || m == name)) {
        return Ok(());
    }
    installed.extend(workers.into_iter().flat_map(|w| w.loaded_models));
    installed.sort();
    installed.dedup();
    Err(ApiError::ModelNotInstalled { name: name.to_string(), installed })
}

fn scan_dir(dir: &Path) -> Vec<(String, u64)> {
    // An unreadable directory lists nothing, as a missing one does.
    let installed = vocab::catalog::installed(dir).unwrap_or_default();
    installed
        .into_iter()
        .map(|m| {
            let size = m.size_on_disk();
            (m.name, size)
        })
        .collect()
}
