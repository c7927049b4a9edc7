//! `POST /v1/batches` and the batch routes: many jobs with one set of options, followed,
//! canceled and deleted together; an item that cannot be used is refused alone.

use jobs::Outcome;
use reqwest::multipart::{Form, Part};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{assert_error, sample_transcript, spawn_app, spawn_app_with, TestApp};

fn file(name: &str, len: usize) -> Part {
    Part::bytes((0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>()).file_name(name.to_string())
}

async fn post_form(app: &TestApp, form: Form) -> Response {
    app.client.post(app.url("/v1/batches")).multipart(form).send().await.unwrap()
}

async fn post_json(app: &TestApp, body: &Value) -> Response {
    app.client.post(app.url("/v1/batches")).json(body).send().await.unwrap()
}

/// The 202 answer of a submission.
async fn accepted(response: Response) -> Value {
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let body: Value = response.json().await.unwrap();
    assert_eq!(location, format!("/v1/batches/{}", body["id"].as_str().unwrap()));
    body
}

fn job_ids(batch: &Value) -> Vec<Uuid> {
    batch["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap().parse().unwrap()).collect()
}

async fn count_batches(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM batches").fetch_one(app.store.pool()).await.unwrap()
}

#[tokio::test]
async fn uploads_become_jobs_with_one_set_of_options_and_an_empty_file_is_refused_alone() {
    let app = spawn_app().await;
    let form = Form::new()
        .part("files", file("one.wav", 2000))
        .part("files", file("empty.wav", 0))
        .part("files[]", file("three.mp3", 3000))
        .text("language", "de")
        .text("timestamp_offset", "30");
    let batch = accepted(post_form(&app, form).await).await;
    let id = batch["id"].as_str().unwrap();
    assert_eq!(batch["links"]["self"], format!("/v1/batches/{id}"));
    let jobs = batch["jobs"].as_array().unwrap();
    assert_eq!(jobs.iter().map(|j| j["index"].as_u64().unwrap()).collect::<Vec<_>>(), [0, 2]);
    assert!(jobs.iter().all(|j| j["status"] == "queued"));
    let rejected = batch["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{batch}");
    assert_eq!((rejected[0]["index"].as_u64(), &rejected[0]["input"]), (Some(1), &json!("empty.wav")));
    assert_eq!(rejected[0]["error"]["code"], "empty_upload");

    for (id, name) in job_ids(&batch).into_iter().zip(["one.wav", "three.mp3"]) {
        let job = app.job(id).await;
        assert_eq!(job["options"]["language"], "de");
        assert_eq!(job["options"]["timestamp_offset"], 30.0);
        assert_eq!(job["input"]["filename"], name);
    }
    assert_eq!(app.stored_files().len(), 2, "the empty file is not kept: {:?}", app.stored_files());
    assert_eq!(app.stream_len().await, 2);

    let view: Value = app.get(&format!("/v1/batches/{id}")).await.json().await.unwrap();
    assert_eq!(
        view["counts"],
        json!({"total": 2, "queued": 2, "running": 0, "succeeded": 0, "failed": 0, "canceled": 0})
    );
    assert_eq!(view["finished"], false);
    let listed: Vec<&Value> = view["jobs"].as_array().unwrap().iter().map(|j| &j["id"]).collect();
    assert_eq!(listed, jobs.iter().map(|j| &j["id"]).collect::<Vec<_>>(), "in submission order");
}

#[tokio::test]
async fn json_batches_take_urls_paths_or_inputs_and_refuse_bad_items_alone() {
    let app = spawn_app().await;
    let path = app.input_file("a.wav");
    let batch = accepted(
        post_json(&app, &json!({"urls": ["https://example.com/a.mp3", "http://127.0.0.1/b.mp3"], "diarize": true}))
            .await,
    )
    .await;
    assert_eq!(job_ids(&batch).len(), 1);
    assert_eq!(batch["rejected"][0]["index"], 1);
    assert_eq!(batch["rejected"][0]["input"], "http://127.0.0.1/b.mp3");
    assert_eq!(batch["rejected"][0]["error"]["code"], "url_not_allowed");
    assert_eq!(app.job(job_ids(&batch)[0]).await["options"]["diarize"], true);

    let missing = app.input_root.path().join("missing.wav");
    let batch = accepted(post_json(&app, &json!({"paths": [path, missing]})).await).await;
    assert_eq!(job_ids(&batch).len(), 1);
    assert_eq!(batch["rejected"][0]["error"]["code"], "input_not_found");

    let inputs = json!({"inputs": [{"path": path}, {"url": "https://example.com/c.wav"}, {"url": "ftp://x/y"}]});
    let batch = accepted(post_json(&app, &inputs).await).await;
    let indices: Vec<u64> = batch["jobs"].as_array().unwrap().iter().map(|j| j["index"].as_u64().unwrap()).collect();
    assert_eq!(indices, [0, 1]);
    assert_eq!(batch["rejected"][0]["index"], 2);
    assert_eq!(app.count_jobs().await, 4);
}

#[tokio::test]
async fn malformed_or_invalid_batches_are_refused_whole() {
    let app = spawn_app_with(|s| s.api.max_batch_items = 2).await;
    let path = app.input_file("a.wav");
    let cases = [
        (json!({"paths": [path], "colour": "red"}), StatusCode::BAD_REQUEST, "invalid_body"),
        (json!({"paths": [path], "urls": ["https://example.com/a.wav"]}), StatusCode::BAD_REQUEST, "invalid_body"),
        (json!({"language": "en"}), StatusCode::BAD_REQUEST, "invalid_body"),
        (json!({"paths": "not a list"}), StatusCode::BAD_REQUEST, "invalid_body"),
        (json!({"urls": []}), StatusCode::BAD_REQUEST, "invalid_body"),
        (json!({"inputs": null}), StatusCode::BAD_REQUEST, "invalid_body"),
        (json!({"paths": [path], "language": "xx"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_option"),
        (json!({"paths": [path], "timestamp_offset": -1}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_option"),
        (json!({"paths": [path, path, path]}), StatusCode::PAYLOAD_TOO_LARGE, "too_many_batch_items"),
    ];
    for (body, status, code) in cases {
        assert_error(post_json(&app, &body).await, status, code).await;
    }
    let three =
        Form::new().part("files", file("a.wav", 10)).part("files", file("b.wav", 10)).part("files", file("c.wav", 10));
    assert_error(post_form(&app, three).await, StatusCode::PAYLOAD_TOO_LARGE, "too_many_batch_items").await;
    // settings.api.max_upload_mb is 1 in the tests.
    let big = Form::new().part("files", file("a.wav", 10)).part("files", file("big.wav", 1024 * 1024 + 1));
    assert_error(post_form(&app, big).await, StatusCode::PAYLOAD_TOO_LARGE, "upload_too_large").await;
    let bad_option = Form::new().part("files", file("a.wav", 10)).text("diarize", "maybe");
    assert_error(post_form(&app, bad_option).await, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert_error(post_form(&app, Form::new().text("language", "en")).await, StatusCode::BAD_REQUEST, "missing_file")
        .await;
    let plain = app.client.post(app.url("/v1/batches")).body("x").header("content-type", "text/plain").send().await;
    assert_error(plain.unwrap(), StatusCode::BAD_REQUEST, "unsupported_content_type").await;

    assert_eq!((app.count_jobs().await, count_batches(&app).await), (0, 0));
    assert_eq!(app.stored_files(), Vec::<String>::new(), "no staged file is left");
}

#[tokio::test]
async fn cancel_acts_on_every_unfinished_job_and_delete_removes_them_all() {
    let app = spawn_app().await;
    let form = Form::new()
        .part("files", file("a.wav", 100))
        .part("files", file("b.wav", 100))
        .part("files", file("c.wav", 100));
    let batch = accepted(post_form(&app, form).await).await;
    let id = batch["id"].as_str().unwrap().to_string();
    let [done, running, queued] = job_ids(&batch)[..] else { panic!("{batch}") };
    app.finish(
        done,
        Outcome::Succeeded { result: serde_json::to_value(sample_transcript()).unwrap(), duration_secs: 3.5 },
    )
    .await;
    app.claim(running).await;

    let response = app.client.post(app.url(&format!("/v1/batches/{id}/cancel"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let view: Value = response.json().await.unwrap();
    assert_eq!(
        view["counts"],
        json!({"total": 3, "queued": 0, "running": 1, "succeeded": 1, "failed": 0, "canceled": 1})
    );
    assert_eq!(app.job(queued).await["status"], "canceled", "read at once by the same client");
    assert_eq!(app.job(running).await["cancel_requested"], true);
    assert_eq!(app.job(done).await["status"], "succeeded");
    // Again: nothing more to do, the same answer.
    let again = app.client.post(app.url(&format!("/v1/batches/{id}/cancel"))).send().await.unwrap();
    assert_eq!(again.json::<Value>().await.unwrap()["counts"], view["counts"]);

    assert_eq!(app.stored_files().len(), 3);
    let response = app.client.delete(app.url(&format!("/v1/batches/{id}"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for job in [done, running, queued] {
        assert_error(app.get(&format!("/v1/jobs/{job}")).await, StatusCode::NOT_FOUND, "job_not_found").await;
    }
    assert_eq!(app.stored_files(), Vec::<String>::new(), "the uploads are deleted");
    assert_error(app.get(&format!("/v1/batches/{id}")).await, StatusCode::NOT_FOUND, "batch_not_found").await;
    let delete = app.client.delete(app.url(&format!("/v1/batches/{id}"))).send().await.unwrap();
    assert_error(delete, StatusCode::NOT_FOUND, "batch_not_found").await;
}

#[tokio::test]
async fn batches_follow_the_jobs_visibility_rules() {
    let app = spawn_app().await;
    let admin = app.create_key("admin", true, None).await;
    let alice = app.create_key("alice", false, None).await;
    let bob = app.create_key("bob", false, None).await;
    let path = app.input_file("a.wav");
    let response = app.client.post(app.url("/v1/batches")).bearer_auth(&alice).json(&json!({"paths": [path]})).send();
    let batch = accepted(response.await.unwrap()).await;
    let id = batch["id"].as_str().unwrap();
    let job = job_ids(&batch)[0];

    assert_eq!(app.get_as(&format!("/v1/batches/{id}"), &alice).await.status(), StatusCode::OK);
    assert_eq!(app.get_as(&format!("/v1/batches/{id}"), &admin).await.status(), StatusCode::OK);
    assert_eq!(app.get_as(&format!("/v1/jobs/{job}"), &alice).await.status(), StatusCode::OK, "an ordinary job");
    assert_error(app.get_as(&format!("/v1/batches/{id}"), &bob).await, StatusCode::NOT_FOUND, "batch_not_found").await;
    for request in [
        app.client.post(app.url(&format!("/v1/batches/{id}/cancel"))),
        app.client.delete(app.url(&format!("/v1/batches/{id}"))),
    ] {
        assert_error(request.bearer_auth(&bob).send().await.unwrap(), StatusCode::NOT_FOUND, "batch_not_found").await;
    }
    assert_eq!(app.get_as(&format!("/v1/jobs/{job}"), &alice).await.status(), StatusCode::OK, "untouched");
    let malformed = app.get_as("/v1/batches/not-a-uuid", &admin).await;
    assert_error(malformed, StatusCode::BAD_REQUEST, "invalid_batch_id").await;
    let unknown = app.get_as(&format!("/v1/batches/{}", Uuid::now_v7()), &admin).await;
    assert_error(unknown, StatusCode::NOT_FOUND, "batch_not_found").await;
}
