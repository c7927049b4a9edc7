//! The store's conditional writes against a real PostgreSQL, and dispatch against a real Redis.

use std::path::Path;
use std::time::Duration;

use jobs::store::{Inserted, NewJob, StoreError};
use jobs::{CancelOutcome, Fence, JobInput, JobStatus, JobStore, LogLevel, Outcome, PartialsCursor, Queue};
use uuid::Uuid;
use vocab::{JobOptions, SpeakerModel};

struct TestDb {
    store: JobStore,
    queue: Queue,
    /// Declared last so it is dropped last: the database goes after the pool that uses it.
    backends: testkit::TestBackends,
}

async fn spawn_db() -> TestDb {
    let backends = testkit::TestBackends::new();
    let store = JobStore::connect(&backends.database_url(), 5)
        .await
        .expect("PostgreSQL on 127.0.0.1:5432 (scripts/setup.sh starts it)");
    let queue = Queue::connect(testkit::REDIS_URL, &backends.redis_prefix()).await.expect("Redis on 127.0.0.1:6379");
    TestDb { store, queue, backends }
}

fn new_job(max_attempts: i32) -> NewJob {
    NewJob {
        id: Uuid::now_v7(),
        input: JobInput::Path { path: "/data/a.wav".into() },
        options: JobOptions::default(),
        idempotency_key: None,
        request_hash: None,
        max_attempts,
    }
}

async fn insert(db: &TestDb, max_attempts: i32) -> Uuid {
    match db.store.insert(new_job(max_attempts)).await.unwrap() {
        Inserted::Created(job) => job.id,
        Inserted::Existing(_) => unreachable!(),
    }
}

async fn expire_lease(db: &TestDb, id: Uuid) {
    sqlx::query("UPDATE jobs SET lease_until = now() - interval '1 second' WHERE id = $1")
        .bind(id)
        .execute(db.store.pool())
        .await
        .unwrap();
}

fn fence_of(job: &jobs::Job) -> Fence {
    Fence { job_id: job.id, worker_id: job.worker_id.clone().unwrap(), attempt: job.attempt }
}

fn success() -> Outcome {
    Outcome::Succeeded { result: serde_json::json!({"duration": 1.0, "segments": []}), duration_secs: 1.0 }
}

#[tokio::test]
async fn a_job_is_claimed_once() {
    let db = spawn_db().await;
    let id = insert(&db, 3).await;
    let lease = Duration::from_secs(30);
    let (a, b) = tokio::join!(db.store.claim(id, "a", lease), db.store.claim(id, "b", lease));
    let claims = [a.unwrap(), b.unwrap()];
    assert_eq!(claims.iter().filter(|c| c.is_some()).count(), 1, "exactly one claim wins");
    let job = claims.into_iter().flatten().next().unwrap();
    assert_eq!((job.status(), job.attempt), (JobStatus::Running, 1));
    assert!(db.store.claim(id, "c", lease).await.unwrap().is_none(), "a running job cannot be claimed");
}

#[tokio::test]
async fn a_worker_that_lost_its_lease_cannot_write() {
    let db = spawn_db().await;
    let id = insert(&db, 3).await;
    let lease = Duration::from_secs(30);
    let old = db.store.claim(id, "old", lease).await.unwrap().unwrap();
    expire_lease(&db, id).await;
    let reaped = db.store.reap_expired().await.unwrap();
    assert_eq!(reaped.len(), 1);
    assert_eq!(reaped[0].status, JobStatus::Queued);
    let new = db.store.claim(id, "new", lease).await.unwrap().unwrap();
    assert_eq!(new.attempt, 2);

    let old_fence = fence_of(&old);
    assert!(!db.store.set_progress(&old_fence, "transcribe", 0.5).await.unwrap());
    assert_eq!(db.store.renew_lease(&old_fence, lease).await.unwrap(), None);
    assert!(!db.store.finish(&old_fence, &success(), "late").await.unwrap(), "the old worker's result is rejected");
    assert!(db.store.result(id).await.unwrap().is_none());
    assert_eq!(db.store.get(id).await.unwrap().unwrap().status(), JobStatus::Running);
    assert!(!db.store.log_fenced(&old_fence, LogLevel::Info, Some("vad"), "late line").await.unwrap());

    let new_fence = fence_of(&new);
    assert!(db.store.log_fenced(&new_fence, LogLevel::Info, Some("vad"), "current line").await.unwrap());
    let lines: Vec<String> = db.store.logs(id, 0, 100).await.unwrap().into_iter().map(|l| l.message).collect();
    assert!(lines.iter().any(|l| l == "current line"), "{lines:?}");
    assert!(!lines.iter().any(|l| l == "late line"), "the old attempt's line was written: {lines:?}");
    assert!(db.store.finish(&new_fence, &success(), "done").await.unwrap());
    let job = db.store.get(id).await.unwrap().unwrap();
    assert_eq!((job.status(), job.attempt, job.worker_id.as_deref()), (JobStatus::Succeeded, 2, Some("new")));
    assert!(db.store.result(id).await.unwrap().is_some());
    assert!(!db.store.finish(&new_fence, &success(), "twice").await.unwrap(), "a finished job stays finished");
}

#[tokio::test]
async fn the_reaper_fails_a_job_after_its_last_attempt_and_honours_cancellation() {
    let db = spawn_db().await;
    let id = insert(&db, 2).await;
    for attempt in 1..=2 {
        let job = db.store.claim(id, "w", Duration::from_secs(30)).await.unwrap().unwrap();
        assert_eq!(job.attempt, attempt);
        expire_lease(&db, id).await;
        db.store.reap_expired().await.unwrap();
    }
    let job = db.store.get(id).await.unwrap().unwrap();
    assert_eq!(job.status(), JobStatus::Failed);
    assert_eq!(job.error_code.as_deref(), Some("worker_lost"));
    assert!(job.finished_at.is_some());

    let id = insert(&db, 3).await;
    db.store.claim(id, "w", Duration::from_secs(30)).await.unwrap().unwrap();
    assert!(matches!(db.store.cancel(id).await.unwrap(), CancelOutcome::Requested(_)));
    expire_lease(&db, id).await;
    db.store.reap_expired().await.unwrap();
    assert_eq!(db.store.get(id).await.unwrap().unwrap().status(), JobStatus::Canceled);
}

#[tokio::test]
async fn cancel_depends_on_the_state() {
    let db = spawn_db().await;
    let queued = insert(&db, 3).await;
    assert!(
        matches!(db.store.cancel(queued).await.unwrap(), CancelOutcome::Canceled(j) if j.status() == JobStatus::Canceled)
    );
    assert!(
        db.store.claim(queued, "w", Duration::from_secs(30)).await.unwrap().is_none(),
        "canceled jobs are never claimed"
    );
    assert!(matches!(db.store.cancel(queued).await.unwrap(), CancelOutcome::AlreadyFinished(_)));
    assert!(matches!(db.store.cancel(Uuid::now_v7()).await.unwrap(), CancelOutcome::NotFound));

    let running = insert(&db, 3).await;
    let job = db.store.claim(running, "w", Duration::from_secs(30)).await.unwrap().unwrap();
    assert!(matches!(db.store.cancel(running).await.unwrap(), CancelOutcome::Requested(j) if j.cancel_requested));
    assert_eq!(db.store.renew_lease(&fence_of(&job), Duration::from_secs(30)).await.unwrap(), Some(true));
    assert!(db.store.finish(&fence_of(&job), &Outcome::Canceled, "canceled").await.unwrap());
    assert_eq!(db.store.get(running).await.unwrap().unwrap().status(), JobStatus::Canceled);
}

#[tokio::test]
async fn an_idempotency_key_returns_the_first_job_or_refuses_a_different_request() {
    let db = spawn_db().await;
    let keyed =
        |hash: &str| NewJob { idempotency_key: Some("k-1".into()), request_hash: Some(hash.into()), ..new_job(3) };
    let first = match db.store.insert(keyed("h1")).await.unwrap() {
        Inserted::Created(job) => job,
        Inserted::Existing(_) => panic!("first insert creates"),
    };
    let (a, b) = tokio::join!(db.store.insert(keyed("h1")), db.store.insert(keyed("h1")));
    for again in [a.unwrap(), b.unwrap()] {
        assert!(matches!(again, Inserted::Existing(j) if j.id == first.id));
    }
    assert!(matches!(db.store.insert(keyed("h2")).await, Err(StoreError::IdempotencyConflict)));
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs").fetch_one(db.store.pool()).await.unwrap();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn the_reconciler_redispatches_jobs_left_queued() {
    let db = spawn_db().await;
    let id = insert(&db, 3).await;
    assert!(db.store.take_stale_queued(Duration::from_secs(60)).await.unwrap().is_empty(), "fresh jobs are left alone");
    sqlx::query("UPDATE jobs SET dispatched_at = now() - interval '2 minutes'").execute(db.store.pool()).await.unwrap();
    let mut consumer = db.queue.consumer("c", Duration::from_millis(100)).await.unwrap();
    assert_eq!(jobs::maintenance::reconcile_once(&db.store, &db.queue, Duration::from_secs(60)).await.unwrap(), 1);
    let delivery = consumer.next().await.unwrap().expect("re-dispatched");
    assert_eq!(delivery.job_id, Some(id));
    assert_eq!(jobs::maintenance::reconcile_once(&db.store, &db.queue, Duration::from_secs(60)).await.unwrap(), 0);
}

#[tokio::test]
async fn a_consumer_recovers_when_the_stream_disappears() {
    let db = spawn_db().await;
    let mut consumer = db.queue.consumer("c", Duration::from_millis(100)).await.unwrap();
    let id = Uuid::now_v7();
    db.queue.dispatch(id).await.unwrap();
    let delivery = consumer.next().await.unwrap().unwrap();
    assert_eq!(delivery.job_id, Some(id));
    consumer.ack(&delivery).await.unwrap();

    let client = redis::Client::open(testkit::REDIS_URL).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{}*", db.backends.redis_prefix())).query_async(&mut conn).await.unwrap();
    for key in keys {
        redis::cmd("DEL").arg(key).query_async::<i64>(&mut conn).await.unwrap();
    }
    assert!(consumer.next().await.unwrap().is_none(), "NOGROUP is handled by recreating the group");
    let again = Uuid::now_v7();
    db.queue.dispatch(again).await.unwrap();
    assert_eq!(consumer.next().await.unwrap().unwrap().job_id, Some(again));
}

#[tokio::test]
async fn deleting_a_job_removes_its_logs_and_result() {
    let db = spawn_db().await;
    let id = insert(&db, 3).await;
    let job = db.store.claim(id, "w", Duration::from_secs(30)).await.unwrap().unwrap();
    db.store.finish(&fence_of(&job), &success(), "done").await.unwrap();
    assert!(db.store.delete(id).await.unwrap().is_some());
    assert!(db.store.get(id).await.unwrap().is_none());
    assert!(db.store.result(id).await.unwrap().is_none());
    assert!(db.store.logs(id, 0, 10).await.unwrap().is_empty());
    // Writers that did not hear of the deletion do no harm.
    db.store.log(id, jobs::LogLevel::Info, None, Some("w"), "late line").await.unwrap();
    assert!(db.store.delete(id).await.unwrap().is_none());
}

#[test]
fn the_shipped_configuration_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let settings = jobs::Settings::load_from(&dir, "none").unwrap();
    for preset in ["HIGH_ACCURACY", "LOW_LATENCY", "BALANCED"] {
        assert!(settings.preset(preset).is_some(), "{preset}");
    }
    assert!(settings.preset("low_latency").is_some(), "preset names ignore case");
    assert_eq!(settings.preset("LOW_LATENCY").unwrap().1.without_timestamps, Some(true));
    assert_eq!(settings.preset("HIGH_ACCURACY").unwrap().1.speaker_model, Some(SpeakerModel::Campplus));
    assert_eq!(settings.preset("BALANCED").unwrap().1.speaker_model, Some(SpeakerModel::CampplusFast));
}

#[test]
fn presets_with_impossible_settings_are_refused() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    for (bad, says) in [
        ("vad_onset = 1.5", "vad_onset"),
        ("vad_onset = 0.3\nvad_offset = 0.5", "offset <= onset"),
        ("chunk_size = 45.0", "chunk_size"),
        ("beam_size = 0", "beam_size"),
        ("device = [\"tpu\"]", "device"),
        ("compute_type = \"int4\"", "compute_type"),
        ("speaker_model = \"ecapa\"", "speaker_model"),
    ] {
        let dir = std::env::temp_dir().join(format!("presets-{}", Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(shipped.join("default.toml"), dir.join("default.toml")).unwrap();
        let mut presets = std::fs::read_to_string(shipped.join("presets.toml")).unwrap();
        presets.push_str(&format!("\n[presets.BROKEN]\nmodel = \"tiny.en\"\n{bad}\n"));
        std::fs::write(dir.join("presets.toml"), presets).unwrap();
        let err = jobs::Settings::load_from(&dir, "none").unwrap_err().to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(err.contains("BROKEN") && err.contains(says), "{bad}: {err}");
    }
}

#[tokio::test]
async fn several_processes_can_create_and_migrate_the_database_at_once() {
    let backends = testkit::TestBackends::new();
    let url = backends.database_url();
    let connects = (0..4).map(|_| JobStore::connect(&url, 2));
    for store in futures_util::future::join_all(connects).await {
        store.expect("every concurrent start-up succeeds").ping().await.unwrap();
    }
}

async fn insert_key(db: &TestDb, name: &str) -> Uuid {
    let key = db
        .store
        .create_key(&jobs::NewApiKey {
            id: Uuid::now_v7(),
            name: name.into(),
            key_hash: format!("hash-of-{name}"),
            prefix: "tsk_0000".into(),
            admin: false,
            max_queued: Some(2),
        })
        .await
        .unwrap();
    key.id
}

#[tokio::test]
async fn a_queue_limit_holds_under_concurrent_submissions() {
    let db = spawn_db().await;
    let owner = insert_key(&db, "limited").await;
    let submitter = jobs::Submitter { owner: Some(owner), max_queued: Some(2), ..Default::default() };
    let attempts = futures_util::future::join_all((0..6).map(|_| db.store.insert_as(new_job(3), &submitter))).await;
    let created = attempts.iter().filter(|r| matches!(r, Ok(Inserted::Created(_)))).count();
    let refused = attempts.iter().filter(|r| matches!(r, Err(StoreError::TooManyQueued { limit: 2 }))).count();
    assert_eq!((created, refused), (2, 4));
    // Others are not limited by this owner's queue; a started job frees a place.
    assert!(matches!(db.store.insert(new_job(3)).await, Ok(Inserted::Created(_))));
    let mine = db.store.list(&jobs::ListFilter { owner: Some(owner), limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(mine.len(), 2, "the list filters by owner");
    db.store.claim(mine[0].id, "w", Duration::from_secs(30)).await.unwrap().unwrap();
    assert!(matches!(db.store.insert_as(new_job(3), &submitter).await, Ok(Inserted::Created(_))));
    assert_eq!(db.store.queued_count_of(owner).await.unwrap(), 2);
}

#[tokio::test]
async fn idempotency_keys_are_scoped_per_owner() {
    let db = spawn_db().await;
    let (a, b) = (insert_key(&db, "a").await, insert_key(&db, "b").await);
    let keyed = || NewJob { idempotency_key: Some("same".into()), request_hash: Some("h".into()), ..new_job(3) };
    let mut ids = Vec::new();
    for owner in [Some(a), Some(b), None] {
        let submitter = jobs::Submitter { owner, ..Default::default() };
        let Inserted::Created(job) = db.store.insert_as(keyed(), &submitter).await.unwrap() else {
            panic!("each owner has its own keys")
        };
        assert_eq!(job.owner, owner);
        let again = db.store.insert_as(keyed(), &submitter).await.unwrap();
        assert!(matches!(again, Inserted::Existing(j) if j.id == job.id));
        // With a limit the replay is found before the limit is checked.
        let limited = jobs::Submitter { owner, max_queued: Some(0), ..Default::default() };
        assert!(
            matches!(db.store.insert_as(keyed(), &limited).await.unwrap(), Inserted::Existing(j) if j.id == job.id)
        );
        ids.push(job.id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 3);
}

async fn partial_rows(db: &TestDb, id: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM job_partials WHERE job_id = $1")
        .bind(id)
        .fetch_one(db.store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn partial_segments_are_fenced_per_run_and_cleared_when_the_job_stops_running() {
    let db = spawn_db().await;
    let id = insert(&db, 3).await;
    let lease = Duration::from_secs(30);
    let seg = |text: &str| serde_json::json!({"start": 0.0, "end": 1.0, "text": text});
    let first = db.store.claim(id, "old", lease).await.unwrap().unwrap();
    let old = fence_of(&first);
    assert!(db.store.append_partials(&old, 0, &[seg("a"), seg("b")]).await.unwrap());
    // A batch sent again after a failed write overlaps what is stored; the stored rows stay.
    assert!(db.store.append_partials(&old, 1, &[seg("B"), seg("c")]).await.unwrap());
    let read = db.store.job_with_partials(id, &PartialsCursor::default()).await.unwrap().unwrap();
    assert_eq!((read.job.attempt, read.first), (1, 0), "a new reader reads from the start");
    assert_eq!(read.segments, [seg("a"), seg("b"), seg("c")]);
    let at = |attempt: i32, worker: &str, next: i32| PartialsCursor { attempt, worker_id: Some(worker.into()), next };
    let read = db.store.job_with_partials(id, &at(1, "old", 2)).await.unwrap().unwrap();
    assert!(at(1, "old", 2).same_run(&read.job));
    assert_eq!((read.first, read.segments), (2, vec![seg("c")]));
    let stranger = Fence { worker_id: "stranger".into(), ..old.clone() };
    assert!(!db.store.append_partials(&stranger, 3, &[seg("x")]).await.unwrap());

    // Reaped: attempt 1's partials go, and its worker can add none.
    expire_lease(&db, id).await;
    db.store.reap_expired().await.unwrap();
    assert_eq!(partial_rows(&db, id).await, 0);
    assert!(!db.store.append_partials(&old, 3, &[seg("d")]).await.unwrap());
    let second = db.store.claim(id, "new", lease).await.unwrap().unwrap();
    assert!(!db.store.append_partials(&old, 3, &[seg("d")]).await.unwrap(), "attempt 1 is fenced out");
    let new = fence_of(&second);
    assert!(db.store.append_partials(&new, 0, &[seg("one")]).await.unwrap());
    // A reader that was at segment 3 of attempt 1 is told attempt 2 started, from its start.
    let read = db.store.job_with_partials(id, &at(1, "old", 3)).await.unwrap().unwrap();
    assert_eq!((read.job.attempt, read.first, read.segments), (2, 0, vec![seg("one")]));

    // The result is the truth once written.
    assert!(db.store.finish(&new, &success(), "done").await.unwrap());
    assert_eq!(partial_rows(&db, id).await, 0);
    assert!(!db.store.append_partials(&new, 1, &[seg("two")]).await.unwrap(), "a finished job takes no partials");
    assert!(db.store.job_with_partials(id, &at(2, "new", 1)).await.unwrap().unwrap().segments.is_empty());

    // Handed back at shutdown, a job runs again under the same attempt number, elsewhere.
    let handed = insert(&db, 3).await;
    let job = db.store.claim(handed, "leaving", lease).await.unwrap().unwrap();
    assert!(db.store.append_partials(&fence_of(&job), 0, &[seg("a"), seg("b")]).await.unwrap());
    assert!(db.store.release(&fence_of(&job)).await.unwrap());
    assert_eq!(partial_rows(&db, handed).await, 0);
    let again = db.store.claim(handed, "staying", lease).await.unwrap().unwrap();
    assert_eq!(again.attempt, job.attempt);
    assert!(!db.store.append_partials(&fence_of(&job), 2, &[seg("c")]).await.unwrap());
    assert!(db.store.append_partials(&fence_of(&again), 0, &[seg("A")]).await.unwrap());
    let read = db.store.job_with_partials(handed, &at(1, "leaving", 2)).await.unwrap().unwrap();
    assert!(!at(1, "leaving", 2).same_run(&read.job));
    assert_eq!((read.first, read.segments), (0, vec![seg("A")]));

    // And they go with the job.
    let other = insert(&db, 3).await;
    let job = db.store.claim(other, "w", lease).await.unwrap().unwrap();
    assert!(db.store.append_partials(&fence_of(&job), 0, &[seg("a")]).await.unwrap());
    assert!(db.store.delete(other).await.unwrap().is_some());
    assert_eq!(partial_rows(&db, other).await, 0);
    assert!(db.store.job_with_partials(other, &PartialsCursor::default()).await.unwrap().is_none());
}

fn submission(job: NewJob) -> jobs::Submission {
    jobs::Submission { job, submitter: jobs::Submitter::default() }
}

async fn stream_len(db: &TestDb) -> i64 {
    let mut conn = redis::Client::open(testkit::REDIS_URL).unwrap().get_multiplexed_async_connection().await.unwrap();
    redis::cmd("XLEN").arg(format!("{}jobs", db.backends.redis_prefix())).query_async(&mut conn).await.unwrap()
}

#[tokio::test]
async fn concurrent_submissions_are_batched_and_each_dispatched_once() {
    let db = spawn_db().await;
    let enqueuer = jobs::Enqueuer::spawn(db.store.clone(), db.queue.clone());
    let submits = (0..300).map(|_| enqueuer.enqueue(new_job(3), jobs::Submitter::default()));
    let outcomes = futures_util::future::join_all(submits).await;
    let ids: std::collections::HashSet<Uuid> = outcomes
        .into_iter()
        .map(|o| match o.unwrap() {
            Inserted::Created(job) => job.id,
            Inserted::Existing(_) => panic!("no idempotency keys here"),
        })
        .collect();
    assert_eq!(ids.len(), 300);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs").fetch_one(db.store.pool()).await.unwrap();
    let logged: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT job_id) FROM job_logs WHERE message LIKE 'job submitted%'")
            .fetch_one(db.store.pool())
            .await
            .unwrap();
    assert_eq!((count, logged), (300, 300), "every job with its first log line");
    assert_eq!(stream_len(&db).await, 300, "one stream entry per job");
}

#[tokio::test]
async fn one_idempotency_key_twice_in_a_batch_makes_one_job() {
    let db = spawn_db().await;
    let keyed =
        |hash: &str| NewJob { idempotency_key: Some("k".into()), request_hash: Some(hash.into()), ..new_job(3) };
    let batch = [keyed("h"), new_job(3), keyed("h"), keyed("other")].map(submission);
    let outcomes = db.store.insert_batch(&batch).await;
    let Ok(Inserted::Created(first)) = &outcomes[0] else { panic!("the first with the key creates: {outcomes:?}") };
    assert!(matches!(&outcomes[1], Ok(Inserted::Created(_))));
    assert!(matches!(&outcomes[2], Ok(Inserted::Existing(j)) if j.id == first.id), "{outcomes:?}");
    assert!(matches!(&outcomes[3], Err(StoreError::IdempotencyConflict)), "{outcomes:?}");
    // A key used by an earlier batch is found the same way.
    let again = db.store.insert_batch(&[keyed("h"), new_job(3)].map(submission)).await;
    assert!(matches!(&again[0], Ok(Inserted::Existing(j)) if j.id == first.id), "{again:?}");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs").fetch_one(db.store.pool()).await.unwrap();
    assert_eq!(count, 3);
}

#[tokio::test]
async fn a_row_postgresql_refuses_fails_only_its_own_submission() {
    let db = spawn_db().await;
    // jsonb refuses \u0000, so this row fails the whole statement.
    let bad = NewJob {
        options: JobOptions { initial_prompt: Some("nul \0 byte".into()), ..Default::default() },
        ..new_job(3)
    };
    let batch = [new_job(3), bad, new_job(3)].map(submission);
    let outcomes = db.store.insert_batch(&batch).await;
    assert!(matches!(&outcomes[0], Ok(Inserted::Created(_))), "{outcomes:?}");
    assert!(matches!(&outcomes[1], Err(StoreError::Db(_))), "{outcomes:?}");
    assert!(matches!(&outcomes[2], Ok(Inserted::Created(_))), "{outcomes:?}");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs").fetch_one(db.store.pool()).await.unwrap();
    assert_eq!(count, 2);
}

#[tokio::test]
async fn a_queue_limit_holds_for_batched_submissions() {
    let db = spawn_db().await;
    let owner = insert_key(&db, "limited").await;
    let limited = jobs::Submitter { owner: Some(owner), max_queued: Some(2), ..Default::default() };
    let batch: Vec<_> = (0..5)
        .map(|_| jobs::Submission { job: new_job(3), submitter: limited.clone() })
        .chain([submission(new_job(3))])
        .collect();
    let outcomes = db.store.insert_batch(&batch).await;
    let refused = outcomes.iter().filter(|o| matches!(o, Err(StoreError::TooManyQueued { limit: 2 }))).count();
    assert_eq!(refused, 3, "{outcomes:?}");
    assert!(matches!(&outcomes[5], Ok(Inserted::Created(j)) if j.owner.is_none()));
    assert_eq!(db.store.queued_count_of(owner).await.unwrap(), 2);
}
