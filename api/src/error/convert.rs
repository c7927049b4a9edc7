//! How the errors of the `jobs` crate read as [`ApiError`]s.

use super::api_error::ApiError;

impl From<jobs::StoreError> for ApiError {
    fn from(e: jobs::StoreError) -> Self {
        match e {
            jobs::StoreError::IdempotencyConflict => Self::IdempotencyKeyReused,
            jobs::StoreError::TooManyQueued { limit } => Self::TooManyQueuedJobs { limit },
            // The submission routes answer with the configured Retry-After (`intake::enqueue`).
            jobs::StoreError::QueueFull { limit } => {
                Self::QueueFull { limit, retry_after: jobs::config::DEFAULT_QUEUE_FULL_RETRY_SECS }
            }
            e if e.is_unavailable() => Self::DatabaseUnavailable(e),
            other => Self::internal(other),
        }
    }
}

impl From<jobs::validate::InvalidField> for ApiError {
    fn from(e: jobs::validate::InvalidField) -> Self {
        Self::InvalidOption { field: e.field.to_string(), message: e.message }
    }
}

impl From<jobs::net::UrlRefused> for ApiError {
    fn from(e: jobs::net::UrlRefused) -> Self {
        use jobs::net::UrlRefused;
        match e {
            UrlRefused::Malformed(_) | UrlRefused::NoHost => Self::InvalidUrl(e.to_string()),
            UrlRefused::Scheme(_) | UrlRefused::ForbiddenAddress(_) => Self::UrlNotAllowed(e.to_string()),
        }
    }
}

impl From<jobs::validate::PathRefused> for ApiError {
    fn from(e: jobs::validate::PathRefused) -> Self {
        use jobs::validate::PathRefused;
        match e {
            PathRefused::NotAbsolute => Self::PathNotAbsolute,
            PathRefused::NotFound(_) => Self::InputNotFound(e.to_string()),
            PathRefused::NotAFile(_) => Self::InputNotAFile(e.to_string()),
            PathRefused::OutsideRoots | PathRefused::NoRoots => Self::PathNotAllowed(e.to_string()),
        }
    }
}
