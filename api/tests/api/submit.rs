//! `POST /v1/jobs` with JSON bodies: URL and path inputs, options, idempotency.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_public_url_is_queued_and_dispatched() {
    let app = spawn_app().await;
    let response = app.post_json(&json!({"url": "https://example.com/talk.mp3", "language": "en"})).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert!(response.headers().get("idempotent-replayed").is_none());
    let body: Value = response.json().await.unwrap();
    let id = body["id"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
    assert_eq!(location, format!("/v1/jobs/{id}"));
    assert_eq!(body["status"], "queued");
    assert!(chrono::DateTime::parse_from_rfc3339(body["created_at"].as_str().unwrap()).is_ok());
    assert_eq!(
        body["links"],
        json!({"self": location, "result": format!("{location}/result"), "logs": format!("{location}/logs"), "cancel": format!("{location}/cancel")})
    );
    let job = app.job(id.parse().unwrap()).await;
    assert_eq!(job["input"], json!({"type": "url", "url": "https://example.com/talk.mp3"}));
    assert_eq!(job["options"], json!({"preset": "BALANCED", "language": "en"}));
    assert_eq!(app.stream_len().await, 1, "one wake-up in the Redis stream");
}

#[tokio::test]
async fn internal_and_non_http_urls_are_refused() {
    let app = spawn_app().await;
    for url in [
        "http://127.0.0.1/a.wav",
        "http://localhost:8080/a.wav",
        "http://10.0.0.5/a.wav",
        "http://192.168.1.10/a.wav",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/a.wav",
        "ftp://example.com/a.wav",
        "file:///etc/passwd",
    ] {
        let message = assert_error(
            app.post_json(&json!({"url": url})).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "url_not_allowed",
        )
        .await;
        assert!(!message.is_empty(), "{url}");
    }
    for url in ["not a url", "http://", ""] {
        assert_error(app.post_json(&json!({"url": url})).await, StatusCode::BAD_REQUEST, "invalid_url").await;
    }
    assert_eq!(app.count_jobs().await, 0);
}

#[tokio::test]
async fn a_path_inside_the_root_is_stored_canonical() {
    let app = spawn_app().await;
    let file = app.input_file("sub/talk.wav");
    let root = app.input_root.path().canonicalize().unwrap();
    let raw = format!("{}/./sub/../sub/talk.wav", app.input_root.path().display());
    let response = app.post_json(&json!({"path": raw, "preset": "low_latency"})).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.unwrap();
    let job = app.job(body["id"].as_str().unwrap().parse().unwrap()).await;
    let canonical = file.canonicalize().unwrap();
    assert!(canonical.starts_with(&root));
    assert_eq!(job["input"], json!({"type": "path", "path": canonical}));
    assert_eq!(job["options"]["preset"], "LOW_LATENCY", "preset names are normalised");
}

#[tokio::test]
async fn paths_outside_the_root_missing_or_not_files_are_refused() {
    let app = spawn_app().await;
    let root = app.input_root.path();
    let outside = tempfile::TempDir::new().unwrap();
    let secret = outside.path().join("secret.wav");
    std::fs::write(&secret, b"x").unwrap();
    std::os::unix::fs::symlink(&secret, root.join("link.wav")).unwrap();
    std::fs::create_dir(root.join("dir")).unwrap();
    let escaping =
        format!("{}/../{}/secret.wav", root.display(), outside.path().file_name().unwrap().to_string_lossy());

    let cases: [(String, StatusCode, &str); 7] = [
        (escaping, StatusCode::FORBIDDEN, "path_not_allowed"),
        (secret.display().to_string(), StatusCode::FORBIDDEN, "path_not_allowed"),
        (root.join("link.wav").display().to_string(), StatusCode::FORBIDDEN, "path_not_allowed"),
        (root.join("missing.wav").display().to_string(), StatusCode::UNPROCESSABLE_ENTITY, "input_not_found"),
        ("/nonexistent/elsewhere.wav".into(), StatusCode::FORBIDDEN, "path_not_allowed"),
        ("relative/a.wav".into(), StatusCode::BAD_REQUEST, "path_not_absolute"),
        (root.join("dir").display().to_string(), StatusCode::UNPROCESSABLE_ENTITY, "input_not_a_file"),
    ];
    for (path, status, code) in cases {
        let message = assert_error(app.post_json(&json!({"path": path})).await, status, code).await;
        assert!(!message.contains("secret") || code != "path_not_allowed" || message.contains("outside"), "{message}");
    }
    assert_eq!(app.count_jobs().await, 0);
}

#[tokio::test]
async fn malformed_bodies_are_400_in_the_error_shape() {
    let app = spawn_app().await;
    let path = app.input_file("a.wav");
    let message = assert_error(
        app.post_json(&json!({"path": path, "colour": "red"})).await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    assert!(message.contains("colour"), "{message}");
    let message = assert_error(
        app.post_json(&json!({"path": path, "diarize": "yes"})).await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    assert!(message.contains("boolean"), "{message}");
    let both = json!({"path": path, "url": "https://example.com/a.wav"});
    assert!(assert_error(app.post_json(&both).await, StatusCode::BAD_REQUEST, "invalid_body")
        .await
        .contains("not both"));
    assert_error(app.post_json(&json!({"language": "en"})).await, StatusCode::BAD_REQUEST, "invalid_body").await;

    let send = |body: &'static str, content_type: Option<&'static str>| {
        let mut request = app.client.post(app.url("/v1/jobs")).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send()
    };
    let message = assert_error(
        send("{\"path\": ", Some("application/json")).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    assert!(message.contains("EOF"), "serde's message: {message}");
    assert_error(send("[1, 2]", Some("application/json")).await.unwrap(), StatusCode::BAD_REQUEST, "invalid_body")
        .await;
    assert_error(
        send("path=/a.wav", Some("text/plain")).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "unsupported_content_type",
    )
    .await;
    assert_error(send("{}", None).await.unwrap(), StatusCode::BAD_REQUEST, "unsupported_content_type").await;

    let huge = json!({"path": path, "initial_prompt": "x".repeat(70 * 1024)});
    assert_error(app.post_json(&huge).await, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large").await;
    assert_eq!(app.count_jobs().await, 0);
}

#[tokio::test]
async fn invalid_options_name_the_field() {
    let app = spawn_app().await;
    let path = app.input_file("a.wav");
    let cases = [
        (json!({"preset": "NOPE"}), "preset"),
        (json!({"language": "xx"}), "language"),
        (json!({"allowed_languages": ["en", "zz"]}), "allowed_languages"),
        (json!({"min_speakers": 4, "max_speakers": 2}), "min_speakers"),
        (json!({"max_speakers": 0}), "max_speakers"),
        (json!({"model": "../../etc/passwd"}), "model"),
        (json!({"model": "org/model"}), "model"),
        (json!({"initial_prompt": "x".repeat(2001)}), "initial_prompt"),
        // PostgreSQL's jsonb cannot store it: a 422, not a 500.
        (json!({"initial_prompt": "a\u{0}b"}), "initial_prompt"),
    ];
    for (mut options, field) in cases {
        options["path"] = json!(path);
        let message =
            assert_error(app.post_json(&options).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_option").await;
        assert!(message.starts_with(field), "{field}: {message}");
    }
    assert_eq!(app.count_jobs().await, 0);
}

#[tokio::test]
async fn idempotent_resubmission_returns_the_same_job() {
    let app = spawn_app().await;
    let path = app.input_file("a.wav");
    let submit = |body: Value, key: &'static str| {
        app.client.post(app.url("/v1/jobs")).header("Idempotency-Key", key).json(&body).send()
    };

    let first = submit(json!({"path": path, "language": "en"}), "key-1").await.unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first: Value = first.json().await.unwrap();
    let again = submit(json!({"language": "en", "path": path}), "key-1").await.unwrap();
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first, "same body");
    assert_eq!(app.count_jobs().await, 1);
    assert_eq!(app.stream_len().await, 1, "a replay dispatches nothing");

    let different = submit(json!({"path": path, "language": "de"}), "key-1").await.unwrap();
    assert_error(different, StatusCode::CONFLICT, "idempotency_key_reused").await;
    let other_url = submit(json!({"url": "https://example.com/a.wav", "language": "en"}), "key-1").await.unwrap();
    assert_error(other_url, StatusCode::CONFLICT, "idempotency_key_reused").await;

    let long = "k".repeat(256);
    let response = app
        .client
        .post(app.url("/v1/jobs"))
        .header("Idempotency-Key", long)
        .json(&json!({"path": path}))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_idempotency_key").await;
    assert_eq!(app.count_jobs().await, 1);
}

#[tokio::test]
async fn concurrent_submissions_with_one_key_make_one_job() {
    let app = spawn_app().await;
    let path = app.input_file("a.wav");
    let requests = (0..16).map(|_| {
        app.client.post(app.url("/v1/jobs")).header("Idempotency-Key", "same").json(&json!({"path": path})).send()
    });
    let ids = accepted_ids(futures_util::future::join_all(requests).await).await;
    assert_eq!(ids.len(), 1);
    assert_eq!(app.count_jobs().await, 1);
}

#[tokio::test]
async fn a_burst_of_submissions_lands_once_each_with_one_job_per_idempotency_key() {
    let app = spawn_app().await;
    let path = app.input_file("a.wav");
    let requests = (0..120).map(|i| {
        let request = app.client.post(app.url("/v1/jobs")).json(&json!({"path": path}));
        // Every third request shares one of two keys.
        match i % 3 {
            0 => request.header("Idempotency-Key", format!("key-{}", i % 2)),
            _ => request,
        }
        .send()
    });
    let ids = accepted_ids(futures_util::future::join_all(requests).await).await;
    assert_eq!(ids.len(), 80 + 2, "one job per request without a key, one per key");
    assert_eq!(app.count_jobs().await, 82);
    assert_eq!(app.stream_len().await, 82, "each new job dispatched once, replays not at all");
}

/// The job ids of submissions that must all have been accepted.
async fn accepted_ids(responses: Vec<reqwest::Result<reqwest::Response>>) -> std::collections::HashSet<String> {
    let mut ids = std::collections::HashSet::new();
    for response in responses {
        let response = response.unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        ids.insert(response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string());
    }
    ids
}

/// A job naming a model nobody has is refused at submission, in every way a job comes in, with
/// the models that are there and no server path; one a live worker has loaded is accepted.
#[tokio::test]
async fn a_model_that_is_not_installed_is_refused_with_the_installed_ones() {
    let models = tempfile::TempDir::new().unwrap();
    std::fs::create_dir_all(models.path().join("whisper-tiny.en")).unwrap();
    let dir = models.path().to_path_buf();
    let app = spawn_app_with(move |s| s.worker.models_dir = dir).await;
    let worker = jobs::WorkerInfo {
        id: "w-1".into(),
        hostname: "box".into(),
        device: "cpu".into(),
        version: "0.1.0".into(),
        started_at: chrono::Utc::now(),
        heartbeat_at: chrono::Utc::now(),
        current_job: None,
        loaded_models: vec!["medium".into()],
    };
    app.store.worker_heartbeat(&worker).await.unwrap();
    let path = app.input_file("a.wav");
    for model in ["tiny.en", "whisper-tiny.en", "medium"] {
        let response = app.post_json(&json!({"path": path, "model": model})).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{model}");
    }

    let response = app.post_json(&json!({"path": path, "model": "large-v9"})).await;
    let message = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "model_not_installed").await;
    assert_eq!(message, "model \"large-v9\" is not installed; installed: medium, tiny.en");
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(b"RIFF....WAVE".to_vec()).file_name("a.wav"))
        .text("model", "null");
    let response = app.client.post(app.url("/v1/jobs")).multipart(form).send().await.unwrap();
    let message = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "model_not_installed").await;
    assert!(!message.contains(&models.path().display().to_string()), "{message}");
    assert_eq!(app.stored_files(), Vec::<String>::new(), "the refused upload is not kept");
    assert_eq!(app.count_jobs().await, 3);
}

#[tokio::test]
async fn timestamp_offset_is_stored_and_checked() {
    let app = spawn_app().await;
    let path = app.input_file("a.wav");
    let response = app.post_json(&json!({"path": path, "timestamp_offset": 90.5})).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let id: uuid::Uuid = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(app.job(id).await["options"]["timestamp_offset"], 90.5);
    assert_eq!(app.store.get(id).await.unwrap().unwrap().options.timestamp_offset, Some(90.5));

    // A form field is a number as JSON reads it, like min_speakers.
    let form = |offset: &str| {
        let file = reqwest::multipart::Part::bytes(b"RIFF....WAVE".to_vec()).file_name("a.wav");
        let form = reqwest::multipart::Form::new().text("timestamp_offset", offset.to_string()).part("file", file);
        app.client.post(app.url("/v1/jobs")).multipart(form).send()
    };
    let response = form("12").await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.get(&format!("/v1/jobs/{id}")).await.json::<Value>().await.unwrap()["options"]["timestamp_offset"],
        12.0
    );

    for bad in [json!(-0.5), json!(1e10)] {
        let response = app.post_json(&json!({"path": path, "timestamp_offset": bad})).await;
        let message = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_option").await;
        assert!(message.starts_with("timestamp_offset"), "{message}");
    }
    let message = assert_error(form("-3").await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_option").await;
    assert!(message.starts_with("timestamp_offset"), "{message}");
    // A value of the wrong type is a malformed body, as for every option.
    for response in
        [app.post_json(&json!({"path": path, "timestamp_offset": "soon"})).await, form("NaN").await.unwrap()]
    {
        let message = assert_error(response, StatusCode::BAD_REQUEST, "invalid_body").await;
        assert!(message.contains("timestamp_offset") || message.contains("f64"), "{message}");
    }
    assert_eq!(app.count_jobs().await, 2);
}
