//! Shared by the api and the worker: the job model and its states, the PostgreSQL store,
//! Redis dispatch, configuration and presets, audio storage and input checks.

pub mod config;
pub mod enqueuer;
pub mod keys;
pub mod maintenance;
pub mod model;
pub mod net;
pub mod queue;
pub mod runtime;
pub mod storage;
pub mod store;
pub mod validate;
pub mod webhooks;

pub use config::{Settings, SpeakerClustering, WorkerSettings};
pub use enqueuer::Enqueuer;
pub use keys::{ApiKey, KeyLookup, NewApiKey};
pub use maintenance::{enqueue, enqueue_as};
pub use model::{Fence, Job, JobInput, JobOptions, JobStatus, LogLevel, LogLine, Outcome, Task, WorkerInfo};
pub use queue::{Consumer, Delivery, Queue, QueueError};
pub use storage::AudioStorage;
pub use store::{
    CancelOutcome, Inserted, JobPartials, JobStore, ListFilter, NewJob, PartialsCursor, StoreError, Submission,
    Submitter,
};
