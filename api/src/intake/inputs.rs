//! The inputs a client names rather than uploads, checked as every route that takes them must:
//! a URL against the address policy, a server path inside the input roots.

use std::path::PathBuf;

use jobs::JobInput;

use crate::error::ApiError;
use crate::state::AppState;

/// A `url` input: http or https, and no loopback, private or metadata address unless allowed.
pub fn url_input(state: &AppState, raw: &str) -> Result<JobInput, ApiError> {
    let url = jobs::net::check_url(raw, state.settings.inputs.allow_private_urls)?;
    Ok(JobInput::Url { url: url.into() })
}

/// A `path` input, by its canonical path.
pub fn path_input(state: &AppState, raw: &str) -> Result<JobInput, ApiError> {
    Ok(JobInput::Path { path: input_path(state, raw)? })
}

/// Checks a `path` input and returns its canonical form.
fn input_path(state: &AppState, raw: &str) -> Result<String, ApiError> {
    use jobs::validate::PathRefused;
    let resolved: PathBuf = match jobs::validate::input_path(&state.roots, raw) {
        Ok(path) => path,
        // Say "no such file" only inside the roots, so the API is no oracle for other paths.
        Err(PathRefused::NotFound(_)) if !state.roots.iter().any(|root| lexical(raw).starts_with(root)) => {
            return Err(PathRefused::OutsideRoots.into())
        }
        Err(e) => return Err(e.into()),
    };
    resolved
        .into_os_string()
        .into_string()
        .map_err(|_| ApiError::PathNotAllowed("the path resolves to a name that is not valid UTF-8".into()))
}

/// `raw` with `.` and `..` resolved without touching the file system.
fn lexical(raw: &str) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in std::path::Path::new(raw).components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
