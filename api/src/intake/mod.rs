//! Taking work in, for every route that makes a job: the limits on a request's body, staging an
//! uploaded file in audio storage ([`Upload`]), the idempotency fingerprint of a submission, and
//! [`enqueue`], the one way a job enters the store and the queue. Used by the job routes
//! (`POST /v1/jobs`) and the OpenAI-compatible routes alike.

mod body;
mod enqueue;
mod fingerprint;
mod upload;

pub use body::{content_length, JSON_LIMIT};
pub use enqueue::{check_callback, enqueue};
pub use fingerprint::{request_hash, with_callback, HashedInput};
pub use upload::{FormError, StagedFile, Upload};
