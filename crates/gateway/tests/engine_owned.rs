//! What the engine owns rather than the gateway (issue 8): dead-letter replay through the engine reaching another
//! replica at once, cron, leases and handler timeouts driven by the injected clock, the settings follower started outside the router, and
//! every task of the engine stopped when its shutdown returns.

#![allow(clippy::field_reassign_with_default)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cfp_engine::clock::ManualClock;
use cfp_engine::settings::{ProjectSwitches, SettingsSource};
use cfp_store::Scope;
use common::*;
use serde_json::{json, Value};

fn scope() -> Scope {
    Scope::new("default", "default")
}

#[tokio::test]
async fn a_replayed_dead_letter_is_claimed_at_once_by_the_replica_hosting_its_step() {
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    // Replica A serves the runtime API and hosts nothing; replica B hosts the step and polls only every 30 s.
    let mut a = RuntimeOptions {
        schema: Some(schema.clone()),
        ..Default::default()
    };
    a.gateway.dev_endpoints = true;
    let a = start(a).await;
    let mut b = RuntimeOptions {
        schema: Some(schema.clone()),
        ..Default::default()
    };
    b.engine.poll_interval = Duration::from_secs(30);
    b.engine.max_idle_poll = Duration::from_secs(30);
    let b = start(b).await;

    let fail = Arc::new(AtomicBool::new(true));
    let f2 = fail.clone();
    let steps = json!([event_step("Once", &["job"], &[], json!(null))]);
    let (w, _) = FakeWorker::connect(
        &b.ws_url(),
        TOKEN,
        steps,
        handlers(vec![(
            "Once",
            Arc::new(move |_: &Value| {
                if f2.load(Ordering::SeqCst) {
                    json!({"ok": false, "error": {"message": "bad input", "retriable": false}})
                } else {
                    json!({"ok": true})
                }
            }),
        )]),
    )
    .await;
    b.engine
        .emit(&scope(), "job", json!({"n": 1}), None, "trace-r".into())
        .await
        .unwrap();
    let mut dead = Vec::new();
    for _ in 0..100 {
        dead = a.store.dead_letters(&scope(), None, 10).await.unwrap();
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(dead.len(), 1, "the delivery was dead-lettered");
    fail.store(false, Ordering::SeqCst);
    // B's dispatcher is idle now: its next poll is 30 s away.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let auth = ("authorization", "Bearer test-admin-token-0123456789");
    let started = Instant::now();
    let r = http(
        a.addr,
        "POST",
        &format!("/__cfp/api/dlq/{}/replay", dead[0].id),
        &[auth],
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["step"], "Once");
    assert!(
        eventually(5, || w.invocations_of("Once").len() == 2).await,
        "replica B ran the replayed delivery"
    );
    let took = started.elapsed();
    eprintln!("replayed dead letter claimed by the other replica after {took:?}");
    assert!(
        took < Duration::from_secs(5),
        "claimed after {took:?}: woken by NOTIFY, not by the 30 s poll"
    );
    assert!(a.store.dead_letters(&scope(), None, 10).await.unwrap().is_empty());
    let r = http(a.addr, "DELETE", "/__cfp/api/dlq/999999", &[auth], b"").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "not_found");
    b.stop().await;
    a.stop().await;
}

/// Advances the clock one second at a time (letting the scheduler run between steps) until `until_ms`.
async fn advance_to(clock: &ManualClock, until_ms: i64) {
    use cfp_engine::clock::Clock;
    while clock.now().timestamp_millis() < until_ms {
        clock.advance(Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn cron_ticks_follow_the_injected_clock_not_the_wall_clock() {
    const T0: i64 = 1_767_225_605_000; // 2026-01-01T00:00:05Z
    let clock = ManualClock::at_millis(T0);
    let mut opts = RuntimeOptions::default();
    opts.engine.clock = Arc::new(clock.clone());
    let rt = start(opts).await;
    let steps =
        json!([{"name": "Tick", "type": "cron", "file": "steps/tick.step.ts", "cron": "*/10 * * * * *", "emits": []}]);
    let (w, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        steps,
        handlers(vec![("Tick", Arc::new(|_: &Value| json!({"ok": true})))]),
    )
    .await;
    let ticks = || -> Vec<String> {
        w.invocations_of("Tick")
            .iter()
            .map(|f| f["input"]["scheduledAt"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    // Two wall-clock seconds with the clock standing still: no tick.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        ticks().is_empty(),
        "no tick while the clock stands still: {:?}",
        ticks()
    );

    advance_to(&clock, T0 + 10_000).await;
    assert!(
        eventually(5, || ticks().len() == 1).await,
        "one tick by 00:00:15: {:?}",
        ticks()
    );
    assert_eq!(ticks(), vec!["2026-01-01T00:00:10.000Z"]);

    advance_to(&clock, T0 + 30_000).await;
    assert!(eventually(5, || ticks().len() == 3).await, "{:?}", ticks());
    assert_eq!(
        ticks(),
        vec![
            "2026-01-01T00:00:10.000Z",
            "2026-01-01T00:00:20.000Z",
            "2026-01-01T00:00:30.000Z"
        ]
    );
    rt.stop().await;
}

/// A lease expires by the engine's clock: with the clock standing still a delivery whose handler never answers
/// keeps its lease however long the wall clock runs; moved past the visibility timeout, the lease is taken back
/// and the delivery runs again (attempt 2) at once.
#[tokio::test]
async fn a_lease_expires_by_the_injected_clock() {
    use cfp_engine::clock::Clock;
    let clock = ManualClock::new(chrono::Utc::now());
    let mut opts = RuntimeOptions::default();
    opts.engine.clock = Arc::new(clock.clone());
    let rt = start(opts).await;
    // Visibility timeout 61 s (the handler's 60 s timeout + 1), far beyond this test's wall-clock time.
    let infra = json!({"handler": {"timeout": 60}, "queue": {"visibilityTimeout": 61, "maxRetries": 3}});
    let steps = json!([event_step("Hang", &["hang"], &[], infra)]);
    let (w, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        steps,
        handlers(vec![("Hang", Arc::new(|_: &Value| json!({"never": true})))]),
    )
    .await;
    rt.engine
        .emit(&scope(), "hang", json!({}), None, "trace-lease".into())
        .await
        .unwrap();
    assert!(
        eventually(5, || w.invocations_of("Hang").len() == 1).await,
        "attempt 1 runs"
    );
    let lease = || async {
        sqlx::query_as::<_, (i16, i32)>("SELECT status::int2, attempt FROM queue")
            .fetch_one(rt.store.pool())
            .await
            .unwrap()
    };
    // The reaper runs every 2 s of wall time: 3 s with the clock still take nothing back.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        lease().await,
        (1, 1),
        "still leased while the engine's clock stands still"
    );
    assert_eq!(w.invocations_of("Hang").len(), 1);

    clock.advance(Duration::from_secs(62));
    assert!(
        eventually(6, || w.invocations_of("Hang").len() == 2).await,
        "the expired lease was taken back and the delivery ran again"
    );
    let attempts: Vec<u64> = w
        .invocations_of("Hang")
        .iter()
        .map(|f| f["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, vec![1, 2]);
    assert!(
        clock.now() > chrono::Utc::now(),
        "the engine's clock is ahead of the wall clock"
    );
    rt.stop().await;
}

/// A handler's timeout is measured on the engine's clock: with the clock standing still a handler that never
/// answers is not timed out however long the wall clock runs; moved past the timeout, the engine's deadline watch
/// tells the worker to cancel it and the attempt fails as a timeout (dead-lettered: no retries).
#[tokio::test]
async fn a_handler_times_out_by_the_injected_clock() {
    let clock = ManualClock::new(chrono::Utc::now());
    let mut opts = RuntimeOptions::default();
    opts.engine.clock = Arc::new(clock.clone());
    let rt = start(opts).await;
    // Handler timeout 60 s; the lease (600 s) stays far beyond it, so only the deadline can end the attempt.
    let infra = json!({"handler": {"timeout": 60}, "queue": {"visibilityTimeout": 600, "maxRetries": 0}});
    let steps = json!([event_step("Hang", &["hang"], &[], infra)]);
    let (mut w, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        steps,
        handlers(vec![("Hang", Arc::new(|_: &Value| json!({"never": true})))]),
    )
    .await;
    rt.engine
        .emit(&scope(), "hang", json!({}), None, "trace-deadline".into())
        .await
        .unwrap();
    assert!(
        eventually(5, || w.invocations_of("Hang").len() == 1).await,
        "attempt 1 runs"
    );
    let id = w.invocations_of("Hang")[0]["id"].clone();
    // The deadline watch looks every 100 ms: 2 s of wall time with the clock still cancel nothing.
    tokio::time::sleep(Duration::from_secs(2)).await;
    while let Ok(f) = w.frames.try_recv() {
        assert_ne!(
            f["type"], "cancel",
            "cancelled while the engine's clock stood still: {f}"
        );
    }
    assert!(rt.store.dead_letters(&scope(), None, 10).await.unwrap().is_empty());

    clock.advance(Duration::from_secs(59));
    tokio::time::sleep(Duration::from_millis(500)).await;
    while let Ok(f) = w.frames.try_recv() {
        assert_ne!(f["type"], "cancel", "cancelled 1 s before the timeout: {f}");
    }
    clock.advance(Duration::from_secs(2));
    let cancel = w.expect("cancel").await;
    assert_eq!(cancel["id"], id);
    assert_eq!(cancel["reason"], "timeout");
    let mut dead = Vec::new();
    for _ in 0..100 {
        dead = rt.store.dead_letters(&scope(), None, 10).await.unwrap();
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(dead.len(), 1, "the timed-out attempt was dead-lettered");
    assert_eq!(dead[0].error["name"], "TimeoutError", "{}", dead[0].error);
    assert_eq!(w.invocations_of("Hang").len(), 1);
    rt.stop().await;
}

/// With shared limits (`--redis-url`), the engine's shutdown closes the counters: the spare place a replica keeps
/// after a lease ends reaches Redis before the shutdown returns (the upkeep that would give it back once idle is
/// stopped by then).
#[tokio::test]
async fn shutdown_gives_the_shared_places_back() {
    use cfp_engine::shared_limits::{Acquired, SharedCounters};
    const REDIS: &str = "redis://127.0.0.1:6379";
    let rt = start(RuntimeOptions::default()).await;
    rt.engine
        .share_limits(SharedCounters::new(REDIS, "rt-closing").unwrap());
    let shared = rt.engine.shared_limits().unwrap();
    let (tenant, project) = (uuid::Uuid::new_v4().to_string(), uuid::Uuid::new_v4().to_string());
    let limits = [Some(1000), None];
    let Acquired::Held(lease) = shared.acquire("rq", &tenant, &project, limits).await else {
        panic!("a place of 1000 (is Redis running at {REDIS}?)")
    };
    drop(lease);
    let other = SharedCounters::new(REDIS, "rt-other").unwrap();
    assert_eq!(
        other.room("rq", &tenant, &project, limits).await,
        Some(999),
        "the ended lease's place is kept spare by the replica"
    );
    rt.engine.shutdown(Duration::from_secs(1)).await;
    assert_eq!(
        other.room("rq", &tenant, &project, limits).await,
        Some(1000),
        "the shutdown gave the spare place back"
    );
    rt.stop().await;
}

/// The gateway's flush of authentication-failure windows is a task of the engine (so is its wait for the stream
/// service's tasks): a request refused just before the shutdown is queued for the audit chain when the shutdown
/// returns, and the flush has ended.
#[tokio::test]
async fn a_request_refused_just_before_shutdown_reaches_the_audit_queue() {
    let rt = start(RuntimeOptions::default()).await;
    // The flush is the engine's, and so is the wait for the stream service's tasks: building a router on an
    // engine adds both to the engine's tasks.
    let engine = cfp_engine::Engine::start(rt.store.clone(), cfp_engine::EngineConfig::default());
    let bare = engine.running_tasks();
    let _app = cfp_gateway::router(engine.clone(), cfp_gateway::GatewayConfig::default());
    assert_eq!(
        engine.running_tasks(),
        bare + 2,
        "the router's flush and stream-service wait are tasks of the engine"
    );
    engine.shutdown(Duration::from_secs(1)).await;
    assert_eq!(engine.running_tasks(), 0);

    let r = http(rt.addr, "GET", "/__cfp/api/state/g", &[], b"").await;
    assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
    rt.engine.shutdown(Duration::from_secs(1)).await;
    assert_eq!(rt.engine.running_tasks(), 0, "the flush ended with the engine");
    let n: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM audit_queue WHERE event LIKE '%\"auth.failure\"%')
              + (SELECT count(*) FROM audit_entries WHERE kind = 'auth.failure')",
    )
    .fetch_one(rt.store.pool())
    .await
    .unwrap();
    assert_eq!(n, 1, "the refusal's window was written before the shutdown returned");
    rt.stop().await;
}

/// Settings from a test's own feed.
struct FakeSettings {
    version: tokio::sync::watch::Sender<u64>,
    projects: Mutex<Vec<ProjectSwitches>>,
}

impl SettingsSource for FakeSettings {
    fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.version.subscribe()
    }
    fn take_deleted(&self) -> Vec<Scope> {
        Vec::new()
    }
    fn projects(&self) -> Vec<ProjectSwitches> {
        self.projects.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn the_settings_follower_applies_changes_and_stops_with_the_engine() {
    let rt = start(RuntimeOptions::default()).await;
    assert!(!rt.engine.strict_validation(&scope()));
    let feed = Arc::new(FakeSettings {
        version: tokio::sync::watch::channel(0).0,
        projects: Mutex::new(Vec::new()),
    });
    rt.engine.follow_settings(feed.clone(), Duration::from_secs(3600));
    *feed.projects.lock().unwrap() = vec![ProjectSwitches {
        scope: scope(),
        strict_validation: Some(true),
        max_executions: None,
        tenant_max_executions: None,
        version: 1,
        team: None,
        parts: vec![("strict_validation", "Some(true)".into())],
    }];
    feed.version.send_replace(1);
    assert!(
        eventually(5, || rt.engine.strict_validation(&scope())).await,
        "the follower applied the project's switch"
    );
    rt.engine.shutdown(Duration::from_secs(1)).await;
    assert_eq!(rt.engine.running_tasks(), 0, "the follower stopped with the engine");
    rt.stop().await;
}

/// Drops a flag when the task holding it ends (finished or aborted).
struct Alive(Arc<AtomicBool>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn no_task_of_the_engine_runs_after_its_shutdown_returns() {
    let rt = start(RuntimeOptions::default()).await;
    let steps = json!([event_step("Job", &["job"], &[], json!(null))]);
    let (_w, _) = FakeWorker::connect(
        &rt.ws_url(),
        TOKEN,
        steps,
        handlers(vec![("Job", Arc::new(|_: &Value| json!({"ok": true})))]),
    )
    .await;
    // A task that would never end on its own, and one that ends in time.
    let stuck = Arc::new(AtomicBool::new(true));
    let guard = Alive(stuck.clone());
    rt.engine.spawn(async move {
        let _guard = guard;
        std::future::pending::<()>().await;
    });
    let quick = Arc::new(AtomicBool::new(true));
    let guard = Alive(quick.clone());
    rt.engine.spawn(async move {
        let _guard = guard;
        tokio::time::sleep(Duration::from_millis(200)).await;
    });
    assert!(
        rt.engine.running_tasks() >= 8,
        "services, a dispatcher and the two tasks run"
    );
    // Shared limits (`--redis-url`; nothing listens on port 9, it connects lazily): their upkeep is the engine's.
    let before = rt.engine.running_tasks();
    let counters = cfp_engine::shared_limits::SharedCounters::new("redis://127.0.0.1:9", "rt-owned").unwrap();
    rt.engine.share_limits(counters);
    assert_eq!(
        rt.engine.running_tasks(),
        before + 1,
        "the shared counters' upkeep is a task of the engine"
    );
    let started = Instant::now();
    rt.engine.shutdown(Duration::from_secs(1)).await;
    assert_eq!(rt.engine.running_tasks(), 0, "every task of the engine has ended");
    assert!(!quick.load(Ordering::SeqCst), "the quick task finished");
    assert!(!stuck.load(Ordering::SeqCst), "the stuck task was stopped");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the wait is bounded: {:?}",
        started.elapsed()
    );
    rt.stop().await;
}
