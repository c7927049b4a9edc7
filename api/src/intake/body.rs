//! What a request body may be, judged before it is read.

use actix_web::http::header::CONTENT_LENGTH;
use actix_web::HttpRequest;

/// Largest JSON body accepted (submissions are small; uploads go as multipart).
pub const JSON_LIMIT: usize = 64 * 1024;

/// The `Content-Length` the client declared, if it is a number.
pub fn content_length(req: &HttpRequest) -> Option<u64> {
    req.headers().get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}
