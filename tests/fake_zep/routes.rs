//! Every Zep route, its status codes and body shapes, auth, limits and the v4 idempotency rule.

use serde_json::json;

use super::support::{start, start_with};
use rollgate::fake_zep::{AuthBody, Config};

#[tokio::test]
async fn v3_threads_api_round_trip() {
    let zep = start("").await;
    let user = zep
        .post(
            "/api/v2/users",
            json!({ "user_id": "u1", "email": "a@b.io" }),
        )
        .await;
    assert_eq!(user.status, 201);
    assert_eq!(user.json()["user_id"], "u1");
    assert!(user.json()["uuid"].is_string());

    let thread = zep
        .post(
            "/api/v2/threads",
            json!({ "thread_id": "t1", "user_id": "u1" }),
        )
        .await;
    assert_eq!(thread.status, 201);
    assert_eq!(thread.json()["thread_id"], "t1");

    let added = zep
        .post(
            "/api/v2/threads/t1/messages",
            json!({ "messages": [
                { "role": "user", "name": "Jane", "content": "2BR in Girne" },
                { "role": "assistant", "content": "Here are 3 listings" }
            ], "return_context": true }),
        )
        .await;
    assert_eq!(added.status, 200, "{added:?}");
    assert_eq!(added.json()["message_uuids"].as_array().unwrap().len(), 2);
    assert!(added.json()["context"]
        .as_str()
        .unwrap()
        .contains("- user: 2BR in Girne"));

    let batch = zep
        .post(
            "/api/v2/threads/t1/messages-batch",
            json!({ "messages": [{ "role": "user", "content": "show me" }] }),
        )
        .await;
    assert_eq!(batch.status, 200);

    let context = zep
        .get("/api/v2/threads/t1/context?mode=summary&minRating=0.5")
        .await;
    assert_eq!(context.status, 200);
    let text = context.json()["context"].as_str().unwrap().to_string();
    assert!(
        text.contains("3 messages stored (2 from the user)"),
        "{text}"
    );
    assert!(text.contains("- user: show me"), "{text}");

    let last = zep.get("/api/v2/threads/t1/messages?lastn=2").await;
    assert_eq!(last.status, 200);
    let body = last.json();
    assert_eq!(body["total_count"], 3);
    assert_eq!(body["row_count"], 2);
    assert_eq!(body["user_id"], "u1");
    assert_eq!(body["messages"][1]["content"], "show me");

    let page = zep
        .get("/api/v2/threads/t1/messages?limit=1&cursor=1")
        .await;
    assert_eq!(page.json()["messages"][0]["content"], "Here are 3 listings");

    let missing = zep.get("/api/v2/threads/nope/context").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["message"], "thread nope not found");
}

#[tokio::test]
async fn v3_create_errors_are_zep_400s() {
    let zep = start("").await;
    zep.thread("t1").await;
    let again = zep
        .post(
            "/api/v2/threads",
            json!({ "thread_id": "t1", "user_id": "u1" }),
        )
        .await;
    assert_eq!(again.status, 400);
    assert!(again.json()["message"]
        .as_str()
        .unwrap()
        .contains("already exists"));
    let no_user = zep
        .post(
            "/api/v2/threads",
            json!({ "thread_id": "t2", "user_id": "ghost" }),
        )
        .await;
    assert_eq!(no_user.status, 400);
    assert_eq!(no_user.json()["message"], "user ghost not found");
    let dup_user = zep.post("/api/v2/users", json!({ "user_id": "u1" })).await;
    assert_eq!(dup_user.status, 400);
}

#[tokio::test]
async fn v2_sessions_and_memory() {
    let zep = start("").await;
    assert_eq!(
        zep.post("/api/v2/users", json!({ "user_id": "u1" }))
            .await
            .status,
        201
    );
    let session = zep
        .post(
            "/api/v2/sessions",
            json!({ "session_id": "s1", "user_id": "u1" }),
        )
        .await;
    assert_eq!(session.status, 201);
    assert_eq!(session.json()["session_id"], "s1");
    let added = zep
        .post(
            "/api/v2/sessions/s1/memory",
            json!({ "messages": [{ "role_type": "user", "role": "Jane", "content": "nearest pharmacy" }] }),
        )
        .await;
    assert_eq!(added.status, 200, "{added:?}");
    let no_role_type = zep
        .post(
            "/api/v2/sessions/s1/memory",
            json!({ "messages": [{ "content": "x" }] }),
        )
        .await;
    assert_eq!(no_role_type.status, 400);
    assert!(no_role_type.json()["message"]
        .as_str()
        .unwrap()
        .contains("role_type"));

    let memory = zep.get("/api/v2/sessions/s1/memory?lastn=5").await;
    assert_eq!(memory.status, 200);
    let body = memory.json();
    assert_eq!(body["messages"][0]["content"], "nearest pharmacy");
    assert!(body["context"]
        .as_str()
        .unwrap()
        .contains("nearest pharmacy"));
    assert!(body["facts"].is_array() && body["relevant_facts"].is_array());

    let messages = zep.get("/api/v2/sessions/s1/messages?limit=10").await;
    assert_eq!(messages.json()["total_count"], 1);
    let missing = zep.get("/api/v2/sessions/zz/memory").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["message"], "session zz not found");
}

#[tokio::test]
async fn v4_threads_with_idempotency_keys() {
    let zep = start("").await;
    let user = zep
        .post("/api/v4/users", json!({ "email": "x@y.io" }))
        .await;
    assert_eq!(user.status, 201);
    let user_uuid = user.json()["uuid"].as_str().unwrap().to_string();

    let create = |key: &'static str| {
        zep.authed(zep.http.post(zep.url("/api/v4/threads")))
            .header("idempotency-key", key)
            .json(&json!({ "user_uuid": user_uuid }))
    };
    let first = zep.send(create("k-thread")).await;
    assert_eq!(first.status, 201);
    let second = zep.send(create("k-thread")).await;
    assert_eq!(
        second.json()["uuid"],
        first.json()["uuid"],
        "same key, same thread"
    );
    let thread = first.json()["uuid"].as_str().unwrap().to_string();

    let add = || {
        zep.authed(
            zep.http
                .post(zep.url(&format!("/api/v4/threads/{thread}/messages"))),
        )
        .header("idempotency-key", "k-msg-1")
        .json(&json!({ "messages": [{ "role": "user", "content": "2BR in Girne" }] }))
    };
    let a = zep.send(add()).await;
    let b = zep.send(add()).await;
    let c = zep.send(add()).await;
    assert_eq!(a.status, 202, "{a:?}");
    assert_eq!(a.json()["messages"], b.json()["messages"]);
    assert_eq!(b.text, c.text);
    assert!(a.json()["task"]["uuid"].is_string());

    let context = zep.get(&format!("/api/v4/threads/{thread}/context")).await;
    let text = context.json()["context"].as_str().unwrap().to_string();
    assert!(
        text.contains("1 messages stored"),
        "three attempts, one key, one message: {text}"
    );

    let journal = zep
        .server
        .admin()
        .journal(&Default::default())
        .await
        .unwrap();
    let writes: Vec<_> = journal
        .entries
        .iter()
        .filter(|e| e.idempotency_key.as_deref() == Some("k-msg-1"))
        .collect();
    assert_eq!(writes.len(), 3);
    assert_eq!(writes.iter().filter(|e| e.replayed).count(), 2);
    assert_eq!(writes.iter().map(|e| e.stored).sum::<u32>(), 1);

    let bad_id = zep.get("/api/v4/threads/not-a-uuid/context").await;
    assert_eq!(bad_id.status, 400);
    assert_eq!(bad_id.json()["error"]["code"], "invalid_identifier");
    assert_eq!(bad_id.json()["error"]["param"], "thread_uuid");
    let unknown = zep
        .get("/api/v4/threads/00000000-0000-4000-8000-000000000000/context")
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"]["code"], "not_found");
}

#[tokio::test]
async fn wrong_or_missing_key_gets_401_in_each_body_shape() {
    let zep = start("").await;
    let missing = zep
        .send(zep.http.get(zep.url("/api/v2/threads/t1/context")))
        .await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json(), json!({ "message": "unauthorized" }));
    let wrong = zep
        .send(
            zep.http
                .get(zep.url("/api/v4/threads/x/context"))
                .header("authorization", "Api-Key nope"),
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json()["error"]["code"], "unauthorized");

    let ce = start_with(Config {
        auth_body: AuthBody::Text,
        ..Config::default()
    })
    .await;
    let text = ce
        .send(ce.http.get(ce.url("/api/v2/threads/t1/context")))
        .await;
    assert_eq!(text.status, 401);
    assert_eq!(text.text, "unauthorized\n");
    assert!(text.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
}

#[tokio::test]
async fn message_limits_and_malformed_bodies_get_400() {
    let zep = start("").await;
    zep.thread("t1").await;
    let many: Vec<_> = (0..31)
        .map(|i| json!({ "role": "user", "content": format!("m{i}") }))
        .collect();
    let too_many = zep
        .post("/api/v2/threads/t1/messages", json!({ "messages": many }))
        .await;
    assert_eq!(too_many.status, 400);
    assert_eq!(
        too_many.json()["message"],
        "too many messages: 31 in one call, at most 30"
    );

    let long = "x".repeat(2501);
    let too_long = zep
        .post(
            "/api/v2/threads/t1/messages",
            json!({ "messages": [{ "role": "user", "content": long }] }),
        )
        .await;
    assert_eq!(too_long.status, 400);
    assert!(too_long.json()["message"]
        .as_str()
        .unwrap()
        .contains("2501 characters"));

    let bad_role = zep
        .post(
            "/api/v2/threads/t1/messages",
            json!({ "messages": [{ "role": "robot", "content": "x" }] }),
        )
        .await;
    assert_eq!(bad_role.status, 400);

    let garbage = zep
        .send(
            zep.authed(zep.http.post(zep.url("/api/v2/threads/t1/messages")))
                .body("{not json"),
        )
        .await;
    assert_eq!(garbage.status, 400);
    assert!(garbage.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("invalid request body"));

    let exactly_30: Vec<_> = (0..30)
        .map(|i| json!({ "role": "user", "content": format!("m{i}") }))
        .collect();
    let ok = zep
        .post(
            "/api/v2/threads/t1/messages",
            json!({ "messages": exactly_30 }),
        )
        .await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn unknown_routes_get_a_zep_shaped_404() {
    let zep = start("").await;
    let v3 = zep.get("/api/v2/nothing/here").await;
    assert_eq!(v3.status, 404);
    assert_eq!(v3.json()["message"], "not found: GET /api/v2/nothing/here");
    let v4 = zep.get("/api/v4/nothing").await;
    assert_eq!(v4.json()["error"]["code"], "not_found");
}

#[tokio::test]
async fn health_metrics_and_chunked_or_100_continue_requests() {
    let zep = start("").await;
    let health = zep.send(zep.http.get(zep.url("/healthz"))).await;
    assert_eq!((health.status, health.text.as_str()), (200, "ok\n"));
    zep.thread("t1").await;
    zep.get("/api/v2/threads/t1/context").await;

    // A streamed body goes out chunked.
    let chunks = futures::stream::iter(vec![
        Ok::<_, std::io::Error>(bytes::Bytes::from_static(
            b"{\"messages\":[{\"role\":\"user\",",
        )),
        Ok(bytes::Bytes::from_static(
            b"\"content\":\"chunked hello\"}]}",
        )),
    ]);
    let chunked = zep
        .send(
            zep.authed(zep.http.post(zep.url("/api/v2/threads/t1/messages")))
                .header("content-type", "application/json")
                .body(reqwest::Body::wrap_stream(chunks)),
        )
        .await;
    assert_eq!(chunked.status, 200, "{chunked:?}");

    // curl sends Expect: 100-continue for larger bodies.
    let content = "y".repeat(2000);
    let expect = zep
        .send(
            zep.authed(zep.http.post(zep.url("/api/v2/threads/t1/messages")))
                .header("expect", "100-continue")
                .json(&json!({ "messages": [{ "role": "user", "content": content }] })),
        )
        .await;
    assert_eq!(expect.status, 200);

    let metrics = zep.send(zep.http.get(zep.url("/metrics"))).await;
    assert_eq!(metrics.status, 200);
    assert!(metrics.headers["content-type"]
        .to_str()
        .unwrap()
        .contains("version=0.0.4"));
    assert!(
        metrics.text.contains(
            r#"fake_zep_requests_total{route="GET /api/v2/threads/{id}/context",status="200"} 1"#
        ),
        "{}",
        metrics.text
    );
    assert!(metrics
        .text
        .contains("fake_zep_request_duration_seconds_bucket"));
}
