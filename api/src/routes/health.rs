//! `GET /health` (the process answers) and `GET /ready` (PostgreSQL and Redis answer).

use std::time::Duration;

use actix_web::{web, HttpResponse};

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::views::Health;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The process is alive.
#[utoipa::path(get, path = "/health", tag = "health", operation_id = "health",
    responses((status = 200, description = "Alive", body = Health)))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Prometheus metrics in the text exposition format (see the README's "Metrics" section).
#[utoipa::path(get, path = "/metrics", tag = "health", operation_id = "metrics",
    responses((status = 200, description = "Metrics, `text/plain; version=0.0.4`", body = String, content_type = "text/plain")))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(state.metrics.render())
}

/// PostgreSQL and Redis are reachable; otherwise 503 naming what is not.
#[utoipa::path(get, path = "/ready", tag = "health", operation_id = "ready",
    responses(
        (status = 200, description = "Ready to take requests", body = Health),
        (status = 503, description = "`not_ready`: PostgreSQL or Redis is unreachable", body = ErrorBody),
    ))]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (db, redis) = tokio::join!(
        tokio::time::timeout(CHECK_TIMEOUT, state.store.ping()),
        tokio::time::timeout(CHECK_TIMEOUT, state.queue.ping()),
    );
    let mut failed = Vec::new();
    match db {
        Ok(Ok(())) => {}
        Ok(Err(e)) => failed.push(("postgres", e.to_string())),
        Err(_) => failed.push(("postgres", "timed out".to_string())),
    }
    match redis {
        Ok(Ok(())) => {}
        Ok(Err(e)) => failed.push(("redis", e.to_string())),
        Err(_) => failed.push(("redis", "timed out".to_string())),
    }
    if failed.is_empty() {
        return Ok(HttpResponse::Ok().json(Health { status: "ok" }));
    }
    for (what, error) in &failed {
        tracing::warn!(check = what, error, "readiness check failed");
    }
    let names: Vec<&str> = failed.iter().map(|(what, _)| *what).collect();
    Err(ApiError::NotReady(names.join(" and ")))
}
