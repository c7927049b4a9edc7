//! The worker against real PostgreSQL and Redis, as separate processes like in production.

mod support;

use std::time::Duration;

use jobs::{CancelOutcome, JobInput, JobStatus};
use support::{spawn_env, Served};

#[tokio::test]
async fn upload_path_and_url_inputs_are_decoded() {
    let env = spawn_env(|_| {}).await;
    let _worker = env.start_worker();
    let jfk = testkit::fixture("jfk.flac");

    let key = jobs::AudioStorage::key_for(uuid::Uuid::now_v7());
    std::fs::copy(&jfk, env.settings.storage.dir.join(&key)).unwrap();
    let upload = env.submit(JobInput::Upload { key, filename: Some("jfk.flac".into()), size_bytes: 1 }).await;

    let local = env.input_root.join("sonnet.mp3");
    std::fs::copy(testkit::fixture("librivox/sonnet1_en.mp3"), &local).unwrap();
    let path = env.submit(JobInput::Path { path: local.to_string_lossy().into() }).await;

    let server = Served::start(std::fs::read(&jfk).unwrap(), None).await;
    let url = env.submit(JobInput::Url { url: server.url() }).await;

    for id in [upload, path, url] {
        let job = env.wait_finished(id, Duration::from_secs(120)).await;
        assert_eq!(job.status(), JobStatus::Succeeded, "{id}: {:?} {:?}", job.error_code, job.error_message);
        assert_eq!(job.attempt, 1);
        let result: transcript::Transcript =
            serde_json::from_str(&env.store.result(id).await.unwrap().unwrap()).unwrap();
        assert!(result.duration > 10.0, "{id}: duration {}", result.duration);
        let logs = env.store.logs(id, 0, 100).await.unwrap();
        assert!(logs.iter().any(|l| l.message.starts_with("claimed by")), "{logs:?}");
        assert!(logs.iter().any(|l| l.message.starts_with("succeeded")), "{logs:?}");
    }
    let job = env.store.get(upload).await.unwrap().unwrap();
    assert!((job.duration_secs.unwrap() - 11.0).abs() < 0.05, "jfk.flac is 11 s: {:?}", job.duration_secs);
    assert_eq!(job.progress, 1.0);
}

#[tokio::test]
async fn undecodable_inputs_fail_with_clear_codes() {
    let env = spawn_env(|_| {}).await;
    let _worker = env.start_worker();
    let garbage = env.input_root.join("garbage.mp3");
    std::fs::write(&garbage, (0..50_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<_>>())
        .unwrap();
    let empty = env.input_root.join("empty.wav");
    hound::WavWriter::create(
        &empty,
        hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        },
    )
    .unwrap()
    .finalize()
    .unwrap();
    let video = env.input_root.join("video.mp4");
    let made = std::process::Command::new("ffmpeg")
        .args(["-loglevel", "error", "-f", "lavfi", "-i", "testsrc=duration=1:size=64x64:rate=5", "-an", "-y"])
        .arg(&video)
        .status()
        .expect("the ffmpeg CLI (installed by scripts/setup.sh)");
    assert!(made.success());

    for (file, code) in [(garbage, "unsupported_media"), (empty, "empty_audio"), (video, "no_audio_stream")] {
        let id = env.submit(JobInput::Path { path: file.to_string_lossy().into() }).await;
        let job = env.wait_finished(id, Duration::from_secs(60)).await;
        assert_eq!(job.status(), JobStatus::Failed, "{file:?}");
        assert_eq!(job.error_code.as_deref(), Some(code), "{file:?}: {:?}", job.error_message);
        assert!(!job.error_message.unwrap_or_default().is_empty());
    }
}

#[tokio::test]
async fn url_inputs_are_limited_and_rechecked_by_the_worker() {
    let env = spawn_env(|s| s.inputs.url_max_mb = 1).await;
    let _worker = env.start_worker();
    let big = Served::start(vec![0u8; 2 * 1024 * 1024], None).await;
    let missing = Served::status(404).await;
    let too_big = env.submit(JobInput::Url { url: big.url() }).await;
    let not_found = env.submit(JobInput::Url { url: missing.url() }).await;
    assert_eq!(
        env.wait_finished(too_big, Duration::from_secs(60)).await.error_code.as_deref(),
        Some("input_too_large")
    );
    assert_eq!(
        env.wait_finished(not_found, Duration::from_secs(60)).await.error_code.as_deref(),
        Some("download_failed")
    );

    // A worker that forbids private addresses refuses a loopback URL even if the job got in.
    let strict = spawn_env(|s| s.inputs.allow_private_urls = false).await;
    let _strict_worker = strict.start_worker();
    let server = Served::start(std::fs::read(testkit::fixture("jfk.flac")).unwrap(), None).await;
    let port = server.addr.port();
    for url in [format!("http://localhost:{port}/a.flac"), format!("http://127.0.0.1:{port}/a.flac")] {
        let id = strict.submit(JobInput::Url { url }).await;
        let job = strict.wait_finished(id, Duration::from_secs(60)).await;
        assert_eq!(job.error_code.as_deref(), Some("url_not_allowed"), "{:?}", job.error_message);
    }
    assert_eq!(server.requests(), 0, "nothing was fetched");
}

#[tokio::test]
async fn a_running_job_is_canceled_quickly() {
    let env = support::spawn_env_alone(|_| {}).await;
    let _worker = env.start_worker();
    let slow = Served::start(std::fs::read(testkit::fixture("jfk.flac")).unwrap(), Some(Duration::from_secs(60))).await;
    let id = env.submit(JobInput::Url { url: slow.url() }).await;
    env.wait_status(id, JobStatus::Running, Duration::from_secs(30)).await;
    let asked = std::time::Instant::now();
    assert!(matches!(env.store.cancel(id).await.unwrap(), CancelOutcome::Requested(_)));
    env.queue.publish_cancel(id).await.unwrap();
    let job = env.wait_finished(id, Duration::from_secs(10)).await;
    assert_eq!(job.status(), JobStatus::Canceled);
    assert!(asked.elapsed() < Duration::from_secs(2), "canceled after {:?}", asked.elapsed());
}

#[tokio::test]
async fn a_killed_worker_s_job_completes_on_another() {
    let env = spawn_env(|_| {}).await;
    let mut first = env.start_worker();
    // The first download hangs, so the job is mid-flight when its worker dies.
    let server =
        Served::start(std::fs::read(testkit::fixture("jfk.flac")).unwrap(), Some(Duration::from_secs(600))).await;
    let id = env.submit(JobInput::Url { url: server.url() }).await;
    let running = env.wait_status(id, JobStatus::Running, Duration::from_secs(30)).await;
    let first_worker = running.worker_id.clone().unwrap();
    testkit::wait_until(Duration::from_secs(30), "the download to start", || async {
        (server.requests() > 0).then_some(())
    })
    .await;
    first.kill_hard();
    let _second = env.start_worker();
    let job = env.wait_finished(id, Duration::from_secs(60)).await;
    assert_eq!(job.status(), JobStatus::Succeeded, "{:?}", job.error_message);
    assert_eq!(job.attempt, 2);
    assert_ne!(job.worker_id.as_deref(), Some(first_worker.as_str()));
    let results: i64 = sqlx::query_scalar("SELECT count(*) FROM job_results WHERE job_id = $1")
        .bind(id)
        .fetch_one(env.store.pool())
        .await
        .unwrap();
    assert_eq!(results, 1);
    let logs = env.store.logs(id, 0, 100).await.unwrap();
    assert!(logs.iter().any(|l| l.message.contains("expired on attempt 1")), "{logs:?}");
}

#[tokio::test]
async fn jobs_survive_a_redis_flush() {
    let env = spawn_env(|_| {}).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(env.submit(JobInput::Path { path: env.sample_input().to_string_lossy().into() }).await);
    }
    // What a Redis restart without persistence does to this deployment: its keys are gone.
    env.flush_redis().await;
    let _worker = env.start_worker();
    for id in &ids {
        let job = env.wait_finished(*id, Duration::from_secs(60)).await;
        assert_eq!(job.status(), JobStatus::Succeeded);
    }
    // And while a worker is reading the stream.
    env.flush_redis().await;
    let late = env.submit(JobInput::Path { path: env.sample_input().to_string_lossy().into() }).await;
    env.flush_redis().await;
    assert_eq!(env.wait_finished(late, Duration::from_secs(60)).await.status(), JobStatus::Succeeded);
}

#[tokio::test]
async fn a_duplicate_delivery_runs_the_job_once() {
    let env = spawn_env(|_| {}).await;
    let id = env.submit(JobInput::Path { path: env.sample_input().to_string_lossy().into() }).await;
    env.queue.dispatch(id).await.unwrap();
    env.queue.dispatch(id).await.unwrap();
    let _a = env.start_worker();
    let _b = env.start_worker();
    let job = env.wait_finished(id, Duration::from_secs(60)).await;
    assert_eq!(job.status(), JobStatus::Succeeded);
    // The other deliveries are read and refused (acknowledged without a second claim).
    env.wait_deliveries_settled(Duration::from_secs(30)).await;
    let job = env.store.get(id).await.unwrap().unwrap();
    assert_eq!(job.attempt, 1);
    let claims =
        env.store.logs(id, 0, 100).await.unwrap().into_iter().filter(|l| l.message.starts_with("claimed by")).count();
    assert_eq!(claims, 1);
}

#[tokio::test]
async fn workers_report_themselves_and_leave_on_sigterm() {
    let env = spawn_env(|_| {}).await;
    let mut worker = env.start_worker();
    let live = testkit::wait_until(Duration::from_secs(30), "the worker to report itself", || async {
        let workers = env.store.live_workers(Duration::from_secs(30)).await.unwrap();
        (!workers.is_empty()).then_some(workers)
    })
    .await;
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].device, "cpu");
    worker.terminate();
    testkit::wait_until(Duration::from_secs(30), "the worker to leave", || async {
        env.store.live_workers(Duration::from_secs(30)).await.unwrap().is_empty().then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_job_is_canceled_within_two_seconds_while_transcribing() {
    let env = support::spawn_env_alone(|_| {}).await;
    let _worker = env.start_worker();
    let long = env.input_root.join("long.wav");
    // About two minutes of real speech, so the job is still transcribing when canceled.
    let mut writer = hound::WavWriter::create(
        &long,
        hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        },
    )
    .unwrap();
    let speech = speech::audio::decode_file(&testkit::fixture("librivox/sonnet1_en.mp3")).unwrap();
    for sample in speech.iter().cycle().take(16_000 * 120) {
        writer.write_sample((sample * 32_767.0) as i16).unwrap();
    }
    writer.finalize().unwrap();
    let id = env.submit(JobInput::Path { path: long.to_string_lossy().into() }).await;
    env.wait(id, Duration::from_secs(60), |j| j.stage.as_deref() == Some("transcribe") || j.status().is_finished())
        .await;
    let asked = std::time::Instant::now();
    assert!(matches!(env.store.cancel(id).await.unwrap(), CancelOutcome::Requested(_)), "still running when canceled");
    env.queue.publish_cancel(id).await.unwrap();
    let job = env.wait_finished(id, Duration::from_secs(30)).await;
    assert_eq!(job.status(), JobStatus::Canceled);
    assert!(asked.elapsed() < Duration::from_secs(2), "canceled after {:?}", asked.elapsed());
}

#[tokio::test]
async fn a_diarized_job_labels_two_speakers() {
    let env = spawn_env(|_| {}).await;
    let _worker = env.start_worker();
    let local = env.input_root.join("two-speakers.wav");
    std::fs::copy(testkit::fixture("pyannote/sample.wav"), &local).unwrap();
    // BALANCED diarizes with Resemblyzer, HIGH_ACCURACY with CAM++ (its speaker_model).
    for preset in ["BALANCED", "HIGH_ACCURACY"] {
        let options = vocab::JobOptions {
            preset: Some(preset.into()),
            diarize: Some(true),
            max_speakers: Some(4),
            ..Default::default()
        };
        let id = env.submit_with(JobInput::Path { path: local.to_string_lossy().into() }, options).await;
        let job = env.wait_finished(id, Duration::from_secs(120)).await;
        assert_eq!(job.status(), JobStatus::Succeeded, "{preset}: {:?}", job.error_message);
        let result: transcript::Transcript =
            serde_json::from_str(&env.store.result(id).await.unwrap().unwrap()).unwrap();
        let turns = result.diarization.expect("a diarization part");
        let mut speakers: Vec<&str> = turns.iter().map(|t| t.speaker.as_str()).collect();
        speakers.sort();
        speakers.dedup();
        assert_eq!(speakers, ["SPEAKER_00", "SPEAKER_01"], "{preset}");
        assert!(!result.segments.is_empty() && result.segments.iter().all(|s| s.speaker.is_some()), "{preset}");
    }
}

#[tokio::test]
async fn a_running_job_stores_its_finished_segments_before_the_result() {
    // One 30 s window per batch, greedy: segments are released batch by batch, quickly.
    let env = spawn_env(|s| {
        let balanced = s.presets.get_mut("BALANCED").expect("the BALANCED preset");
        (balanced.batch_size, balanced.beam_size) = (Some(1), Some(1));
    })
    .await;
    let _worker = env.start_worker();
    let long = env.input_root.join("sonnets.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&long, spec).unwrap();
    let speech = speech::audio::decode_file(&testkit::fixture("librivox/sonnet1_en.mp3")).unwrap();
    for sample in speech.iter().cycle().take(16_000 * 110) {
        writer.write_sample((sample * 32_767.0) as i16).unwrap();
    }
    writer.finalize().unwrap();
    let id = env.submit(JobInput::Path { path: long.to_string_lossy().into() }).await;

    // Job and partials are read together, so "running" and the segments are one moment's.
    let early = testkit::wait_until(Duration::from_secs(120), "a first partial segment", || async {
        let read = env.store.job_with_partials(id, &jobs::PartialsCursor::default()).await.unwrap().unwrap();
        assert!(!read.job.status().is_finished(), "finished before any partial segment was seen: {:?}", read.job);
        (!read.segments.is_empty()).then_some(read)
    })
    .await;
    assert_eq!((early.job.status(), early.job.attempt, early.first), (JobStatus::Running, 1, 0));

    let job = env.wait_finished(id, Duration::from_secs(180)).await;
    assert_eq!(job.status(), JobStatus::Succeeded, "{:?}", job.error_message);
    let result: transcript::Transcript = serde_json::from_str(&env.store.result(id).await.unwrap().unwrap()).unwrap();
    assert!(early.segments.len() < result.segments.len(), "{} of {}", early.segments.len(), result.segments.len());
    // A stable prefix of the result: what a streaming client was sent stays true.
    for (partial, last) in early.segments.iter().zip(&result.segments) {
        let partial: transcript::Segment = serde_json::from_value(partial.clone()).unwrap();
        assert_eq!((&partial.text, partial.start, partial.end), (&last.text, last.start, last.end));
    }
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM job_partials WHERE job_id = $1")
        .bind(id)
        .fetch_one(env.store.pool())
        .await
        .unwrap();
    assert_eq!(left, 0, "the result replaces the partial segments");
}

#[tokio::test]
async fn timestamp_offset_shifts_every_stored_time() {
    let env = spawn_env(|_| {}).await;
    let _worker = env.start_worker();
    let local = env.input_root.join("jfk.flac");
    std::fs::copy(testkit::fixture("jfk.flac"), &local).unwrap();
    let options =
        vocab::JobOptions { word_timestamps: Some(true), timestamp_offset: Some(3600.0), ..Default::default() };
    let id = env.submit_with(JobInput::Path { path: local.to_string_lossy().into() }, options).await;
    let job = env.wait_finished(id, Duration::from_secs(120)).await;
    assert_eq!(job.status(), JobStatus::Succeeded, "{:?}", job.error_message);
    let result: transcript::Transcript = serde_json::from_str(&env.store.result(id).await.unwrap().unwrap()).unwrap();
    assert!(!result.segments.is_empty() && !result.word_segments.is_empty(), "{result:?}");
    // jfk.flac is 11 s long: every time lies in the hour's first 11 s, and the length is unchanged.
    let within = |t: f64| (3600.0..=3611.5).contains(&t);
    for segment in &result.segments {
        assert!(within(segment.start) && within(segment.end), "{segment:?}");
        assert!(segment.words.iter().all(|w| within(w.start) && within(w.end)), "{segment:?}");
    }
    assert!(result.word_segments.iter().all(|w| within(w.start) && within(w.end)));
    assert!((result.duration - 11.0).abs() < 0.05, "{}", result.duration);
    let srt = transcript::render(&result, transcript::Format::Srt);
    assert!(srt.starts_with("1\n01:00:"), "{srt}");
}

/// A preset's `model` is a preference list: the worker runs the first model it has installed and
/// says which in the job's log; a list it has none of fails the job, naming the list and the
/// models it has, without their paths.
#[tokio::test]
async fn a_preset_runs_the_first_of_its_models_that_is_installed() {
    let env = spawn_env(|s| {
        let list = |names: &[&str]| Some(names.iter().map(|m| m.to_string()).collect());
        s.presets.get_mut("BALANCED").expect("the BALANCED preset").model = list(&["large-v9", "tiny.en", "base"]);
        s.presets.get_mut("LOW_LATENCY").expect("the LOW_LATENCY preset").model = list(&["large-v9", "huge"]);
    })
    .await;
    let _worker = env.start_worker();
    let local = env.input_root.join("jfk.flac");
    std::fs::copy(testkit::fixture("jfk.flac"), &local).unwrap();
    let input = || JobInput::Path { path: local.to_string_lossy().into() };
    let fallback = env.submit(input()).await;
    let none =
        env.submit_with(input(), vocab::JobOptions { preset: Some("LOW_LATENCY".into()), ..Default::default() }).await;

    let job = env.wait_finished(fallback, Duration::from_secs(120)).await;
    assert_eq!(job.status(), JobStatus::Succeeded, "{:?} {:?}", job.error_code, job.error_message);
    let logs = env.store.logs(fallback, 0, 100).await.unwrap();
    let chosen = "model tiny.en: the first installed of the preset's large-v9, tiny.en, base";
    assert!(logs.iter().any(|l| l.message == chosen), "{logs:?}");
    let result: transcript::Transcript =
        serde_json::from_str(&env.store.result(fallback).await.unwrap().unwrap()).unwrap();
    let text: String = result.segments.iter().map(|s| s.text.as_str()).collect();
    assert!(text.contains("country"), "{text}");

    let job = env.wait_finished(none, Duration::from_secs(60)).await;
    assert_eq!(job.status(), JobStatus::Failed);
    assert_eq!(job.error_code.as_deref(), Some("model_not_installed"));
    let message = job.error_message.unwrap_or_default();
    let head = "none of the preset's models (large-v9, huge) is installed on this worker; installed: ";
    assert!(message.starts_with(head) && message.contains("tiny.en"), "{message}");
    assert!(!message.contains(&env.settings.worker.models_dir.display().to_string()), "{message}");
}
