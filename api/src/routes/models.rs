//! `GET /v1/models`: the Whisper models installed in `worker.models_dir` (directories named
//! `whisper-NAME`), their size on disk, their languages, and which live workers have them loaded;
//! and the names `worker models pull` knows (`vocab::catalog`).

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelView {
    /// What jobs name in `model`, e.g. `tiny.en`.
    #[schema(example = "tiny.en")]
    pub name: String,
    pub size_bytes: u64,
    /// Only English for `.en` models.
    pub english_only: bool,
    /// ISO 639-1 codes the model transcribes.
    pub languages: Vec<String>,
    /// Live workers that have the model loaded.
    pub loaded_on: Vec<String>,
}

/// A model `worker models pull NAME` installs by name.
#[derive(Debug, Serialize, ToSchema)]
pub struct PullableModel {
    #[schema(example = "large-v3-turbo")]
    pub name: String,
    /// The Hugging Face repository it comes from.
    #[schema(example = "mobiuslabsgmbh/faster-whisper-large-v3-turbo")]
    pub repo: String,
    /// Whether `models` lists it.
    pub installed: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelList {
    pub models: Vec<ModelView>,
    /// The names `worker models pull` knows, smallest first; any `owner/repo` on the hub pulls too.
    pub pullable: Vec<PullableModel>,
}

/// Models installed on this machine's `worker.models_dir` (shared with the workers), and the
/// names `worker models pull` installs.
#[utoipa::path(get, path = "/v1/models", tag = "config", operation_id = "getModels",
    responses(
        (status = 200, description = "Installed models", body = ModelList),
        (status = 500, description = "`internal_error`", body = ErrorBody),
    ))]
pub async fn get_models(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let installed = crate::installed::scan(&state.settings.worker.models_dir).await?;
    let workers = state.store.live_workers(state.settings.queue.worker_timeout()).await?;
    let models = installed
        .into_iter()
        .map(|(name, size_bytes)| {
            let english_only = name.ends_with(".en");
            let languages = if english_only {
                vec!["en".to_string()]
            } else {
                jobs::validate::LANGUAGES.iter().map(|l| l.to_string()).collect()
            };
            let loaded_on = workers.iter().filter(|w| w.loaded_models.contains(&name)).map(|w| w.id.clone()).collect();
            ModelView { name, size_bytes, english_only, languages, loaded_on }
        })
        .collect::<Vec<_>>();
    let pullable = vocab::catalog::CATALOG
        .iter()
        .map(|m| PullableModel {
            name: m.name.to_string(),
            repo: m.repo.to_string(),
            installed: models.iter().any(|installed| installed.name == m.name),
        })
        .collect();
    Ok(HttpResponse::Ok().json(ModelList { models, pullable }))
}
