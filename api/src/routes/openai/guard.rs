//! An OpenAI-style request holds its client until the job ends; a client that goes away no longer
//! wants the job. The server drops a request's handler (or its streaming body) when the client
//! closes the connection (`startup` refuses half-closed connections so that it notices), and
//! [`CancelOnDrop`] turns that drop into a cancellation of the job. It is disarmed once the
//! answer is complete, so a finished request never cancels anything.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::web::{Bytes, Data};
use actix_web::HttpResponse;
use jobs::CancelOutcome;
use uuid::Uuid;

use crate::state::AppState;

/// Cancels job `id` when dropped while armed.
pub(super) struct CancelOnDrop {
    state: Option<Data<AppState>>,
    id: Uuid,
}

impl CancelOnDrop {
    pub(super) fn new(state: Data<AppState>, id: Uuid) -> Self {
        Self { state: Some(state), id }
    }

    /// The answer is complete (or the job must go on regardless): cancel nothing.
    pub(super) fn disarm(mut self) {
        self.state = None;
    }

    /// `response` with the guard inside its body: the body ending disarms it; the body dropped
    /// before its end (the client went away mid-stream) cancels the job.
    pub(super) fn attach(self, response: HttpResponse) -> HttpResponse {
        response.map_body(|_, body| GuardedBody { body, guard: Some(self) }).map_into_boxed_body()
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(state) = self.state.take() else { return };
        let id = self.id;
        // Drop cannot wait: the cancellation runs as its own task.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move { cancel(&state, id).await });
            }
            Err(_) => tracing::warn!(job_id = %id, "the client went away, but its job could not be canceled"),
        }
    }
}

/// What `cancelJob` does: a queued job ends at once, a running one is asked to stop.
async fn cancel(state: &AppState, id: Uuid) {
    let outcome = state.store.cancel(id).await;
    state.jobs.invalidate(id);
    match outcome {
        Ok(CancelOutcome::Canceled(_)) => tracing::info!(job_id = %id, "the client went away: job canceled"),
        Ok(CancelOutcome::Requested(_)) => {
            tracing::info!(job_id = %id, "the client went away: job cancellation requested");
            if let Err(e) = state.queue.publish_cancel(id).await {
                tracing::warn!(job_id = %id, error = %e, "could not publish the cancellation; the worker sees it at its next heartbeat");
            }
        }
        Ok(CancelOutcome::AlreadyFinished(_) | CancelOutcome::NotFound) => {}
        Err(e) => tracing::warn!(job_id = %id, error = %e, "the client went away, but its job could not be canceled"),
    }
}

/// A response body carrying a [`CancelOnDrop`], disarmed at the body's end.
struct GuardedBody<B> {
    body: B,
    guard: Option<CancelOnDrop>,
}

impl<B: MessageBody + Unpin> MessageBody for GuardedBody<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let next = Pin::new(&mut self.body).poll_next(cx);
        if let Poll::Ready(None) = next {
            if let Some(guard) = self.guard.take() {
                guard.disarm();
            }
        }
        next
    }
}
