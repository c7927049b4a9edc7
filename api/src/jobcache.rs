//! Job rows for `getJobStatus`, kept in memory so that clients polling a job cost no database
//! round trip. PostgreSQL announces every update and deletion of a job (a trigger, channel
//! `jobs_changed`, payload the id), and the cache is trusted only while this process listens
//! (`crate::notify`). This process's own writes (cancel, delete) invalidate at once, so a client
//! reads its own writes; a worker's write is seen as soon as its notification arrives. Entries
//! also expire after `api.status_cache_secs`, a backstop should a write ever bypass the trigger.
//! Only rows are cached: a queued job's place in the queue moves without its row changing, so
//! `getJobStatus` reads it from PostgreSQL at every request (`JobStore::queue_place`).

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use jobs::{Job, JobStore, StoreError};
use moka::sync::Cache;
use uuid::Uuid;

use crate::notify::Subscriber;

/// Jobs kept at most (about a kilobyte each); clients poll few jobs at a time.
const CAPACITY: u64 = 10_000;

pub struct JobCache {
    listening: AtomicBool,
    /// Bumped before every invalidation, so a read that overlapped one is not kept.
    generation: AtomicU64,
    /// `None`: caching is off (`api.status_cache_secs = 0`).
    jobs: Option<Cache<Uuid, Arc<Job>>>,
}

impl JobCache {
    /// Entries expire `ttl` after they were read (`None`: nothing is cached).
    pub fn new(ttl: Option<Duration>) -> Self {
        Self {
            listening: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            jobs: ttl.map(|ttl| Cache::builder().max_capacity(CAPACITY).time_to_live(ttl).build()),
        }
    }

    /// The job as the cache has it, or as PostgreSQL has it now (then remembered).
    pub async fn get(&self, store: &JobStore, id: Uuid) -> Result<Option<Arc<Job>>, StoreError> {
        self.get_or_load(id, || store.get(id)).await
    }

    /// [`JobCache::get`] with the database read given.
    pub async fn get_or_load<F, Fut, E>(&self, id: Uuid, load: F) -> Result<Option<Arc<Job>>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<Job>, E>>,
    {
        let Some(jobs) = self.jobs.as_ref().filter(|_| self.listening.load(SeqCst)) else {
            return Ok(load().await?.map(Arc::new));
        };
        if let Some(job) = jobs.get(&id) {
            return Ok(Some(job));
        }
        let generation = self.generation.load(SeqCst);
        let Some(job) = load().await?.map(Arc::new) else {
            // Absence is not cached: a job inserted next is announced by nobody.
            return Ok(None);
        };
        self.remember(jobs, generation, &job);
        Ok(Some(job))
    }

    /// Keeps `job`, read from the database after `generation` was taken, unless a change was
    /// announced since: that row may predate the change.
    fn remember(&self, jobs: &Cache<Uuid, Arc<Job>>, generation: u64, job: &Arc<Job>) {
        if self.generation.load(SeqCst) != generation {
            return;
        }
        jobs.insert(job.id, job.clone());
        // An invalidation may have come between the check and the insert. It bumped the
        // generation before removing, so either it removed this entry or this sees the bump.
        if self.generation.load(SeqCst) != generation {
            jobs.invalidate(&job.id);
        }
    }

    /// Forgets the job; call after writing it.
    pub fn invalidate(&self, id: Uuid) {
        self.generation.fetch_add(1, SeqCst);
        if let Some(jobs) = &self.jobs {
            jobs.invalidate(&id);
        }
    }

    fn flush(&self) {
        self.generation.fetch_add(1, SeqCst);
        if let Some(jobs) = &self.jobs {
            jobs.invalidate_all();
        }
    }
}

impl Subscriber for JobCache {
    fn channel(&self) -> &'static str {
        "jobs_changed"
    }

    fn listening(&self) {
        self.flush();
        self.listening.store(true, SeqCst);
    }

    fn notified(&self, payload: &str) {
        match payload.parse() {
            Ok(id) => self.invalidate(id),
            // A TRUNCATE (or anything unexpected): forget everything.
            Err(_) => self.flush(),
        }
    }

    fn lost(&self) {
        self.listening.store(false, SeqCst);
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use jobs::model::StatusColumn;
    use jobs::{JobInput, JobStatus};
    use vocab::JobOptions;

    use super::*;

    fn job(id: Uuid) -> Job {
        Job {
            id,
            status: StatusColumn(JobStatus::Queued),
            stage: None,
            progress: 0.0,
            input: JobInput::Path { path: "/a.wav".into() },
            options: JobOptions::default(),
            duration_secs: None,
            attempt: 0,
            max_attempts: 3,
            worker_id: None,
            lease_until: None,
            cancel_requested: false,
            error_code: None,
            error_message: None,
            created_at: chrono::Utc::now(),
            started_at: None,
            finished_at: None,
            owner: None,
            callback_url: None,
            purged_at: None,
        }
    }

    /// Reads `id` through the cache; true when the database was read.
    async fn read(cache: &JobCache, id: Uuid) -> bool {
        let loads = AtomicUsize::new(0);
        let got = cache
            .get_or_load(id, || async {
                loads.fetch_add(1, SeqCst);
                Ok::<_, ()>(Some(job(id)))
            })
            .await
            .unwrap();
        assert_eq!(got.unwrap().id, id);
        loads.load(SeqCst) == 1
    }

    #[tokio::test]
    async fn only_a_listening_cache_serves_and_it_starts_empty_after_each_reconnection() {
        let cache = JobCache::new(Some(Duration::from_secs(60)));
        let id = Uuid::now_v7();
        assert!(read(&cache, id).await && read(&cache, id).await, "not listening yet: every read loads");
        cache.listening();
        assert!(read(&cache, id).await);
        assert!(!read(&cache, id).await, "cached");
        cache.lost();
        assert!(read(&cache, id).await && read(&cache, id).await, "lost: every read loads");
        cache.listening();
        assert!(read(&cache, id).await, "a reconnection starts empty");
        assert!(!read(&cache, id).await);
    }

    #[tokio::test]
    async fn notifications_and_own_writes_invalidate() {
        let cache = JobCache::new(Some(Duration::from_secs(60)));
        cache.listening();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert!(read(&cache, a).await && read(&cache, b).await);
        cache.notified(&a.to_string());
        assert!(read(&cache, a).await, "a was announced");
        assert!(!read(&cache, b).await, "b was not");
        cache.invalidate(b);
        assert!(read(&cache, b).await, "b was written here");
        cache.notified("");
        assert!(read(&cache, a).await && read(&cache, b).await, "a TRUNCATE forgets everything");
    }

    #[tokio::test]
    async fn a_row_read_while_a_change_was_announced_is_not_kept() {
        let cache = JobCache::new(Some(Duration::from_secs(60)));
        cache.listening();
        let id = Uuid::now_v7();
        let got = cache
            .get_or_load(id, || async {
                // The change commits and is announced while this (older) row is on its way.
                cache.notified(&id.to_string());
                Ok::<_, ()>(Some(job(id)))
            })
            .await
            .unwrap();
        assert!(got.is_some());
        assert!(read(&cache, id).await, "the overlapping read was not cached");
        assert!(!read(&cache, id).await);
    }

    #[tokio::test]
    async fn a_zero_ttl_caches_nothing() {
        let cache = JobCache::new(None);
        cache.listening();
        let id = Uuid::now_v7();
        assert!(read(&cache, id).await && read(&cache, id).await);
    }
}
