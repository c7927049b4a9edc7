//! Bearer API keys. A token is `tsk_` and 64 hex digits (32 random bytes); PostgreSQL keeps only
//! its sha256, so a stolen database reveals no usable key. Every request outside the open paths
//! (health, readiness, metrics, docs, the spec) is checked by [`authenticate`], which leaves a
//! [`Caller`] for the handlers. With no active key the service runs open: every caller is an
//! admin, and any token sent is ignored (clients such as OpenAI's SDK always send one).

use std::future::{ready, Ready};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use jobs::{ApiKey, Job, JobStore, NewApiKey, Submitter};

use crate::keywatch::KeyWatch;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{self, ApiError};
use crate::state::AppState;

pub const TOKEN_PREFIX: &str = "tsk_";

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Caller {
    /// No key is configured: the service is open and everyone is an admin.
    Open,
    Key(ApiKey),
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        match self {
            Self::Open => true,
            Self::Key(key) => key.admin,
        }
    }

    /// The owner recorded on the jobs this caller submits.
    pub fn owner(&self) -> Option<Uuid> {
        match self {
            Self::Open => None,
            Self::Key(key) => Some(key.id),
        }
    }

    /// The only owner whose jobs this caller may see; `None`: every job.
    pub fn scope(&self) -> Option<Uuid> {
        match self {
            Self::Key(key) if !key.admin => Some(key.id),
            _ => None,
        }
    }

    pub fn can_see(&self, job: &Job) -> bool {
        self.scope().is_none_or(|owner| job.owner == Some(owner))
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::AdminRequired)
        }
    }

    pub fn submitter(&self) -> Submitter {
        match self {
            Self::Open => Submitter::default(),
            Self::Key(key) => {
                Submitter { owner: Some(key.id), max_queued: key.max_queued.map(i64::from), ..Default::default() }
            }
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(req.extensions().get::<Caller>().cloned().ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!(
                "no caller for {}: is the route outside the auth middleware?",
                req.path()
            ))
        }))
    }
}

/// Paths anyone may read, keys or not.
pub fn is_public(path: &str) -> bool {
    matches!(path, "/health" | "/ready" | "/metrics" | "/openapi.json" | "/docs") || path.starts_with("/docs/")
}

/// The middleware: resolves the bearer token into a [`Caller`], or answers 401.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if is_public(req.path()) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let Some(state) = state else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    match caller(&state.store, &state.keys, req.headers().get(AUTHORIZATION).map(|v| v.as_bytes())).await {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            Ok(next.call(req).await?.map_into_left_body())
        }
        Err(error) => {
            let response = error::response_for(req.path(), error);
            Ok(req.into_response(response).map_into_right_body())
        }
    }
}

/// Resolves an `Authorization` header value.
pub async fn caller(store: &JobStore, keys: &KeyWatch, header: Option<&[u8]>) -> Result<Caller, ApiError> {
    let token = header.map(bearer_token);
    // An open deployment (no active key) answers token-less requests without a database round
    // trip. A request with a token is always checked, so a new key is enforced at once.
    if token.is_none() && keys.any_active() == Some(false) {
        return Ok(Caller::Open);
    }
    let generation = keys.generation();
    let hash = match &token {
        Some(Some(token)) => Some(hash_token(token)),
        _ => None,
    };
    let lookup = store.lookup_key(hash.as_deref()).await?;
    keys.remember(generation, lookup.any_active);
    if !lookup.any_active {
        return Ok(Caller::Open);
    }
    match (token, lookup.key) {
        (_, Some(key)) => Ok(Caller::Key(key)),
        (None, None) => Err(ApiError::MissingApiKey),
        (Some(_), None) => Err(ApiError::InvalidApiKey),
    }
}

/// The token of `Bearer <token>`; `None` for any other scheme or a malformed value.
fn bearer_token(header: &[u8]) -> Option<String> {
    let value = std::str::from_utf8(header).ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh token: the prefix and 32 random bytes in hex.
pub fn generate_token() -> anyhow::Result<String> {
    let mut secret = [0u8; 32];
    getrandom::getrandom(&mut secret).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    Ok(format!("{TOKEN_PREFIX}{}", hex::encode(secret)))
}

/// Creates a key; returns it and its token, which is shown this once and stored nowhere.
pub async fn create_key(
    store: &JobStore,
    name: &str,
    admin: bool,
    max_queued: Option<i32>,
) -> anyhow::Result<(ApiKey, String)> {
    let name = name.trim();
    anyhow::ensure!(!name.is_empty() && name.len() <= 100, "the key's name must be 1 to 100 characters");
    anyhow::ensure!(max_queued.is_none_or(|n| n >= 0), "--max-queued must not be negative");
    let token = generate_token()?;
    let key = store
        .create_key(&NewApiKey {
            id: Uuid::now_v7(),
            name: name.to_string(),
            key_hash: hash_token(&token),
            prefix: token[..TOKEN_PREFIX.len() + 8].to_string(),
            admin,
            max_queued,
        })
        .await?;
    Ok((key, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_parsed_from_bearer_headers() {
        let a = generate_token().unwrap();
        assert_ne!(a, generate_token().unwrap());
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 64, "{a}");
        assert_eq!(hash_token(&a).len(), 64);
        assert_eq!(bearer_token(format!("Bearer {a}").as_bytes()), Some(a.clone()));
        assert_eq!(bearer_token(format!("bearer  {a} ").as_bytes()), Some(a));
        assert_eq!(bearer_token(b"Basic dXNlcjpwYXNz"), None);
        assert_eq!(bearer_token(b"Bearer "), None);
        assert_eq!(bearer_token(b"Bearer"), None);
    }

    #[test]
    fn public_paths() {
        for path in ["/health", "/ready", "/metrics", "/openapi.json", "/docs", "/docs/", "/docs/index.css"] {
            assert!(is_public(path), "{path}");
        }
        for path in ["/v1/jobs", "/v1/workers", "/healthz", "/docsx", "/"] {
            assert!(!is_public(path), "{path}");
        }
    }
}
