//! Live job events: `GET /v1/jobs/{id}/events` (server-sent events) and `GET /v1/jobs/{id}/ws`
//! (WebSocket) carry the same events: `status` (state, stage, attempt), `progress` (when it
//! moves), each finished `segment` as soon as the worker stored it, then the final `status`,
//! after which the stream ends. Both poll the job and its partial segments in PostgreSQL with
//! backoff (50 ms doubling to 1 s, from the start again after each event), like OpenAI's
//! `stream=true`.
//!
//! Every event has an id, the position the client reached with it (see [`position`]); a client
//! that reconnects with it (`Last-Event-ID`, or `?since=`) gets exactly what it has not had.
//! States a job passed through while the client was away are not replayed: it gets the current
//! status and progress if they differ from what it was last told, and the segments it lacks.

mod data;
mod follower;
mod position;
mod sse;
mod ws;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::access::{parse_id, visible_job};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
pub use data::{EventName, JobEventMessage, JobServerSentEvent, ProgressEventData, SegmentEventData, StatusEventData};
use follower::Follower;
use position::Position;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Resume after the event with this id (the last one you got): only what came after it is
    /// sent. Without it, the stream starts with the job's current status.
    since: Option<String>,
}

/// Live events of a job as server-sent events, until its final status.
///
/// Events (`event:` line; `data:` is JSON): `status` (`StatusEventData`), `progress`
/// (`ProgressEventData`), `segment` (`SegmentEventData`), and `error` (`ErrorBody`, without an
/// id) when the job can no longer be read, e.g. it was deleted. A comment line comes every 15 s
/// without events.
///
/// Ids: `<attempt>.<worker>.<segments>.<status>.<progress>.<stage>`, the position the client
/// reached (the run whose segments it has, by attempt and a hash of the worker's id; how many of
/// them; the last status, progress in thousandths and stage it was told). Reconnect with
/// `Last-Event-ID` (browsers' `EventSource` does) or `?since=` to get exactly the rest, also
/// across attempts and after the job ended.
#[utoipa::path(get, path = "/v1/jobs/{id}/events", tag = "jobs", operation_id = "getJobEvents",
    params(
        ("id" = Uuid, Path, description = "Job id"),
        EventsQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id; wins over `since`"),
    ),
    responses(
        (status = 200, description = "Server-sent events: `status`, `progress`, `segment`, then the final `status`",
            content_type = "text/event-stream", body = JobServerSentEvent),
        (status = 204, description = "The client already has the final status: nothing more will come"),
        (status = 400, description = "`invalid_job_id`, `invalid_query` (`since` or `Last-Event-ID` is not an event id)", body = ErrorBody),
        (status = 404, description = "`job_not_found` (also another key's job)", body = ErrorBody),
    ))]
pub async fn get_job_events(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    query: web::Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    // An empty one is no position (a client that never got an id), as if it were not sent.
    let header = req.headers().get("Last-Event-ID").map(|v| v.to_str().unwrap_or("?")).filter(|v| !v.trim().is_empty());
    // Both are checked: a malformed `since` is refused even when the header wins.
    let since = position(query.since.as_deref())?;
    let at = position(header)?.or(since);
    let follower = start(state, &caller, &id, at).await?;
    sse::respond(follower).await
}

/// Live events of a job over a WebSocket, until its final status.
///
/// The same events as `getJobEvents`, each a text message `JobEventMessage`
/// (`{"id", "event", "data"}`), then a close frame (`1000`); after an `error` message the close
/// code is `1011`. The server pings every 15 s without events and closes a connection whose
/// pings go unanswered. Resume with `?since=<id>`.
#[utoipa::path(get, path = "/v1/jobs/{id}/ws", tag = "jobs", operation_id = "getJobEventsWs",
    params(("id" = Uuid, Path, description = "Job id"), EventsQuery),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol; messages are `JobEventMessage`"),
        (status = 400, description = "`invalid_job_id`, `invalid_query`, `invalid_body` (not a WebSocket handshake)", body = ErrorBody),
        (status = 404, description = "`job_not_found` (also another key's job)", body = ErrorBody),
    ))]
pub async fn get_job_events_ws(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    query: web::Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let follower = start(state, &caller, &id, position(query.since.as_deref())?).await?;
    ws::respond(&req, body, follower)
        .map_err(|e| ApiError::InvalidBody(format!("this route needs a WebSocket handshake: {e}")))
}

/// The job checked as other job routes do (another key's job is not found), and a follower
/// from the client's position.
async fn start(
    state: web::Data<AppState>,
    caller: &Caller,
    id: &str,
    at: Option<Position>,
) -> Result<Follower, ApiError> {
    let id = parse_id(id)?;
    let job = visible_job(&state, caller, id).await?;
    Ok(Follower::new(state, &job, at.unwrap_or_default()))
}

/// A client's position from `since` or `Last-Event-ID`; none when it sent none.
fn position(sent: Option<&str>) -> Result<Option<Position>, ApiError> {
    sent.map(|since| {
        Position::parse(since).ok_or_else(|| {
            let shown: String = since.chars().take(64).collect();
            ApiError::InvalidQuery(format!("{shown:?} (`since` or `Last-Event-ID`) is not an event id of this stream"))
        })
    })
    .transpose()
}
