//! Request heads that actix-http refuses before any routing answer in the API's error shape.
//!
//! actix-http's h1 dispatcher answers an unparsable request head itself, with an empty body and
//! no hook for the application: `400 Bad Request` (a target over 65,534 bytes, bytes that do not
//! parse) or `431 Request Header Fields Too Large` (a head over 128 KiB, more than 96 headers),
//! then closes the connection; a head that has not arrived within [`CLIENT_REQUEST_TIMEOUT`] is
//! answered `408 Request Timeout` the same way. [`HttpServer`] is actix-web's server with the same
//! settings, except that every connection goes through [`HeadErrors`], which recognises that exact
//! answer as it is written and writes the JSON version instead: `uri_too_long` (414),
//! `headers_too_large` (431), `malformed_request` (400) or `request_timeout` (408). The
//! application itself never answers 400, 408 or 431 with an empty body, so nothing else matches.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::net::TcpListener;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use actix_http::body::MessageBody;
use actix_http::{HttpService, KeepAlive, Protocol, Request, Response};
use actix_server::{Server, ServerBuilder};
use actix_service::{fn_service, map_config, IntoServiceFactory, ServiceFactory, ServiceFactoryExt};
use actix_web::dev::AppConfig;
use actix_web::http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::error::{ErrorBody, ErrorObject};

/// The longest request target `http::Uri` accepts; a longer one is actix's plain 400.
pub const MAX_TARGET_BYTES: usize = 65_534;

/// How long a client has to send a request head (actix-web's default).
pub const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The shortest request line around a target: `GET ` and ` HTTP/1.1\r`.
const LINE_OVERHEAD: usize = 14;

/// actix-web's `HttpServer`, reduced to what `startup` uses, with [`HeadErrors`] on every
/// connection. Timeouts and keep-alive are actix-web's defaults.
pub struct HttpServer<F, I, S, B> {
    factory: F,
    builder: ServerBuilder,
    h1_allow_half_closed: bool,
    _app: PhantomData<(I, S, B)>,
}

impl<F, I, S, B> HttpServer<F, I, S, B>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as actix_service::Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    pub fn new(factory: F) -> Self {
        Self { factory, builder: ServerBuilder::default(), h1_allow_half_closed: true, _app: PhantomData }
    }

    pub fn workers(mut self, workers: usize) -> Self {
        self.builder = self.builder.workers(workers);
        self
    }

    pub fn h1_allow_half_closed(mut self, allow: bool) -> Self {
        self.h1_allow_half_closed = allow;
        self
    }

    pub fn listen(mut self, listener: TcpListener) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        let factory = self.factory.clone();
        let half_closed = self.h1_allow_half_closed;
        let shutdown = self.builder.graceful_shutdown_signal();
        self.builder = self.builder.listen(format!("api-{addr}"), listener, move || {
            let shutdown = shutdown.clone();
            let app = factory().into_factory().map_err(|err| err.into().error_response());
            let http = HttpService::build()
                .graceful_shutdown_signal(move || {
                    let shutdown = shutdown.clone();
                    async move { shutdown.notified().await }
                })
                .keep_alive(KeepAlive::default())
                .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
                .client_disconnect_timeout(Duration::from_secs(1))
                .h1_allow_half_closed(half_closed)
                .local_addr(addr)
                // The application reads neither the host nor the local address of `AppConfig`.
                .finish(map_config(app, |_| AppConfig::default()));
            fn_service(|io: TcpStream| async move {
                let peer = io.peer_addr().ok();
                Ok((HeadErrors::new(io), Protocol::Http1, peer))
            })
            .and_then(http)
        })?;
        Ok(self)
    }

    pub fn run(self) -> Server {
        self.builder.run()
    }
}

/// A connection whose writes are passed on unchanged, except actix-http's answer to a request
/// head it could not parse, which becomes the same answer with a JSON error body.
pub struct HeadErrors<T> {
    io: T,
    /// Bytes of the current line read so far: a line over [`MAX_TARGET_BYTES`] tells an
    /// over-long target (414) from other malformed heads (400).
    line: usize,
    long_line: bool,
    /// The rewritten answer still to write, and how many of the caller's bytes it stands for.
    pending: Vec<u8>,
    written: usize,
    stands_for: usize,
}

impl<T> HeadErrors<T> {
    pub fn new(io: T) -> Self {
        Self { io, line: 0, long_line: false, pending: Vec::new(), written: 0, stands_for: 0 }
    }

    /// Counts line lengths across reads: only the newlines at either end of each read are looked
    /// for, so a read of a normal request costs two short scans.
    fn track_lines(&mut self, read: &[u8]) {
        match memchr::memchr(b'\n', read) {
            None => self.line += read.len(),
            Some(first) => {
                self.long_line |= self.line + first > MAX_TARGET_BYTES + LINE_OVERHEAD;
                let last = memchr::memrchr(b'\n', read).unwrap_or(first);
                self.line = read.len() - last - 1;
            }
        }
        self.long_line |= self.line > MAX_TARGET_BYTES + LINE_OVERHEAD;
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for HeadErrors<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.io).poll_read(cx, buf))?;
        let this = &mut *self;
        this.track_lines(&buf.filled()[before..]);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> HeadErrors<T> {
    /// Writes out [`Self::pending`]; ready once all of it is written.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for HeadErrors<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.pending.is_empty() {
            match refused_head(buf) {
                None => return Pin::new(&mut this.io).poll_write(cx, buf),
                Some((start, status, date)) => {
                    this.pending = buf[..start].to_vec();
                    this.pending.extend_from_slice(&json_answer(status, this.long_line, date));
                    this.stands_for = buf.len();
                }
            }
        }
        if this.written < this.pending.len() {
            ready!(this.poll_pending(cx))?;
            return Poll::Ready(Ok(this.stands_for));
        }
        // The answer is out and the connection closes: nothing the dispatcher writes after it.
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The heads actix-http writes for a refused request head, up to the date header's value.
const REFUSED: [(&[u8], StatusCode); 3] = [
    (b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\ndate: ", StatusCode::BAD_REQUEST),
    (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\ndate: ",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
    ),
    (b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\ndate: ", StatusCode::REQUEST_TIMEOUT),
];

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) is always this long.
const DATE_LEN: usize = 29;

/// Where `buf` ends with a refused-head answer: its start, its status and its date.
fn refused_head(buf: &[u8]) -> Option<(usize, StatusCode, &[u8])> {
    let rest = buf.strip_suffix(b"\r\n\r\n")?;
    let (rest, date) = rest.split_at_checked(rest.len().checked_sub(DATE_LEN)?)?;
    if date.contains(&b'\n') {
        return None;
    }
    REFUSED.iter().find(|(head, _)| rest.ends_with(head)).map(|(head, status)| (rest.len() - head.len(), *status, date))
}

/// The refused head's answer with a JSON error body; an over-long line read on the connection
/// turns a 400 into 414.
fn json_answer(status: StatusCode, long_line: bool, date: &[u8]) -> Vec<u8> {
    let (status, code, message) = match status {
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => (
            status,
            "headers_too_large",
            "the request head is over 128 KiB (request line and headers) or has more than 96 headers".to_owned(),
        ),
        StatusCode::REQUEST_TIMEOUT => (
            status,
            "request_timeout",
            format!("the request head did not arrive within {} s", CLIENT_REQUEST_TIMEOUT.as_secs()),
        ),
        _ if long_line => (
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request target (path and query string) is over {MAX_TARGET_BYTES} bytes"),
        ),
        _ => (
            status,
            "malformed_request",
            "the request head could not be parsed: check the request line and the headers".to_owned(),
        ),
    };
    let body = serde_json::to_vec(&ErrorBody { error: ErrorObject { code, message, kind: "invalid_request" } })
        .expect("an error body serialises");
    let mut answer = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\ndate: ",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default(),
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(date);
    answer.extend_from_slice(b"\r\n\r\n");
    answer.extend_from_slice(&body);
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &[u8] = b"Mon, 07 Dec 2026 06:37:09 GMT";

    fn refused(status_line: &str) -> Vec<u8> {
        let mut head = format!("{status_line}\r\ncontent-length: 0\r\nconnection: close\r\ndate: ").into_bytes();
        head.extend_from_slice(DATE);
        head.extend_from_slice(b"\r\n\r\n");
        head
    }

    #[test]
    fn finds_the_refused_heads_alone_or_after_another_answer() {
        let bad = refused("HTTP/1.1 400 Bad Request");
        assert_eq!(refused_head(&bad), Some((0, StatusCode::BAD_REQUEST, DATE)));
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        let pipelined = [&ok[..], &refused("HTTP/1.1 431 Request Header Fields Too Large")].concat();
        assert_eq!(refused_head(&pipelined), Some((ok.len(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, DATE)));
    }

    #[test]
    fn leaves_other_answers_alone() {
        assert_eq!(refused_head(&refused("HTTP/1.1 404 Not Found")), None);
        let json = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\nconnection: close\r\ndate: ";
        assert_eq!(refused_head(&[&json[..], DATE, b"\r\n\r\n"].concat()), None);
        assert_eq!(refused_head(b"\r\n\r\n"), None);
    }

    #[test]
    fn answers_json_with_its_length() {
        let answer = String::from_utf8(json_answer(StatusCode::BAD_REQUEST, true, DATE)).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\ncontent-type: application/json\r\n"), "{head}");
        assert!(head.contains(&format!("content-length: {}\r\n", body.len())), "{head}");
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error"]["code"], "uri_too_long");
    }

    #[test]
    fn tells_a_long_line_across_reads() {
        let mut io = HeadErrors::new(());
        io.track_lines(b"GET /?x=");
        io.track_lines(&[b'a'; 40_000]);
        assert!(!io.long_line);
        io.track_lines(&[b'a'; 40_000]);
        io.track_lines(b" HTTP/1.1\r\n");
        assert!(io.long_line);
        let mut io = HeadErrors::new(());
        io.track_lines(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
        assert!(!io.long_line && io.line == 0);
    }
}
