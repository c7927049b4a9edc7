//! `/v1/workers`: live workers and queue counts; model gc, drain and restart requests.

use actix_web::{web, HttpResponse};
use jobs::store::Drain;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::views::{QueueView, ServerStatus, WorkerView};

/// Workers whose heartbeat is recent, with their state, and how many jobs are queued and
/// running. Admin keys only.
#[utoipa::path(get, path = "/v1/workers", tag = "workers", operation_id = "getServerStatus",
    responses(
        (status = 200, description = "Live workers and queue counts", body = ServerStatus),
        (status = 403, description = "`admin_required`", body = ErrorBody),
        (status = 500, description = "`internal_error`", body = ErrorBody),
    ))]
pub async fn get_server_status(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let (workers, counts) =
        tokio::join!(state.store.worker_presence(state.settings.queue.worker_timeout()), state.store.queue_counts());
    let counts = counts?;
    Ok(HttpResponse::Ok().json(ServerStatus {
        workers: workers?.into_iter().map(WorkerView::from).collect(),
        queue: QueueView { queued: counts.queued, running: counts.running },
    }))
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

/// Drains a worker: it finishes the job it is running, takes no other, and exits (status 0).
/// The request is stored with the worker's presence, so a worker that misses the wake-up reads
/// it at its next heartbeat. Admin keys only.
#[utoipa::path(post, path = "/v1/workers/{id}/drain", tag = "workers", operation_id = "drainWorker",
    params(("id" = String, Path, description = "Worker id, as `getServerStatus` lists it")),
    responses(
        (status = 202, description = "Requested; the worker is `draining`", body = WorkerView),
        (status = 403, description = "`admin_required`", body = ErrorBody),
        (status = 404, description = "`worker_not_found` (unknown, or no recent heartbeat)", body = ErrorBody),
    ))]
pub async fn drain_worker(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    request_drain(&state, &caller, &id, Drain::Exit).await
}

/// Restarts a worker: it drains like `drainWorker`, then exits with status 75 (`EX_TEMPFAIL`)
/// for its supervisor to start it again (systemd `Restart=on-failure`, Docker
/// `restart: on-failure`). Admin keys only.
#[utoipa::path(post, path = "/v1/workers/{id}/restart", tag = "workers", operation_id = "restartWorker",
    params(("id" = String, Path, description = "Worker id, as `getServerStatus` lists it")),
    responses(
        (status = 202, description = "Requested; the worker is `restarting`", body = WorkerView),
        (status = 403, description = "`admin_required`", body = ErrorBody),
        (status = 404, description = "`worker_not_found` (unknown, or no recent heartbeat)", body = ErrorBody),
    ))]
pub async fn restart_worker(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    request_drain(&state, &caller, &id, Drain::Restart).await
}

/// Stores the request (the truth), then wakes the worker (best effort).
async fn request_drain(state: &AppState, caller: &Caller, id: &str, drain: Drain) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let worker = state
        .store
        .request_drain(id, drain, state.settings.queue.worker_timeout())
        .await?
        .ok_or_else(|| ApiError::WorkerNotFound(id.to_string()))?;
    if let Err(e) = state.queue.publish_drain(id).await {
        tracing::warn!(worker_id = id, error = %e, "could not announce the drain; the worker reads it at its next heartbeat");
    }
    Ok(HttpResponse::Accepted().json(WorkerView::from(worker)))
}
