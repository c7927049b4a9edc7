//! OpenAI's error shape, `{"error": {"message", "type", "param", "code"}}`, which the
//! OpenAI-compatible routes answer with so that the official SDKs raise their own exceptions.

use actix_web::http::header::HeaderName;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use super::api_error::ApiError;

/// OpenAI's error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAiErrorBody {
    pub error: OpenAiErrorObject,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAiErrorObject {
    pub message: String,
    /// `invalid_request_error`, `authentication_error`, `permission_error`, `rate_limit_error`,
    /// `server_error` or `timeout_error`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The form field at fault, if one is.
    pub param: Option<String>,
    /// This service's stable error code.
    pub code: Option<String>,
}

/// An error on the OpenAI-compatible routes.
#[derive(Debug)]
pub struct OpenAiError {
    status: StatusCode,
    body: OpenAiErrorObject,
    headers: Vec<(HeaderName, String)>,
}

impl OpenAiError {
    pub(crate) fn new(
        status: StatusCode,
        kind: &'static str,
        param: Option<&str>,
        code: &str,
        message: impl Into<String>,
    ) -> Self {
        let body = OpenAiErrorObject {
            message: message.into(),
            kind,
            param: param.map(String::from),
            code: Some(code.into()),
        };
        Self { status, body, headers: vec![] }
    }

    /// The error object, as a stream's `error` event carries it.
    pub fn object(&self) -> &OpenAiErrorObject {
        &self.body
    }

    pub(crate) fn invalid(param: &str, code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", Some(param), code, message)
    }
}

impl std::fmt::Display for OpenAiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.body.message)
    }
}

impl ResponseError for OpenAiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let body = OpenAiErrorBody {
            error: OpenAiErrorObject {
                message: self.body.message.clone(),
                kind: self.body.kind,
                param: self.body.param.clone(),
                code: self.body.code.clone(),
            },
        };
        let mut response = HttpResponse::build(self.status);
        for header in &self.headers {
            response.insert_header(header.clone());
        }
        response.json(body)
    }
}

impl From<ApiError> for OpenAiError {
    fn from(e: ApiError) -> Self {
        // OpenAI answers 400 for every invalid request, including well-formed but refused ones.
        let status = match e.status_code() {
            StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
            other => other,
        };
        let kind = match status {
            StatusCode::UNAUTHORIZED => "authentication_error",
            StatusCode::FORBIDDEN => "permission_error",
            StatusCode::TOO_MANY_REQUESTS => "rate_limit_error",
            s if s.is_server_error() => "server_error",
            _ => "invalid_request_error",
        };
        let param = match &e {
            ApiError::InvalidOption { field, .. } => Some(field.as_str()),
            ApiError::ModelNotInstalled { .. } => Some("model"),
            ApiError::MissingFile | ApiError::EmptyUpload | ApiError::UploadTooLarge(_) => Some("file"),
            _ => None,
        };
        let param = param.map(|p| if p == "initial_prompt" { "prompt" } else { p }).map(String::from);
        match &e {
            ApiError::Internal(cause) => tracing::error!(error = format!("{cause:#}"), "internal error"),
            ApiError::DatabaseUnavailable(cause) => tracing::warn!(error = %cause, "database unavailable"),
            _ => {}
        }
        let message = e.to_string();
        let headers = e.headers();
        Self { status, body: OpenAiErrorObject { message, kind, param, code: Some(e.code().into()) }, headers }
    }
}
