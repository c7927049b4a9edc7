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
    let Ok(entries) = std::fs::read_dir(dir) else { return vec![] };
    let mut models: Vec<(String, u64)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| {
            let name = e.file_name().to_str()?.strip_prefix("whisper-")?.to_string();
            Some((name, size_on_disk(&e.path())))
        })
        .collect();
    models.sort();
    models
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
