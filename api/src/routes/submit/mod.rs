//! `POST /v1/jobs`: a JSON body naming a `url` or a server `path` ([`json`]), or a multipart
//! upload ([`form`]). Both end in `intake::enqueue`: an INSERT and an XADD, batched with other
//! submissions that arrive at the same time (`jobs::Enqueuer`).

mod form;
mod json;

use actix_web::http::header::LOCATION;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use jobs::Job;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::views::SubmittedJob;
pub use form::SubmitJobForm;
pub use json::SubmitJobJson;

pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
pub const REPLAYED: &str = "Idempotent-Replayed";

/// Submits a job. Answers at once with its id; poll `links.self` for progress.
///
/// Send either `application/json` with a `url` or a `path` plus options, or
/// `multipart/form-data` with the audio in a `file` field and options as text fields
/// (or as one `options` field holding a JSON object).
/// With an `Idempotency-Key` header a retry returns the same job (`Idempotent-Replayed: true`);
/// idempotency keys are scoped per API key.
#[utoipa::path(post, path = "/v1/jobs", tag = "jobs", operation_id = "submitJob",
    params(("Idempotency-Key" = Option<String>, Header, description = "Up to 255 characters; a retry with the same key and request returns the same job")),
    request_body(content(
        (SubmitJobJson = "application/json"),
        (SubmitJobForm = "multipart/form-data"),
    )),
    responses(
        (status = 202, description = "Queued", body = SubmittedJob,
            headers(("Location" = String, description = "The job's URL"),
                    ("Idempotent-Replayed" = String, description = "`true` when an earlier submission with the same key was returned"))),
        (status = 400, description = "`invalid_body`, `unsupported_content_type`, `missing_file`, `empty_upload`, `invalid_url`, `invalid_callback_url`, `path_not_absolute`, `invalid_idempotency_key`", body = ErrorBody),
        (status = 403, description = "`path_not_allowed`: outside the input directories", body = ErrorBody),
        (status = 409, description = "`idempotency_key_reused` with a different request", body = ErrorBody),
        (status = 413, description = "`upload_too_large`, `body_too_large`", body = ErrorBody),
        (status = 422, description = "`invalid_option`, `url_not_allowed`, `callback_url_not_allowed`, `webhook_secret_not_configured`, `input_not_found`, `input_not_a_file`", body = ErrorBody),
        (status = 429, description = "`too_many_queued_jobs`: the API key's limit of queued jobs is reached", body = ErrorBody,
            headers(("Retry-After" = String, description = "Seconds to wait before trying again"))),
        (status = 503, description = "`queue_full`: the service's limit of queued jobs (`jobs.max_queued_total`) is reached", body = ErrorBody,
            headers(("Retry-After" = String, description = "Seconds to wait before trying again (`jobs.queue_full_retry_secs`)"))),
    ))]
pub async fn submit_job(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let submitter = caller.submitter();
    let content_type = req.content_type();
    let (job, replayed) = if content_type.eq_ignore_ascii_case("application/json") {
        json::submit_json(&req, payload, &state, key, &submitter).await?
    } else if content_type.eq_ignore_ascii_case("multipart/form-data") {
        form::submit_form(&req, payload, &state, key, &submitter).await?
    } else {
        return Err(ApiError::UnsupportedContentType(format!(
            "Content-Type {content_type:?} is not accepted: send application/json (url or path) or multipart/form-data (file upload)"
        )));
    };
    Ok(accepted(&job, replayed))
}

fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value.to_str().map_err(|_| ApiError::InvalidIdempotencyKey)?;
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err(ApiError::InvalidIdempotencyKey);
    }
    Ok(Some(key.to_string()))
}

fn accepted(job: &Job, replayed: bool) -> HttpResponse {
    let mut response = HttpResponse::Accepted();
    response.insert_header((LOCATION, format!("/v1/jobs/{}", job.id)));
    if replayed {
        response.insert_header((REPLAYED, "true"));
    }
    response.json(SubmittedJob::new(job))
}

#[cfg(test)]
mod tests {
    use vocab::{JobOptions, Task};

    use super::*;

    /// Every `JobOptions` field must be accepted by the JSON body and the form, so that a new
    /// option added in `vocab` cannot be silently refused here.
    #[test]
    fn request_shapes_cover_every_job_option() {
        let full = JobOptions {
            preset: Some("BALANCED".into()),
            language: Some("en".into()),
            allowed_languages: Some(vec!["en".into()]),
            task: Some(Task::Translate),
            word_timestamps: Some(true),
            diarize: Some(true),
            min_speakers: Some(1),
            max_speakers: Some(2),
            initial_prompt: Some("hi".into()),
            model: Some("base".into()),
            timestamp_offset: Some(90.5),
        };
        let mut value = serde_json::to_value(&full).unwrap();
        let keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        let mut form_fields: Vec<&str> = JobOptions::FIELDS.to_vec();
        form_fields.sort();
        assert_eq!(keys, form_fields);
        value["url"] = "https://example.com/a.wav".into();
        let request: SubmitJobJson = serde_json::from_value(value).unwrap();
        let (url, path, options) = request.into_parts();
        assert_eq!((url.as_deref(), path, options), (Some("https://example.com/a.wav"), None, full));
    }
}
