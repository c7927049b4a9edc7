//! Runtime configuration: `GET /v1/config`, `PUT /v1/config` (admin keys only, once keys exist)
//! and `GET /v1/config/options`. Changes reach every api and worker process within
//! `runtime.poll_secs`, and this process at once.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use jobs::runtime::{RuntimeSettings, RuntimeUpdate, Versioned, MAX_RETENTION_HOURS, MAX_UPLOAD_MB_LIMIT};
use serde::Serialize;
use utoipa::ToSchema;
use vocab::Preset;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The runtime settings in force, and the presets jobs may name.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigView {
    /// Bumped by every change; 0 until the first (the configuration files' values).
    pub version: i64,
    pub updated_at: Option<DateTime<Utc>>,
    pub settings: RuntimeSettings,
    /// Presets from `config/presets.toml` (read-only here).
    pub presets: BTreeMap<String, Preset>,
}

impl ConfigView {
    fn new(state: &AppState, current: &Versioned) -> Self {
        Self {
            version: current.version,
            updated_at: current.updated_at,
            settings: current.settings.clone(),
            presets: state.settings.presets.clone(),
        }
    }
}

/// One runtime setting: its type, what it accepts and its default.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigOption {
    #[schema(example = "default_preset")]
    pub name: &'static str,
    /// `string` or `integer`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub description: &'static str,
    /// The only values accepted, when they are a list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_values: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<&'static str>,
    /// The configuration files' value, in force until changed: a string or an integer, as `type` says.
    pub default: SettingValue,
}

/// A runtime setting's value.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum SettingValue {
    String(String),
    Integer(u64),
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigOptions {
    pub options: Vec<ConfigOption>,
}

/// The runtime settings in force and the presets.
#[utoipa::path(get, path = "/v1/config", tag = "config", operation_id = "getConfig",
    responses((status = 200, description = "The runtime settings", body = ConfigView)))]
pub async fn get_config(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(ConfigView::new(&state, &state.runtime.get()))
}

/// Changes runtime settings; fields left out keep their value. Every process picks the change
/// up without a restart. Admin keys only (anyone while the service runs open).
#[utoipa::path(put, path = "/v1/config", tag = "config", operation_id = "setConfig",
    request_body = RuntimeUpdate,
    responses(
        (status = 200, description = "The runtime settings now in force", body = ConfigView),
        (status = 400, description = "`invalid_body`: not JSON, or an unknown setting", body = ErrorBody),
        (status = 403, description = "`admin_required`", body = ErrorBody),
        (status = 422, description = "`invalid_config`: a value out of range or an unknown preset", body = ErrorBody),
    ))]
pub async fn set_config(
    state: web::Data<AppState>,
    caller: Caller,
    update: web::Json<RuntimeUpdate>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let current = state.runtime.get();
    let next = current
        .settings
        .updated(&state.settings, update.into_inner())
        .map_err(|e| ApiError::InvalidConfig { field: e.field.to_string(), message: e.message })?;
    let saved = state.store.save_runtime_settings(&next).await?;
    tracing::info!(version = saved.version, settings = ?saved.settings, "runtime settings changed through the API");
    state.runtime.set(saved.clone());
    Ok(HttpResponse::Ok().json(ConfigView::new(&state, &saved)))
}

/// Every runtime setting with its type, allowed values and default.
#[utoipa::path(get, path = "/v1/config/options", tag = "config", operation_id = "getConfigOptions",
    responses((status = 200, description = "The runtime settings one may change", body = ConfigOptions)))]
pub async fn get_config_options(state: web::Data<AppState>) -> HttpResponse {
    let defaults = state.settings.runtime_defaults();
    let options = vec![
        ConfigOption {
            name: "default_preset",
            kind: "string",
            description: "Preset of jobs that name none",
            allowed_values: Some(state.settings.presets.keys().cloned().collect()),
            minimum: None,
            maximum: None,
            unit: None,
            default: SettingValue::String(defaults.default_preset),
        },
        ConfigOption {
            name: "max_upload_mb",
            kind: "integer",
            description: "Largest upload accepted",
            allowed_values: None,
            minimum: Some(1),
            maximum: Some(MAX_UPLOAD_MB_LIMIT),
            unit: Some("MiB"),
            default: SettingValue::Integer(defaults.max_upload_mb),
        },
        ConfigOption {
            name: "retention_hours",
            kind: "integer",
            description: "Finished jobs' audio and results are deleted this long after they finished; 0 keeps them",
            allowed_values: None,
            minimum: Some(0),
            maximum: Some(MAX_RETENTION_HOURS),
            unit: Some("hours"),
            default: SettingValue::Integer(defaults.retention_hours),
        },
    ];
    HttpResponse::Ok().json(ConfigOptions { options })
}
