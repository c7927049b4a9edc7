//! The words the job store, the worker and the speech pipeline share, each defined once: what a
//! job asks for ([`JobOptions`]), the named bundles it picks from ([`Preset`]), the options a
//! run resolves to ([`Options::merge`]), and the names inside them ([`Task`], [`Device`],
//! [`ComputeType`], [`SpeakerModel`], [`Clustering`]). No I/O and no heavy dependencies, so the
//! api, which never runs a model, uses the same types as the worker.

pub mod catalog;
mod compute;
mod job_options;
mod names;
mod options;
mod preset;
mod speakers;
mod task;

pub use compute::{ComputeType, Device};
pub use job_options::JobOptions;
pub use names::UnknownName;
pub use options::Options;
pub use preset::{InvalidPreset, Preset};
pub use speakers::{Clustering, SpeakerModel};
pub use task::Task;
