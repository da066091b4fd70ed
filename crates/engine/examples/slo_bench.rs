//! SLO evaluation benchmark (docs/slo.md): 1,000 steps with an errors and a latency SLO each, 3 days of hour
//! buckets and 6 hours of minute buckets of history per step, the default policy. Prints the time of each cycle;
//! the target is under 1 s. The first cycle reads every bucket (as a fresh or new-leader evaluator does); the
//! others run 30 s apart with the evaluator's cache of closed buckets ([`cfp_engine::slo::SumsCache`]).
//!
//! `cargo run --release -p cfp-engine --example slo_bench [steps] [cycles]`
//! (`CFP_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`; a scratch schema is dropped after).

use std::time::{Duration, Instant};

use cfp_engine::slo::{run_cached_cycle, run_cycle, SloPolicy, SumsCache};
use cfp_store::{Payloads, Store, StoreOptions};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let steps: i64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let cycles: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let url =
        std::env::var("CFP_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
    let store = Store::connect(
        &StoreOptions {
            database_url: url,
            schema: schema.clone(),
            max_connections: 4,
            payload_threshold: 1 << 20,
            acquire_timeout: Duration::from_secs(30),
        },
        Payloads::memory(),
    )
    .await
    .expect("PostgreSQL");
    let now = chrono::Utc::now();
    let now_ms = now.timestamp_millis();
    let hour = now_ms.div_euclid(3_600_000) * 3_600_000;
    let minute = now_ms.div_euclid(60_000) * 60_000;
    let t = Instant::now();
    let le = format!(
        "{{{}}}",
        vec!["1000"; cfp_store::rollups::LATENCY_BOUNDS_MS.len()].join(",")
    );
    sqlx::query(
        "INSERT INTO slo_overrides (tenant_id, project_id, step, spec)
         SELECT 't', 'p' || (s % 10), 'step-' || s,
                '{\"errors\": {\"target\": 0.999}, \"latency\": {\"thresholdMs\": 500, \"target\": 0.99}}'::jsonb
           FROM generate_series(1, $1) s",
    )
    .bind(steps)
    .execute(store.pool())
    .await
    .unwrap();
    for (res, n, base) in [(3600i32, 73i64, hour), (60, 361, minute)] {
        sqlx::query(
            "INSERT INTO step_rollups (tenant_id, project_id, step, res, bucket_start, total, ok, handler_error,
                                       timeout, lost_worker, dead_lettered, latency_count, latency_sum_ms, latency_le)
             SELECT 't', 'p' || (s % 10), 'step-' || s, $2, to_timestamp(($3 - i * $2::int8 * 1000)::float8 / 1000),
                    1000, 999, 1, 0, 0, 0, 1000, 100000, $4::bigint[]
               FROM generate_series(1, $1) s, generate_series(0, $5 - 1) i",
        )
        .bind(steps)
        .bind(res)
        .bind(base)
        .bind(&le)
        .bind(n)
        .execute(store.pool())
        .await
        .unwrap();
    }
    sqlx::query("ANALYZE step_rollups").execute(store.pool()).await.unwrap();
    println!("setup: {steps} steps, {:.1} s", t.elapsed().as_secs_f64());
    let policy = SloPolicy::default();
    let t = Instant::now();
    let report = run_cycle(&store, &policy, now).await.unwrap();
    let uncached = t.elapsed();
    assert_eq!(report.slos as i64, steps);
    println!(
        "uncached cycle: {} SLOs ({} SLIs) in {:.0} ms",
        report.slos,
        report.slos * 2,
        uncached.as_secs_f64() * 1000.0
    );
    let mut cache = SumsCache::default();
    let mut times = Vec::new();
    for i in 0..cycles.max(2) {
        let at = now + chrono::Duration::seconds(30 * i as i64);
        let t = Instant::now();
        let report = run_cached_cycle(&store, &policy, at, &mut cache).await.unwrap();
        let took = t.elapsed();
        assert_eq!(report.slos as i64, steps);
        println!(
            "cycle {i}{}: {:.0} ms ({} closed buckets held)",
            if i == 0 { " (cold cache)" } else { "" },
            took.as_secs_f64() * 1000.0,
            cache.buckets()
        );
        if i > 0 {
            times.push(took);
        }
    }
    times.sort();
    println!(
        "slo-eval steps={steps} uncached_ms={:.0} warm_median_ms={:.0} warm_max_ms={:.0} target_ms=1000",
        uncached.as_secs_f64() * 1000.0,
        times[times.len() / 2].as_secs_f64() * 1000.0,
        times[times.len() - 1].as_secs_f64() * 1000.0
    );
    if std::env::var("KEEP").is_ok() {
        println!("kept schema {schema}");
        return;
    }
    sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .execute(store.pool())
        .await
        .ok();
    store.close().await;
}
