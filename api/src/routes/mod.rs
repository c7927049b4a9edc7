//! One module per resource. Handlers are plain functions registered in [`configure`] and
//! documented with `#[utoipa::path]` (see `crate::openapi`).

pub mod batches;
pub mod config;
pub mod docs;
pub mod events;
pub mod health;
pub mod jobs;
pub mod logs;
pub mod models;
pub mod openai;
pub mod results;
pub mod submit;
pub mod workers;

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/health").route(web::get().to(health::health)))
        .service(resource("/ready").route(web::get().to(health::ready)))
        .service(resource("/metrics").route(web::get().to(health::metrics)))
        .service(resource("/docs").route(web::get().to(docs::page)))
        .service(resource("/v1/jobs").route(web::post().to(submit::submit_job)).route(web::get().to(jobs::get_jobs)))
        .service(
            resource("/v1/jobs/{id}")
                .route(web::get().to(jobs::get_job_status))
                .route(web::delete().to(jobs::delete_job)),
        )
        .service(resource("/v1/jobs/{id}/result").route(web::get().to(results::get_job_result)))
        .service(resource("/v1/jobs/{id}/cancel").route(web::post().to(jobs::cancel_job)))
        .service(resource("/v1/jobs/{id}/logs").route(web::get().to(logs::get_logs)))
        .service(resource("/v1/jobs/{id}/events").route(web::get().to(events::get_job_events)))
        .service(resource("/v1/jobs/{id}/ws").route(web::get().to(events::get_job_events_ws)))
        .service(resource("/v1/batches").route(web::post().to(batches::submit_batch)))
        .service(
            resource("/v1/batches/{id}")
                .route(web::get().to(batches::get_batch))
                .route(web::delete().to(batches::delete_batch)),
        )
        .service(resource("/v1/batches/{id}/cancel").route(web::post().to(batches::cancel_batch)))
        .service(resource("/v1/workers").route(web::get().to(workers::get_server_status)))
        .service(resource("/v1/workers/gc").route(web::post().to(workers::collect_worker_models)))
        .service(resource("/v1/workers/{id}/drain").route(web::post().to(workers::drain_worker)))
        .service(resource("/v1/workers/{id}/restart").route(web::post().to(workers::restart_worker)))
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
    let allowed = req
        .app_data::<web::Data<AllowedMethods>>()
        .and_then(|methods| methods.get(req.match_pattern().as_deref().unwrap_or(req.path())))
        .unwrap_or("GET")
        .to_string();
    Err(ApiError::MethodNotAllowed { method: req.method().to_string(), allowed })
}

/// The methods each route answers, read from the OpenAPI document (which the handlers generate),
/// so that a 405's `Allow` header never disagrees with the routes. Routes outside the document
/// (`/docs`) answer `GET` only.
#[derive(Debug, Default)]
pub struct AllowedMethods(HashMap<String, String>);

impl AllowedMethods {
    pub fn from_spec(spec: &utoipa::openapi::OpenApi) -> Self {
        let methods = spec.paths.paths.iter().map(|(path, item)| {
            let ops = [
                ("GET", &item.get),
                ("HEAD", &item.head),
                ("POST", &item.post),
                ("PUT", &item.put),
                ("PATCH", &item.patch),
                ("DELETE", &item.delete),
                ("OPTIONS", &item.options),
            ];
            let allowed: Vec<&str> = ops.iter().filter(|(_, op)| op.is_some()).map(|(name, _)| *name).collect();
            (path.clone(), allowed.join(", "))
        });
        Self(methods.collect())
    }

    /// `GET, POST`-style list for a route pattern such as `/v1/jobs/{id}`.
    pub fn get(&self, pattern: &str) -> Option<&str> {
        self.0.get(pattern).map(String::as_str)
    }
}
