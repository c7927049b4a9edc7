//! Builds the application from [`Settings`]: connections, shared state ([`AppState`]), routes, server.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App};
use anyhow::Context;
use jobs::runtime::Runtime;
use jobs::{AudioStorage, Enqueuer, JobStore, Queue};
use utoipa::OpenApi;

use crate::config::Settings;
use crate::error::ApiError;
use crate::intake::JSON_LIMIT;
use crate::metrics::Metrics;
use crate::openapi::ApiDoc;
use crate::state::AppState;
use crate::{auth, routes, telemetry};

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Connects to PostgreSQL (creating the database and applying migrations) and Redis, then
    /// binds `api.host:api.port` (port 0 picks a free one).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let store = JobStore::connect(&settings.database.url, settings.database.max_connections)
            .await
            .context("connecting to PostgreSQL")?;
        let queue =
            Queue::connect(&settings.redis.url, &settings.redis.key_prefix).await.context("connecting to Redis")?;
        let runtime = Arc::new(Runtime::new(settings.runtime_defaults()));
        runtime.refresh(&store).await.context("reading the runtime settings")?;
        if !store.any_active_key().await.context("reading API keys")? {
            tracing::warn!(
                "NO API KEY IS CONFIGURED: the API is OPEN to anyone who can reach it, and every caller is an admin. \
                 Create a key with `api keys create --name NAME --admin` to require keys"
            );
        }
        Self::build_with(settings, store, queue, runtime)
    }

    /// Like [`Application::build`] with connections made elsewhere.
    pub fn build_with(
        settings: Settings,
        store: JobStore,
        queue: Queue,
        runtime: Arc<Runtime>,
    ) -> anyhow::Result<Self> {
        let storage = AudioStorage::new(&settings.storage.dir)
            .with_context(|| format!("creating storage directory {}", settings.storage.dir.display()))?;
        let roots = jobs::validate::canonical_roots(&settings.inputs.path_roots);
        if roots.len() < settings.inputs.path_roots.len() {
            tracing::warn!(configured = ?settings.inputs.path_roots, usable = ?roots, "some input roots do not exist");
        }
        let address = (settings.api.host.clone(), settings.api.port);
        let listener = TcpListener::bind(&address).with_context(|| format!("binding {}:{}", address.0, address.1))?;
        let port = listener.local_addr()?.port();
        let workers = settings.api.workers;
        let deliverer = crate::webhooks::Deliverer::new(
            store.clone(),
            settings.webhooks.clone(),
            settings.inputs.allow_private_urls,
        )
        .context("building the webhook client")?;
        tokio::spawn(deliverer.run());
        let metrics = Arc::new(Metrics::new());
        tokio::spawn(crate::metrics::run(
            metrics.clone(),
            store.clone(),
            settings.metrics.refresh(),
            settings.queue.worker_timeout(),
        ));
        tokio::spawn(runtime.clone().watch(store.clone(), settings.runtime.poll()));
        tokio::spawn(crate::retention::run(
            store.clone(),
            storage.clone(),
            runtime.clone(),
            settings.runtime.retention_pass(),
        ));
        let keys = Arc::new(crate::keywatch::KeyWatch::default());
        let jobs = Arc::new(crate::jobcache::JobCache::new(settings.api.status_cache_ttl()));
        tokio::spawn(crate::notify::listen(store.pool().clone(), vec![keys.clone(), jobs.clone()]));
        let enqueuer = Enqueuer::spawn(store.clone(), queue.clone());
        let state =
            web::Data::new(AppState { settings, store, queue, enqueuer, storage, roots, metrics, runtime, keys, jobs });
        let spec = ApiDoc::openapi();
        let allowed_methods = web::Data::new(routes::AllowedMethods::from_spec(&spec));

        let mut server = crate::head_errors::HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(allowed_methods.clone())
                .app_data(extractor_errors::json())
                .app_data(extractor_errors::query())
                .app_data(extractor_errors::path())
                .wrap(from_fn(auth::authenticate))
                .wrap(from_fn(telemetry::request_log))
                .configure(routes::configure)
                .service(routes::docs::swagger_ui(spec.clone()))
                .default_service(web::to(routes::not_found))
        });
        if workers > 0 {
            server = server.workers(workers);
        }
        // A client that closes its side has gone away: drop its request's handler, so that a
        // waiting OpenAI-style request cancels its job (`routes::openai::guard`).
        server = server.h1_allow_half_closed(false);
        let server = server.listen(listener)?.run();
        tracing::info!(port, "listening");
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Extractor failures answer in the one error shape, never actix's plain text.
mod extractor_errors {
    use super::*;
    use actix_web::error::JsonPayloadError;

    pub fn json() -> web::JsonConfig {
        web::JsonConfig::default().limit(JSON_LIMIT).error_handler(|err, _req| {
            match err {
                JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
                    ApiError::BodyTooLarge(JSON_LIMIT)
                }
                JsonPayloadError::ContentType => ApiError::UnsupportedContentType("send application/json".into()),
                other => ApiError::InvalidBody(format!("invalid JSON body: {other}")),
            }
            .into()
        })
    }

    pub fn query() -> web::QueryConfig {
        web::QueryConfig::default().error_handler(|err, _req| ApiError::InvalidQuery(err.to_string()).into())
    }

    pub fn path() -> web::PathConfig {
        web::PathConfig::default().error_handler(|err, _req| ApiError::InvalidPath(err.to_string()).into())
    }
}
