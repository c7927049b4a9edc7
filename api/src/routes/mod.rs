//! One module per resource. Handlers are plain functions registered in [`configure`] and
//! documented with `#[utoipa::path]` (see `crate::openapi`).

pub mod config;
pub mod health;
pub mod jobs;
pub mod logs;
pub mod models;
pub mod openai;
pub mod results;
pub mod submit;
pub mod upload;
pub mod workers;

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::startup::AppState;
use ::jobs::Job;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/health").route(web::get().to(health::health)))
        .service(resource("/ready").route(web::get().to(health::ready)))
        .service(resource("/metrics").route(web::get().to(health::metrics)))
        .service(resource("/v1/jobs").route(web::post().to(submit::submit_job)).route(web::get().to(jobs::get_jobs)))
        .service(
            resource("/v1/jobs/{id}")
                .route(web::get().to(jobs::get_job_status))
                .route(web::delete().to(jobs::delete_job)),
        )
        .service(resource("/v1/jobs/{id}/result").route(web::get().to(results::get_job_result)))
        .service(resource("/v1/jobs/{id}/cancel").route(web::post().to(jobs::cancel_job)))
        .service(resource("/v1/jobs/{id}/logs").route(web::get().to(logs::get_logs)))
        .service(resource("/v1/workers").route(web::get().to(workers::get_server_status)))
        .service(resource("/v1/workers/gc").route(web::post().to(workers::collect_worker_models)))
        .service(
            resource("/v1/config").route(web::get().to(config::get_config)).route(web::put().to(config::set_config)),
        )
        .service(resource("/v1/config/options").route(web::get().to(config::get_config_options)))
        .service(resource("/v1/models").route(web::get().to(models::get_models)))
        .service(resource("/v1/audio/transcriptions").route(web::post().to(openai::create_transcription)))
        .service(resource("/v1/audio/translations").route(web::post().to(openai::create_translation)));
}

/// A resource whose wrong-method answer is a 405 in the error shape.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::RouteNotFound(format!("{} {}", req.method(), req.path())))
}

async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed(req.method().to_string()))
}

/// The job, if it exists and the caller may see it; another key's job is "not found" too.
pub async fn visible_job(state: &AppState, caller: &Caller, id: Uuid) -> Result<Job, ApiError> {
    match state.store.get(id).await? {
        Some(job) if caller.can_see(&job) => Ok(job),
        _ => Err(ApiError::JobNotFound(id)),
    }
}

/// [`visible_job`] through the job cache: possibly as old as the last notification not yet
/// heard (milliseconds), so only for reads that show the job, never for decisions that write.
pub async fn visible_job_cached(state: &AppState, caller: &Caller, id: Uuid) -> Result<Arc<Job>, ApiError> {
    match state.jobs.get(&state.store, id).await? {
        Some(job) if caller.can_see(&job) => Ok(job),
        _ => Err(ApiError::JobNotFound(id)),
    }
}

/// Parses the `{id}` path segment.
pub fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::InvalidJobId(raw.chars().take(64).collect()))
}
