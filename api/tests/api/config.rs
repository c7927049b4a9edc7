//! Runtime configuration (`getConfig`, `setConfig`, `getConfigOptions`), retention, and models.

use std::time::Duration;

use jobs::{Outcome, WorkerInfo};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, sample_transcript, spawn_app_with, TestApp};
use testkit::wait_until;

async fn put_config(app: &TestApp, body: &Value, token: Option<&str>) -> reqwest::Response {
    let mut request = app.client.put(app.url("/v1/config")).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

fn upload(bytes: usize) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(vec![7u8; bytes]).file_name("a.wav"))
}

#[tokio::test]
async fn config_and_its_options_start_from_the_files() {
    let app = spawn_app_with(|_| {}).await;
    let config: Value = app.get("/v1/config").await.json().await.unwrap();
    assert_eq!(config["version"], 0);
    assert_eq!(config["updated_at"], Value::Null);
    assert_eq!(config["settings"], json!({"default_preset": "BALANCED", "max_upload_mb": 1, "retention_hours": 0}));
    assert_eq!(config["presets"]["LOW_LATENCY"]["beam_size"], 1);
    // A preset's models are a preference list, shown as one however the file wrote it.
    assert_eq!(config["presets"]["BALANCED"]["model"], json!(["small.en", "base.en", "tiny.en"]));

    let options: Value = app.get("/v1/config/options").await.json().await.unwrap();
    let options = options["options"].as_array().unwrap();
    let names: Vec<&str> = options.iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["default_preset", "max_upload_mb", "retention_hours"]);
    assert_eq!(options[0]["type"], "string");
    assert_eq!(options[0]["allowed_values"], json!(["BALANCED", "HIGH_ACCURACY", "LOW_LATENCY"]));
    assert_eq!(options[0]["default"], "BALANCED");
    assert_eq!((options[1]["type"].as_str(), options[1]["minimum"].as_u64()), (Some("integer"), Some(1)));
    assert_eq!((options[1]["unit"].as_str(), options[1]["default"].as_u64()), (Some("MiB"), Some(1)));
    assert_eq!((options[2]["minimum"].as_u64(), options[2]["default"].as_u64()), (Some(0), Some(0)));
}

#[tokio::test]
async fn a_change_applies_at_once_here_and_soon_in_every_other_process() {
    let app = spawn_app_with(|s| s.runtime.poll_secs = 0.1).await;
    let other = api::Application::build(app.settings.clone()).await.unwrap();
    let other_url = format!("http://127.0.0.1:{}", other.port());
    tokio::spawn(other.run_until_stopped());

    let too_big = app.client.post(app.url("/v1/jobs")).multipart(upload(1_500_000)).send().await.unwrap();
    assert_error(too_big, StatusCode::PAYLOAD_TOO_LARGE, "upload_too_large").await;

    let response = put_config(&app, &json!({"default_preset": "low_latency", "max_upload_mb": 2}), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let config: Value = response.json().await.unwrap();
    assert_eq!(config["version"], 1);
    assert!(config["updated_at"].is_string());
    assert_eq!(config["settings"], json!({"default_preset": "LOW_LATENCY", "max_upload_mb": 2, "retention_hours": 0}));

    // This process at once: the default preset of new jobs, the upload limit.
    let id = app.submit().await;
    assert_eq!(app.job(id).await["options"]["preset"], "LOW_LATENCY");
    let accepted = app.client.post(app.url("/v1/jobs")).multipart(upload(1_500_000)).send().await.unwrap();
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);

    // A partial update keeps the rest.
    let config: Value = put_config(&app, &json!({"retention_hours": 48}), None).await.json().await.unwrap();
    assert_eq!(config["version"], 2);
    assert_eq!(config["settings"], json!({"default_preset": "LOW_LATENCY", "max_upload_mb": 2, "retention_hours": 48}));

    // Another api process on the same database, within its poll interval.
    let client = &app.client;
    let url = format!("{other_url}/v1/config");
    let seen = wait_until(Duration::from_secs(10), "the other process to reload", || async {
        let config: Value = client.get(&url).send().await.unwrap().json().await.unwrap();
        (config["version"] == 2).then_some(config)
    })
    .await;
    assert_eq!(seen["settings"]["retention_hours"], 48);
    let path = app.input_file("b.wav");
    let submitted: Value = client
        .post(format!("{other_url}/v1/jobs"))
        .json(&json!({"path": path}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(app.job(submitted["id"].as_str().unwrap().parse().unwrap()).await["options"]["preset"], "LOW_LATENCY");

    // A process starting later starts from the stored settings.
    let late = api::Application::build(app.settings.clone()).await.unwrap();
    let late_url = format!("http://127.0.0.1:{}/v1/config", late.port());
    tokio::spawn(late.run_until_stopped());
    let config: Value = client.get(&late_url).send().await.unwrap().json().await.unwrap();
    assert_eq!(config["version"], 2);
}

#[tokio::test]
async fn bad_changes_and_callers_are_refused() {
    let app = spawn_app_with(|_| {}).await;
    for (body, field) in [
        (json!({"default_preset": "FASTEST"}), "default_preset"),
        (json!({"max_upload_mb": 0}), "max_upload_mb"),
        (json!({"retention_hours": 1_000_000}), "retention_hours"),
    ] {
        let message =
            assert_error(put_config(&app, &body, None).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_config").await;
        assert!(message.starts_with(field), "{message}");
    }
    assert_error(put_config(&app, &json!({"workers": 3}), None).await, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert_error(put_config(&app, &json!({"max_upload_mb": -1}), None).await, StatusCode::BAD_REQUEST, "invalid_body")
        .await;
    let not_json = app.client.put(app.url("/v1/config")).header("Content-Type", "application/json").body("{").send();
    assert_error(not_json.await.unwrap(), StatusCode::BAD_REQUEST, "invalid_body").await;
    assert_eq!(app.get("/v1/config").await.json::<Value>().await.unwrap()["version"], 0, "nothing changed");

    // With keys: anyone with a key reads; only an admin changes.
    let user = app.create_key("user", false, None).await;
    let admin = app.create_key("ops", true, None).await;
    assert_error(app.get("/v1/config").await, StatusCode::UNAUTHORIZED, "missing_api_key").await;
    assert_eq!(app.get_as("/v1/config", &user).await.status(), StatusCode::OK);
    assert_eq!(app.get_as("/v1/config/options", &user).await.status(), StatusCode::OK);
    let body = json!({"default_preset": "HIGH_ACCURACY"});
    assert_error(put_config(&app, &body, Some(&user)).await, StatusCode::FORBIDDEN, "admin_required").await;
    assert_error(put_config(&app, &body, None).await, StatusCode::UNAUTHORIZED, "missing_api_key").await;
    assert_eq!(put_config(&app, &body, Some(&admin)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn retention_deletes_old_audio_and_results() {
    let app = spawn_app_with(|s| s.runtime.retention_pass_secs = 0.1).await;
    let response = app.client.post(app.url("/v1/jobs")).multipart(upload(1000)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let old: uuid::Uuid = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
    let recent = app.submit().await;
    for id in [old, recent] {
        let outcome =
            Outcome::Succeeded { result: serde_json::to_value(sample_transcript()).unwrap(), duration_secs: 3.5 };
        app.finish(id, outcome).await;
    }
    sqlx::query("UPDATE jobs SET finished_at = now() - interval '3 hours' WHERE id = $1")
        .bind(old)
        .execute(app.store.pool())
        .await
        .unwrap();
    assert_eq!(app.stored_files().len(), 1);
    // A check that nothing happens has no condition to wait for: give three passes (one every
    // 0.1 s) the chance to delete wrongly.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.get(&format!("/v1/jobs/{old}/result")).await.status(), StatusCode::OK, "0 h keeps everything");

    assert_eq!(put_config(&app, &json!({"retention_hours": 2}), None).await.status(), StatusCode::OK);
    let app = &app;
    let response = wait_until(Duration::from_secs(10), "the old result to go", || async move {
        let response = app.get(&format!("/v1/jobs/{old}/result")).await;
        (response.status() != StatusCode::OK).then_some(response)
    })
    .await;
    assert_error(response, StatusCode::GONE, "result_expired").await;
    assert!(app.stored_files().is_empty(), "the upload is deleted");
    let job = app.job(old).await;
    assert_eq!(job["status"], "succeeded");
    assert!(job["purged_at"].is_string());
    let logs = app.store.logs(old, 0, 100).await.unwrap();
    assert!(logs.iter().any(|l| l.message.starts_with("retention")), "{logs:?}");
    assert_eq!(app.get(&format!("/v1/jobs/{recent}/result")).await.status(), StatusCode::OK, "recent jobs stay");
    assert_eq!(app.job(recent).await["purged_at"], Value::Null);
}

#[tokio::test]
async fn installed_models_with_size_languages_and_workers() {
    let models = tempfile::TempDir::new().unwrap();
    for (dir, file, bytes) in [
        ("whisper-tiny.en", "model.bin", 1000),
        ("whisper-tiny.en", "config.json", 10),
        ("whisper-base", "model.bin", 2000),
        ("whisper-base/sub", "extra.bin", 5),
        ("silero-vad", "silero_vad.jit", 7),
    ] {
        std::fs::create_dir_all(models.path().join(dir)).unwrap();
        std::fs::write(models.path().join(dir).join(file), vec![0u8; bytes]).unwrap();
    }
    std::fs::write(models.path().join("whisper-notes.txt"), "not a model").unwrap();
    let dir = models.path().to_path_buf();
    let app = spawn_app_with(move |s| s.worker.models_dir = dir).await;
    for (id, loaded) in [("w-1", vec!["tiny.en".to_string()]), ("w-2", vec!["tiny.en".into(), "base".into()])] {
        let worker = WorkerInfo {
            id: id.into(),
            hostname: "box".into(),
            device: "cpu".into(),
            version: "0.1.0".into(),
            started_at: chrono::Utc::now(),
            heartbeat_at: chrono::Utc::now(),
            current_job: None,
            loaded_models: loaded,
        };
        app.store.worker_heartbeat(&worker).await.unwrap();
    }
    let body: Value = app.get("/v1/models").await.json().await.unwrap();
    let models = body["models"].as_array().unwrap();
    assert_eq!(models.len(), 2, "{body}");
    assert_eq!(models[0]["name"], "base");
    assert_eq!((models[0]["size_bytes"].as_u64(), models[0]["english_only"].as_bool()), (Some(2005), Some(false)));
    assert!(models[0]["languages"].as_array().unwrap().len() > 90);
    assert_eq!(models[0]["loaded_on"], json!(["w-2"]));
    assert_eq!(models[1]["name"], "tiny.en");
    assert_eq!((models[1]["size_bytes"].as_u64(), models[1]["english_only"].as_bool()), (Some(1010), Some(true)));
    assert_eq!(models[1]["languages"], json!(["en"]));
    assert_eq!(models[1]["loaded_on"], json!(["w-1", "w-2"]));
    let server: Value = app.get("/v1/workers").await.json().await.unwrap();
    assert_eq!(server["workers"][1]["loaded_models"], json!(["tiny.en", "base"]));

    // What `worker models pull` knows, each marked installed or not.
    let pullable = body["pullable"].as_array().unwrap();
    let names: Vec<&str> = pullable.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"large-v3-turbo") && names.contains(&"tiny.en"), "{body}");
    let installed: Vec<&str> =
        pullable.iter().filter(|m| m["installed"] == json!(true)).map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(installed, ["tiny.en", "base"]);
    let tiny = pullable.iter().find(|m| m["name"] == "tiny.en").unwrap();
    assert_eq!(tiny["repo"], "Systran/faster-whisper-tiny.en");

    let empty = spawn_app_with(|s| s.worker.models_dir = "/nonexistent/models".into()).await;
    let body = empty.get("/v1/models").await.json::<Value>().await.unwrap();
    assert_eq!(body["models"], json!([]));
    assert!(body["pullable"].as_array().unwrap().iter().all(|m| m["installed"] == json!(false)), "{body}");
}
