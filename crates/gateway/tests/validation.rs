//! Strict event validation against hostile schemas (issue 8, item 2): a tenant's input schemas are compiled once
//! at registration within limits, checked within a budget and outside the engine's registry lock, so no schema
//! and no data can stall another project.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use cfp_store::Scope;
use common::*;
use serde_json::{json, Map, Value};

const EVIL: &str = "evil-worker-token-0123456789";
const AUTH: (&str, &str) = ("authorization", "Bearer test-admin-token-0123456789");

fn strict_runtime() -> RuntimeOptions {
    let mut opts = RuntimeOptions::default();
    opts.engine.strict_validation = true;
    opts.gateway.dev_endpoints = true; // POST /__cfp/api/emit
    opts.engine.worker_tokens.push((EVIL.into(), Scope::new("t1", "evil")));
    opts
}

fn with_input(mut step: Value, input: Value) -> Value {
    step["input"] = input;
    step
}

/// `anyOf: [S, S]` nested `depth` times, written out (2^depth leaves, each checking every item of an array,
/// then failing): what the checker before this one evaluated exhaustively, under the registry lock.
fn nested_any_of(depth: usize) -> Value {
    if depth == 0 {
        return json!({"items": {"type": "integer"}, "not": {}});
    }
    let inner = nested_any_of(depth - 1);
    json!({"anyOf": [inner.clone(), inner]})
}

/// Within every limit, but applying itself twice to the same value at each level of the data: 2^depth.
fn doubling() -> Value {
    json!({"anyOf": [
        {"type": "object", "properties": {"a": {"$ref": "#"}}, "required": ["z"]},
        {"type": "object", "properties": {"a": {"$ref": "#"}}, "required": ["y"]}
    ]})
}

fn nested_data(depth: usize) -> Value {
    let mut data = json!({});
    for _ in 0..depth {
        data = json!({"a": data});
    }
    data
}

/// (a) One project's worker registers costly schemas and emits to them under strict validation; meanwhile
/// another project's API calls answer promptly. Before the fix the first check held the registry lock for
/// seconds and every project's request waited for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_costly_schema_does_not_stall_other_projects() {
    let rt = start(strict_runtime()).await;
    let (_victim, registered) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        json!([api_step("Ping", "GET", "/ping", &[])]),
        handlers(vec![(
            "Ping",
            Arc::new(|_: &Value| json!({"ok": true, "output": {"status": 200, "body": {"pong": true}}})),
        )]),
    )
    .await;
    assert_eq!(registered["steps"], json!(["Ping"]), "{registered}");

    let steps = json!([
        event_step("Trigger", &["tick"], &["boom", "boom2"], json!(null)),
        with_input(event_step("Sink", &["boom"], &[], json!(null)), nested_any_of(14)),
        with_input(event_step("Sink2", &["boom2"], &[], json!(null)), doubling()),
    ]);
    let (evil, registered) = FakeWorker::connect(
        &rt.ws_url(),
        EVIL,
        steps,
        handlers(vec![(
            "Trigger",
            Arc::new(|_: &Value| {
                json!({"ok": true, "emits": [
                    {"topic": "boom", "data": vec![0; 2_000]},
                    {"topic": "boom2", "data": nested_data(60)},
                ]})
            }),
        )]),
    )
    .await;

    let evil_scope = Scope::new("t1", "evil");
    rt.engine
        .emit(&evil_scope, "tick", json!({}), None, "trace-evil".into())
        .await
        .unwrap();
    assert!(
        eventually(10, || !evil.invocations_of("Trigger").is_empty()).await,
        "the attacker's step ran"
    );
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let t = Instant::now();
        let r = tokio::time::timeout(Duration::from_secs(3), http(rt.addr, "GET", "/ping", &[AUTH], b"")).await;
        let took = t.elapsed();
        let r = r.unwrap_or_else(|_| panic!("another project's call hung for more than 3 s"));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        slowest = slowest.max(took);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("slowest of 10 calls of another project during the attack: {slowest:?}");
    assert!(
        slowest < Duration::from_millis(500),
        "slowest call of another project: {slowest:?}"
    );

    // The written-out tree is larger than the limit: refused at registration, naming the step and the limit.
    let errors = registered["errors"].as_array().cloned().unwrap_or_default();
    let sink = errors.iter().find(|e| e["step"] == "Sink").expect("Sink refused");
    assert_eq!(sink["code"], "invalid_schema", "{sink}");
    let message = sink["message"].as_str().unwrap();
    assert!(
        message.contains("step `Sink` (steps/Sink.step.ts): input schema refused"),
        "{message}"
    );
    assert!(message.contains("larger than 256 KiB"), "{message}");
    // The recursive one is within the limits: its cost is bounded when data arrives.
    assert!(
        registered["steps"].as_array().unwrap().contains(&json!("Sink2")),
        "{registered}"
    );

    // The attacker's emit failed its attempt with a message saying why (dead-lettered: not retriable).
    let mut dead = Vec::new();
    for _ in 0..100 {
        dead = rt.store.dead_letters(&evil_scope, Some("Trigger"), 10).await.unwrap();
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let error = serde_json::to_string(&dead.first().expect("the attempt failed").error).unwrap();
    assert!(error.contains("too costly to check"), "{error}");
    rt.stop().await;
}

async fn emit(rt: &Runtime, topic: &str, data: Value) -> HttpResponse {
    let body = json!({"topic": topic, "data": data}).to_string();
    http(
        rt.addr,
        "POST",
        "/__cfp/api/emit",
        &[AUTH, ("content-type", "application/json")],
        body.as_bytes(),
    )
    .await
}

/// (b) A pattern that backtracks catastrophically elsewhere (`^(a+)+$` on `aaaa…!`) is answered at once: the
/// `regex` crate matches in linear time.
#[tokio::test]
async fn a_catastrophic_pattern_is_harmless() {
    let rt = start(strict_runtime()).await;
    let input = json!({"type": "object", "properties": {"name": {"type": "string", "pattern": "^(a+)+$"}}});
    let (_w, registered) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        json!([with_input(event_step("Named", &["named"], &[], json!(null)), input)]),
        handlers(vec![("Named", Arc::new(|_: &Value| json!({"ok": true})))]),
    )
    .await;
    assert_eq!(registered["steps"], json!(["Named"]), "{registered}");
    let t = Instant::now();
    let r = emit(&rt, "named", json!({"name": format!("{}!", "a".repeat(50_000))})).await;
    assert!(t.elapsed() < Duration::from_millis(500), "{:?}", t.elapsed());
    assert_eq!(r.status, 400);
    let body = r.json();
    assert_eq!(body["error"]["code"], "invalid_event");
    assert_eq!(
        body["error"]["message"],
        "event `named` does not match the input schema of `Named`: data.name: must match the pattern `^(a+)+$`"
    );
    assert_eq!(emit(&rt, "named", json!({"name": "aaa"})).await.status, 202);
    rt.stop().await;
}

/// (c) A remote `$ref`, an oversized schema and a too-deep one are refused at registration, each with a clear
/// message in `registered.errors`; the worker's other steps register.
#[tokio::test]
async fn remote_refs_and_oversized_or_deep_schemas_are_refused_at_registration() {
    let rt = start(strict_runtime()).await;
    // `items` nests one JSON level per schema level: the frame stays within serde_json's 128 levels.
    let mut deep = json!({"type": "string"});
    for _ in 0..70 {
        deep = json!({"type": "array", "items": deep});
    }
    let big = json!({"enum": (0..40_000).map(|i| format!("value-{i}")).collect::<Vec<_>>()});
    let mut defs = Map::new();
    defs.insert("d20".into(), json!({"type": "integer"}));
    for i in (0..20).rev() {
        let next = format!("#/$defs/d{}", i + 1);
        defs.insert(format!("d{i}"), json!({"anyOf": [{"$ref": next}, {"$ref": next}]}));
    }
    let exploding = json!({"$defs": defs, "$ref": "#/$defs/d0"});
    let steps = json!([
        with_input(
            event_step("Remote", &["a"], &[], json!(null)),
            json!({"properties": {"x": {"$ref": "https://example.com/x.json"}}})
        ),
        with_input(event_step("Big", &["b"], &[], json!(null)), big),
        with_input(event_step("Deep", &["c"], &[], json!(null)), deep),
        with_input(event_step("Exploding", &["d"], &[], json!(null)), exploding),
        with_input(event_step("Fine", &["e"], &[], json!(null)), json!({"type": "object"})),
    ]);
    let (_w, registered) = FakeWorker::connect(&rt.ws_url(), TOKEN, steps, Default::default()).await;
    assert_eq!(registered["steps"], json!(["Fine"]), "{registered}");
    let message = |step: &str| -> String {
        let e = registered["errors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["step"] == step)
            .unwrap_or_else(|| panic!("{step} not refused: {registered}"));
        assert_eq!(e["code"], "invalid_schema");
        e["message"].as_str().unwrap().to_string()
    };
    assert_eq!(
        message("Remote"),
        "step `Remote` (steps/Remote.step.ts): input schema refused: `$ref` `https://example.com/x.json` is not \
         local (at `#/properties/x`): only references inside the schema (`#/…`) are resolved"
    );
    assert_eq!(
        message("Big"),
        "step `Big` (steps/Big.step.ts): input schema refused: schema is larger than 256 KiB serialized (the limit)"
    );
    assert_eq!(
        message("Deep"),
        "step `Deep` (steps/Deep.step.ts): input schema refused: schema nests deeper than 64 levels (the limit)"
    );
    assert!(
        message("Exploding").contains("expands to more than 50000 subschemas when its `$ref`s are followed"),
        "{registered}"
    );
    rt.stop().await;
}

/// (d) Schemas as zod 3 (draft-07, `definitions`, tuples as `items: [...]`, `$schema` stripped by the SDK) and
/// pydantic (`$defs`, `$ref`, `anyOf` with null) emit them: valid data passes, invalid data names the path.
#[tokio::test]
async fn zod_and_pydantic_schemas_validate() {
    let rt = start(strict_runtime()).await;
    let zod = json!({
        "type": "object",
        "properties": {
            "order": {"$ref": "#/definitions/Order"},
            "point": {"type": "array", "minItems": 2, "maxItems": 2, "items": [{"type": "number"}, {"type": "number"}]}
        },
        "required": ["order"],
        "additionalProperties": false,
        "definitions": {"Order": {
            "type": "object",
            "properties": {"id": {"type": "string", "format": "uuid"}, "items": {"type": "array", "items": {
                "type": "object", "properties": {"qty": {"type": "integer", "exclusiveMinimum": 0}},
                "required": ["qty"], "additionalProperties": false}}},
            "required": ["id", "items"], "additionalProperties": false
        }}
    });
    let pydantic = json!({
        "$defs": {"Item": {"properties": {"sku": {"title": "Sku", "type": "string"}, "qty": {"title": "Qty", "type": "integer", "minimum": 1}},
                           "required": ["sku", "qty"], "title": "Item", "type": "object"}},
        "properties": {"items": {"items": {"$ref": "#/$defs/Item"}, "title": "Items", "type": "array"},
                       "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null, "title": "Note"}},
        "required": ["items"], "title": "Order", "type": "object"
    });
    let steps = json!([
        with_input(event_step("Zod", &["zod"], &[], json!(null)), zod),
        with_input(event_step("Pydantic", &["py"], &[], json!(null)), pydantic),
    ]);
    let (_w, registered) = FakeWorker::connect(&rt.ws_url(), TOKEN, steps, Default::default()).await;
    assert_eq!(registered["steps"].as_array().unwrap().len(), 2, "{registered}");
    let id = "5b7f3f4e-6c1d-4a53-9a43-4f5d8b0e6a11";
    let refused = |r: HttpResponse| -> String {
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
        r.json()["error"]["message"].as_str().unwrap().to_string()
    };
    let ok = emit(
        &rt,
        "zod",
        json!({"order": {"id": id, "items": [{"qty": 2}]}, "point": [1, 2.5]}),
    )
    .await;
    assert_eq!(ok.status, 202, "{}", String::from_utf8_lossy(&ok.body));
    assert_eq!(
        refused(emit(&rt, "zod", json!({"order": {"id": id, "items": [{"qty": 0}]}})).await),
        "event `zod` does not match the input schema of `Zod`: data.order.items[0].qty: must be > 0"
    );
    assert_eq!(
        refused(emit(&rt, "zod", json!({"order": {"id": "nope", "items": []}})).await),
        "event `zod` does not match the input schema of `Zod`: data.order.id: must be a valid `uuid`"
    );
    let ok = emit(&rt, "py", json!({"items": [{"sku": "a", "qty": 1}], "note": null})).await;
    assert_eq!(ok.status, 202, "{}", String::from_utf8_lossy(&ok.body));
    assert_eq!(
        refused(
            emit(
                &rt,
                "py",
                json!({"items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 0}]})
            )
            .await
        ),
        "event `py` does not match the input schema of `Pydantic`: data.items[1].qty: must be ≥ 1"
    );
    rt.stop().await;
}
