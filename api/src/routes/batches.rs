//! `POST /v1/batches`: many jobs in one request with one set of options, then read, canceled and
//! deleted together. A batch's jobs are ordinary jobs: each item goes through the intake like a
//! `POST /v1/jobs` submission (uploads staged one by one, URLs and paths checked the same way,
//! `intake::enqueue`), and the enqueuer inserts them together.
//!
//! The request is refused whole when it is malformed, its options or callback are invalid, it
//! carries more than `api.max_batch_items` items, or a file is over the upload limit (the body is
//! not read on). Otherwise each item stands alone: one that cannot be used (an empty file, a URL
//! or path refused, a queue limit reached) is listed in `rejected` and the others become jobs. A
//! file that is not audio becomes a job that fails (`decode_failed`), like any other job's.

use actix_web::http::header::LOCATION;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use futures_util::future::join_all;
use jobs::{JobInput, JobStatus, Submitter};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};
use uuid::Uuid;
use vocab::JobOptions;

use crate::access::{parse_batch_id, visible_batch};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::intake::{
    check_callback, check_form_length, content_length, enqueue, path_input, read_files_form, url_input, FormOptions,
    Upload, JSON_LIMIT,
};
use crate::state::AppState;
use crate::views::{BatchItemJob, BatchLinks, BatchView, RejectedItem, SubmittedBatch, SubmittedJob};

/// A JSON batch, as documented: [`BatchMembers`] and the members of `JobOptions` in one flat
/// object, as `read_json` reads it (unknown members refused).
pub struct SubmitBatchJson;

/// A JSON batch: exactly one of `urls`, `paths` and `inputs`, and the options every job takes
/// (the fields of `POST /v1/jobs`, e.g. `"language": "en"`).
#[derive(ToSchema)]
#[allow(dead_code)]
struct BatchMembers {
    /// Audio to download, http or https; loopback, private and metadata addresses are refused.
    urls: Option<Vec<String>>,
    /// Absolute paths on the server, inside the configured input directories.
    paths: Option<Vec<String>>,
    /// Inputs of either kind, each `{"url": ...}` or `{"path": ...}`.
    inputs: Option<Vec<BatchInput>>,
    /// Where to POST each job's status (signed) when it finishes.
    callback_url: Option<String>,
}

impl PartialSchema for SubmitBatchJson {
    /// `JobOptions`' object with the batch's members added, rather than an `allOf` of the two:
    /// `JobOptions` allows no other member, so an `allOf` would allow no body at all.
    fn schema() -> RefOr<Schema> {
        let (RefOr::T(Schema::Object(mut object)), RefOr::T(Schema::Object(own))) =
            (JobOptions::schema(), BatchMembers::schema())
        else {
            unreachable!("both derive an object schema")
        };
        object.properties.extend(own.properties);
        object.description = own.description;
        RefOr::T(Schema::Object(object))
    }
}

impl ToSchema for SubmitBatchJson {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((BatchInput::name().into(), BatchInput::schema()));
        <JobOptions as ToSchema>::schemas(schemas);
    }
}

/// One input of `inputs`: a `url` or a `path`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchInput {
    url: Option<String>,
    path: Option<String>,
}

/// A multipart batch: the audio in `files` fields (or `files[]`), options as text fields or as
/// one `options` JSON field, as in `POST /v1/jobs`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SubmitBatchForm {
    /// The audio files, each under the upload limit; repeat the field for each file.
    #[schema(value_type = Vec<String>, format = Binary)]
    files: Vec<Vec<u8>>,
    /// Where to POST each job's status (signed) when it finishes.
    callback_url: Option<String>,
    /// All options as one JSON object, e.g. `{"language": "en", "diarize": true}`; or give each
    /// option as its own field (`language`, `diarize`, ...).
    options: Option<String>,
}

/// One item of a batch on its way to becoming a job.
enum Item {
    Upload(Upload, JobInput),
    Named(JobInput),
    Refused(ApiError),
}

/// Submits a batch of jobs with one set of options. Answers `202` with the batch id and one job
/// per accepted item; items refused alone are listed in `rejected`.
///
/// Send `multipart/form-data` with the audio in repeated `files` fields (or `files[]`) and options
/// as text fields, or `application/json` with `urls`, `paths` or `inputs` and options.
#[utoipa::path(post, path = "/v1/batches", tag = "batches", operation_id = "submitBatch",
    request_body(content(
        (SubmitBatchJson = "application/json"),
        (SubmitBatchForm = "multipart/form-data"),
    )),
    responses(
        (status = 202, description = "Created; each accepted item queued as a job", body = SubmittedBatch,
            headers(("Location" = String, description = "The batch's URL"))),
        (status = 400, description = "`invalid_body`, `unsupported_content_type`, `invalid_callback_url`", body = ErrorBody),
        (status = 413, description = "`too_many_batch_items` (`api.max_batch_items`), `upload_too_large` (one file over the limit), `body_too_large`", body = ErrorBody),
        (status = 422, description = "`invalid_option`, `callback_url_not_allowed`, `webhook_secret_not_configured`", body = ErrorBody),
        (status = 429, description = "`too_many_queued_jobs`: the API key's limit of queued jobs is reached", body = ErrorBody),
    ))]
pub async fn submit_batch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let submitter = caller.submitter();
    let content_type = req.content_type();
    let (items, options, callback_url) = if content_type.eq_ignore_ascii_case("application/json") {
        read_json(payload, &req, &state).await?
    } else if content_type.eq_ignore_ascii_case("multipart/form-data") {
        read_form(&req, payload, &state, &submitter).await?
    } else {
        return Err(ApiError::UnsupportedContentType(format!(
            "Content-Type {content_type:?} is not accepted: send application/json (urls, paths or inputs) or \
             multipart/form-data (files)"
        )));
    };
    let options = jobs::validate::options_with_default(&state.settings, &state.default_preset(), options)?;
    let callback_url = check_callback(&state, &submitter, callback_url)?;
    let batch = state.store.create_batch(Uuid::now_v7(), submitter.owner).await?;
    let submitter = Submitter { callback_url, batch_id: Some(batch.id), ..submitter };

    // All at once, so that the enqueuer inserts them together.
    let outcomes = join_all(items.into_iter().map(|(label, item)| {
        let (state, submitter, options) = (&state, &submitter, options.clone());
        async move {
            let outcome = match item {
                Item::Upload(upload, input) => {
                    let queued = enqueue(state, submitter, upload.id(), input, options, None, None).await;
                    if queued.is_ok() {
                        upload.keep();
                    } // else the upload's guard deletes the file.
                    queued
                }
                Item::Named(input) => enqueue(state, submitter, Uuid::now_v7(), input, options, None, None).await,
                Item::Refused(error) => Err(error),
            };
            (label, outcome)
        }
    }))
    .await;
    let mut answer = SubmittedBatch {
        id: batch.id,
        created_at: batch.created_at,
        jobs: vec![],
        rejected: vec![],
        links: BatchLinks::new(batch.id),
    };
    for (index, (input, outcome)) in outcomes.into_iter().enumerate() {
        match outcome {
            Ok((job, _)) => answer.jobs.push(BatchItemJob { index, job: SubmittedJob::new(&job) }),
            Err(error) => answer.rejected.push(RejectedItem { index, input, error: error.object() }),
        }
    }
    Ok(HttpResponse::Accepted().insert_header((LOCATION, answer.links.self_.clone())).json(answer))
}

type BatchRequest = (Vec<(Option<String>, Item)>, JobOptions, Option<String>);

/// Reads a JSON batch. Its options are what is left once the inputs and the callback are taken
/// out, read as `JobOptions` (which refuses unknown fields).
async fn read_json(payload: web::Payload, req: &HttpRequest, state: &AppState) -> Result<BatchRequest, ApiError> {
    if content_length(req).is_some_and(|n| n > JSON_LIMIT as u64) {
        return Err(ApiError::BodyTooLarge(JSON_LIMIT));
    }
    let body = payload
        .to_bytes_limited(JSON_LIMIT)
        .await
        .map_err(|_| ApiError::BodyTooLarge(JSON_LIMIT))?
        .map_err(|e| ApiError::InvalidBody(format!("could not read the body: {e}")))?;
    let mut body: Map<String, Value> =
        serde_json::from_slice(&body).map_err(|e| ApiError::InvalidBody(format!("invalid JSON body: {e}")))?;
    let mut take = |name: &str| body.remove(name);
    let (urls, paths, inputs, callback_url) = (take("urls"), take("paths"), take("inputs"), take("callback_url"));
    let callback_url: Option<String> = field("callback_url", callback_url)?;
    let options: JobOptions = serde_json::from_value(Value::Object(body))
        .map_err(|e| ApiError::InvalidBody(format!("invalid JSON body: {e}")))?;
    let inputs: Vec<BatchInput> = match (urls, paths, inputs) {
        (Some(urls), None, None) => {
            field::<Vec<String>>("urls", Some(urls))?.unwrap_or_default().into_iter().map(BatchInput::url).collect()
        }
        (None, Some(paths), None) => {
            field::<Vec<String>>("paths", Some(paths))?.unwrap_or_default().into_iter().map(BatchInput::path).collect()
        }
        (None, None, Some(inputs)) => field("inputs", Some(inputs))?.unwrap_or_default(),
        (None, None, None) => {
            return Err(ApiError::InvalidBody(
                "give `urls`, `paths` or `inputs`, or upload the audio as multipart/form-data in `files` fields".into(),
            ))
        }
        _ => return Err(ApiError::InvalidBody("give only one of `urls`, `paths` and `inputs`".into())),
    };
    if inputs.is_empty() {
        return Err(ApiError::InvalidBody("a batch needs at least one input".into()));
    }
    let max = state.settings.api.max_batch_items;
    if inputs.len() > max {
        return Err(ApiError::TooManyBatchItems(max));
    }
    let items = inputs
        .into_iter()
        .map(|input| {
            let item = match (&input.url, &input.path) {
                (Some(url), None) => url_input(state, url).map(Item::Named),
                (None, Some(path)) => path_input(state, path).map(Item::Named),
                _ => Err(ApiError::InvalidBody("each of `inputs` is {\"url\": ...} or {\"path\": ...}".into())),
            };
            (input.url.or(input.path), item.unwrap_or_else(Item::Refused))
        })
        .collect();
    Ok((items, options, callback_url))
}

/// A member of the JSON body, read as `T`, its name in the error.
fn field<T: serde::de::DeserializeOwned>(name: &str, value: Option<Value>) -> Result<Option<T>, ApiError> {
    value
        .filter(|v| !v.is_null())
        .map(|v| serde_json::from_value(v).map_err(|e| ApiError::InvalidBody(format!("`{name}`: {e}"))))
        .transpose()
}

impl BatchInput {
    fn url(url: String) -> Self {
        Self { url: Some(url), path: None }
    }

    fn path(path: String) -> Self {
        Self { url: None, path: Some(path) }
    }
}

/// Reads a multipart batch: its files staged one by one, its options and callback.
async fn read_form(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    submitter: &Submitter,
) -> Result<BatchRequest, ApiError> {
    let max = state.settings.api.max_batch_items;
    check_form_length(req, state, max as u64)?;
    // Refuse before reading the audio when the key's queue is full, as a single upload does.
    if let (Some(owner), Some(limit)) = (submitter.owner, submitter.max_queued) {
        if state.store.queued_count_of(owner).await? >= limit {
            return Err(ApiError::TooManyQueuedJobs { limit });
        }
    }
    let mut options = FormOptions::default();
    let mut callback_url = None;
    let files = read_files_form(req, payload, state, max, |name, value| {
        if name == "callback_url" {
            if callback_url.replace(value).is_some() {
                return Err(ApiError::InvalidBody("form field `callback_url` given more than once".into()));
            }
            Ok(())
        } else {
            options.add(name, value)
        }
    })
    .await?;
    if files.is_empty() {
        return Err(ApiError::MissingFile);
    }
    let mut items = Vec::with_capacity(files.len());
    for (mut upload, file) in files {
        let item = if file.size_bytes == 0 {
            Item::Refused(ApiError::EmptyUpload)
        } else {
            let input = upload.store(&file).await?;
            Item::Upload(upload, input)
        };
        items.push((file.filename, item));
    }
    Ok((items, options.into_options()?, callback_url))
}

/// A batch: how many of its jobs are in each state, and the jobs in the order they were
/// submitted. A key sees only its own batches; an admin key sees every batch.
#[utoipa::path(get, path = "/v1/batches/{id}", tag = "batches", operation_id = "getBatch",
    params(("id" = Uuid, Path, description = "Batch id")),
    responses(
        (status = 200, description = "The batch", body = BatchView),
        (status = 400, description = "`invalid_batch_id`", body = ErrorBody),
        (status = 404, description = "`batch_not_found` (also another key's batch)", body = ErrorBody),
    ))]
pub async fn get_batch(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let batch = visible_batch(&state, &caller, parse_batch_id(&id)?).await?;
    let jobs = state.store.batch_jobs(batch.id).await?;
    Ok(HttpResponse::Ok().json(BatchView::new(&batch, &jobs)))
}

/// Cancels every unfinished job of the batch: queued jobs end at once, running jobs stop at their
/// worker's next checkpoint. Finished jobs are left as they are. Answers the batch as it is then.
#[utoipa::path(post, path = "/v1/batches/{id}/cancel", tag = "batches", operation_id = "cancelBatch",
    params(("id" = Uuid, Path, description = "Batch id")),
    responses(
        (status = 200, description = "Canceled (running jobs asked to stop)", body = BatchView),
        (status = 400, description = "`invalid_batch_id`", body = ErrorBody),
        (status = 404, description = "`batch_not_found` (also another key's batch)", body = ErrorBody),
    ))]
pub async fn cancel_batch(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let batch = visible_batch(&state, &caller, parse_batch_id(&id)?).await?;
    let done = state.store.cancel_batch(batch.id).await?;
    // This client's next status reads must see the cancellation.
    for id in done.canceled.iter().chain(&done.requested) {
        state.jobs.invalidate(*id);
    }
    for &id in &done.requested {
        announce_cancel(&state, id).await;
    }
    let jobs = state.store.batch_jobs(batch.id).await?;
    Ok(HttpResponse::Ok().json(BatchView::new(&batch, &jobs)))
}

/// Deletes the batch and every job in it, with their logs, results and uploaded audio; running
/// jobs are stopped.
#[utoipa::path(delete, path = "/v1/batches/{id}", tag = "batches", operation_id = "deleteBatch",
    params(("id" = Uuid, Path, description = "Batch id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "`invalid_batch_id`", body = ErrorBody),
        (status = 404, description = "`batch_not_found` (also another key's batch)", body = ErrorBody),
    ))]
pub async fn delete_batch(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_batch_id(&id)?;
    visible_batch(&state, &caller, id).await?;
    let deleted = state.store.delete_batch(id).await?.ok_or(ApiError::BatchNotFound(id))?;
    for job in &deleted {
        state.jobs.invalidate(job.id);
        if job.status() == JobStatus::Running {
            // Its row is gone, so its worker's writes fail anyway; this stops it at once.
            announce_cancel(&state, job.id).await;
        }
        if let JobInput::Upload { key, .. } = &job.input {
            if let Err(e) = state.storage.delete(key).await {
                tracing::warn!(job_id = %job.id, key, error = %e, "could not delete the uploaded audio");
            }
        }
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Wakes the worker running `id`; best effort, as the worker also reads `cancel_requested` (or
/// finds its job gone) at its next heartbeat.
async fn announce_cancel(state: &AppState, id: Uuid) {
    if let Err(e) = state.queue.publish_cancel(id).await {
        tracing::warn!(job_id = %id, error = %e, "could not publish the cancellation; the worker sees it at its next heartbeat");
    }
}
