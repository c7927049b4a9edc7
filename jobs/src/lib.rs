//! The job store and the queue, shared by the api and the worker: the job model and its states,
//! the PostgreSQL store (all SQL lives under `store/`), Redis dispatch, the enqueuer, the reaper
//! and reconciler, runtime settings, the configuration sections both processes read and the
//! loader, audio storage and input checks. The words inside a job's options come from `vocab`.

pub mod config;
pub mod enqueuer;
pub mod maintenance;
pub mod model;
pub mod net;
pub mod queue;
pub mod runtime;
pub mod storage;
pub mod store;
pub mod validate;

pub use config::Settings;
pub use enqueuer::{enqueue, enqueue_as, Enqueuer};
pub use model::{Fence, Job, JobInput, JobStatus, LogLevel, LogLine, Outcome, WorkerInfo};
pub use queue::{Consumer, Delivery, Queue, QueueError};
pub use storage::AudioStorage;
pub use store::{
    ApiKey, CancelOutcome, Inserted, JobPartials, JobStore, KeyLookup, ListFilter, NewApiKey, NewJob, PartialsCursor,
    StoreError, Submission, Submitter,
};
