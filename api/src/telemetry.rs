//! Logging: `RUST_LOG` filters (default `info`); `APP_LOG_JSON=1` writes JSON lines.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use tracing_subscriber::EnvFilter;

use crate::state::AppState;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("APP_LOG_JSON").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Logs every request with its status and latency: 5xx at `error`, 4xx at `info`, the rest at
/// `debug` (so a busy server does not spend its time writing access logs unless asked to).
pub async fn request_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    // Cheap clones (shared bytes); cloning the HttpRequest itself would break routing.
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let res = next.call(req).await?;
    let status = res.status().as_u16();
    let elapsed = start.elapsed().as_secs_f64();
    if let Some(state) = res.request().app_data::<web::Data<AppState>>() {
        let route = res.request().match_pattern();
        state.metrics.observe_request(method.as_str(), route.as_deref().unwrap_or("unmatched"), status, elapsed);
    }
    let ms = elapsed * 1000.0;
    let (method, path) = (method.as_str(), uri.path());
    if status >= 500 {
        tracing::error!(method, path, status, ms, "request");
    } else if status >= 400 {
        tracing::info!(method, path, status, ms, "request");
    } else {
        tracing::debug!(method, path, status, ms, "request");
    }
    Ok(res)
}
