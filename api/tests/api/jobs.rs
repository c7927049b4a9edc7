//! Reading, listing, cancelling and deleting jobs; results and logs.

use std::time::Duration;

use futures_util::StreamExt;
use jobs::Outcome;
use reqwest::StatusCode;
use serde_json::{json, Value};
use transcript::{Format, RenderOptions};

use crate::helpers::{assert_error, sample_transcript, spawn_app};
use testkit::wait_until;

#[tokio::test]
async fn a_job_shows_its_full_state() {
    let app = spawn_app().await;
    let id = app.submit().await;
    let job = app.job(id).await;
    assert_eq!(job["id"], id.to_string());
    assert_eq!(job["status"], "queued");
    assert_eq!(job["stage"], Value::Null);
    assert_eq!(job["progress"], 0.0);
    assert_eq!(job["duration"], Value::Null);
    assert_eq!(job["attempt"], 0);
    assert_eq!(job["max_attempts"], app.settings.queue.max_attempts);
    assert_eq!(job["worker_id"], Value::Null);
    assert_eq!(job["cancel_requested"], false);
    assert_eq!(job["error"], Value::Null);
    assert_eq!(job["started_at"], Value::Null);
    assert_eq!(job["elapsed_secs"], Value::Null);
    assert_eq!(job["links"]["self"], format!("/v1/jobs/{id}"));

    app.finish(id, Outcome::Failed { code: "decode_failed".into(), message: "no audio stream".into() }).await;
    // The app hears of the worker's write through a PostgreSQL notification (milliseconds).
    let job = wait_until(Duration::from_secs(5), "the failure", || async {
        let job = app.job(id).await;
        (job["status"] == "failed").then_some(job)
    })
    .await;
    assert_eq!(job["attempt"], 1);
    assert_eq!(job["worker_id"], "worker-1");
    assert_eq!(job["error"], json!({"code": "decode_failed", "message": "no audio stream"}));
    assert!(job["finished_at"].is_string() && job["elapsed_secs"].as_f64().unwrap() >= 0.0);
}

#[tokio::test]
async fn unknown_and_malformed_ids() {
    let app = spawn_app().await;
    let unknown = uuid::Uuid::now_v7();
    for path in ["", "/result", "/logs"] {
        let response = app.get(&format!("/v1/jobs/{unknown}{path}")).await;
        assert_error(response, StatusCode::NOT_FOUND, "job_not_found").await;
        assert_error(app.get(&format!("/v1/jobs/not-a-uuid{path}")).await, StatusCode::BAD_REQUEST, "invalid_job_id")
            .await;
    }
    let cancel = app.client.post(app.url(&format!("/v1/jobs/{unknown}/cancel"))).send().await.unwrap();
    assert_error(cancel, StatusCode::NOT_FOUND, "job_not_found").await;
    let cancel = app.client.post(app.url("/v1/jobs/123/cancel")).send().await.unwrap();
    assert_error(cancel, StatusCode::BAD_REQUEST, "invalid_job_id").await;
    let delete = app.client.delete(app.url(&format!("/v1/jobs/{unknown}"))).send().await.unwrap();
    assert_error(delete, StatusCode::NOT_FOUND, "job_not_found").await;
}

#[tokio::test]
async fn the_result_is_409_until_success_then_rendered_in_every_format() {
    let app = spawn_app().await;
    let id = app.submit().await;
    let app = &app;
    let result = |format: &str| {
        let url = app.url(&format!("/v1/jobs/{id}/result{format}"));
        app.client.get(url).send()
    };
    let message = assert_error(result("").await.unwrap(), StatusCode::CONFLICT, "job_not_finished").await;
    assert!(message.contains("queued"), "{message}");
    let fence = app.claim(id).await;
    assert!(assert_error(result("").await.unwrap(), StatusCode::CONFLICT, "job_not_finished")
        .await
        .contains("running"));

    let transcript = sample_transcript();
    let outcome = Outcome::Succeeded { result: serde_json::to_value(&transcript).unwrap(), duration_secs: 3.5 };
    assert!(app.store.finish(&fence, &outcome, "transcribed").await.unwrap());
    assert_eq!(app.job(id).await["duration"], 3.5);

    let default = result("").await.unwrap();
    assert_eq!(default.status(), StatusCode::OK);
    assert_eq!(default.headers()["content-type"], "application/json");
    assert_eq!(default.json::<transcript::Transcript>().await.unwrap(), transcript);
    for format in Format::ALL {
        let response = result(&format!("?format={}", format.name())).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{format}");
        assert_eq!(response.headers()["content-type"], format.content_type(), "{format}");
        let disposition = format!("inline; filename=\"{id}.{}\"", format.extension());
        assert_eq!(response.headers()["content-disposition"], disposition.as_str());
        assert_eq!(response.text().await.unwrap(), transcript::render(&transcript, format), "{format}");
    }
    let srt = result("?format=SRT").await.unwrap().text().await.unwrap();
    assert!(srt.starts_with("1\n00:00:00,500 --> 00:00:01,600\n[SPEAKER_00]: Hello world."), "{srt}");
    assert!(result("?format=rttm").await.unwrap().text().await.unwrap().contains("SPEAKER_01"));
    let csv = result("?format=csv").await.unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        csv.text().await.unwrap(),
        "start,end,speaker,text\r\n0.500,1.600,SPEAKER_00,Hello world.\r\n2.000,3.200,SPEAKER_01,Bye.\r\n"
    );
    assert_error(result("?format=docx").await.unwrap(), StatusCode::BAD_REQUEST, "invalid_format").await;
    assert_error(result("?fmt=srt").await.unwrap(), StatusCode::BAD_REQUEST, "invalid_query").await;
}

#[tokio::test]
async fn subtitle_options_cut_srt_and_vtt_results() {
    let app = spawn_app().await;
    let id = app.submit().await;
    let transcript = sample_transcript();
    app.finish(id, Outcome::Succeeded { result: serde_json::to_value(&transcript).unwrap(), duration_secs: 3.5 }).await;
    let app = &app;
    let result = |query: &str| app.client.get(app.url(&format!("/v1/jobs/{id}/result?{query}"))).send();

    let srt = result("format=srt&max_line_width=5&max_line_count=1").await.unwrap();
    assert_eq!(srt.status(), StatusCode::OK);
    assert_eq!(
        srt.text().await.unwrap(),
        "1\n00:00:00,500 --> 00:00:00,900\n[SPEAKER_00]: Hello\n\n\
         2\n00:00:01,000 --> 00:00:01,600\n[SPEAKER_00]: world.\n\n\
         3\n00:00:02,000 --> 00:00:03,200\n[SPEAKER_01]: Bye.\n\n"
    );
    let vtt = result("format=vtt&highlight_words=true&max_line_width=42").await.unwrap().text().await.unwrap();
    let options = RenderOptions { max_line_width: Some(42), max_line_count: None, highlight_words: true };
    assert_eq!(vtt, transcript::render_with(&transcript, Format::Vtt, &options));
    assert!(vtt.contains("\n[SPEAKER_00]: <u>Hello</u> world.\n"), "{vtt}");
    // Other formats ignore them.
    for format in [Format::Json, Format::Txt, Format::Tsv] {
        let response =
            result(&format!("format={format}&max_line_width=5&max_line_count=1&highlight_words=true")).await.unwrap();
        assert_eq!(response.text().await.unwrap(), transcript::render(&transcript, format), "{format}");
    }

    for (query, named) in [
        ("format=srt&max_line_width=0", "max_line_width"),
        ("format=srt&max_line_width=1001", "max_line_width"),
        ("format=vtt&max_line_count=0", "max_line_count"),
        ("max_line_count=101", "max_line_count"),
        ("format=srt&max_line_width=-3", "max_line_width"),
        ("format=srt&max_line_width=wide", "max_line_width"),
        ("format=srt&highlight_words=maybe", "highlight_words"),
    ] {
        let message = assert_error(result(query).await.unwrap(), StatusCode::BAD_REQUEST, "invalid_query").await;
        assert!(message.contains(named), "{query}: {message}");
    }
}

#[tokio::test]
async fn failed_and_canceled_jobs_have_no_result() {
    let app = spawn_app().await;
    let failed = app.submit().await;
    app.finish(failed, Outcome::Failed { code: "fetch_failed".into(), message: "HTTP 404".into() }).await;
    let message =
        assert_error(app.get(&format!("/v1/jobs/{failed}/result")).await, StatusCode::CONFLICT, "job_failed").await;
    assert!(message.contains("fetch_failed") && message.contains("HTTP 404"), "{message}");

    let canceled = app.submit().await;
    app.client.post(app.url(&format!("/v1/jobs/{canceled}/cancel"))).send().await.unwrap();
    assert_error(app.get(&format!("/v1/jobs/{canceled}/result")).await, StatusCode::CONFLICT, "job_canceled").await;
}

#[tokio::test]
async fn cancel_queued_running_and_finished_jobs() {
    let app = spawn_app().await;
    let cancel = |id: uuid::Uuid| app.client.post(app.url(&format!("/v1/jobs/{id}/cancel"))).send();

    let queued = app.submit().await;
    let response = cancel(queued).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!((body["status"].as_str(), body["cancel_requested"].as_bool()), (Some("canceled"), Some(true)));
    assert!(assert_error(cancel(queued).await.unwrap(), StatusCode::CONFLICT, "job_already_finished")
        .await
        .contains("canceled"));

    let running = app.submit().await;
    app.claim(running).await;
    let mut announcements = app.queue.cancellations().await.unwrap();
    let response = cancel(running).await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.unwrap();
    assert_eq!((body["status"].as_str(), body["cancel_requested"].as_bool()), (Some("running"), Some(true)));
    let announced = tokio::time::timeout(Duration::from_secs(5), announcements.next()).await.expect("published");
    assert_eq!(announced, Some(running));

    let done = app.submit().await;
    app.finish(
        done,
        Outcome::Succeeded { result: serde_json::to_value(sample_transcript()).unwrap(), duration_secs: 3.5 },
    )
    .await;
    assert_error(cancel(done).await.unwrap(), StatusCode::CONFLICT, "job_already_finished").await;
}

#[tokio::test]
async fn list_filters_and_pages_without_gaps_or_duplicates() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for _ in 0..7 {
        ids.push(app.submit().await);
    }
    app.finish(ids[1], Outcome::Failed { code: "x".into(), message: "y".into() }).await;
    app.claim(ids[4]).await;

    let app = &app;
    let list = |query: String| async move {
        let response = app.get(&format!("/v1/jobs{query}")).await;
        assert_eq!(response.status(), StatusCode::OK, "{query}");
        response.json::<Value>().await.unwrap()
    };
    let ids_of = |page: &Value| -> Vec<String> {
        page["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap().to_string()).collect()
    };
    let newest_first: Vec<String> = ids.iter().rev().map(|id| id.to_string()).collect();

    let all = list(String::new()).await;
    assert_eq!(ids_of(&all), newest_first);
    assert_eq!(all["next_cursor"], Value::Null);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("?limit=3&cursor={c}"),
            None => "?limit=3".into(),
        };
        let page = list(query).await;
        assert!(page["jobs"].as_array().unwrap().len() <= 3);
        seen.extend(ids_of(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, newest_first, "every job once, in order");

    assert_eq!(ids_of(&list("?status=queued".into()).await).len(), 5);
    assert_eq!(ids_of(&list("?status=failed,running".into()).await), vec![ids[4].to_string(), ids[1].to_string()]);
    let page = list("?status=queued&limit=2".into()).await;
    let next = page["next_cursor"].as_str().unwrap().to_string();
    assert_eq!(ids_of(&list(format!("?status=queued&limit=2&cursor={next}")).await).len(), 2);

    let created: Vec<String> =
        all["jobs"].as_array().unwrap().iter().map(|j| j["created_at"].as_str().unwrap().to_string()).collect();
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    assert!(ids_of(&list(format!("?created_after={future}")).await).is_empty());
    assert_eq!(ids_of(&list(format!("?created_before={future}")).await).len(), 7);
    let oldest = created.last().unwrap();
    assert_eq!(ids_of(&list(format!("?created_before={oldest}")).await).len(), 0);
    let since_oldest = ids_of(&list(format!("?created_after={oldest}")).await);
    assert_eq!(since_oldest.len(), 7);

    for (query, code) in [
        ("?limit=0", "invalid_query"),
        ("?limit=101", "invalid_query"),
        ("?limit=ten", "invalid_query"),
        ("?status=done", "invalid_query"),
        ("?created_after=yesterday", "invalid_query"),
        ("?colour=red", "invalid_query"),
        ("?cursor=%%%", "invalid_cursor"),
        ("?cursor=AAAA", "invalid_cursor"),
    ] {
        assert_error(app.get(&format!("/v1/jobs{query}")).await, StatusCode::BAD_REQUEST, code).await;
    }
}

#[tokio::test]
async fn logs_are_read_incrementally() {
    let app = spawn_app().await;
    let id = app.submit().await;
    let app = &app;
    let logs = |query: &str| app.client.get(app.url(&format!("/v1/jobs/{id}/logs{query}"))).send();
    let page: Value = logs("").await.unwrap().json().await.unwrap();
    let lines = page["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1);
    assert!(lines[0]["message"].as_str().unwrap().starts_with("job submitted"));
    assert_eq!(lines[0]["worker_id"], "api");
    assert_eq!(lines[0]["level"], "info");
    let first = lines[0]["id"].as_i64().unwrap();
    assert_eq!(page["next_since"], first);

    app.claim(id).await;
    let page: Value = logs(&format!("?since={first}")).await.unwrap().json().await.unwrap();
    let lines = page["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1);
    assert!(lines[0]["message"].as_str().unwrap().contains("claimed by worker-1"));
    let next = page["next_since"].as_i64().unwrap();
    assert!(next > first);
    let page: Value = logs(&format!("?since={next}")).await.unwrap().json().await.unwrap();
    assert_eq!((page["lines"].as_array().unwrap().len(), page["next_since"].as_i64()), (0, Some(next)));
    let page: Value = logs("?limit=1").await.unwrap().json().await.unwrap();
    assert_eq!(page["lines"].as_array().unwrap().len(), 1);

    for query in ["?limit=0", "?limit=1001", "?since=-1", "?since=x"] {
        assert_error(logs(query).await.unwrap(), StatusCode::BAD_REQUEST, "invalid_query").await;
    }
}

#[tokio::test]
async fn delete_removes_queued_and_running_jobs() {
    let app = spawn_app().await;
    let delete = |id: uuid::Uuid| app.client.delete(app.url(&format!("/v1/jobs/{id}"))).send();
    let queued = app.submit().await;
    assert_eq!(delete(queued).await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_error(app.get(&format!("/v1/jobs/{queued}")).await, StatusCode::NOT_FOUND, "job_not_found").await;
    assert_error(app.get(&format!("/v1/jobs/{queued}/logs")).await, StatusCode::NOT_FOUND, "job_not_found").await;
    assert_error(delete(queued).await.unwrap(), StatusCode::NOT_FOUND, "job_not_found").await;

    let running = app.submit().await;
    app.claim(running).await;
    let mut announcements = app.queue.cancellations().await.unwrap();
    assert_eq!(delete(running).await.unwrap().status(), StatusCode::NO_CONTENT);
    let announced = tokio::time::timeout(Duration::from_secs(5), announcements.next()).await.expect("published");
    assert_eq!(announced, Some(running), "the worker is told to stop");
    assert!(app.store.get(running).await.unwrap().is_none());
    assert_eq!(app.count_jobs().await, 0);
}
