//! API keys: open mode, 401s, ownership of jobs, admin-only routes, per-key queue limits,
//! idempotency per owner, and the `api keys` command.

use std::path::Path;
use std::process::Command;

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{assert_error, spawn_app, TestApp};

#[tokio::test]
async fn without_keys_the_service_is_open_and_ignores_tokens() {
    let app = spawn_app().await;
    let id = app.submit().await;
    // Clients such as OpenAI's SDK always send a token; with no key configured it is ignored.
    let response = app.get_as(&format!("/v1/jobs/{id}"), "sk-anything").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.get("/v1/workers").await.status(), StatusCode::OK, "everyone is an admin");
    assert_eq!(app.get("/v1/jobs").await.json::<Value>().await.unwrap()["jobs"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn keys_are_required_once_one_exists() {
    let app = spawn_app().await;
    let token = app.create_key("alice", false, None).await;

    let response = app.get("/v1/jobs").await;
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_error(response, StatusCode::UNAUTHORIZED, "missing_api_key").await;
    let unknown = format!("tsk_{}", "0".repeat(64));
    assert_error(app.get_as("/v1/jobs", &unknown).await, StatusCode::UNAUTHORIZED, "invalid_api_key").await;
    let basic = app.client.get(app.url("/v1/jobs")).basic_auth("alice", Some(&token)).send().await.unwrap();
    assert_error(basic, StatusCode::UNAUTHORIZED, "invalid_api_key").await;
    let empty = app.client.get(app.url("/v1/jobs")).header("Authorization", "Bearer ").send().await.unwrap();
    assert_error(empty, StatusCode::UNAUTHORIZED, "invalid_api_key").await;

    // Refused before anything is stored.
    let path = app.input_file("a.wav");
    assert_error(app.post_json(&json!({"path": path})).await, StatusCode::UNAUTHORIZED, "missing_api_key").await;
    let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(vec![1u8; 1000]));
    let upload = app.client.post(app.url("/v1/jobs")).multipart(form).send().await.unwrap();
    assert_error(upload, StatusCode::UNAUTHORIZED, "missing_api_key").await;
    assert_eq!(app.count_jobs().await, 0);
    assert!(app.stored_files().is_empty());
    for path in ["/v1/jobs/not-a-uuid", "/v1/workers", "/v1/nothing"] {
        assert_error(app.get(path).await, StatusCode::UNAUTHORIZED, "missing_api_key").await;
    }

    assert_eq!(app.get_as("/v1/jobs", &token).await.status(), StatusCode::OK);
    assert_eq!(app.get_as("/v1/jobs", &format!(" {token} ")).await.status(), StatusCode::OK);
    for path in ["/health", "/ready", "/docs/", "/openapi.json"] {
        assert_eq!(app.get(path).await.status(), StatusCode::OK, "{path} stays open");
    }
}

#[tokio::test]
async fn a_revoked_key_is_refused_at_once() {
    let app = spawn_app().await;
    let _admin = app.create_key("admin", true, None).await;
    let token = app.create_key("leaving", false, None).await;
    assert_eq!(app.get_as("/v1/jobs", &token).await.status(), StatusCode::OK);
    let id = app.store.list_keys().await.unwrap().into_iter().find(|k| k.name == "leaving").unwrap().id;
    let revoked = app.store.revoke_key(id).await.unwrap().unwrap();
    assert!(revoked.revoked_at.is_some());
    assert_error(app.get_as("/v1/jobs", &token).await, StatusCode::UNAUTHORIZED, "invalid_api_key").await;
    assert!(app.store.revoke_key(Uuid::now_v7()).await.unwrap().is_none());
}

#[tokio::test]
async fn a_key_sees_and_changes_only_its_own_jobs() {
    let app = spawn_app().await;
    let before_keys = app.submit().await;
    let alice = app.create_key("alice", false, None).await;
    let bob = app.create_key("bob", false, None).await;
    let admin = app.create_key("ops", true, None).await;
    let a = app.submit_as(&alice).await;
    let a2 = app.submit_as(&alice).await;
    let b = app.submit_as(&bob).await;

    fn ids(body: Value) -> Vec<String> {
        body["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap().to_string()).collect()
    }
    let app = &app;
    let listed = |token: String| async move { ids(app.get_as("/v1/jobs", &token).await.json().await.unwrap()) };
    assert_eq!(listed(alice.clone()).await, [a2.to_string(), a.to_string()]);
    assert_eq!(listed(bob.clone()).await, [b.to_string()]);
    assert_eq!(listed(admin.clone()).await.len(), 4, "an admin sees every job, also those from before keys");
    let paged: Value = app.get_as("/v1/jobs?limit=1", &alice).await.json().await.unwrap();
    let cursor = paged["next_cursor"].as_str().unwrap();
    assert_eq!(
        ids(app.get_as(&format!("/v1/jobs?limit=1&cursor={cursor}"), &alice).await.json().await.unwrap()),
        [a.to_string()]
    );

    // Another key's job, or one from before keys, does not exist for bob.
    for id in [a, before_keys] {
        for path in ["", "/result", "/logs"] {
            let response = app.get_as(&format!("/v1/jobs/{id}{path}"), &bob).await;
            assert_error(response, StatusCode::NOT_FOUND, "job_not_found").await;
        }
        let cancel = app.client.post(app.url(&format!("/v1/jobs/{id}/cancel"))).bearer_auth(&bob).send().await;
        assert_error(cancel.unwrap(), StatusCode::NOT_FOUND, "job_not_found").await;
        let delete = app.client.delete(app.url(&format!("/v1/jobs/{id}"))).bearer_auth(&bob).send().await;
        assert_error(delete.unwrap(), StatusCode::NOT_FOUND, "job_not_found").await;
    }
    let job: Value = app.get_as(&format!("/v1/jobs/{a}"), &admin).await.json().await.unwrap();
    assert_eq!(job["status"], "queued", "untouched");
    assert_eq!(app.count_jobs().await, 4);

    // The owner reads, tails, cancels and deletes; an admin reads anything.
    assert_eq!(app.get_as(&format!("/v1/jobs/{a}"), &alice).await.status(), StatusCode::OK);
    assert_eq!(app.get_as(&format!("/v1/jobs/{a}/logs"), &alice).await.status(), StatusCode::OK);
    assert_error(app.get_as(&format!("/v1/jobs/{a}/result"), &alice).await, StatusCode::CONFLICT, "job_not_finished")
        .await;
    let cancel = app.client.post(app.url(&format!("/v1/jobs/{a}/cancel"))).bearer_auth(&alice).send().await.unwrap();
    assert_eq!(cancel.status(), StatusCode::OK);
    let delete = app.client.delete(app.url(&format!("/v1/jobs/{a}"))).bearer_auth(&alice).send().await.unwrap();
    assert_eq!(delete.status(), StatusCode::NO_CONTENT);
    for id in [a2, b, before_keys] {
        assert_eq!(app.get_as(&format!("/v1/jobs/{id}"), &admin).await.status(), StatusCode::OK);
    }
    let cancel = app.client.post(app.url(&format!("/v1/jobs/{b}/cancel"))).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(cancel.status(), StatusCode::OK, "an admin may cancel any job");
    let owner: Option<Uuid> =
        sqlx::query_scalar("SELECT owner FROM jobs WHERE id = $1").bind(b).fetch_one(app.store.pool()).await.unwrap();
    assert_eq!(owner, Some(app.store.list_keys().await.unwrap()[1].id), "bob's job is bob's");
}

#[tokio::test]
async fn only_an_admin_key_reads_the_workers() {
    let app = spawn_app().await;
    let user = app.create_key("user", false, None).await;
    let admin = app.create_key("ops", true, None).await;
    assert_error(app.get_as("/v1/workers", &user).await, StatusCode::FORBIDDEN, "admin_required").await;
    let response = app.get_as("/v1/workers", &admin).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["queue"], json!({"queued": 0, "running": 0}));
}

#[tokio::test]
async fn a_key_over_its_queue_limit_gets_429_with_retry_after() {
    let app = spawn_app().await;
    let limited = app.create_key("batch", false, Some(2)).await;
    let other = app.create_key("other", false, None).await;
    let path = app.input_file("a.wav");
    let body = json!({"path": path});
    let first = app
        .client
        .post(app.url("/v1/jobs"))
        .bearer_auth(&limited)
        .header("Idempotency-Key", "first")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first: Uuid = first.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
    app.submit_as(&limited).await;

    let refused = app.post_json_as(&body, &limited).await;
    assert_eq!(refused.headers()["retry-after"], "10");
    let message = assert_error(refused, StatusCode::TOO_MANY_REQUESTS, "too_many_queued_jobs").await;
    assert!(message.contains('2'), "{message}");
    let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(vec![1u8; 1000]));
    let upload = app.client.post(app.url("/v1/jobs")).bearer_auth(&limited).multipart(form).send().await.unwrap();
    assert_error(upload, StatusCode::TOO_MANY_REQUESTS, "too_many_queued_jobs").await;
    assert!(app.stored_files().is_empty(), "the refused upload is not kept");
    assert_eq!(app.count_jobs().await, 2);

    // A retry of an earlier submission is no new job; other keys have their own limits.
    let replay = app
        .client
        .post(app.url("/v1/jobs"))
        .bearer_auth(&limited)
        .header("Idempotency-Key", "first")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::ACCEPTED);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    app.submit_as(&other).await;

    // A job that starts frees a place.
    app.claim(first).await;
    app.submit_as(&limited).await;
    assert_error(app.post_json_as(&body, &limited).await, StatusCode::TOO_MANY_REQUESTS, "too_many_queued_jobs").await;
}

#[tokio::test]
async fn idempotency_keys_are_scoped_per_key() {
    let app = spawn_app().await;
    let alice = app.create_key("alice", false, None).await;
    let bob = app.create_key("bob", false, None).await;
    let path = app.input_file("a.wav");
    let send = |token: String, body: Value| {
        let request =
            app.client.post(app.url("/v1/jobs")).bearer_auth(token).header("Idempotency-Key", "order-1").json(&body);
        async move { request.send().await.unwrap() }
    };
    let body = json!({"path": path});
    let a: Value = send(alice.clone(), body.clone()).await.json().await.unwrap();
    let b: Value = send(bob.clone(), body.clone()).await.json().await.unwrap();
    assert_ne!(a["id"], b["id"], "bob's key does not replay alice's job");
    let again = send(alice.clone(), body.clone()).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap()["id"], a["id"]);
    let different = send(alice, json!({"path": path, "language": "de"})).await;
    assert_error(different, StatusCode::CONFLICT, "idempotency_key_reused").await;
}

fn keys_command(app: &TestApp, args: &[&str]) -> std::process::Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    Command::new(env!("CARGO_BIN_EXE_api"))
        .current_dir(&root)
        .env("APP_CONFIG_DIR", root.join("config"))
        .env("APP_DATABASE__URL", &app.settings.database.url)
        .arg("keys")
        .args(args)
        .output()
        .expect("run the api binary")
}

#[tokio::test]
async fn the_keys_command_creates_lists_and_revokes() {
    let app = spawn_app().await;
    let out = keys_command(&app, &["create", "--name", "ops team", "--admin"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let admin = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(admin.starts_with("tsk_") && admin.len() == 68, "only the key on stdout: {admin:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("shown only now"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("signed with: whsec_"), "the webhook secret is shown too");
    let out = keys_command(&app, &["create", "--name", "batch", "--max-queued", "5"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let batch = String::from_utf8(out.stdout).unwrap().trim().to_string();

    assert_eq!(app.get_as("/v1/workers", &admin).await.status(), StatusCode::OK);
    assert_error(app.get_as("/v1/workers", &batch).await, StatusCode::FORBIDDEN, "admin_required").await;

    let list = String::from_utf8(keys_command(&app, &["list"]).stdout).unwrap();
    assert!(!list.contains(&admin[4..]) && !list.contains(&batch[4..]), "no secrets listed: {list}");
    let batch_line = list.lines().find(|l| l.ends_with("batch")).unwrap_or_else(|| panic!("{list}"));
    assert!(batch_line.contains("active") && batch_line.contains(" 5 "), "{batch_line}");
    assert!(list.lines().any(|l| l.ends_with("ops team") && l.contains("true")), "{list}");

    let id = batch_line.split_whitespace().next().unwrap();
    let out = keys_command(&app, &["revoke", id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_error(app.get_as("/v1/jobs", &batch).await, StatusCode::UNAUTHORIZED, "invalid_api_key").await;
    let list = String::from_utf8(keys_command(&app, &["list"]).stdout).unwrap();
    assert!(list.lines().any(|l| l.ends_with("batch") && l.contains("revoked")), "{list}");

    let unknown = keys_command(&app, &["revoke", &Uuid::now_v7().to_string()]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no API key"));
    let bad = keys_command(&app, &["create", "--name", "  "]);
    assert!(!bad.status.success());
}

#[tokio::test]
async fn an_admin_asks_every_worker_to_drop_its_models() {
    use futures_util::StreamExt;
    let app = spawn_app().await;
    // A listening worker, as the worker binary subscribes.
    let mut requests = app.queue.gc_requests().await.unwrap();
    let user = app.create_key("user", false, None).await;
    let admin = app.create_key("ops", true, None).await;
    let url = format!("{}/v1/workers/gc", app.address);
    let refused = app.client.post(&url).bearer_auth(&user).send().await.unwrap();
    assert_error(refused, StatusCode::FORBIDDEN, "admin_required").await;
    let response = app.client.post(&url).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"workers_notified": 1}));
    let heard = tokio::time::timeout(std::time::Duration::from_secs(5), requests.next()).await;
    assert!(matches!(heard, Ok(Some(()))), "the worker hears the request");
}
