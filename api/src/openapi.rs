//! The OpenAPI document, generated from the handlers. `api openapi` prints it; the committed
//! copy in `openapi/openapi.json` must match it byte for byte (a test checks).

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{RefOr, Response};
use utoipa::{Modify, OpenApi};

use crate::error::{ErrorBody, ErrorObject, OpenAiErrorBody, OpenAiErrorObject};
use crate::routes::{batches, config, events, health, jobs, logs, models, openai, results, submit, workers};
use crate::views;

mod constraints;
use constraints::Constraints;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Transcription service",
        description = "Asynchronous transcription: submit audio (upload, URL or server path), poll the job, \
                       read the transcript as JSON, SRT, VTT, TXT, TSV, CSV or RTTM.\n\n\
                       Every error answers `{\"error\": {\"code\", \"message\", \"type\"}}` with a stable `code`.\n\n\
                       Routes under `/v1` take an API key as `Authorization: Bearer <key>` once any key exists \
                       (`api keys create`); a key sees only its own jobs, an admin key sees everything. \
                       With no key configured the service runs open.",
        license(name = "MIT"),
    ),
    paths(
        submit::submit_job,
        jobs::get_job_status,
        results::get_job_result,
        jobs::cancel_job,
        jobs::get_jobs,
        logs::get_logs,
        events::get_job_events,
        events::get_job_events_ws,
        jobs::delete_job,
        batches::submit_batch,
        batches::get_batch,
        batches::cancel_batch,
        batches::delete_batch,
        workers::get_server_status,
        workers::collect_worker_models,
        workers::drain_worker,
        workers::restart_worker,
        config::get_config,
        config::set_config,
        config::get_config_options,
        models::get_models,
        openai::create_transcription,
        openai::create_translation,
        health::health,
        health::ready,
        health::metrics,
    ),
    components(schemas(
        submit::SubmitJobJson,
        submit::SubmitJobForm,
        views::SubmittedJob,
        batches::SubmitBatchJson,
        batches::SubmitBatchForm,
        batches::BatchInput,
        views::SubmittedBatch,
        views::BatchItemJob,
        views::RejectedItem,
        views::BatchView,
        views::BatchCounts,
        views::BatchLinks,
        views::JobView,
        views::JobList,
        views::LogPage,
        events::StatusEventData,
        events::ProgressEventData,
        events::SegmentEventData,
        events::JobEventMessage,
        events::JobServerSentEvent,
        events::EventName,
        views::ServerStatus,
        views::WorkerView,
        views::WorkerState,
        workers::GcRequested,
        config::ConfigView,
        config::ConfigOption,
        config::SettingValue,
        config::ConfigOptions,
        models::ModelView,
        models::ModelList,
        models::PullableModel,
        openai::AudioRequestForm,
        OpenAiErrorBody,
        OpenAiErrorObject,
        ::jobs::runtime::RuntimeSettings,
        ::jobs::runtime::RuntimeUpdate,
        ErrorBody,
        ErrorObject,
    )),
    modifiers(&BearerAuth, &ResultFormats, &Constraints),
    tags(
        (name = "jobs", description = "Submit jobs and follow them"),
        (name = "batches", description = "Many jobs submitted, followed, canceled and deleted together"),
        (name = "workers", description = "Workers and the queue"),
        (name = "config", description = "Runtime settings, presets and models"),
        (name = "openai", description = "OpenAI-compatible audio endpoints (errors in OpenAI's shape)"),
        (name = "health", description = "Liveness, readiness and metrics"),
    )
)]
pub struct ApiDoc;

/// Declares the bearer key scheme and puts every `/v1` operation under it, with its 401.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("tsk_ and 64 hex digits".into());
        scheme.description = Some(
            "An API key from `api keys create`. Required on `/v1` routes once any key exists; \
             without one, `401 missing_api_key`; an unknown or revoked key, `401 invalid_api_key`."
                .into(),
        );
        components.add_security_scheme("api_key", SecurityScheme::Http(scheme));
        let unauthorized = Response::builder()
            .description("`missing_api_key`, `invalid_api_key`")
            .content(
                "application/json",
                utoipa::openapi::ContentBuilder::new()
                    .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/v1") {
                continue;
            }
            for op in
                [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch].into_iter().flatten()
            {
                op.security = Some(vec![SecurityRequirement::new("api_key", Vec::<String>::new())]);
                op.responses.responses.entry("401".into()).or_insert_with(|| RefOr::T(unauthorized.clone()));
            }
        }
    }
}

/// Lists the result formats as the `format` parameter's allowed values, from
/// `transcript::Format` (the one list), so that the spec refuses what the server refuses.
struct ResultFormats;

impl Modify for ResultFormats {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let Some(item) = openapi.paths.paths.get_mut("/v1/jobs/{id}/result") else { return };
        let params = item.get.iter_mut().flat_map(|op| op.parameters.iter_mut().flatten());
        for param in params.filter(|p| p.name == "format") {
            let names = transcript::Format::ALL.iter().map(|f| serde_json::Value::from(f.name()));
            let schema =
                ObjectBuilder::new().schema_type(Type::String).enum_values(Some(names)).default(Some("json".into()));
            param.schema = Some(RefOr::T(schema.into()));
        }
    }
}

/// The spec as committed: pretty JSON and a trailing newline.
pub fn spec_json() -> String {
    let mut json = ApiDoc::openapi().to_pretty_json().expect("the OpenAPI document serializes");
    json.push('\n');
    json
}
