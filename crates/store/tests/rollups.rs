//! Rollups are exact: every accepted attempt end is counted once — under retries, a late result of an expired
//! lease, a runtime that stopped (reaped leases), a duplicate completion, and several replicas rolling up at once —
//! and so are the usage counters folded from them; and the step's SLO, the step file's or an override, is what
//! the evaluator reads.

use cfp_protocol::StepManifest;
use cfp_store::queue::{Completion, FailOutcome, NewEvent};
use cfp_store::rollups::{AttemptEnd, Granularity, Outcome, LATENCY_BOUNDS_MS};
use cfp_store::{Scope, Store};
use cfp_testkit::{drop_schema, fresh_store};
use serde_json::json;

fn step(name: &str, max_retries: u32, slo: Option<serde_json::Value>) -> StepManifest {
    let mut m = json!({
        "name": name, "type": "event", "subscribes": ["t"], "emits": [],
        "infrastructure": {"queue": {"maxRetries": max_retries}}
    });
    if let Some(slo) = slo {
        m["slo"] = slo;
    }
    serde_json::from_value(m).unwrap()
}

fn event() -> NewEvent {
    NewEvent {
        event_id: uuid::Uuid::new_v4(),
        topic: "t".into(),
        data: json!({}),
        group_id: None,
        trace_id: "trace".into(),
        traceparent: None,
        tracestate: None,
    }
}

fn end(outcome: Outcome, ms: f64) -> AttemptEnd {
    AttemptEnd {
        outcome,
        duration_ms: Some(ms),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_attempt_is_counted_once() {
    let (store, schema) = fresh_store(16).await;
    let scope = Scope::new("t1", "p1");
    store.replace_steps(&scope, &[step("a", 1, None)]).await.unwrap();
    store
        .publish(&scope, &(0..40).map(|_| event()).collect::<Vec<_>>())
        .await
        .unwrap();
    let claimed = store
        .claim(&scope, "a", false, 100, 60, "rt-1", chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(claimed.len(), 40);
    let (ok, rest) = claimed.split_at(20);
    let (failing, rest) = rest.split_at(10);
    let (timing_out, lost) = rest.split_at(5);
    // 20 succeed (10 ms each); each completion is sent twice: the second is not accepted.
    let done: Vec<Completion> = ok
        .iter()
        .map(|c| Completion {
            scope: scope.clone(),
            step: "a".into(),
            seq: c.seq,
            attempt: c.attempt,
            emits: vec![],
            duration_ms: Some(10.0),
        })
        .collect();
    assert_eq!(store.complete(&done).await.unwrap().0.len(), 20);
    assert_eq!(store.complete(&done).await.unwrap().0.len(), 0);
    // 10 handler errors (300 ms) retried, 5 timeouts (2 s) retried.
    for c in failing {
        let o = store
            .fail(c.seq, c.attempt, &json!({}), Some(0), end(Outcome::HandlerError, 300.0))
            .await
            .unwrap();
        assert_eq!(o, FailOutcome::Retrying);
    }
    for c in timing_out {
        store
            .fail(c.seq, c.attempt, &json!({}), Some(0), end(Outcome::Timeout, 2000.0))
            .await
            .unwrap();
    }
    // 5 leases belong to a runtime that stopped: reaped (lost worker), and its late results are refused.
    let lost_seqs: Vec<i64> = lost.iter().map(|c| c.seq).collect();
    sqlx::query("UPDATE queue SET lease_until = now() - interval '1 second' WHERE seq = ANY($1)")
        .bind(&lost_seqs)
        .execute(store.pool())
        .await
        .unwrap();
    store.reap_leases(15, chrono::Utc::now()).await.unwrap();
    for c in lost {
        let late = store
            .fail(c.seq, c.attempt, &json!({}), Some(0), end(Outcome::HandlerError, 1.0))
            .await
            .unwrap();
        assert_eq!(late, FailOutcome::Stale);
    }
    // The 20 retried: second attempts. Handler errors spend their last attempt (max 1 retry): dead-lettered.
    let again = store
        .claim(&scope, "a", false, 100, 60, "rt-1", chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(again.len(), 20);
    for c in &again {
        if failing.iter().any(|f| f.seq == c.seq) {
            let o = store
                .fail(c.seq, c.attempt, &json!({}), Some(0), end(Outcome::HandlerError, 40.0))
                .await
                .unwrap();
            assert_eq!(o, FailOutcome::DeadLettered);
        } else {
            let c = Completion {
                scope: scope.clone(),
                step: "a".into(),
                seq: c.seq,
                attempt: c.attempt,
                emits: vec![],
                duration_ms: Some(4.0),
            };
            assert_eq!(store.complete(&[c]).await.unwrap().0.len(), 1);
        }
    }
    // Several replicas roll up at once, in small batches.
    let pending = store.outcomes_pending().await.unwrap();
    assert_eq!(pending, 20 + 10 + 5 + 5 + 20);
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let s = store.clone();
            tokio::spawn(async move {
                let mut n = 0;
                loop {
                    let k = s.roll_up(3).await.unwrap();
                    n += k;
                    if k == 0 {
                        return n;
                    }
                }
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total as i64, pending);
    assert_eq!(store.outcomes_pending().await.unwrap(), 0);
    let now = chrono_now_ms(&store).await;
    for g in [Granularity::Minute, Granularity::Hour] {
        let rows = store
            .rollups(&scope, Some("a"), now - 86_400_000, now + 60_000, g, 100)
            .await
            .unwrap();
        let sum = |f: fn(&cfp_store::rollups::Rollup) -> i64| rows.iter().map(f).sum::<i64>();
        assert_eq!(sum(|r| r.total), 60);
        assert_eq!(sum(|r| r.ok), 20 + 10);
        assert_eq!(sum(|r| r.handler_error), 10);
        assert_eq!(sum(|r| r.timeout), 5);
        assert_eq!(sum(|r| r.lost_worker), 5);
        assert_eq!(sum(|r| r.dead_lettered), 10);
        assert_eq!(sum(|r| r.latency_count), 55, "lost leases have no duration");
        let le = |ms: u32| {
            let i = LATENCY_BOUNDS_MS.iter().position(|b| *b == ms).unwrap();
            rows.iter().map(|r| r.latency_le[i]).sum::<i64>()
        };
        assert_eq!(le(5), 10);
        assert_eq!(le(10), 30);
        assert_eq!(le(50), 40);
        assert_eq!(le(300), 50);
        assert_eq!(le(2000), 55);
    }
    drop_schema(store, &schema).await;
}

async fn chrono_now_ms(store: &Store) -> i64 {
    sqlx::query_scalar("SELECT (extract(epoch from now()) * 1000)::int8")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_project_override_replaces_or_switches_off_the_step_files_slo() {
    let (store, schema) = fresh_store(16).await;
    let scope = Scope::new("t1", "p1");
    let file_slo = json!({"errors": {"target": 0.99}});
    store
        .replace_steps(&scope, &[step("a", 3, Some(file_slo.clone())), step("b", 3, None)])
        .await
        .unwrap();
    let defs = store.slo_definitions(Some(&scope)).await.unwrap();
    assert_eq!(defs.len(), 1);
    assert_eq!(
        (defs[0].step.as_str(), defs[0].source, &defs[0].spec),
        ("a", "step", &file_slo)
    );
    let over = json!({"latency": {"thresholdMs": 100, "target": 0.9}});
    store
        .set_slo_override(&scope, "b", Some(&over), "user:u1")
        .await
        .unwrap();
    store.set_slo_override(&scope, "a", None, "user:u1").await.unwrap();
    let defs = store.slo_definitions(Some(&scope)).await.unwrap();
    assert_eq!(defs.len(), 1, "a is switched off");
    assert_eq!((defs[0].step.as_str(), defs[0].source), ("b", "override"));
    // Another project sees none of it; a deleted project's SLOs are not evaluated.
    assert!(store
        .slo_definitions(Some(&Scope::new("t1", "p2")))
        .await
        .unwrap()
        .is_empty());
    store.mark_project_deleted(&scope).await.unwrap();
    assert!(store.slo_definitions(None).await.unwrap().is_empty());
    assert!(store.delete_slo_override(&scope, "a").await.unwrap());
    assert!(!store.delete_slo_override(&scope, "a").await.unwrap());
    drop_schema(store, &schema).await;
}

/// Usage counters (docs/usage.md) come from the same rows: a delivery that fails twice and then succeeds is one
/// invocation (three attempts); a lost lease retried is one; a dead letter is one; a duplicate completion, a late
/// result and a re-published event id count nothing; metered counts (stream messages, refusals) are flushed;
/// a tenant's usage sums its projects and no other tenant's.
#[tokio::test]
async fn usage_counts_each_finished_delivery_once() {
    use cfp_store::usage::{UsageGranularity, UsageScope};
    let (store, schema) = fresh_store(16).await;
    let scope = Scope::new("t1", "p1");
    let sibling = Scope::new("t1", "p2");
    let stranger = Scope::new("t2", "p1");
    for s in [&scope, &sibling, &stranger] {
        store.replace_steps(s, &[step("a", 2, None)]).await.unwrap();
    }
    let payload = json!({"order": "x".repeat(100)});
    let bytes = serde_json::to_vec(&payload).unwrap().len() as i64;
    let mut events: Vec<NewEvent> = (0..3).map(|_| event()).collect();
    for e in &mut events {
        e.data = payload.clone();
    }
    store.publish(&scope, &events).await.unwrap();
    store.publish(&scope, &events[..1]).await.unwrap(); // the same event id again: not a new event
    store.publish(&sibling, &[event()]).await.unwrap();
    store.publish(&stranger, &[event(), event()]).await.unwrap();
    let ok = |c: &cfp_store::queue::Claimed, ms: f64| Completion {
        scope: scope.clone(),
        step: "a".into(),
        seq: c.seq,
        attempt: c.attempt,
        emits: vec![event()], // published with the completion: counted with it
        duration_ms: Some(ms),
    };
    // Attempt 1: e0 fails, e1 fails, e2's lease is lost (its runtime stopped).
    let first = store
        .claim(&scope, "a", false, 10, 60, "rt-1", chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(first.len(), 3);
    for c in &first[..2] {
        store
            .fail(c.seq, c.attempt, &json!({}), Some(0), end(Outcome::HandlerError, 100.0))
            .await
            .unwrap();
    }
    sqlx::query("UPDATE queue SET lease_until = now() - interval '1 second' WHERE seq = $1")
        .bind(first[2].seq)
        .execute(store.pool())
        .await
        .unwrap();
    store.reap_leases(15, chrono::Utc::now()).await.unwrap();
    let late = ok(&first[2], 1.0);
    assert!(
        store.complete(&[late]).await.unwrap().0.is_empty(),
        "a late result is refused"
    );
    // Attempt 2: e0 and e1 fail again, e2 succeeds (its completion sent twice).
    let second = store
        .claim(&scope, "a", false, 10, 60, "rt-1", chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(second.len(), 3);
    for c in &second {
        if c.seq == first[2].seq {
            let done = ok(c, 20.0);
            assert_eq!(store.complete(&[done.clone(), done]).await.unwrap().0.len(), 1);
        } else {
            store
                .fail(c.seq, c.attempt, &json!({}), Some(0), end(Outcome::HandlerError, 100.0))
                .await
                .unwrap();
        }
    }
    // Attempt 3 (the last): e0 succeeds, e1 is dead-lettered.
    let third = store
        .claim(&scope, "a", false, 10, 60, "rt-1", chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(
        third.len(),
        2 + 1,
        "e0, e1 and the delivery of e2's emit (claimed, never finished)"
    );
    for c in &third {
        if c.seq == first[0].seq {
            store.complete(&[ok(c, 30.0)]).await.unwrap();
        } else if c.seq == first[1].seq {
            let o = store
                .fail(c.seq, c.attempt, &json!({}), Some(0), end(Outcome::HandlerError, 100.0))
                .await
                .unwrap();
            assert_eq!(o, FailOutcome::DeadLettered);
        }
    }
    // Metered in memory: stream messages and refusals, flushed.
    for _ in 0..4 {
        store.usage_meter().stream_message(&scope);
    }
    store.usage_meter().refused(&scope, 429);
    store.usage_meter().refused(&scope, 413);
    store.usage_meter().refused(&sibling, 504);
    store.usage_meter().refused(&scope, 404); // not a limit: ignored
    assert!(store.flush_usage().await.unwrap() >= 2);
    assert_eq!(store.flush_usage().await.unwrap(), 0, "flushed once");
    while store.roll_up(2).await.unwrap() > 0 {}
    assert_eq!(store.usage_pending().await.unwrap(), 0);
    assert_eq!(store.roll_up(100).await.unwrap(), 0, "nothing is counted twice");

    let now = chrono_now_ms(&store).await;
    let read = |s: UsageScope, g| {
        let store = store.clone();
        async move {
            let rows = store
                .usage(&s, g, now - 2 * 86_400_000, now + 86_400_000, 100)
                .await
                .unwrap();
            let mut t = cfp_store::usage::Counts::default();
            rows.iter().for_each(|r| t.add(&r.counts));
            t
        }
    };
    for g in [UsageGranularity::Hour, UsageGranularity::Day] {
        let p = read(UsageScope::Project(scope.clone()), g).await;
        assert_eq!(
            p.invocations, 3,
            "e0 (3 attempts), e1 (dead-lettered), e2 (lost, then ok)"
        );
        assert_eq!(p.attempts, 3 + 3 + 2);
        assert_eq!(p.exec_ms, 5.0 * 100.0 + 20.0 + 30.0);
        assert_eq!(p.events, 3 + 2, "3 published, 2 emitted by accepted completions");
        assert_eq!(p.payload_bytes, 3 * bytes + 2 * 2);
        assert_eq!(p.stream_messages, 4);
        assert_eq!((p.refused_413, p.refused_429, p.refused_504), (1, 1, 0));
        let t = read(UsageScope::Tenant("t1".into()), g).await;
        assert_eq!(t.events, p.events + 1, "the tenant sums its projects");
        assert_eq!(t.refused_504, 1);
        let other = read(UsageScope::Tenant("t2".into()), g).await;
        assert_eq!((other.events, other.stream_messages, other.invocations), (2, 0, 0));
    }
    drop_schema(store, &schema).await;
}
