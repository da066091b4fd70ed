//! The cron scheduler. Each replica computes the ticks of the cron steps its workers host and enqueues a
//! delivery per tick whose id is derived from (project, step, tick): replicas racing on a tick insert it once,
//! so each tick runs exactly once. Ticks missed while no runtime was up are not back-filled (as Motia).

use std::collections::HashMap;
use std::time::Duration;

use cfp_protocol::StepKind;
use cfp_store::Scope;
use chrono::{DateTime, Utc};
use croner::Cron;

use crate::{ids, Engine};

/// Parses a 5-field expression, or a 6-field one whose first field is seconds.
pub fn parse(expr: &str) -> Result<Cron, String> {
    let fields = expr.split_whitespace().count();
    if fields != 5 && fields != 6 {
        return Err(format!("cron expression `{expr}` has {fields} fields; expected 5 (min hour dom mon dow) or 6 (sec min hour dom mon dow)"));
    }
    Cron::new(expr)
        .with_seconds_optional()
        .parse()
        .map_err(|e| format!("cron expression `{expr}` is invalid: {e}"))
}

struct Entry {
    expr: String,
    cron: Cron,
    next: DateTime<Utc>,
}

pub(crate) async fn scheduler(engine: Engine) {
    let mut entries: HashMap<(Scope, String), Entry> = HashMap::new();
    let mut shutdown = engine.shutdown_signal();
    let clock = engine.config().clock.clone();
    loop {
        let now = clock.now();
        // Refresh the set of cron steps from the registry.
        let hosted: Vec<(Scope, String, String)> = {
            let reg = engine.inner().reg.lock().unwrap();
            reg.projects
                .iter()
                .flat_map(|(scope, p)| {
                    p.manifests
                        .values()
                        .filter(|m| m.kind == StepKind::Cron)
                        .filter_map(move |m| m.cron.clone().map(|c| (scope.clone(), m.name.clone(), c)))
                })
                .collect()
        };
        entries.retain(|k, _| hosted.iter().any(|(s, n, _)| s == &k.0 && n == &k.1));
        for (scope, name, expr) in hosted {
            let key = (scope, name);
            if entries.get(&key).is_some_and(|e| e.expr == expr) {
                continue;
            }
            match parse(&expr).and_then(|c| {
                let next = c.find_next_occurrence(&now, false).map_err(|e| e.to_string())?;
                Ok((c, next))
            }) {
                Ok((cron, next)) => {
                    entries.insert(key, Entry { expr, cron, next });
                }
                Err(e) => tracing::warn!(step = %key.1, "{e}"),
            }
        }
        // Fire due ticks.
        for ((scope, step), entry) in entries.iter_mut() {
            while entry.next <= now {
                let tick = entry.next;
                let tick_ms = tick.timestamp_millis();
                let id = ids::cron_event_id(&format!("{}/{}", scope.tenant, scope.project), step, tick_ms);
                let iso = tick.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                let trace = uuid::Uuid::new_v4().to_string();
                match engine.store().enqueue_cron(scope, step, id, &iso, &trace).await {
                    Ok(true) => engine.wake(&[cfp_store::queue::Woken {
                        scope: scope.clone(),
                        step: step.clone(),
                    }]),
                    Ok(false) => {} // another replica enqueued this tick
                    Err(e) => {
                        tracing::warn!(step = %step, error = %e, "could not enqueue cron tick")
                    }
                }
                match entry.cron.find_next_occurrence(&tick, false) {
                    Ok(n) => entry.next = n,
                    Err(_) => break,
                }
            }
        }
        let until_next = entries
            .values()
            .map(|e| (e.next - clock.now()).to_std().unwrap_or(Duration::ZERO))
            .min()
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1));
        tokio::select! {
            _ = clock.sleep(until_next) => {}
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_five_and_six_fields() {
        assert!(parse("*/5 * * * *").is_ok());
        assert!(parse("*/10 * * * * *").is_ok());
        assert!(parse("* * *").unwrap_err().contains("3 fields"));
        assert!(parse("99 * * * *").is_err());
    }

    #[test]
    fn six_fields_tick_every_second_step() {
        let c = parse("*/2 * * * * *").unwrap();
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:01Z")
            .unwrap()
            .with_timezone(&Utc);
        let n = c.find_next_occurrence(&t0, false).unwrap();
        assert_eq!(n.timestamp() - t0.timestamp(), 1);
    }
}
