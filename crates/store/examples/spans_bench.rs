//! What storing finished attempts costs PostgreSQL, before and after `docs/tracing.md`'s "Built-in trace store"
//! change, in one run: the same spans inserted in the same batches (a) as before — one `INSERT … SELECT FROM
//! unnest(11 arrays)` per batch into a table with the old indexes (three B-trees besides the primary key) — and
//! (b) as now — `Store::insert_spans` (`COPY … FROM STDIN`) into `spans` (its `ended_at` index a BRIN).
//! Reported: PostgreSQL CPU (user + system time of the benchmark's backends, from /proc) and wall time per
//! 1,000 spans, best of the rounds, and their ratio.
//!
//! `cargo run --release -p cfp-store --example spans_bench -- [spans per round] [batch]` (CFP_TEST_DATABASE_URL;
//! PostgreSQL on this machine, so /proc shows its backends).

use std::time::{Duration, Instant};

use cfp_store::spans::SpanRecord;
use cfp_store::{Payloads, Scope, Store, StoreOptions};

fn span(i: usize) -> (Scope, SpanRecord) {
    let now = 1_760_000_000_000 + i as i64;
    (
        Scope::new("bench-tenant", "bench-project"),
        SpanRecord {
            id: None,
            trace_id: uuid::Uuid::new_v4().to_string(),
            step: format!("Step{}", i % 7),
            trigger: "api".into(),
            attempt: 1,
            invocation_id: Some(format!("api-{}", uuid::Uuid::new_v4())),
            started_ms: now,
            ended_ms: now + 2,
            ok: !i.is_multiple_of(50),
            error: i
                .is_multiple_of(50)
                .then(|| serde_json::json!({"message": "boom", "name": "Error"})),
        },
    )
}

async fn legacy_insert(store: &Store, rows: &[(Scope, SpanRecord)]) {
    let tenants: Vec<&str> = rows.iter().map(|r| r.0.tenant.as_str()).collect();
    let projects: Vec<&str> = rows.iter().map(|r| r.0.project.as_str()).collect();
    let traces: Vec<&str> = rows.iter().map(|r| r.1.trace_id.as_str()).collect();
    let steps: Vec<&str> = rows.iter().map(|r| r.1.step.as_str()).collect();
    let triggers: Vec<&str> = rows.iter().map(|r| r.1.trigger.as_str()).collect();
    let attempts: Vec<i32> = rows.iter().map(|r| r.1.attempt).collect();
    let invs: Vec<Option<&str>> = rows.iter().map(|r| r.1.invocation_id.as_deref()).collect();
    let started: Vec<i64> = rows.iter().map(|r| r.1.started_ms).collect();
    let ended: Vec<i64> = rows.iter().map(|r| r.1.ended_ms).collect();
    let oks: Vec<bool> = rows.iter().map(|r| r.1.ok).collect();
    let errors: Vec<Option<serde_json::Value>> = rows.iter().map(|r| r.1.error.clone()).collect();
    sqlx::query(
        "INSERT INTO spans_before (tenant_id, project_id, trace_id, step, trigger, attempt, invocation_id, started_at,
                            ended_at, ok, error)
         SELECT t, p, tr, s, tg, a, i, to_timestamp(st / 1000.0), to_timestamp(en / 1000.0), ok, e
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[],
                       $8::bigint[], $9::bigint[], $10::bool[], $11::jsonb[])
             AS x(t, p, tr, s, tg, a, i, st, en, ok, e)",
    )
    .bind(&tenants)
    .bind(&projects)
    .bind(&traces)
    .bind(&steps)
    .bind(&triggers)
    .bind(&attempts)
    .bind(&invs)
    .bind(&started)
    .bind(&ended)
    .bind(&oks)
    .bind(&errors)
    .execute(store.pool())
    .await
    .unwrap();
}

/// User + system CPU seconds of this benchmark's PostgreSQL backends.
async fn backend_cpu(store: &Store) -> f64 {
    let pids: Vec<i32> =
        sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE application_name = 'cfp_spans_bench'")
            .fetch_all(store.pool())
            .await
            .unwrap();
    let tick = 100.0; // CLK_TCK on Linux
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .map(|stat| {
            let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
            let ut: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0);
            let st: f64 = fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
            (ut + st) / tick
        })
        .sum()
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(50_000);
    let batch: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(200);
    let url =
        std::env::var("CFP_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let sep = if url.contains('?') { '&' } else { '?' };
    let schema = format!("bench_spans_{}", std::process::id());
    let store = Store::connect(
        &StoreOptions {
            database_url: format!("{url}{sep}application_name=cfp_spans_bench"),
            schema: schema.clone(),
            max_connections: 2,
            payload_threshold: 1 << 20,
            acquire_timeout: Duration::from_secs(30),
        },
        Payloads::memory(),
    )
    .await
    .expect("PostgreSQL");
    // The table and indexes spans had before.
    for sql in [
        "CREATE TABLE spans_before (LIKE spans INCLUDING DEFAULTS)",
        "ALTER TABLE spans_before ADD PRIMARY KEY (id)",
        "CREATE INDEX ON spans_before (tenant_id, project_id, trace_id, started_at)",
        "CREATE INDEX ON spans_before (tenant_id, project_id, id)",
        "CREATE INDEX ON spans_before (ended_at)",
    ] {
        sqlx::query(sql).execute(store.pool()).await.unwrap();
    }
    let rows: Vec<_> = (0..n).map(span).collect();
    let (mut before, mut after) = ((f64::MAX, f64::MAX), (f64::MAX, f64::MAX));
    for _round in 0..3 {
        for which in ["before", "after"] {
            let cpu0 = backend_cpu(&store).await;
            let t0 = Instant::now();
            for chunk in rows.chunks(batch) {
                if which == "before" {
                    legacy_insert(&store, chunk).await;
                } else {
                    store.insert_spans(chunk).await.unwrap();
                }
            }
            let wall = t0.elapsed().as_secs_f64() * 1000.0 / (n as f64 / 1000.0);
            let cpu = (backend_cpu(&store).await - cpu0) * 1000.0 / (n as f64 / 1000.0);
            let best = if which == "before" { &mut before } else { &mut after };
            *best = (best.0.min(cpu), best.1.min(wall));
        }
    }
    println!(
        "{n} spans in batches of {batch}: PostgreSQL CPU per 1,000 spans before {:.1} ms, after {:.1} ms (ratio {:.2}); \
         wall per 1,000 before {:.1} ms, after {:.1} ms (ratio {:.2})",
        before.0,
        after.0,
        after.0 / before.0,
        before.1,
        after.1,
        after.1 / before.1
    );
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(store.pool())
        .await
        .unwrap();
}
