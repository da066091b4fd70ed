//! Streams end to end in one process: two runtimes (engine + gateway each, separate ports) on one PostgreSQL
//! schema, a scripted worker and raw WebSocket clients speaking Motia's stream protocol.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

fn todo_stream(can_access: bool) -> Value {
    json!({"name": "todo", "file": "steps/todo.stream.ts", "storageType": "default", "hasCanAccess": can_access,
           "schema": {"type": "object"}})
}

/// A worker hosting the given streams (and no steps).
async fn stream_worker(rt: &Runtime, streams: Value) -> FakeWorker {
    let (mut w, _) = FakeWorker::connect(&rt.ws_url(), TOKEN, json!([]), handlers(vec![])).await;
    w.send(json!({"type": "register", "steps": [], "streams": streams}));
    let registered = w.expect("registered").await;
    assert_eq!(registered["errors"], json!([]), "{registered}");
    w
}

async fn call(w: &mut FakeWorker, id: u64, method: &str, params: Value) -> Value {
    w.send(json!({"type": "call", "id": id, "method": method, "params": params}));
    let reply = w.expect("reply").await;
    assert_eq!(reply["id"], id);
    reply
}

async fn client(rt: &Runtime, query: &str) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/{query}", rt.addr))
        .await
        .unwrap();
    ws
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

fn join(stream: &str, group: &str, id: Option<&str>, sub: &str) -> Value {
    let mut data = json!({"streamName": stream, "groupId": group, "subscriptionId": sub});
    if let Some(id) = id {
        data["id"] = json!(id);
    }
    json!({"type": "join", "data": data})
}

/// The next message from the server (text frames parsed; a close becomes `{"closed": code}`).
async fn next(ws: &mut Ws) -> Value {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("message within 10 s")
        {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
            Some(Ok(Message::Close(c))) => return json!({"closed": c.map(|c| u16::from(c.code))}),
            Some(Ok(_)) => continue,
            other => return json!({"closed": format!("{other:?}")}),
        }
    }
}

/// A stream item without its `_createdAt`, which must be there as a number (milliseconds since the epoch).
fn sans_created(item: &Value) -> Value {
    assert!(item["_createdAt"].is_u64(), "no numeric _createdAt in {item}");
    let mut v = item.clone();
    v.as_object_mut().unwrap().remove("_createdAt");
    v
}

/// Nothing arrives within `ms`.
async fn quiet(ws: &mut Ws, ms: u64) {
    if let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout(Duration::from_millis(ms), ws.next()).await {
        panic!("unexpected message: {t}");
    }
}

fn event(m: &Value) -> (&str, &Value) {
    (m["event"]["type"].as_str().unwrap_or(""), &m["event"]["data"])
}

#[tokio::test]
async fn a_change_through_one_runtime_reaches_clients_of_another() {
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let a = start(RuntimeOptions {
        schema: Some(schema.clone()),
        ..Default::default()
    })
    .await;
    let b = start(RuntimeOptions {
        schema: Some(schema),
        ..Default::default()
    })
    .await;
    let mut worker = stream_worker(&a, json!([todo_stream(false)])).await;

    // clients of runtime B: one on the group, one on an item, one on the same item id in another group
    let mut group = client(&b, &format!("?token={ADMIN}")).await;
    send(&mut group, join("todo", "inbox", None, "g1")).await;
    let sync = next(&mut group).await;
    assert_eq!(event(&sync), ("sync", &json!([])));
    assert_eq!(sync["streamName"], "todo");
    assert!(sync["timestamp"].as_i64().unwrap() > 1_600_000_000_000);
    let mut item = client(&b, &format!("?token={ADMIN}")).await;
    send(&mut item, join("todo", "inbox", Some("t1"), "i1")).await;
    assert_eq!(event(&next(&mut item).await), ("sync", &Value::Null));
    let mut other_group = client(&b, &format!("?token={ADMIN}")).await;
    send(&mut other_group, join("todo", "archive", Some("t1"), "o1")).await;
    assert_eq!(event(&next(&mut other_group).await).0, "sync");

    // writes through runtime A
    let r = call(
        &mut worker,
        1,
        "streams.set",
        json!({"stream": "todo", "groupId": "inbox", "id": "t1", "data": {"title": "milk"}}),
    )
    .await;
    // `_createdAt` as in Motia: milliseconds since the epoch, a number
    let created = r["result"]["_createdAt"].clone();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        (now - created.as_i64().expect("_createdAt is a number")).abs() < 60_000,
        "{created}"
    );
    assert_eq!(r["result"], json!({"id": "t1", "title": "milk", "_createdAt": created}));
    let m = next(&mut group).await;
    assert_eq!(
        event(&m),
        ("create", &json!({"id": "t1", "title": "milk", "_createdAt": created}))
    );
    assert_eq!((m["groupId"].as_str(), m["id"].as_str()), (Some("inbox"), Some("t1")));
    assert_eq!(event(&next(&mut item).await).0, "create");

    // an update keeps the item's creation time
    call(
        &mut worker,
        2,
        "streams.set",
        json!({"stream": "todo", "groupId": "inbox", "id": "t1", "data": {"title": "oat milk"}}),
    )
    .await;
    let u1 = next(&mut group).await;
    assert_eq!(
        event(&u1),
        (
            "update",
            &json!({"id": "t1", "title": "oat milk", "_createdAt": created})
        )
    );
    let u2 = next(&mut item).await;
    assert_eq!(event(&u2).0, "update");
    assert!(u1["timestamp"].as_i64() > m["timestamp"].as_i64());
    // a `_createdAt` the data gives wins (Motia: `data._createdAt || Date.now()`); one that is not a number does not
    let given = json!({"stream": "todo", "groupId": "misc", "id": "c", "data": {"_createdAt": 5}});
    assert_eq!(
        call(&mut worker, 20, "streams.set", given).await["result"]["_createdAt"],
        5
    );
    let kept = json!({"stream": "todo", "groupId": "misc", "id": "c", "data": {"_createdAt": "yesterday"}});
    assert_eq!(
        call(&mut worker, 21, "streams.set", kept).await["result"]["_createdAt"],
        5
    );

    // an item larger than a NOTIFY payload travels by reference
    let big = "x".repeat(20_000);
    call(
        &mut worker,
        3,
        "streams.set",
        json!({"stream": "todo", "groupId": "inbox", "id": "t2", "data": {"title": big}}),
    )
    .await;
    let m = next(&mut group).await;
    assert_eq!(event(&m).0, "create");
    assert_eq!(m["event"]["data"]["title"].as_str().unwrap().len(), 20_000);

    call(
        &mut worker,
        4,
        "streams.send",
        json!({"stream": "todo", "groupId": "inbox", "id": "t1", "event": {"type": "typing", "data": {"who": "ann"}}}),
    )
    .await;
    let e = next(&mut item).await;
    assert_eq!(
        e["event"],
        json!({"type": "event", "event": {"type": "typing", "data": {"who": "ann"}}})
    );
    assert_eq!(next(&mut group).await["event"]["type"], "event");

    let r = call(
        &mut worker,
        5,
        "streams.delete",
        json!({"stream": "todo", "groupId": "inbox", "id": "t1"}),
    )
    .await;
    assert_eq!(r["result"]["id"], "t1");
    assert_eq!(event(&next(&mut group).await).0, "delete");
    assert_eq!(event(&next(&mut item).await).0, "delete");
    let r = call(
        &mut worker,
        6,
        "streams.delete",
        json!({"stream": "todo", "groupId": "inbox", "id": "t1"}),
    )
    .await;
    assert_eq!(r["result"], Value::Null);

    // the item of the same id in the other group saw nothing of it
    quiet(&mut other_group, 300).await;

    // reads
    let r = call(
        &mut worker,
        7,
        "streams.getGroup",
        json!({"stream": "todo", "groupId": "inbox"}),
    )
    .await;
    assert_eq!(r["result"].as_array().unwrap().len(), 1);
    let r = call(
        &mut worker,
        8,
        "streams.get",
        json!({"stream": "todo", "groupId": "inbox", "id": "t2"}),
    )
    .await;
    assert_eq!(r["result"]["id"], "t2");

    // a late joiner on runtime A gets the current group as sync
    let mut late = client(&a, &format!("?token={ADMIN}")).await;
    send(&mut late, join("todo", "inbox", None, "l1")).await;
    let sync = next(&mut late).await;
    assert_eq!(event(&sync).0, "sync");
    assert_eq!(sync["event"]["data"][0]["id"], "t2");

    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn clients_authenticate_and_bad_input_is_contained() {
    let rt = start(RuntimeOptions::default()).await;
    let mut worker = stream_worker(&rt, json!([todo_stream(false)])).await;

    // no token, a wrong token: 401 before the upgrade
    for query in ["", "?token=wrong"] {
        let err = tokio_tungstenite::connect_async(format!("ws://{}/{query}", rt.addr))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("401"), "{err}");
    }
    // the token as Motia's clients send it: subprotocols `Authorization, <token>`
    let mut req = format!("ws://{}/", rt.addr).into_client_request().unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        format!("Authorization, {ADMIN}").parse().unwrap(),
    );
    let (mut good, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(resp.headers()["sec-websocket-protocol"], "Authorization");
    // ... or as a bearer header
    let mut req = format!("ws://{}/", rt.addr).into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {ADMIN}").parse().unwrap());
    let (mut other, _) = tokio_tungstenite::connect_async(req).await.unwrap();

    // a plain GET / is not the websocket
    let r = http(
        rt.addr,
        "GET",
        "/",
        &[("authorization", &format!("Bearer {ADMIN}"))],
        b"",
    )
    .await;
    assert_ne!(r.status, 101);

    send(&mut other, join("todo", "g", None, "s")).await;
    assert_eq!(event(&next(&mut other).await).0, "sync");

    // malformed frames get an error event; the connection and the other client carry on
    for bad in [
        "{nope",
        "[]",
        r#"{"type":"subscribe","data":{}}"#,
        r#"{"type":"join","data":{"streamName":"todo"}}"#,
    ] {
        good.send(Message::Text(bad.into())).await.unwrap();
        let m = next(&mut good).await;
        assert_eq!(m["event"]["event"]["type"], "error", "{bad}: {m}");
        assert_eq!(m["event"]["event"]["data"]["code"], "BAD_MESSAGE");
    }
    // an unknown stream names the known ones; internal streams do not exist for clients
    send(&mut good, join("todos", "g", None, "x")).await;
    let m = next(&mut good).await;
    assert_eq!(m["streamName"], "todos");
    assert_eq!(m["event"]["event"]["data"]["code"], "STREAM_NOT_FOUND");
    assert!(m["event"]["event"]["data"]["message"]
        .as_str()
        .unwrap()
        .contains("this project's streams: todo"));
    send(&mut good, join("__cfp.logs", "g", None, "y")).await;
    assert_eq!(
        next(&mut good).await["event"]["event"]["data"]["code"],
        "STREAM_NOT_FOUND"
    );

    call(
        &mut worker,
        1,
        "streams.set",
        json!({"stream": "todo", "groupId": "g", "id": "1", "data": {"n": 1}}),
    )
    .await;
    assert_eq!(event(&next(&mut other).await).0, "create");
    send(&mut good, join("todo", "g", Some("1"), "z")).await;
    let synced = next(&mut good).await;
    assert_eq!(
        (event(&synced).0, sans_created(event(&synced).1)),
        ("sync", json!({"id": "1", "n": 1}))
    );

    // worker RPC: an unknown stream names the known ones; items must be objects
    let r = call(
        &mut worker,
        2,
        "streams.get",
        json!({"stream": "nope", "groupId": "g", "id": "1"}),
    )
    .await;
    assert_eq!(r["error"]["code"], "not_found");
    assert!(r["error"]["message"].as_str().unwrap().contains("todo"), "{r}");
    let r = call(
        &mut worker,
        3,
        "streams.set",
        json!({"stream": "todo", "groupId": "g", "id": "1", "data": 5}),
    )
    .await;
    assert_eq!(r["error"]["code"], "bad_request");

    // the runtime API
    let auth = format!("Bearer {ADMIN}");
    let r = http(rt.addr, "GET", "/__cfp/api/streams", &[("authorization", &auth)], b"").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["streams"][0]["name"], "todo");
    assert_eq!(r.json()["streams"][0]["groups"], json!([{"groupId": "g", "items": 1}]));
    let r = http(
        rt.addr,
        "GET",
        "/__cfp/api/streams/todo/g",
        &[("authorization", &auth)],
        b"",
    )
    .await;
    assert_eq!(sans_created(&r.json()["items"][0]), json!({"id": "1", "n": 1}));
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1);
    let r = http(
        rt.addr,
        "GET",
        "/__cfp/api/streams/nope/g",
        &[("authorization", &auth)],
        b"",
    )
    .await;
    assert_eq!(r.status, 404);
    let r = http(rt.addr, "GET", "/__cfp/api/streams", &[], b"").await;
    assert_eq!(r.status, 401);

    rt.stop().await;
}

#[tokio::test]
async fn can_access_runs_in_the_worker() {
    let rt = start(RuntimeOptions::default()).await;
    let mut worker = stream_worker(&rt, json!([todo_stream(true)])).await;
    let mut ws = client(&rt, &format!("?token={ADMIN}")).await;

    send(&mut ws, join("todo", "secret", Some("7"), "s1")).await;
    let access = worker.expect("access").await;
    assert_eq!(access["stream"], "todo");
    assert_eq!(access["groupId"], "secret");
    assert_eq!(access["itemId"], "7");
    assert_eq!(access["authContext"]["principal"], "admin");
    assert_eq!(access["authContext"]["ip"], "127.0.0.1");
    worker.send(json!({"type": "access_result", "id": access["id"], "allowed": false}));
    let m = next(&mut ws).await;
    assert_eq!(
        m["event"],
        json!({"type": "event", "event": {"type": "error", "data": {"code": "STREAM_ACCESS_DENIED", "message": "Access denied"}}})
    );
    assert_eq!(
        (m["streamName"].as_str(), m["groupId"].as_str(), m["id"].as_str()),
        (Some("todo"), Some("secret"), Some("7"))
    );

    send(&mut ws, join("todo", "public", None, "s2")).await;
    let access = worker.expect("access").await;
    assert!(access.get("itemId").is_none());
    worker.send(json!({"type": "access_result", "id": access["id"], "allowed": true}));
    assert_eq!(event(&next(&mut ws).await).0, "sync");

    // a denied join does not subscribe; an allowed one receives changes
    call(
        &mut worker,
        1,
        "streams.set",
        json!({"stream": "todo", "groupId": "secret", "id": "7", "data": {}}),
    )
    .await;
    call(
        &mut worker,
        2,
        "streams.set",
        json!({"stream": "todo", "groupId": "public", "id": "1", "data": {}}),
    )
    .await;
    let m = next(&mut ws).await;
    assert_eq!((m["groupId"].as_str(), event(&m).0), (Some("public"), "create"));

    // The runtime API's group read follows the same rule (it ignored canAccess before).
    let auth = format!("Bearer {ADMIN}");
    let read = |group: &'static str| {
        let auth = auth.clone();
        let addr = rt.addr;
        tokio::spawn(async move {
            http(
                addr,
                "GET",
                &format!("/__cfp/api/streams/todo/{group}"),
                &[("authorization", &auth)],
                b"",
            )
            .await
        })
    };
    let denied = read("secret");
    let access = worker.expect("access").await;
    assert_eq!(
        (access["groupId"].as_str(), access["authContext"]["principal"].as_str()),
        (Some("secret"), Some("admin"))
    );
    assert!(access.get("itemId").is_none());
    assert!(
        access["id"].as_str().unwrap().len() > 20,
        "access ids are not guessable: {}",
        access["id"]
    );
    worker.send(json!({"type": "access_result", "id": access["id"], "allowed": false}));
    let denied = denied.await.unwrap();
    assert_eq!(denied.status, 403);
    assert_eq!(denied.json()["error"]["code"], "stream_access_denied");
    let allowed = read("public");
    let access = worker.expect("access").await;
    worker.send(json!({"type": "access_result", "id": access["id"], "allowed": true}));
    let allowed = allowed.await.unwrap();
    assert_eq!(allowed.status, 200);
    assert_eq!(allowed.json()["items"].as_array().map(Vec::len), Some(1));

    // no worker left to run canAccess: refused
    worker.kill();
    tokio::time::sleep(Duration::from_millis(200)).await;
    send(&mut ws, join("todo", "public", None, "s3")).await;
    assert_eq!(
        next(&mut ws).await["event"]["event"]["data"]["code"],
        "STREAM_ACCESS_DENIED"
    );

    rt.stop().await;
}

#[tokio::test]
async fn stream_registrations_are_checked() {
    let rt = start(RuntimeOptions::default()).await;
    let (mut w, _) = FakeWorker::connect(&rt.ws_url(), TOKEN, json!([]), handlers(vec![])).await;
    w.send(json!({"type": "register", "steps": [], "streams": [
        todo_stream(false),
        {"name": "todo", "file": "steps/again.stream.ts"},
        {"name": "__cfp.logs", "file": "steps/logs.stream.ts"}
    ]}));
    let registered = w.expect("registered").await;
    let codes: Vec<&str> = registered["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["duplicate_stream", "invalid_manifest"]);
    rt.stop().await;
}

#[tokio::test]
async fn clients_are_closed_when_the_runtime_shuts_down() {
    let rt = start(RuntimeOptions::default()).await;
    let _worker = stream_worker(&rt, json!([todo_stream(false)])).await;
    let mut ws = client(&rt, &format!("?token={ADMIN}")).await;
    send(&mut ws, join("todo", "g", None, "s")).await;
    assert_eq!(event(&next(&mut ws).await).0, "sync");
    rt.engine.shutdown(Duration::from_secs(1)).await;
    assert_eq!(next(&mut ws).await, json!({"closed": 1001}));
    rt.stop().await;
}

#[tokio::test]
async fn dev_mode_trusts_loopback_but_not_foreign_pages() {
    let rt = start(RuntimeOptions {
        gateway: cfp_gateway::GatewayConfig {
            dev: true,
            admin_token: Some(ADMIN.into()),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    // a loopback tool or a page served from localhost: the local developer
    client(&rt, "").await;
    let mut req = format!("ws://{}/", rt.addr).into_client_request().unwrap();
    req.headers_mut()
        .insert("origin", "http://localhost:5173".parse().unwrap());
    tokio_tungstenite::connect_async(req).await.unwrap();
    // `*.localhost` is loopback too, as for every other route (one function decides): a dev server's page there
    let mut req = format!("ws://{}/", rt.addr).into_client_request().unwrap();
    req.headers_mut()
        .insert("origin", "http://app.localhost:5173".parse().unwrap());
    tokio_tungstenite::connect_async(req)
        .await
        .expect("a page of app.localhost is the local developer's");
    // any other web site open in the developer's browser needs the token
    let mut req = format!("ws://{}/", rt.addr).into_client_request().unwrap();
    req.headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    let err = tokio_tungstenite::connect_async(req).await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    let mut req = format!("ws://{}/?token={ADMIN}", rt.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    tokio_tungstenite::connect_async(req).await.unwrap();
    rt.stop().await;
}

#[tokio::test]
async fn runtimes_of_other_schemas_in_the_same_database_see_nothing() {
    let a = start(RuntimeOptions::default()).await;
    let b = start(RuntimeOptions::default()).await;
    let mut wa = stream_worker(&a, json!([todo_stream(false)])).await;
    let _wb = stream_worker(&b, json!([todo_stream(false)])).await;
    let mut ws = client(&b, &format!("?token={ADMIN}")).await;
    send(&mut ws, join("todo", "g", None, "s")).await;
    assert_eq!(event(&next(&mut ws).await).0, "sync");
    call(
        &mut wa,
        1,
        "streams.set",
        json!({"stream": "todo", "groupId": "g", "id": "1", "data": {}}),
    )
    .await;
    quiet(&mut ws, 500).await;
    b.stop().await;
    a.stop().await;
}

fn redis_url() -> String {
    std::env::var("CFP_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

#[tokio::test]
async fn with_redis_changes_cross_runtimes_over_redis_instead_of_notify() {
    let url = redis_url();
    let redis = redis::Client::open(url.as_str()).unwrap();
    let mut conn = match tokio::time::timeout(Duration::from_secs(2), redis.get_multiplexed_async_connection()).await {
        Ok(Ok(c)) => c,
        other => {
            eprintln!("SKIPPED: Redis is not reachable at {url} ({other:?}); start one or set CFP_TEST_REDIS_URL");
            return;
        }
    };
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let with_redis = || {
        let mut o = RuntimeOptions {
            schema: Some(schema.clone()),
            ..Default::default()
        };
        o.gateway.redis_url = Some(url.clone());
        o
    };
    let a = start(with_redis()).await;
    let b = start(with_redis()).await;
    // a runtime of the same schema without Redis only hears NOTIFY
    let c = start(RuntimeOptions {
        schema: Some(schema.clone()),
        ..Default::default()
    })
    .await;

    // the schema's channel (unique per test) — listened to by the test as well
    let channel = a.store.streams_channel().await.unwrap();
    let mut spy = redis.get_async_pubsub().await.unwrap();
    spy.subscribe(&channel).await.unwrap();
    let mut spy = spy.into_on_message();
    // both Redis runtimes subscribed (plus the spy)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, n): (String, i64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(&channel)
            .query_async(&mut conn)
            .await
            .unwrap();
        if n >= 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "runtimes did not subscribe to {channel}: {n}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut worker = stream_worker(&a, json!([todo_stream(false)])).await;
    let mut on_b = client(&b, &format!("?token={ADMIN}")).await;
    send(&mut on_b, join("todo", "inbox", None, "g1")).await;
    assert_eq!(event(&next(&mut on_b).await), ("sync", &json!([])));
    let mut on_c = client(&c, &format!("?token={ADMIN}")).await;
    send(&mut on_c, join("todo", "inbox", None, "g1")).await;
    assert_eq!(event(&next(&mut on_c).await), ("sync", &json!([])));

    let spied = |msg: Option<redis::Msg>| -> String { msg.expect("a Redis message").get_payload().unwrap() };
    call(
        &mut worker,
        1,
        "streams.set",
        json!({"stream": "todo", "groupId": "inbox", "id": "t1", "data": {"title": "milk"}}),
    )
    .await;
    let created = next(&mut on_b).await;
    assert_eq!(
        (event(&created).0, sans_created(event(&created).1)),
        ("create", json!({"id": "t1", "title": "milk"}))
    );
    let notice = spied(tokio::time::timeout(Duration::from_secs(5), spy.next()).await.unwrap());
    match cfp_store::streams::StreamNotice::parse(&notice) {
        Some(cfp_store::streams::StreamNotice::Inline(change)) => assert_eq!(change.id.as_deref(), Some("t1")),
        other => panic!("unexpected notice {other:?}"),
    }

    // a large change still travels by reference: the Redis message stays small
    let big = "x".repeat(20_000);
    call(
        &mut worker,
        2,
        "streams.set",
        json!({"stream": "todo", "groupId": "inbox", "id": "t2", "data": {"title": big}}),
    )
    .await;
    let m = next(&mut on_b).await;
    assert_eq!(event(&m).0, "create");
    assert_eq!(m["event"]["data"]["title"].as_str().unwrap().len(), 20_000);
    let notice = spied(tokio::time::timeout(Duration::from_secs(5), spy.next()).await.unwrap());
    assert!(notice.len() < 200, "{notice}");
    assert!(matches!(
        cfp_store::streams::StreamNotice::parse(&notice),
        Some(cfp_store::streams::StreamNotice::Stored { .. })
    ));

    // no NOTIFY was sent: the runtime listening to PostgreSQL saw none of it
    quiet(&mut on_c, 500).await;

    c.stop().await;
    b.stop().await;
    a.stop().await;
}
