//! The server-sent events transport: `id:`, `event:` and `data:` lines per event, a comment line
//! as keepalive, and an `error` event (no id) when the job can no longer be read.

use std::convert::Infallible;

use actix_web::web::Bytes;
use actix_web::HttpResponse;
use futures_util::StreamExt;

use super::data::EventName;
use super::follower::{Event, Follower, Update};
use crate::error::ApiError;
use crate::follow::{error_body, event_stream};

/// Answers with the events from the client's position on. The first poll happens before the
/// answer, so that its failure is an HTTP error; when the client already has everything (the
/// final status), `204`, which tells an `EventSource` not to reconnect. The body is a stream
/// polled by actix-web, with no task spawned: a client that disconnects drops it, and with it
/// the polling.
pub(super) async fn respond(mut follower: Follower) -> Result<HttpResponse, ApiError> {
    let first = follower.next(std::time::Duration::ZERO).await?;
    if first.is_empty() && follower.finished() {
        return Ok(HttpResponse::NoContent().finish());
    }
    // Something goes out at once, so that the client sees the stream open.
    let head = if first.is_empty() { ": following\n\n".to_string() } else { text(&first) };
    let rest = follower.updates().then(|update| async move {
        Ok::<_, Infallible>(Bytes::from(match update {
            Update::Events(events) => text(&events),
            Update::Quiet => ": keepalive\n\n".to_string(),
            Update::Failed(e) => format!("event: {}\ndata: {}\n\n", EventName::Error.as_str(), error_body(&e).await),
        }))
    });
    let body = futures_util::stream::once(async move { Ok::<_, Infallible>(Bytes::from(head)) }).chain(rest);
    Ok(event_stream().streaming(body))
}

fn text(events: &[Event]) -> String {
    events.iter().map(|e| format!("id: {}\nevent: {}\ndata: {}\n\n", e.id, e.name.as_str(), e.data)).collect()
}
