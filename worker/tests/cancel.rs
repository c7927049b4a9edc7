//! A cancel takes effect within two seconds whatever the job is doing: fetching, decoding and
//! detecting speech, transcribing, aligning words, or diarizing (issue 20's chaos finding: a
//! cancel used to wait for the current stage to end, up to 13.5 s).

#[allow(dead_code)] // the support module serves worker.rs too; this file uses part of it
mod support;

use std::time::{Duration, Instant};

use jobs::{CancelOutcome, JobInput, JobStatus};
use support::{spawn_env_alone, TestEnv};
use vocab::JobOptions;

/// About 220 s of two voices taking turns, the length the chaos run canceled.
fn long_meeting(env: &TestEnv) -> std::path::PathBuf {
    let path = env.input_root.join("meeting.wav");
    let a = speech::audio::decode_file(&testkit::fixture("librivox/sonnet1_en.mp3")).unwrap();
    let b = speech::audio::decode_file(&testkit::fixture("pyannote/sample.wav")).unwrap();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&path, spec).unwrap();
    let mut written = 0;
    for turn in [&a, &b].into_iter().cycle() {
        for sample in turn.iter().take(16_000 * 20) {
            writer.write_sample((sample * 32_767.0) as i16).unwrap();
        }
        written += turn.len().min(16_000 * 20);
        if written >= 16_000 * 220 {
            break;
        }
    }
    writer.finalize().unwrap();
    path
}

/// Cancels a HIGH_ACCURACY job with diarization once `ready` holds for it, and returns how long
/// the cancel took to end the job.
async fn cancel_when(
    env: &TestEnv,
    input: &std::path::Path,
    what: &str,
    ready: impl Fn(&jobs::Job) -> bool,
) -> Duration {
    let options = JobOptions { preset: Some("HIGH_ACCURACY".into()), diarize: Some(true), ..JobOptions::default() };
    let id = env.submit_with(JobInput::Path { path: input.to_string_lossy().into() }, options).await;
    let job = env.wait(id, Duration::from_secs(300), |j| ready(j) || j.status().is_finished()).await;
    assert_eq!(job.status(), JobStatus::Running, "{what}: the job ended before the moment to cancel it");
    let asked = Instant::now();
    assert!(matches!(env.store.cancel(id).await.unwrap(), CancelOutcome::Requested(_)), "{what}");
    env.queue.publish_cancel(id).await.unwrap();
    let job = env.wait_finished(id, Duration::from_secs(60)).await;
    assert_eq!(job.status(), JobStatus::Canceled, "{what}");
    asked.elapsed()
}

/// When to cancel a running job.
type Moment = dyn Fn(&jobs::Job) -> bool;

#[tokio::test]
async fn a_cancel_takes_effect_within_two_seconds_in_every_stage() {
    let env = spawn_env_alone(|_| {}).await;
    let _worker = env.start_worker();
    let input = long_meeting(&env);
    let moments: [(&str, Box<Moment>); 4] = [
        ("decoding and speech detection", Box::new(|j| j.stage.as_deref().is_some_and(|s| s != "fetch"))),
        ("a quarter through", Box::new(|j| j.progress >= 0.25)),
        ("half through", Box::new(|j| j.progress >= 0.5)),
        ("near the end (alignment, clustering)", Box::new(|j| j.progress >= 0.85)),
    ];
    let mut took = Vec::new();
    for (what, ready) in moments {
        took.push((what, cancel_when(&env, &input, what, ready).await));
    }
    eprintln!("cancel took: {took:?}");
    for (what, elapsed) in &took {
        assert!(*elapsed < Duration::from_secs(2), "canceled {what} after {elapsed:?} (all: {took:?})");
    }
}
