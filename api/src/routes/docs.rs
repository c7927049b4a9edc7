//! The Swagger UI. `/docs/` and its files come from utoipa-swagger-ui; `GET /docs` answers the
//! same page rather than a redirect, with a `<base>` so that its relative links (`./swagger-ui.css`,
//! `./swagger-initializer.js`) still resolve under `/docs/`.

use std::sync::Arc;

use actix_web::HttpResponse;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::error::ApiError;

/// Where the UI finds the spec.
const SPEC_URL: &str = "/openapi.json";

/// `/docs/` and its files, and the spec at [`SPEC_URL`].
pub fn swagger_ui(spec: utoipa::openapi::OpenApi) -> SwaggerUi {
    SwaggerUi::new("/docs/{_:.*}").url(SPEC_URL, spec)
}

/// `GET /docs`: the page `/docs/` serves, based at `/docs/`.
pub async fn page() -> Result<HttpResponse, ApiError> {
    // The page itself does not depend on the configuration (only `swagger-initializer.js` does).
    let file = utoipa_swagger_ui::serve("", Arc::new(Config::from(SPEC_URL)))
        .map_err(|e| ApiError::internal(anyhow::anyhow!("the Swagger UI page: {e}")))?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("the Swagger UI has no index page")))?;
    let html = String::from_utf8_lossy(&file.bytes).replacen("<head>", "<head>\n    <base href=\"/docs/\">", 1);
    Ok(HttpResponse::Ok().content_type(file.content_type).body(html))
}
