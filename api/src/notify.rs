//! One PostgreSQL connection listening for the notifications that keep in-process caches
//! current ([`crate::keywatch::KeyWatch`], [`crate::jobcache::JobCache`]). A notification sent
//! while nobody listened is lost, so each cache is trusted only while the listener is up and is
//! flushed whenever it (re)starts listening.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tracing::warn;

/// A cache fed by one notification channel.
pub trait Subscriber: Send + Sync {
    fn channel(&self) -> &'static str;
    /// The listener is up: anything may have changed while it was not.
    fn listening(&self);
    fn notified(&self, payload: &str);
    /// The listener is down: notifications may be missed from now on.
    fn lost(&self);
}

/// Listens forever, reconnecting a second after any failure.
pub async fn listen(pool: PgPool, subscribers: Vec<Arc<dyn Subscriber>>) {
    let channels: Vec<&str> = subscribers.iter().map(|s| s.channel()).collect();
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen_all(channels.iter().copied()).await {
                Ok(()) => {
                    subscribers.iter().for_each(|s| s.listening());
                    // `try_recv` (not `recv`) so that a lost connection is seen, not silently
                    // reconnected over while notifications were missed.
                    while let Ok(Some(notification)) = listener.try_recv().await {
                        if let Some(s) = subscribers.iter().find(|s| s.channel() == notification.channel()) {
                            s.notified(notification.payload());
                        }
                    }
                    subscribers.iter().for_each(|s| s.lost());
                    warn!("lost the PostgreSQL notification listener; caches are bypassed until it is back");
                }
                Err(e) => warn!(error = %e, "cannot listen for PostgreSQL notifications"),
            },
            Err(e) => warn!(error = %e, "cannot connect the PostgreSQL notification listener"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
