//! Key order end to end (docs/semantics.md "Key order"): objects a handler gives keep their key order through
//! the HTTP response, emitted events (and the dead-letter queue, shown and replayed), state (worker calls and the
//! HTTP APIs) and streams (worker calls, the HTTP API and websocket messages) — byte for byte, as Motia keeps them.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// Keys in no sorted order (neither bytewise nor jsonb's shorter-first), nested in objects and arrays.
const DOC: &str = r#"{"z":1,"a":{"y":2,"b":3},"m":[{"k":1,"c":2}],"long key":null,"é":"x","b":true}"#;
/// Another one, the request body an API step echoes.
const REQUEST: &str = r#"{"zeta":[{"q":1,"p":{"d":4,"c":3}}],"alpha":"a","mid":{"2":0,"1":0}}"#;
const AUTH: (&str, &str) = ("authorization", "Bearer test-admin-token-0123456789");

fn doc() -> Value {
    serde_json::from_str(DOC).unwrap()
}

/// `DOC` with more members after its own (a stream item's `id` and `_createdAt`): the text up to them.
fn doc_then(rest: &str) -> String {
    format!("{},{rest}", &DOC[..DOC.len() - 1])
}

fn body(r: &HttpResponse) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

async fn call(w: &mut FakeWorker, id: u64, method: &str, params: Value) -> String {
    w.send(json!({"type": "call", "id": id, "method": method, "params": params}));
    let reply = w.expect("reply").await;
    assert_eq!(reply["id"], id);
    assert!(reply.get("error").is_none(), "{method}: {reply}");
    reply["result"].to_string()
}

async fn ws_text(
    ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> String {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return t.to_string(),
            Ok(Some(Ok(_))) => continue,
            other => panic!("no websocket message: {other:?}"),
        }
    }
}

#[tokio::test]
async fn handler_key_order_survives_every_path() {
    let mut opts = RuntimeOptions::default();
    opts.gateway.dev_endpoints = true;
    let rt = start(opts).await;
    let steps = json!([
        api_step("Order", "POST", "/order", &["ordered"]),
        event_step("Next", &["ordered"], &[], json!({})),
        event_step("Sink", &["sunk"], &[], json!({"queue": {"maxRetries": 0}})),
    ]);
    let sink_fails = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let fails = sink_fails.clone();
    let (mut w, registered) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        steps.clone(),
        handlers(vec![
            (
                "Order",
                Arc::new(|f: &Value| {
                    json!({"ok": true, "output": {"status": 200, "body": f["input"]["body"]},
                           "emits": [{"topic": "ordered", "data": doc()}]})
                }),
            ),
            ("Next", Arc::new(|_: &Value| json!({"ok": true}))),
            (
                "Sink",
                Arc::new(move |_: &Value| {
                    if fails.load(std::sync::atomic::Ordering::SeqCst) {
                        json!({"ok": false, "error": {"message": "no"}})
                    } else {
                        json!({"ok": true})
                    }
                }),
            ),
        ]),
    )
    .await;
    assert_eq!(registered["errors"], json!([]), "{registered}");
    let stream = json!({"name": "todo", "file": "steps/todo.stream.ts", "storageType": "default",
                        "hasCanAccess": false, "schema": {"type": "object"}});
    w.send(json!({"type": "register", "steps": steps, "streams": [stream]}));
    assert_eq!(w.expect("registered").await["errors"], json!([]));

    // The request body reaches the handler in order, and the body it answers goes out in order.
    let put = [AUTH, ("content-type", "application/json")];
    let r = http(rt.addr, "POST", "/order", &put, REQUEST.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", body(&r));
    assert_eq!(body(&r), REQUEST);
    // The emitted data is the next step's input, in order.
    assert!(
        eventually(10, || !w.invocations_of("Next").is_empty()).await,
        "Next never ran"
    );
    assert_eq!(w.invocations_of("Next")[0]["input"]["data"].to_string(), DOC);

    // State: set by a worker, read by a worker and through both HTTP APIs; set over HTTP, read by a worker.
    let scope = json!({"group": "g", "key": "k", "value": doc()});
    assert_eq!(call(&mut w, 1, "state.set", scope).await, DOC);
    assert_eq!(
        call(&mut w, 2, "state.get", json!({"group": "g", "key": "k"})).await,
        DOC
    );
    assert_eq!(
        call(&mut w, 3, "state.getGroup", json!({"group": "g"})).await,
        format!("[{DOC}]")
    );
    let r = http(rt.addr, "GET", "/__cfp/api/state/g", &[AUTH], b"").await;
    assert!(body(&r).contains(DOC), "{}", body(&r));
    let r = http(rt.addr, "GET", "/__motia/state?groupId=g", &[AUTH], b"").await;
    assert!(body(&r).contains(&format!(r#""value":{DOC}"#)), "{}", body(&r));
    let r = http(rt.addr, "PUT", "/__cfp/api/state/g/k2", &put, REQUEST.as_bytes()).await;
    assert!(r.status < 300, "{}", body(&r));
    assert_eq!(
        call(&mut w, 4, "state.get", json!({"group": "g", "key": "k2"})).await,
        REQUEST
    );

    // Streams: the item as stored (`id` and `_createdAt` after the handler's members), over the websocket too.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/?token={ADMIN}", rt.addr))
        .await
        .unwrap();
    let join = json!({"type": "join", "data": {"streamName": "todo", "groupId": "g", "subscriptionId": "s"}});
    ws.send(Message::Text(join.to_string().into())).await.unwrap();
    assert!(ws_text(&mut ws).await.contains(r#""type":"sync""#));
    let set = json!({"stream": "todo", "groupId": "g", "id": "i1", "data": doc()});
    let item = call(&mut w, 5, "streams.set", set).await;
    let created = serde_json::from_str::<Value>(&item).unwrap()["_createdAt"].clone();
    assert!(created.is_u64(), "{item}");
    assert_eq!(item, doc_then(&format!(r#""id":"i1","_createdAt":{created}}}"#)));
    let message = ws_text(&mut ws).await;
    assert!(message.contains(&format!(r#""data":{item}"#)), "{message}");
    let get = json!({"stream": "todo", "groupId": "g", "id": "i1"});
    assert_eq!(call(&mut w, 6, "streams.get", get).await, item);
    let r = http(rt.addr, "GET", "/__cfp/api/streams/todo/g", &[AUTH], b"").await;
    assert!(body(&r).contains(&item), "{}", body(&r));
    // An update keeps the creation time where the data puts `_createdAt` (replaced when it is not a number).
    let data = json!({"stream": "todo", "groupId": "g", "id": "i1", "data": {"y": 1, "_createdAt": "x", "b": 2}});
    let updated = call(&mut w, 7, "streams.set", data).await;
    assert_eq!(updated, format!(r#"{{"y":1,"_createdAt":{created},"b":2,"id":"i1"}}"#));
    let message = ws_text(&mut ws).await;
    assert!(message.contains(&format!(r#""data":{updated}"#)), "{message}");
    // A numeric `_createdAt` the data gives is kept as given, in place.
    let data = json!({"stream": "todo", "groupId": "g", "id": "i2", "data": {"_createdAt": 5, "a": 1}});
    let given = call(&mut w, 8, "streams.set", data).await;
    assert_eq!(given, r#"{"_createdAt":5,"a":1,"id":"i2"}"#);

    // An event posted to the admin API, dead-lettered: shown and replayed in order.
    let emit = format!(r#"{{"topic":"sunk","data":{DOC}}}"#);
    let r = http(rt.addr, "POST", "/__cfp/api/emit", &put, emit.as_bytes()).await;
    assert!(r.status < 300, "{}", body(&r));
    let mut dlq = String::new();
    for _ in 0..200 {
        dlq = body(&http(rt.addr, "GET", "/__cfp/api/dlq", &[AUTH], b"").await);
        if dlq.contains(r#""id""#) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(dlq.contains(&format!(r#""data":{DOC}"#)), "{dlq}");
    assert_eq!(w.invocations_of("Sink")[0]["input"]["data"].to_string(), DOC);
    let id = serde_json::from_str::<Value>(&dlq).unwrap()["items"][0]["id"].clone();
    sink_fails.store(false, std::sync::atomic::Ordering::SeqCst);
    let r = http(rt.addr, "POST", &format!("/__cfp/api/dlq/{id}/replay"), &[AUTH], b"").await;
    assert!(r.status < 300, "{}", body(&r));
    assert!(
        eventually(10, || w.invocations_of("Sink").len() == 2).await,
        "the replay never ran"
    );
    assert_eq!(w.invocations_of("Sink")[1]["input"]["data"].to_string(), DOC);
    rt.stop().await;
}

/// What a jsonb column would do to `DOC` (the order this test must not see): proves the check can fail.
#[tokio::test]
async fn jsonb_would_have_reordered_the_document() {
    let rt = start(RuntimeOptions::default()).await;
    let reordered: Value = sqlx::query_scalar("SELECT $1::text::jsonb")
        .bind(DOC)
        .fetch_one(rt.store.pool())
        .await
        .unwrap();
    assert_ne!(reordered.to_string(), DOC);
    let kept: Value = sqlx::query_scalar("SELECT $1::text::json")
        .bind(DOC)
        .fetch_one(rt.store.pool())
        .await
        .unwrap();
    assert_eq!(kept.to_string(), DOC);
    rt.stop().await;
}
