//! The built-in SLO evaluator (docs/slo.md): SLIs, error budgets and burn rates over the rollups, and
//! multi-window multi-burn-rate alerts as in the SRE workbook (§5 "Alerting on SLOs").
//!
//! Each cycle, on the engine's clock ([`crate::clock`]): read every SLO (step files merged with overrides), sum
//! the rollups of each over every window the policy and the SLOs use, and move alerts:
//! - a rule's condition holds when the burn rate over its long *and* its short window exceed its factor and the
//!   long window has at least `minEvents` attempts (so a handful of failures in a quiet hour does not page);
//! - no open alert and the condition holds: a new alert, `pending` (or straight `firing` when the rule has no
//!   `for`); `pending` for the rule's `for` with the condition still holding: `firing`; the condition no longer
//!   holding: `resolved`. At most one open alert per (step, SLI, rule): the store refuses a second.
//!
//! ```ignore
//! let report = cfp_engine::slo::run_cycle(&store, &SloPolicy::default(), clock.now()).await?;
//! ```

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use cfp_protocol::slo::{SloSpec, LATENCY_BOUNDS_MS};
use cfp_store::slo::{AlertChange, AlertEvent, AlertRow, SloDefinition, SumKey, Sums, Window};
use cfp_store::{Scope, Store};
use chrono::{DateTime, Utc};

pub use crate::slo_cache::SumsCache;

/// One burn-rate alerting rule.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BurnRule {
    /// `page-fast`, `page-slow`, `ticket`.
    pub name: String,
    /// `page` or `ticket`.
    pub severity: String,
    pub long_secs: i64,
    pub short_secs: i64,
    /// Burn rate both windows must exceed (1 = spending the budget exactly over the SLO window).
    pub factor: f64,
    /// How long the condition holds before a pending alert fires (0: fires at once).
    pub for_secs: i64,
}

/// The evaluator's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SloPolicy {
    pub rules: Vec<BurnRule>,
    /// Fewest attempts in a rule's long window for it to fire (an SLO's `minEvents` overrides it).
    pub min_events: u64,
    /// Time between cycles.
    pub interval: Duration,
}

impl Default for SloPolicy {
    /// The SRE workbook's recommendation (table 5-8): page at 14.4× over 1 h and 5 min, and 6× over 6 h and
    /// 30 min; ticket at 1× over 3 d and 6 h.
    fn default() -> Self {
        let rule = |name: &str, severity: &str, long_secs, short_secs, factor, for_secs| BurnRule {
            name: name.into(),
            severity: severity.into(),
            long_secs,
            short_secs,
            factor,
            for_secs,
        };
        Self {
            rules: vec![
                rule("page-fast", "page", 3600, 300, 14.4, 120),
                rule("page-slow", "page", 6 * 3600, 1800, 6.0, 900),
                rule("ticket", "ticket", 3 * 86_400, 6 * 3600, 1.0, 3600),
            ],
            min_events: 100,
            interval: Duration::from_secs(30),
        }
    }
}

impl SloPolicy {
    /// Checks the rules (windows within what the rollups keep, factors positive, names unique).
    pub fn check(&self) -> Result<(), String> {
        let mut names = BTreeSet::new();
        for r in &self.rules {
            if !names.insert(&r.name) {
                return Err(format!("burn rule `{}` appears twice", r.name));
            }
            if r.short_secs < 60 || r.short_secs > r.long_secs || r.long_secs > 90 * 86_400 {
                return Err(format!(
                    "burn rule `{}`: windows must satisfy 60 s <= short <= long <= 90 d",
                    r.name
                ));
            }
            if r.factor.is_nan()
                || r.factor <= 0.0
                || r.for_secs < 0
                || !["page", "ticket"].contains(&r.severity.as_str())
            {
                return Err(format!(
                    "burn rule `{}`: factor must be > 0, for >= 0, severity page or ticket",
                    r.name
                ));
            }
        }
        Ok(())
    }
}

/// One SLI of one step: what it measures and its target.
#[derive(Debug, Clone, PartialEq)]
struct Objective {
    sli: &'static str,
    target: f64,
}

/// A definition that parsed, with its objectives.
#[derive(Debug, Clone)]
struct Parsed {
    def: SloDefinition,
    spec: SloSpec,
    key: SumKey,
}

fn objectives(spec: &SloSpec) -> Vec<Objective> {
    let mut out = Vec::new();
    if let Some(e) = &spec.errors {
        out.push(Objective {
            sli: "errors",
            target: e.target,
        });
    }
    if let Some(l) = &spec.latency {
        out.push(Objective {
            sli: "latency",
            target: l.target,
        });
    }
    out
}

/// (bad, total) of an SLI over one window.
fn bad_total(sli: &str, s: &Sums) -> (i64, i64) {
    match sli {
        "latency" => (s.latency_count - s.latency_good, s.latency_count),
        _ => (s.errors, s.total),
    }
}

/// How fast the budget burns: the bad ratio over the allowed one (0 without events).
pub fn burn_rate(bad: i64, total: i64, target: f64) -> f64 {
    if total <= 0 {
        return 0.0;
    }
    (bad as f64 / total as f64) / (1.0 - target)
}

/// The share of the window's error budget left (1: untouched, 0: spent, negative: overspent).
pub fn budget_remaining(bad: i64, total: i64, target: f64) -> f64 {
    if total <= 0 {
        return 1.0;
    }
    1.0 - bad as f64 / ((1.0 - target) * total as f64)
}

fn parse_all(defs: Vec<SloDefinition>) -> Vec<Parsed> {
    defs.into_iter()
        .filter_map(|def| match SloSpec::parse(&def.spec) {
            Ok(spec) => {
                let threshold_index = spec
                    .latency
                    .as_ref()
                    .and_then(|l| LATENCY_BOUNDS_MS.iter().position(|b| *b == l.threshold_ms))
                    .map_or(0, |i| i as i32 + 1);
                let key = SumKey {
                    tenant: def.tenant.clone(),
                    project: def.project.clone(),
                    step: def.step.clone(),
                    threshold_index,
                };
                Some(Parsed { def, spec, key })
            }
            Err(e) => {
                // Checked when registered or saved; a stored one that no longer parses is skipped, not fatal.
                tracing::warn!(project = %def.project, step = %def.step, error = %e, "SLO skipped");
                None
            }
        })
        .collect()
}

/// The windows the rules need, and (for status) each SLO's own.
fn windows_of(policy: &SloPolicy, slos: &[Parsed], slo_windows: bool) -> Vec<Window> {
    let mut secs: BTreeSet<i64> = policy.rules.iter().flat_map(|r| [r.long_secs, r.short_secs]).collect();
    if slo_windows {
        secs.extend(slos.iter().map(|p| p.spec.window_secs() as i64));
    }
    secs.into_iter().map(Window::of_secs).collect()
}

/// What one cycle found and did.
#[derive(Debug, Default, Clone)]
pub struct CycleReport {
    pub slos: usize,
    /// Transitions written (empty when another replica held the cycle).
    pub events: Vec<AlertEvent>,
    /// False when another replica's cycle was running.
    pub ran: bool,
}

/// Decides the alert changes for `now` (pure: the tests drive it with synthetic sums).
fn decide(
    policy: &SloPolicy,
    slos: &[Parsed],
    windows: &[Window],
    sums: &HashMap<SumKey, Vec<Sums>>,
    open: &[AlertRow],
    now_ms: i64,
) -> Vec<AlertChange> {
    let at = |secs: i64| windows.iter().position(|w| w.secs == secs).unwrap_or(0);
    let mut open_by: HashMap<(&str, &str, &str, &str, &str), &AlertRow> = open
        .iter()
        .map(|a| {
            (
                (
                    a.tenant.as_str(),
                    a.project.as_str(),
                    a.step.as_str(),
                    a.sli.as_str(),
                    a.rule.as_str(),
                ),
                a,
            )
        })
        .collect();
    let zeros = vec![Sums::default(); windows.len()];
    let mut changes = Vec::new();
    for p in slos {
        let s = sums.get(&p.key).unwrap_or(&zeros);
        let min_events = p.spec.min_events.unwrap_or(policy.min_events) as i64;
        for o in objectives(&p.spec) {
            for rule in &policy.rules {
                let (bad_l, total_l) = bad_total(o.sli, &s[at(rule.long_secs)]);
                let (bad_s, total_s) = bad_total(o.sli, &s[at(rule.short_secs)]);
                let burn_long = burn_rate(bad_l, total_l, o.target);
                let burn_short = burn_rate(bad_s, total_s, o.target);
                let holds = burn_long > rule.factor && burn_short > rule.factor && total_l >= min_events.max(1);
                let key = (
                    p.def.tenant.as_str(),
                    p.def.project.as_str(),
                    p.def.step.as_str(),
                    o.sli,
                    rule.name.as_str(),
                );
                let current = open_by.remove(&key);
                let state = match (current, holds) {
                    (None, false) => None,
                    (None, true) if rule.for_secs == 0 => Some("firing"),
                    (None, true) => Some("pending"),
                    (Some(a), true) if a.state == "pending" && now_ms - a.started_ms >= rule.for_secs * 1000 => {
                        Some("firing")
                    }
                    (Some(_), true) => None,
                    (Some(_), false) => Some("resolved"),
                };
                if let Some(state) = state {
                    changes.push(AlertChange {
                        id: current.map(|a| a.id),
                        tenant: p.def.tenant.clone(),
                        project: p.def.project.clone(),
                        step: p.def.step.clone(),
                        sli: o.sli.into(),
                        rule: rule.name.clone(),
                        severity: rule.severity.clone(),
                        state: state.into(),
                        burn_long,
                        burn_short,
                        at_ms: now_ms,
                    });
                }
            }
        }
    }
    // Open alerts whose SLO, objective or rule is gone resolve.
    for a in open_by.into_values() {
        changes.push(AlertChange {
            id: Some(a.id),
            tenant: a.tenant.clone(),
            project: a.project.clone(),
            step: a.step.clone(),
            sli: a.sli.clone(),
            rule: a.rule.clone(),
            severity: a.severity.clone(),
            state: "resolved".into(),
            burn_long: 0.0,
            burn_short: 0.0,
            at_ms: now_ms,
        });
    }
    changes
}

/// One evaluation cycle at `now` over every project's SLOs.
pub async fn run_cycle(store: &Store, policy: &SloPolicy, now: DateTime<Utc>) -> cfp_store::Result<CycleReport> {
    cycle(store, policy, now, None).await
}

/// One evaluation cycle reading closed buckets from `cache` ([`SumsCache`]): what the evaluator task runs.
pub async fn run_cached_cycle(
    store: &Store,
    policy: &SloPolicy,
    now: DateTime<Utc>,
    cache: &mut SumsCache,
) -> cfp_store::Result<CycleReport> {
    cycle(store, policy, now, Some(cache)).await
}

async fn cycle(
    store: &Store,
    policy: &SloPolicy,
    now: DateTime<Utc>,
    cache: Option<&mut SumsCache>,
) -> cfp_store::Result<CycleReport> {
    let now_ms = now.timestamp_millis();
    let slos = parse_all(store.slo_definitions(None).await?);
    let windows = windows_of(policy, &slos, false);
    let keys: Vec<SumKey> = slos.iter().map(|p| p.key.clone()).collect();
    let sums = match cache {
        Some(cache) => cache.window_sums(store, &keys, &windows, now_ms).await?,
        None => store.window_sums(&keys, &windows, now_ms).await?,
    };
    let open = store.open_alerts().await?;
    let changes = decide(policy, &slos, &windows, &sums, &open, now_ms);
    let events = store.apply_alert_changes(&changes).await?;
    Ok(CycleReport {
        slos: slos.len(),
        ran: events.is_some(),
        events: events.unwrap_or_default(),
    })
}

/// An SLI's state over its SLO window and the policy's windows.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SliStatus {
    pub sli: String,
    pub target: f64,
    /// Good over total in the SLO window (`None`: no attempts).
    pub value: Option<f64>,
    pub total: i64,
    pub bad: i64,
    pub budget_remaining: f64,
    /// Burn rate per window (seconds → rate).
    pub burn_rates: Vec<(i64, f64)>,
}

/// A step's SLO and where it stands.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SloStatus {
    pub step: String,
    pub source: String,
    pub spec: SloSpec,
    pub slis: Vec<SliStatus>,
    pub alerts: Vec<AlertRow>,
}

/// The SLOs of one project and where each stands at `now`.
pub async fn project_status(
    store: &Store,
    policy: &SloPolicy,
    scope: &Scope,
    now: DateTime<Utc>,
) -> cfp_store::Result<Vec<SloStatus>> {
    let slos = parse_all(store.slo_definitions(Some(scope)).await?);
    let windows = windows_of(policy, &slos, true);
    let keys: Vec<SumKey> = slos.iter().map(|p| p.key.clone()).collect();
    let sums = store.window_sums(&keys, &windows, now.timestamp_millis()).await?;
    let open = store.alerts(scope, None, true, 1_000).await?;
    let zeros = vec![Sums::default(); windows.len()];
    Ok(slos
        .into_iter()
        .map(|p| {
            let s = sums.get(&p.key).unwrap_or(&zeros);
            let window = p.spec.window_secs() as i64;
            let slis = objectives(&p.spec)
                .into_iter()
                .map(|o| {
                    let (bad, total) = bad_total(o.sli, &s[windows.iter().position(|w| w.secs == window).unwrap_or(0)]);
                    SliStatus {
                        sli: o.sli.into(),
                        target: o.target,
                        value: (total > 0).then(|| 1.0 - bad as f64 / total as f64),
                        total,
                        bad,
                        budget_remaining: budget_remaining(bad, total, o.target),
                        burn_rates: windows
                            .iter()
                            .zip(s)
                            .map(|(w, sums)| {
                                let (b, t) = bad_total(o.sli, sums);
                                (w.secs, burn_rate(b, t, o.target))
                            })
                            .collect(),
                    }
                })
                .collect();
            SloStatus {
                alerts: open.iter().filter(|a| a.step == p.def.step).cloned().collect(),
                step: p.def.step.clone(),
                source: p.def.source.into(),
                spec: p.spec,
                slis,
            }
        })
        .collect())
}

/// The evaluator task: a cycle every `interval` on the engine's clock, after rolling up what finished.
pub(crate) async fn evaluator(engine: crate::Engine) {
    let Some(policy) = engine.config().slo.clone() else {
        return;
    };
    if let Err(e) = policy.check() {
        tracing::error!(error = %e, "SLO policy refused; the evaluator does not run");
        return;
    }
    let mut stop = engine.shutdown_signal();
    let mut cache = SumsCache::default();
    loop {
        let wait = engine.config().clock.sleep(policy.interval);
        tokio::select! {
            _ = wait => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        crate::tasks::roll_up(&engine).await;
        match run_cached_cycle(engine.store(), &policy, engine.config().clock.now(), &mut cache).await {
            Ok(report) => {
                for e in &report.events {
                    tracing::info!(step = %e.step, sli = %e.sli, rule = %e.rule, state = %e.state, "SLO alert");
                }
            }
            Err(e) => tracing::warn!(error = %e, "SLO evaluation failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burn_rate_and_budget_follow_the_workbook() {
        // 99.9 %: 0.1 % allowed; 1.44 % bad is a 14.4x burn.
        assert!((burn_rate(144, 10_000, 0.999) - 14.4).abs() < 1e-9);
        assert!((budget_remaining(5, 10_000, 0.999) - 0.5).abs() < 1e-9);
        assert_eq!(burn_rate(0, 0, 0.999), 0.0);
        assert_eq!(budget_remaining(0, 0, 0.999), 1.0);
    }

    #[test]
    fn the_default_policy_is_valid_and_a_bad_one_is_named() {
        SloPolicy::default().check().unwrap();
        let mut p = SloPolicy::default();
        p.rules[1].short_secs = 10;
        assert!(p.check().unwrap_err().contains("page-slow"));
    }
}
