//! Waiting for something to happen: poll a condition until it holds or time runs out, rather than
//! sleeping a fixed time that is too long on a fast machine and too short on a loaded one.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How long to wait between two checks.
const INTERVAL: Duration = Duration::from_millis(50);

/// Calls `check` until it returns `Some` and returns that value, or `None` once `timeout` has
/// passed (for callers that explain a timeout themselves).
pub async fn poll<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(INTERVAL).await;
    }
}

/// Like [`poll`], panicking with "timed out after … waiting for `what`" on a timeout.
pub async fn wait_until<T, F, Fut>(timeout: Duration, what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    match poll(timeout, check).await {
        Some(value) => value,
        None => panic!("timed out after {timeout:?} waiting for {what}"),
    }
}
