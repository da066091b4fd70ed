//! Attacks by an authenticated worker (issue 8, items 1, 4 and 5), at the WebSocket level against a real runtime:
//! forged frames naming other workers' invocations, NUL bytes PostgreSQL cannot store, and floods of logs,
//! calls, steps and connections.

#![allow(clippy::field_reassign_with_default)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cfp_store::Scope;
use common::*;
use serde_json::{json, Value};

const TOKEN_OTHER: &str = "test-worker-token-other-project-0123";

fn two_projects() -> RuntimeOptions {
    let mut opts = RuntimeOptions::default();
    opts.engine
        .worker_tokens
        .push((TOKEN_OTHER.into(), Scope::new("default", "other")));
    opts
}

fn main_scope() -> Scope {
    Scope::new("default", "default")
}

/// Sends forged frames for `ids` from `w`: results (success with an emit, and non-retriable failures), log
/// lines and calls naming them.
fn forge(w: &FakeWorker, ids: &[String]) {
    for id in ids {
        w.send(
            json!({"type": "result", "id": id, "ok": true, "output": {"status": 200, "body": "forged"},
                      "emits": [{"topic": "job", "data": {"forged": true}}]}),
        );
        w.send(json!({"type": "result", "id": id, "ok": false,
                      "error": {"message": "forged failure", "retriable": false}}));
        w.send(json!({"type": "log", "entries": [
            {"ts": 1, "level": "info", "msg": "forged line", "invocationId": id, "step": "Work"}]}));
        w.send(
            json!({"type": "call", "id": 7, "method": "state.set", "invocationId": id,
                      "params": {"group": "g", "key": "forged", "value": 1}}),
        );
    }
}

#[tokio::test]
async fn forged_results_logs_and_calls_of_other_workers_change_nothing() {
    let rt = start(two_projects()).await;
    let scope = main_scope();
    let steps = json!([
        event_step("Work", &["job"], &["done"], json!(null)),
        api_step("Api", "POST", "/api", &[]),
    ]);
    let (a, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        steps,
        handlers(vec![
            (
                "Work",
                Arc::new(|_: &Value| json!({"ok": true, "delay_ms": 300, "emits": [{"topic": "done", "data": {}}]})),
            ),
            (
                "Api",
                Arc::new(|_: &Value| json!({"ok": true, "delay_ms": 400, "output": {"status": 200, "body": "real"}})),
            ),
        ]),
    )
    .await;
    // B1: same project, no steps. B2: another project.
    let (b1, _) = FakeWorker::connect(&rt.ws_url(), TOKEN, json!([]), handlers(vec![])).await;
    let (b2, _) = FakeWorker::connect(&rt.ws_url(), TOKEN_OTHER, json!([]), handlers(vec![])).await;

    const N: usize = 40;
    for n in 0..N {
        rt.engine
            .emit(&scope, "job", json!({ "n": n }), None, format!("tr-{n}"))
            .await
            .unwrap();
    }
    // Guessed ids: the old `seq.attempt` form and API-looking ids, sprayed while A works.
    let stop = Arc::new(AtomicBool::new(false));
    let guessed: Vec<String> = (1..=N as u64 + 10)
        .flat_map(|s| (1..=2).map(move |a| format!("{s}.{a}")))
        .chain((0..20).map(|_| format!("api-{}", uuid::Uuid::new_v4())))
        .collect();
    // Ids A really holds, as if leaked: ownership, not only unguessability, must protect them.
    let leaked = |a: &FakeWorker| -> Vec<String> {
        a.invocations
            .lock()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect()
    };
    let api = {
        let addr = rt.addr;
        tokio::spawn(async move {
            let auth = format!("Bearer {ADMIN}");
            let headers = [("content-type", "application/json"), ("authorization", auth.as_str())];
            http(addr, "POST", "/api", &headers, b"{}").await
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while tokio::time::Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        let mut ids = guessed.clone();
        ids.extend(leaked(&a));
        forge(&b1, &ids);
        forge(&b2, &ids);
        tokio::time::sleep(Duration::from_millis(50)).await;
        if a.finished() > N {
            stop.store(true, Ordering::Relaxed);
        }
    }
    // Every one of A's deliveries completes normally and promptly (not at lease expiry), exactly once.
    let store = rt.store.clone();
    let mut settled = false;
    for _ in 0..100 {
        let stats = store.queue_stats(&scope).await.unwrap();
        let work = stats.iter().find(|s| s.step == "Work").cloned().unwrap_or_default();
        if work.ready == 0 && work.in_flight == 0 && work.delayed == 0 {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        settled,
        "A's deliveries completed: {:?}",
        store.queue_stats(&scope).await.unwrap()
    );
    assert_eq!(a.invocations_of("Work").len(), N, "no delivery ran twice");
    assert!(
        store.dead_letters(&scope, None, 10).await.unwrap().is_empty(),
        "nothing dead-lettered"
    );
    let r = api.await.unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.body, b"real", "the API caller got A's response");
    // Nothing the forgeries said was stored: no forged event, log line or state.
    let forged_events: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM \"{}\".queue WHERE data->>'forged' = 'true'",
        rt.schema
    ))
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(forged_events, 0, "no forged emit was published");
    for s in [scope.clone(), Scope::new("default", "other")] {
        let logs = store
            .query_logs(
                &s,
                &cfp_store::logs::LogQuery {
                    search: Some("forged".into()),
                    limit: 100,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(logs.is_empty(), "no forged log line in {s:?}: {logs:?}");
        assert_eq!(
            store.state_get(&s, "g", "forged").await.unwrap(),
            None,
            "no forged state in {s:?}"
        );
    }
    drop((b1, b2));
    rt.stop().await;
}

/// Waits until `step` of the main project has nothing ready, delayed or in flight.
async fn settled(rt: &Runtime, step: &str, secs: u64) -> bool {
    let until = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < until {
        let stats = rt.store.queue_stats(&main_scope()).await.unwrap();
        let s = stats.iter().find(|s| s.step == step).cloned().unwrap_or_default();
        if s.ready == 0 && s.in_flight == 0 && s.delayed == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

#[tokio::test]
async fn a_nul_in_one_emit_does_not_hold_up_the_deliveries_of_its_batch() {
    let rt = start(RuntimeOptions::default()).await;
    let scope = main_scope();
    let steps = json!([
        event_step("Work", &["job"], &["next"], json!({"queue": {"concurrency": 32}})),
        event_step("Sink", &["next"], &[], json!(null)),
    ]);
    let (w, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        steps,
        handlers(vec![
            (
                "Work",
                Arc::new(|f: &Value| {
                    let n = f["input"]["data"]["n"].as_u64().unwrap();
                    let data = if n == 7 {
                        json!({"s": "a\u{0}b"})
                    } else {
                        json!({ "n": n })
                    };
                    // Every result arrives together, so the completer commits them as one batch.
                    json!({"ok": true, "delay_ms": 300, "emits": [{"topic": "next", "data": data}]})
                }),
            ),
            ("Sink", Arc::new(|_: &Value| json!({"ok": true}))),
        ]),
    )
    .await;
    for n in 0..20u64 {
        rt.engine
            .emit(&scope, "job", json!({ "n": n }), None, format!("tr-{n}"))
            .await
            .unwrap();
    }
    assert!(
        eventually(5, || w.invocations_of("Sink").len() == 19).await,
        "the 19 innocent deliveries completed promptly: {} sinks ran",
        w.invocations_of("Sink").len()
    );
    assert!(settled(&rt, "Work", 5).await, "nothing of Work waits on a lease");
    let dead = rt.store.dead_letters(&scope, None, 10).await.unwrap();
    assert_eq!(
        dead.len(),
        1,
        "the poisoned delivery alone failed, not retried: {dead:?}"
    );
    assert_eq!(dead[0].data["n"], 7);
    let message = dead[0].error["message"].as_str().unwrap();
    assert!(
        message.contains("emits[0].data.s") && message.contains("U+0000"),
        "{message}"
    );
    assert_eq!(w.invocations_of("Work").len(), 20, "no delivery ran twice");
    rt.stop().await;
}

#[tokio::test]
async fn a_nul_in_an_error_message_retries_on_time() {
    let rt = start(RuntimeOptions::default()).await;
    let scope = main_scope();
    let steps = json!([event_step("Flaky", &["job"], &[], json!(null))]);
    let (w, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        steps,
        handlers(vec![(
            "Flaky",
            Arc::new(|f: &Value| {
                if f["attempt"] == 1 {
                    json!({"ok": false, "error": {"message": "bad\u{0}byte", "name": "E\u{0}", "stack": "at\u{0}x"}})
                } else {
                    json!({"ok": true})
                }
            }),
        )]),
    )
    .await;
    rt.engine
        .emit(&scope, "job", json!({}), None, "tr-nul".into())
        .await
        .unwrap();
    // retry_base_ms is 20 in the harness: the retry follows within a second, not at lease expiry (900 s).
    assert!(
        eventually(3, || w.invocations_of("Flaky").len() == 2).await,
        "the failed attempt was retried on time"
    );
    assert!(settled(&rt, "Flaky", 5).await);
    // Log lines are written in batches, after the deliveries settle: wait for the line (up to 3 s).
    let until = tokio::time::Instant::now() + Duration::from_secs(3);
    let logs = loop {
        let logs = rt
            .store
            .query_logs(
                &scope,
                &cfp_store::logs::LogQuery {
                    trace_id: Some("tr-nul".into()),
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        if logs.iter().any(|l| l.msg.contains("bad\u{FFFD}byte")) || tokio::time::Instant::now() >= until {
            break logs;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert!(
        logs.iter().any(|l| l.msg.contains("bad\u{FFFD}byte")),
        "the retry's log line keeps the message, NUL replaced: {logs:?}"
    );
    rt.stop().await;
}

#[tokio::test]
async fn a_log_batch_with_one_nul_line_keeps_every_other_line_and_the_spans() {
    let rt = start(RuntimeOptions::default()).await;
    let scope = main_scope();
    let steps = json!([event_step("Talk", &["job"], &[], json!(null))]);
    let (w, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        steps,
        handlers(vec![("Talk", Arc::new(|_: &Value| json!({"never": true})))]),
    )
    .await;
    rt.engine
        .emit(&scope, "job", json!({}), None, "tr-logs".into())
        .await
        .unwrap();
    assert!(eventually(5, || w.invocations_of("Talk").len() == 1).await);
    let inv = w.invocations_of("Talk")[0]["id"].as_str().unwrap().to_string();
    let mut entries: Vec<Value> = (0..10)
        .map(|i| {
            json!({"ts": 1_000 + i, "level": "info", "msg": format!("line {i}"), "traceId": "tr-logs",
                        "step": "Talk", "invocationId": inv})
        })
        .collect();
    entries[4]["msg"] = json!("line 4 \u{0} with a NUL");
    entries[6]["data"] = json!({"k\u{0}": "v\u{0}"});
    // The lines and the attempt's span reach the log writer together (one batch).
    w.send(json!({"type": "log", "entries": entries}));
    w.send(json!({"type": "result", "id": inv, "ok": true}));
    let store = rt.store.clone();
    let q = cfp_store::logs::LogQuery {
        trace_id: Some("tr-logs".into()),
        limit: 100,
        ..Default::default()
    };
    let mut lines = Vec::new();
    for _ in 0..100 {
        lines = store.query_logs(&scope, &q).await.unwrap();
        if lines.iter().filter(|l| l.msg.starts_with("line ")).count() == 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let mine: Vec<_> = lines.iter().filter(|l| l.msg.starts_with("line ")).collect();
    assert_eq!(mine.len(), 10, "every line was stored: {lines:?}");
    assert!(mine.iter().any(|l| l.msg == "line 4 \u{FFFD} with a NUL"));
    assert!(mine.iter().any(|l| l.data == Some(json!({"k\u{FFFD}": "v\u{FFFD}"}))));
    let mut spans = Vec::new();
    for _ in 0..50 {
        spans = store.trace_spans(&scope, "tr-logs").await.unwrap();
        if !spans.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(spans.len(), 1, "the span was stored");
    rt.stop().await;
}

/// Rows of the main project's `logs` whose message starts with `prefix`.
async fn count_logs(rt: &Runtime, prefix: &str) -> i64 {
    sqlx::query_scalar(&format!(
        "SELECT count(*) FROM \"{}\".logs WHERE project_id = 'default' AND msg LIKE $1",
        rt.schema
    ))
    .bind(format!("{prefix}%"))
    .fetch_one(rt.store.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn a_log_flood_is_bounded_and_the_drops_are_counted_and_reported() {
    let mut opts = RuntimeOptions::default();
    opts.engine.max_queued_log_lines = 100;
    let rt = start(opts).await;
    let (w, _) = FakeWorker::connect(&rt.ws_url(), TOKEN, json!([]), handlers(vec![])).await;
    let entries: Vec<Value> = (0..5_000)
        .map(|i| json!({"ts": 1_000 + i, "level": "info", "msg": format!("flood {i}")}))
        .collect();
    w.send(json!({"type": "log", "entries": entries}));
    let scope = main_scope();
    let q = cfp_store::logs::LogQuery {
        search: Some("were dropped".into()),
        limit: 10,
        ..Default::default()
    };
    let mut report = Vec::new();
    for _ in 0..150 {
        report = rt.store.query_logs(&scope, &q).await.unwrap();
        if !report.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(report.len(), 1, "one warning line says how many were dropped");
    assert!(
        report[0]
            .msg
            .starts_with("4900 log lines of worker `fake` were dropped"),
        "{}",
        report[0].msg
    );
    assert_eq!(report[0].level, "warn");
    assert_eq!(
        count_logs(&rt, "flood ").await,
        100,
        "only the worker's share was queued"
    );
    // Once written, the share is free again.
    w.send(json!({"type": "log", "entries": [{"ts": 1, "level": "info", "msg": "after the flood"}]}));
    let mut after = 0;
    for _ in 0..100 {
        after = count_logs(&rt, "after the flood").await;
        if after == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(after, 1);
    rt.stop().await;
}

#[tokio::test]
async fn calls_beyond_the_worker_s_limit_are_answered_too_many_calls_at_once() {
    let mut opts = RuntimeOptions::default();
    opts.engine.max_calls_per_worker = 4;
    let rt = start(opts).await;
    let (mut w, _) = FakeWorker::connect(&rt.ws_url(), TOKEN, json!([]), handlers(vec![])).await;
    // Hold every database connection: calls that got a place wait for one.
    // (The queue listener keeps one for itself.)
    let mut held = Vec::new();
    while let Ok(Ok(c)) = tokio::time::timeout(Duration::from_millis(500), rt.store.pool().acquire()).await {
        held.push(c);
    }
    assert!(held.len() >= 6, "held {} connections", held.len());
    for id in 0..20 {
        w.send(json!({"type": "call", "id": id, "method": "state.get", "params": {"group": "g", "key": "k"}}));
    }
    let mut refused = Vec::new();
    for _ in 0..16 {
        let r = tokio::time::timeout(Duration::from_secs(2), w.expect("reply"))
            .await
            .expect("calls over the limit are answered at once");
        assert_eq!(r["ok"], false, "{r}");
        assert_eq!(r["error"]["code"], "too_many_calls", "{r}");
        refused.push(r["id"].as_u64().unwrap());
    }
    assert_eq!(refused, (4..20).collect::<Vec<u64>>());
    drop(held);
    for _ in 0..4 {
        let r = w.expect("reply").await;
        assert_eq!(r["ok"], true, "{r}");
    }
    // The places are free again.
    w.send(json!({"type": "call", "id": 99, "method": "state.get", "params": {"group": "g", "key": "k"}}));
    let r = w.expect("reply").await;
    assert_eq!((r["id"].as_u64(), r["ok"].as_bool()), (Some(99), Some(true)), "{r}");
    rt.stop().await;
}

#[tokio::test]
async fn registrations_beyond_the_step_cap_are_refused_whole() {
    assert_eq!(cfp_engine::EngineConfig::default().max_steps_per_registration, 1_000);
    let mut opts = RuntimeOptions::default();
    opts.engine.max_steps_per_registration = 10;
    let rt = start(opts).await;
    let (mut w, _) = FakeWorker::connect(&rt.ws_url(), TOKEN, json!([]), handlers(vec![])).await;
    let steps = |n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| event_step(&format!("S{i}"), &["t"], &[], json!(null)))
            .collect()
    };
    let stream = json!({"name": "todo", "file": "steps/todo.stream.ts", "schema": {"type": "object"}});
    w.send(json!({"type": "register", "steps": steps(11), "streams": [stream]}));
    let e = w.expect("error").await;
    assert_eq!(e["code"], "too_many_steps", "{e}");
    assert!(e["message"].as_str().unwrap().contains("at most 10"), "{e}");
    assert!(
        rt.engine.manifest(&main_scope(), "S0").is_none(),
        "no step was registered"
    );
    let defs: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM \"{}\".stream_defs", rt.schema))
        .fetch_one(rt.store.pool())
        .await
        .unwrap();
    assert_eq!(defs, 0, "nor its stream");
    w.send(json!({"type": "register", "steps": steps(10), "streams": [stream]}));
    let r = w.expect("registered").await;
    assert_eq!(r["steps"].as_array().unwrap().len(), 10, "{r}");
    assert_eq!(r["errors"], json!([]), "{r}");
    let defs: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM \"{}\".stream_defs", rt.schema))
        .fetch_one(rt.store.pool())
        .await
        .unwrap();
    assert_eq!(defs, 1, "a registration within the cap stores its stream");
    rt.stop().await;
}

#[tokio::test]
async fn workers_beyond_the_project_cap_are_refused() {
    assert_eq!(cfp_engine::EngineConfig::default().max_workers_per_project, 64);
    let mut opts = two_projects();
    opts.engine.max_workers_per_project = 2;
    let rt = start(opts).await;
    let (w1, _) = FakeWorker::connect(&rt.ws_url(), TOKEN, json!([]), handlers(vec![])).await;
    let (_w2, _) = FakeWorker::connect(&rt.ws_url(), TOKEN, json!([]), handlers(vec![])).await;
    let (_, refused) = FakeWorker::connect(&rt.ws_url(), TOKEN, json!([]), handlers(vec![])).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["code"], "too_many_workers", "{refused}");
    assert_eq!(rt.engine.worker_count(), 2);
    // Another project is not affected, and a place freed is taken again.
    let (_, ok) = FakeWorker::connect(&rt.ws_url(), TOKEN_OTHER, json!([]), handlers(vec![])).await;
    assert_eq!(ok["type"], "registered", "{ok}");
    w1.kill();
    assert!(eventually(5, || rt.engine.worker_count() == 2).await);
    let (_, ok) = FakeWorker::connect(&rt.ws_url(), TOKEN, json!([]), handlers(vec![])).await;
    assert_eq!(ok["type"], "registered", "{ok}");
    rt.stop().await;
}

#[tokio::test]
async fn idle_steps_back_off_their_database_poll_and_still_run_work_at_once() {
    let mut opts = RuntimeOptions::default();
    opts.engine.poll_interval = Duration::from_millis(100);
    let rt = start(opts).await;
    let mut steps: Vec<Value> = (0..20)
        .map(|i| event_step(&format!("Idle{i}"), &[&format!("t{i}")], &[], json!(null)))
        .collect();
    steps.push(event_step(
        "Later",
        &["later"],
        &[],
        json!({"queue": {"delaySeconds": 1}}),
    ));
    let ok: Handler = Arc::new(|_: &Value| json!({"ok": true}));
    let all: Vec<(String, Handler)> = (0..20)
        .map(|i| (format!("Idle{i}"), ok.clone()))
        .chain([("Later".to_string(), ok.clone())])
        .collect();
    let (w, _) = FakeWorker::connect(&rt.ws_url(), TOKEN, json!(steps), all.into_iter().collect()).await;
    let before = rt.engine.idle_claims();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let polls = rt.engine.idle_claims() - before;
    eprintln!("21 idle steps: {polls} idle claims in 3 s");
    // Polling every 100 ms, 21 steps would claim ~630 times in 3 s; backing off (100, 200, 400, … ms) ~5 each.
    assert!(polls <= 21 * 7, "idle steps polled the database {polls} times in 3 s");
    // New work still runs at once (a local wake-up), and a deferred delivery on time.
    let scope = main_scope();
    let t0 = std::time::Instant::now();
    rt.engine
        .emit(&scope, "t3", json!({}), None, "tr-3".into())
        .await
        .unwrap();
    assert!(eventually(2, || w.invocations_of("Idle3").len() == 1).await);
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "ran after {:?}",
        t0.elapsed()
    );
    let t0 = std::time::Instant::now();
    rt.engine
        .emit(&scope, "later", json!({}), None, "tr-later".into())
        .await
        .unwrap();
    assert!(eventually(4, || w.invocations_of("Later").len() == 1).await);
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(950) && waited < Duration::from_millis(1_600),
        "delaySeconds 1 ran after {waited:?}"
    );
    rt.stop().await;
}

#[tokio::test]
async fn a_result_the_database_refuses_fails_alone_and_the_rest_of_its_batch_commits() {
    // Not NUL this time: a messageGroupId too large for the queue's group index (PostgreSQL refuses index rows
    // over ~2.7 KB), which only the database finds out. The batch falls back to one commit per delivery.
    let rt = start(RuntimeOptions::default()).await;
    let scope = main_scope();
    let steps = json!([
        event_step("Work", &["job"], &["next"], json!({"queue": {"concurrency": 32}})),
        event_step("Sink", &["next"], &[], json!(null)),
    ]);
    // Random, so that compression cannot shrink it under the limit.
    let huge: String = (0..700).map(|_| uuid::Uuid::new_v4().simple().to_string()).collect();
    let (w, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        steps,
        handlers(vec![
            (
                "Work",
                Arc::new(move |f: &Value| {
                    let n = f["input"]["data"]["n"].as_u64().unwrap();
                    let mut emit = json!({"topic": "next", "data": { "n": n }});
                    if n == 3 {
                        emit["messageGroupId"] = json!(huge.clone());
                    }
                    json!({"ok": true, "delay_ms": 300, "emits": [emit]})
                }),
            ),
            ("Sink", Arc::new(|_: &Value| json!({"ok": true}))),
        ]),
    )
    .await;
    for n in 0..20u64 {
        rt.engine
            .emit(&scope, "job", json!({ "n": n }), None, format!("tr-{n}"))
            .await
            .unwrap();
    }
    assert!(
        eventually(5, || w.invocations_of("Sink").len() == 19).await,
        "the 19 innocent deliveries completed promptly: {} sinks ran",
        w.invocations_of("Sink").len()
    );
    assert!(settled(&rt, "Work", 5).await, "nothing of Work waits on a lease");
    let dead = rt.store.dead_letters(&scope, None, 10).await.unwrap();
    assert_eq!(
        dead.len(),
        1,
        "the refused delivery alone failed, not retried: {dead:?}"
    );
    assert_eq!(dead[0].data["n"], 3);
    assert_eq!(dead[0].error["name"], "UnstorableResultError", "{}", dead[0].error);
    assert_eq!(w.invocations_of("Work").len(), 20, "no delivery ran twice");
    rt.stop().await;
}
