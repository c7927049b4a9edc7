//! `GET /v1/workers`: live workers and queue counts.

use actix_web::{web, HttpResponse};

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::startup::AppState;
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
