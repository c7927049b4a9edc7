//! Integration tests of the HTTP API against real PostgreSQL and Redis. Each test gets its own
//! database, Redis key prefix, storage directory and input root (see `helpers::spawn_app`).

#[path = "api/auth.rs"]
mod auth;
#[path = "api/batches.rs"]
mod batches;
#[path = "api/config.rs"]
mod config;
#[path = "api/disconnect.rs"]
mod disconnect;
#[path = "api/events.rs"]
mod events;
#[path = "api/helpers.rs"]
mod helpers;
#[path = "api/jobs.rs"]
mod jobs_routes;
#[path = "api/metrics.rs"]
mod metrics;
#[path = "api/openai.rs"]
mod openai;
#[path = "api/queue_limit.rs"]
mod queue_limit;
#[path = "api/queue_place.rs"]
mod queue_place;
#[path = "api/server.rs"]
mod server;
#[path = "api/status_cache.rs"]
mod status_cache;
#[path = "api/submit.rs"]
mod submit;
#[path = "api/upload.rs"]
mod upload;
#[path = "api/webhooks.rs"]
mod webhooks;
#[path = "api/worker_drain.rs"]
mod worker_drain;
