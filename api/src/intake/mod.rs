//! Taking work in, for every route that makes a job: the limits on a request's body, staging an
//! uploaded file in audio storage ([`Upload`]), the idempotency fingerprint of a submission, and
//! [`enqueue`], the one way a job enters the store and the queue. Used by the job routes
//! (`POST /v1/jobs`), the batch routes (`POST /v1/batches`: several files, or URLs and paths
//! checked as one job's are) and the OpenAI-compatible routes alike.

mod body;
mod enqueue;
mod fingerprint;
mod form_options;
mod inputs;
mod upload;

pub use body::{content_length, JSON_LIMIT};
pub use enqueue::{check_callback, enqueue};
pub use fingerprint::{request_hash, with_callback, HashedInput};
pub use form_options::FormOptions;
pub use inputs::{path_input, url_input};
pub use upload::{check_form_length, read_files_form, FormError, StagedFile, Upload, FILES_FIELDS};
