//! What a job says about its stages (its `stage`, progress, `stage_secs` and closing log line)
//! against a real run of the worker binary.

#[allow(dead_code)] // the support module serves worker.rs too; this file uses part of it
mod support;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use jobs::{JobInput, JobStatus};
use support::{spawn_env, TestEnv};
use uuid::Uuid;
use vocab::JobOptions;

/// What one finished job reported about its stages.
#[derive(Debug)]
struct Reported {
    stage: Option<String>,
    /// Every progress value a client polling the job saw, in order.
    progress: Vec<f32>,
    stage_secs: BTreeMap<String, f64>,
    /// The stage times the closing log line gives.
    logged: BTreeMap<String, f64>,
    wall_secs: f64,
}

async fn run(env: &TestEnv, path: &std::path::Path, options: JobOptions) -> Reported {
    let id = env.submit_with(JobInput::Path { path: path.to_string_lossy().into() }, options).await;
    let progress = Mutex::new(Vec::new());
    let job = env
        .wait(id, Duration::from_secs(120), |job| {
            progress.lock().unwrap().push(job.progress);
            job.status().is_finished()
        })
        .await;
    assert_eq!(job.status(), JobStatus::Succeeded, "{:?} {:?}", job.error_code, job.error_message);
    let wall_secs = (job.finished_at.unwrap() - job.started_at.unwrap()).num_microseconds().unwrap() as f64 / 1e6;
    Reported {
        stage_secs: stage_secs(env, &job).await,
        stage: job.stage,
        progress: progress.into_inner().unwrap(),
        logged: logged_stage_times(env, id).await,
        wall_secs,
    }
}

/// The job's `stage_secs`, as `/metrics` reads them (jobs that finished over a second ago).
async fn stage_secs(env: &TestEnv, job: &jobs::Job) -> BTreeMap<String, f64> {
    let finished = testkit::wait_until(Duration::from_secs(10), "the job among the finished ones", || async {
        let since = env.store.finished_since((job.created_at, Uuid::nil()), 100).await.unwrap();
        since.into_iter().find(|finished| finished.id == job.id)
    })
    .await;
    finished.stage_secs.expect("stage_secs recorded")
}

/// Parses `...; stage times: fetch 0.002 s, decode 0.010 s, ...` from the job's last log line.
async fn logged_stage_times(env: &TestEnv, id: Uuid) -> BTreeMap<String, f64> {
    let logs = env.store.logs(id, 0, 1000).await.unwrap();
    let last = &logs.last().expect("log lines").message;
    assert!(last.starts_with("succeeded"), "the closing line comes last: {logs:?}");
    let (_, times) = last.split_once("; stage times: ").unwrap_or_else(|| panic!("stage times in {last:?}"));
    times
        .split(", ")
        .map(|item| {
            let (stage, secs) = item.strip_suffix(" s").and_then(|i| i.split_once(' ')).expect("`stage 0.123 s`");
            (stage.to_string(), secs.parse().expect("seconds"))
        })
        .collect()
}

/// Checks what holds for every job, and returns its stage times.
fn check(what: &str, r: &Reported, ran: &[&str], last: &str) -> impl Fn(&str) -> f64 {
    assert_eq!(r.stage.as_deref(), Some(last), "{what}: a finished job shows its last stage");
    assert!(r.progress.windows(2).all(|w| w[0] <= w[1]), "{what}: progress went back: {:?}", r.progress);
    assert_eq!(r.progress.last(), Some(&1.0), "{what}");
    assert_eq!(r.stage_secs.keys().map(String::as_str).collect::<Vec<_>>(), {
        let mut ran = ran.to_vec();
        ran.sort();
        ran
    });
    assert_eq!(r.logged, r.stage_secs, "{what}: the log line and stage_secs give the same figures");
    // Fetching a local path takes microseconds, which round to 0.000 s; every other stage works.
    for (stage, secs) in r.stage_secs.iter().filter(|(stage, _)| *stage != "fetch") {
        assert!(*secs > 0.0, "{what}: {stage} ran but took {secs} s");
    }
    let secs = r.stage_secs.clone();
    move |stage| secs.get(stage).copied().unwrap_or(0.0)
}

#[tokio::test]
async fn stage_times_and_the_final_stage_tell_the_truth() {
    let env = spawn_env(|_| {}).await;
    let _worker = env.start_worker();
    let jfk = env.input_root.join("jfk.flac");
    std::fs::copy(testkit::fixture("jfk.flac"), &jfk).unwrap();
    // Rounding each figure to the millisecond may add half of one per stage.
    let slack = 0.003;

    let plain = run(&env, &jfk, JobOptions::default()).await;
    let secs = check("plain", &plain, &["fetch", "decode", "vad", "transcribe"], "transcribe");
    // Decode and VAD share one thread, transcription has its own: each thread's stages fit in the
    // job's wall time, after the fetch.
    assert!(secs("fetch") + secs("decode") + secs("vad") <= plain.wall_secs + slack, "{:?}", plain.stage_secs);
    assert!(secs("fetch") + secs("transcribe") <= plain.wall_secs + slack, "{:?}", plain.stage_secs);
    // Whisper does most of the work on 11 s of speech, not Silero.
    assert!(secs("transcribe") > secs("vad") && secs("transcribe") > 0.2 * plain.wall_secs, "{plain:?}");

    let options = JobOptions { word_timestamps: Some(true), diarize: Some(true), ..JobOptions::default() };
    let full = run(&env, &jfk, options).await;
    let secs = check("full", &full, &["fetch", "decode", "vad", "transcribe", "align", "diarize"], "diarize");
    let vad_thread = secs("decode") + secs("vad") + secs("diarize");
    assert!(secs("fetch") + vad_thread <= full.wall_secs + slack, "{:?}", full.stage_secs);
    assert!(secs("fetch") + secs("transcribe") + secs("align") <= full.wall_secs + slack, "{:?}", full.stage_secs);
}
