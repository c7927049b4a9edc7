//! The WebSocket transport: each event a text message `{"id", "event", "data"}`, a ping when
//! nothing happened for a while, and a close frame at the end (`1000` once the final status is
//! sent, `1011` after an `error` message).

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{CloseCode, Message, MessageStream, Session};
use futures_util::StreamExt;

use super::data::{EventName, JobEventMessage};
use super::follower::{Event, Follower, Update};
use crate::follow::{error_body, KEEPALIVE};

/// A client that has not answered a ping for this long is gone: the session ends.
const PONG_WAIT: Duration = KEEPALIVE;

/// Upgrades the connection and follows the job on the session's task. That task ends, and the
/// polling with it, as soon as the client closes, the connection drops (a write fails or the
/// message stream ends) or pings go unanswered.
pub(super) fn respond(req: &HttpRequest, body: web::Payload, follower: Follower) -> actix_web::Result<HttpResponse> {
    let (response, session, messages) = actix_ws::handle(req, body)?;
    actix_web::rt::spawn(pump(session, messages, follower));
    Ok(response)
}

async fn pump(mut session: Session, mut messages: MessageStream, follower: Follower) {
    let updates = follower.updates();
    let mut updates = std::pin::pin!(updates);
    // When the oldest ping still unanswered was sent.
    let mut unanswered: Option<tokio::time::Instant> = None;
    let close = loop {
        tokio::select! {
            message = messages.next() => match message {
                Some(Ok(Message::Ping(bytes))) => {
                    if session.pong(&bytes).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Pong(_))) => unanswered = None,
                // Text from the client means nothing here.
                Some(Ok(Message::Text(_) | Message::Binary(_) | Message::Continuation(_) | Message::Nop)) => {}
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break CloseCode::Normal,
            },
            update = updates.next() => match update {
                Some(Update::Events(events)) => {
                    if send(&mut session, &events).await.is_err() {
                        return;
                    }
                }
                Some(Update::Quiet) => {
                    if unanswered.is_some_and(|since| since.elapsed() >= PONG_WAIT) {
                        break CloseCode::Away;
                    }
                    if session.ping(b"").await.is_err() {
                        return;
                    }
                    unanswered.get_or_insert_with(tokio::time::Instant::now);
                }
                Some(Update::Failed(e)) => {
                    let error: serde_json::Value = serde_json::from_str(&error_body(&e).await).unwrap_or_default();
                    let message = JobEventMessage { id: None, event: EventName::Error, data: error };
                    let _ = session.text(json_text(&message)).await;
                    break CloseCode::Error;
                }
                None => break CloseCode::Normal,
            },
        }
    };
    let _ = session.close(Some(close.into())).await;
}

async fn send(session: &mut Session, events: &[Event]) -> Result<(), actix_ws::Closed> {
    for e in events {
        let message = JobEventMessage { id: Some(e.id.clone()), event: e.name, data: e.data.clone() };
        session.text(json_text(&message)).await?;
    }
    Ok(())
}

fn json_text(message: &JobEventMessage) -> String {
    serde_json::to_string(message).unwrap_or_default()
}
