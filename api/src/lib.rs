//! The HTTP service: job submission (upload, URL or server path), status, results, logs,
//! cancellation and deletion, worker status, health checks, OpenAPI and Swagger UI.
//!
//! `main.rs` is thin; everything lives here so tests can start the real application on port 0.

pub mod access;
pub mod auth;
pub mod config;
pub mod error;
pub mod follow;
pub mod head_errors;
pub mod installed;
pub mod intake;
pub mod jobcache;
pub mod keywatch;
pub mod metrics;
pub mod notify;
pub mod openapi;
pub mod retention;
pub mod routes;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod views;
pub mod webhooks;

pub use error::ApiError;
pub use startup::Application;
pub use state::AppState;
