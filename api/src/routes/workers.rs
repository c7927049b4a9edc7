//! `GET /v1/workers`: live workers and queue counts.

use actix_web::{web, HttpResponse};

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::views::{QueueView, ServerStatus};

/// Workers whose heartbeat is recent, and how many jobs are queued and running. Admin keys only.
#[utoipa::path(get, path = "/v1/workers", tag = "workers", operation_id = "getServerStatus",
    responses(
        (status = 200, description = "Live workers and queue counts", body = ServerStatus),
        (status = 403, description = "`admin_required`", body = ErrorBody),
        (status = 500, description = "`internal_error`", body = ErrorBody),
    ))]
pub async fn get_server_status(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let (workers, counts) =
        tokio::join!(state.store.live_workers(state.settings.queue.worker_timeout()), state.store.queue_counts());
    let counts = counts?;
    Ok(HttpResponse::Ok()
        .json(ServerStatus { workers: workers?, queue: QueueView { queued: counts.queued, running: counts.running } }))
}

/// How many worker processes heard a request to drop their cached models.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct GcRequested {
    pub workers_notified: i64,
}

/// Asks every worker to drop its cached Whisper models and free their memory (a running job keeps
/// its model until it ends; the next job loads what it needs again). Admin keys only.
#[utoipa::path(post, path = "/v1/workers/gc", tag = "workers", operation_id = "collectWorkerModels",
    responses(
        (status = 202, description = "Announced to the workers listening now", body = GcRequested),
        (status = 403, description = "`admin_required`", body = ErrorBody),
        (status = 500, description = "`internal_error` (Redis unreachable)", body = ErrorBody),
    ))]
pub async fn collect_worker_models(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let workers_notified =
        state.queue.publish_gc().await.map_err(|e| ApiError::Internal(anyhow::anyhow!("announcing model gc: {e}")))?;
    Ok(HttpResponse::Accepted().json(GcRequested { workers_notified }))
}
