//! The SLO evaluator on a manual clock over synthetic rollups (docs/slo.md): a fast burn, a slow burn, a blip, a
//! latency burn, a quiet step and a healthy one, with the default (SRE workbook) policy. Each cycle runs one
//! simulated minute after the previous; every alert transition must happen exactly at the minute worked out by
//! hand in the comments, and nothing else may fire.

use std::time::Duration;

use cfp_engine::clock::{Clock, ManualClock};
use cfp_engine::slo::{run_cached_cycle, run_cycle, BurnRule, SloPolicy, SumsCache};
use cfp_store::rollups::{Granularity, Rollup, LATENCY_BOUNDS_MS};
use cfp_store::slo::{SumKey, Window};
use cfp_store::Scope;
use cfp_testkit::{drop_schema, fresh_store};
use serde_json::json;

/// `n` attempts, `bad` of them failed, each taking `ms`.
fn bucket(step: &str, start_ms: i64, n: i64, bad: i64, ms: f64) -> Rollup {
    let mut r = Rollup {
        step: step.into(),
        start_ms,
        ..Default::default()
    };
    for i in 0..n {
        let outcome = if i < bad {
            cfp_store::rollups::Outcome::HandlerError
        } else {
            cfp_store::rollups::Outcome::Ok
        };
        r.add(outcome, Some(ms));
    }
    r
}

/// Adds `r` to its minute bucket and to its hour bucket.
fn both(minutes: &mut Vec<Rollup>, hours: &mut Vec<Rollup>, r: Rollup) {
    let mut h = r.clone();
    h.start_ms = r.start_ms.div_euclid(3_600_000) * 3_600_000;
    match hours.iter_mut().find(|x| x.step == h.step && x.start_ms == h.start_ms) {
        Some(x) => {
            x.total += h.total;
            x.ok += h.ok;
            x.handler_error += h.handler_error;
            x.latency_count += h.latency_count;
            x.latency_sum_ms += h.latency_sum_ms;
            for (a, b) in x.latency_le.iter_mut().zip(&h.latency_le) {
                *a += b;
            }
        }
        None => hours.push(h),
    }
    minutes.push(r);
}

const MIN: i64 = 60_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burns_fire_and_resolve_exactly_when_the_workbook_says() {
    let (store, schema) = fresh_store(8).await;
    let scope = Scope::new("t1", "p1");
    let errors = json!({"errors": {"target": 0.999}});
    for step in ["steady", "fast", "slow", "blip", "quiet"] {
        store
            .set_slo_override(&scope, step, Some(&errors), "test")
            .await
            .unwrap();
    }
    let latency = json!({"latency": {"thresholdMs": 500, "target": 0.99}});
    store
        .set_slo_override(&scope, "slowlat", Some(&latency), "test")
        .await
        .unwrap();

    let t0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
    let clock = ManualClock::at_millis(t0);
    // History before T0: three days of hours and six hours of minutes, 1,000 attempts a minute. `slow` already
    // fails 0.2 % (a 2x burn); the others are clean; `quiet` is new (no history).
    let (mut minutes, mut hours) = (Vec::new(), Vec::new());
    for step in ["steady", "fast", "slow", "blip", "slowlat"] {
        let bad = if step == "slow" { 2 } else { 0 };
        for h in 1..=72 {
            hours.push(bucket(step, t0 - h * 60 * MIN, 60_000, bad * 60, 100.0));
        }
        for m in 1..=360 {
            minutes.push(bucket(step, t0 - m * MIN, 1000, bad, 100.0));
        }
    }
    store.add_rollups(&scope, Granularity::Hour, hours).await.unwrap();
    store.add_rollups(&scope, Granularity::Minute, minutes).await.unwrap();

    let policy = SloPolicy::default();
    let mut seen = Vec::new();
    let (mut minutes, mut hours) = (Vec::new(), Vec::new());
    // The evaluator keeps closed buckets between cycles; a second cache, asked at irregular times (so that it
    // reads across gaps), must sum exactly what PostgreSQL sums.
    let mut cache = SumsCache::default();
    let mut check = SumsCache::default();
    let keys: Vec<SumKey> = ["steady", "fast", "slow", "blip", "quiet", "slowlat"]
        .iter()
        .map(|s| SumKey {
            tenant: "t1".into(),
            project: "p1".into(),
            step: s.to_string(),
            threshold_index: if *s == "slowlat" {
                cfp_store::rollups::bound_index(500).unwrap() as i32 + 1
            } else {
                0
            },
        })
        .collect();
    let windows: Vec<Window> = [300, 1800, 3600, 6 * 3600, 3 * 86_400, 28 * 86_400]
        .into_iter()
        .map(Window::of_secs)
        .collect();
    let mut compared = 0;
    for k in 0..=240i64 {
        // Minute k's traffic, then the cycle at the end of it (now = T0 + (k + 1) min): every minute for the first
        // two hours, every five minutes after (only the ticket's resolution, at +240, is due then).
        let at = t0 + k * MIN;
        both(&mut minutes, &mut hours, bucket("steady", at, 1000, 0, 100.0));
        // fast: 20 % failures for minutes 0..15
        both(
            &mut minutes,
            &mut hours,
            bucket("fast", at, 1000, if k < 15 { 200 } else { 0 }, 100.0),
        );
        // slow: 0.2 % failures until minute 60, clean after
        both(
            &mut minutes,
            &mut hours,
            bucket("slow", at, 1000, if k < 60 { 2 } else { 0 }, 100.0),
        );
        // blip: half of minute 30 fails
        both(
            &mut minutes,
            &mut hours,
            bucket("blip", at, 1000, if k == 30 { 500 } else { 0 }, 100.0),
        );
        // slowlat: every attempt takes 1 s in minutes 100..110
        let ms = if (100..110).contains(&k) { 1000.0 } else { 100.0 };
        both(&mut minutes, &mut hours, bucket("slowlat", at, 1000, 0, ms));
        // quiet: one attempt every ten minutes, all failing
        if k % 10 == 0 {
            both(&mut minutes, &mut hours, bucket("quiet", at, 1, 1, 100.0));
        }
        clock.advance(Duration::from_secs(60));
        if k + 1 > 120 && (k + 1) % 5 != 0 {
            continue;
        }
        store
            .add_rollups(&scope, Granularity::Minute, std::mem::take(&mut minutes))
            .await
            .unwrap();
        store
            .add_rollups(&scope, Granularity::Hour, std::mem::take(&mut hours))
            .await
            .unwrap();
        let report = run_cached_cycle(&store, &policy, clock.now(), &mut cache)
            .await
            .unwrap();
        assert!(report.ran);
        assert_eq!(report.slos, 6);
        if k % 7 == 3 {
            let now_ms = clock.now().timestamp_millis();
            let cached = check.window_sums(&store, &keys, &windows, now_ms).await.unwrap();
            let direct = store.window_sums(&keys, &windows, now_ms).await.unwrap();
            assert_eq!(cached, direct, "minute {k}");
            compared += 1;
        }
        for e in report.events {
            seen.push((
                (e.at_ms - t0) / MIN,
                e.step.clone(),
                e.sli.clone(),
                e.rule.clone(),
                e.state.clone(),
            ));
        }
    }
    let row = |k: i64, step: &str, sli: &str, rule: &str, state: &str| {
        (
            k,
            step.to_string(),
            sli.to_string(),
            rule.to_string(),
            state.to_string(),
        )
    };
    let mut expected = vec![
        // slow: 2x over 3 d and 6 h from the first cycle; fires after the ticket's hour; resolves when the 6 h
        // window's failures (2 per minute of 420 - k minutes) reach 360: k = 240.
        row(1, "slow", "errors", "ticket", "pending"),
        row(61, "slow", "errors", "ticket", "firing"),
        row(240, "slow", "errors", "ticket", "resolved"),
        // fast: 200 failures a minute. 1 h: > 864 failures (14.4x of 0.1 % of 60,000) from k = 5; the 5 min
        // window clears at k = 20. 6 h: > 2,160 failures (6x) from k = 11; the 30 min window clears at k = 45.
        row(5, "fast", "errors", "page-fast", "pending"),
        row(7, "fast", "errors", "page-fast", "firing"),
        row(11, "fast", "errors", "page-slow", "pending"),
        row(20, "fast", "errors", "page-fast", "resolved"),
        row(26, "fast", "errors", "page-slow", "firing"),
        row(45, "fast", "errors", "page-slow", "resolved"),
        // slowlat: 1,000 slow attempts a minute against a 1 % budget: 1 h burn 1.67 per slow minute, > 14.4 after
        // 9 (k = 109); the 5 min window clears at k = 115.
        row(109, "slowlat", "latency", "page-fast", "pending"),
        row(111, "slowlat", "latency", "page-fast", "firing"),
        row(115, "slowlat", "latency", "page-fast", "resolved"),
    ];
    expected.sort();
    seen.sort();
    assert_eq!(seen, expected);
    assert!(compared >= 20 && cache.buckets() > 0, "{compared} comparisons");

    // The history is durable and deduplicated: one alert per (step, sli, rule) episode, all resolved.
    let alerts = store.alerts(&scope, None, false, 100).await.unwrap();
    assert_eq!(alerts.len(), 4);
    assert!(alerts.iter().all(|a| a.state == "resolved" && a.fired_ms.is_some()));
    let events = store.alert_events(&scope, None, 100).await.unwrap();
    assert_eq!(events.len(), expected.len());
    // Every transition is queued for the audit chain.
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_queue WHERE event::jsonb->>'kind' = 'slo.alert'")
        .fetch_one(store.pool())
        .await
        .unwrap_or(-1);
    assert_eq!(audited, expected.len() as i64);

    // Status: the slow step's 28-day budget is partly spent; the steady one untouched.
    let status = cfp_engine::slo::project_status(&store, &policy, &scope, clock.now())
        .await
        .unwrap();
    let get = |s: &str| status.iter().find(|x| x.step == s).unwrap().slis[0].clone();
    assert_eq!(get("steady").budget_remaining, 1.0);
    let slow = get("slow");
    assert!(slow.budget_remaining < 0.0 && slow.budget_remaining > -1.1, "{slow:?}");
    assert_eq!(slow.bad, 72 * 120 + 120);
    drop_schema(store, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_evaluates_on_its_own_clock_and_a_second_cycle_changes_nothing() {
    let (store, schema) = fresh_store(8).await;
    let scope = Scope::new("t1", "p1");
    store
        .set_slo_override(&scope, "s", Some(&json!({"errors": {"target": 0.99}})), "test")
        .await
        .unwrap();
    let t0: i64 = 1_767_225_600_000;
    let clock = ManualClock::at_millis(t0);
    let rows: Vec<Rollup> = (1..=10).map(|m| bucket("s", t0 - m * MIN, 100, 50, 10.0)).collect();
    store.add_rollups(&scope, Granularity::Minute, rows).await.unwrap();
    let policy = SloPolicy {
        rules: vec![BurnRule {
            name: "now".into(),
            severity: "page".into(),
            long_secs: 600,
            // at T0 + 30 s: the buckets of T0 - 1 min and T0 - 2 min
            short_secs: 150,
            factor: 10.0,
            for_secs: 0,
        }],
        min_events: 10,
        interval: Duration::from_secs(30),
    };
    let engine = cfp_engine::Engine::start(
        store.clone(),
        cfp_engine::EngineConfig {
            clock: std::sync::Arc::new(clock.clone()),
            slo: Some(policy.clone()),
            audit: None,
            ..Default::default()
        },
    );
    let firing = || async { store.alerts(&scope, None, true, 10).await.unwrap() };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(firing().await.is_empty(), "nothing runs before the clock moves");
    clock.advance(Duration::from_secs(30));
    let mut alerts = Vec::new();
    for _ in 0..100 {
        alerts = firing().await;
        if !alerts.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(alerts.len(), 1, "the cycle ran on the manual clock");
    assert_eq!(alerts[0].state, "firing");
    assert_eq!(alerts[0].started_ms, t0 + 30_000);
    // A replayed cycle at the same time writes nothing new.
    let again = run_cycle(&store, &policy, clock.now()).await.unwrap();
    assert!(again.events.is_empty());
    assert_eq!(store.alert_events(&scope, None, 10).await.unwrap().len(), 2);
    engine.shutdown(Duration::from_secs(5)).await;
    drop_schema(store, &schema).await;
}

#[test]
fn bounds_cover_the_prometheus_histogram() {
    for b in [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000] {
        assert!(LATENCY_BOUNDS_MS.contains(&b), "{b}");
    }
}
