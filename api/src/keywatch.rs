//! Remembers whether any API key is active, so an open deployment answers without a database
//! round trip per request. PostgreSQL announces every change to `api_keys` (a trigger), and the
//! cache is trusted only while this process is listening for those announcements (`crate::notify`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::notify::Subscriber;

#[derive(Default)]
pub struct KeyWatch {
    listening: AtomicBool,
    /// Bumped on every announced change (and on every reconnection).
    generation: AtomicU64,
    /// `any_active` as last read, with the generation it was read in.
    cached: Mutex<Option<(u64, bool)>>,
}

impl KeyWatch {
    /// `Some(any_active)` when it is known to be current.
    pub fn any_active(&self) -> Option<bool> {
        if !self.listening.load(Ordering::Acquire) {
            return None;
        }
        let generation = self.generation.load(Ordering::Acquire);
        match *self.cached.lock().unwrap_or_else(|e| e.into_inner()) {
            Some((g, any)) if g == generation => Some(any),
            _ => None,
        }
    }

    /// The generation to pass to [`KeyWatch::remember`] for a read that starts now.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps a value read from the database, unless a change was announced since `generation`.
    pub fn remember(&self, generation: u64, any_active: bool) {
        if self.generation.load(Ordering::Acquire) == generation {
            *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some((generation, any_active));
        }
    }

    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

impl Subscriber for KeyWatch {
    fn channel(&self) -> &'static str {
        "api_keys_changed"
    }

    fn listening(&self) {
        self.changed();
        self.listening.store(true, Ordering::Release);
    }

    fn notified(&self, _payload: &str) {
        self.changed();
    }

    fn lost(&self) {
        self.listening.store(false, Ordering::Release);
        self.changed();
    }
}
