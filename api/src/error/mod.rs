//! Errors and the shapes they answer in. [`ApiError`] is the one error type of the API and
//! answers `{"error": {"code", "message", "type"}}`; the OpenAI-compatible routes answer the
//! same errors in OpenAI's shape ([`OpenAiError`]). [`response_for`] picks the shape by route
//! for code that runs before a handler (the auth middleware).

mod api_error;
mod convert;
mod openai;

use actix_web::{HttpResponse, ResponseError};

pub use api_error::{ApiError, ErrorBody, ErrorObject, QUEUE_RETRY_AFTER_SECS};
pub use openai::{OpenAiError, OpenAiErrorBody, OpenAiErrorObject};

/// Routes under this prefix are OpenAI-compatible and answer errors in OpenAI's shape.
const OPENAI_ROUTES: &str = "/v1/audio/";

/// The answer to `error` raised on a request for `path`, in the shape that route speaks.
pub fn response_for(path: &str, error: ApiError) -> HttpResponse {
    if path.starts_with(OPENAI_ROUTES) {
        OpenAiError::from(error).error_response()
    } else {
        error.error_response()
    }
}
