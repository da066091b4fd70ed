//! The evaluator's memory of closed rollup buckets (docs/slo.md, "Evaluation cost").
//!
//! A cycle needs, for every SLO, sums over windows of up to days (the ticket rule's 3 d). Summing those windows
//! in PostgreSQL each cycle reads every bucket of every window again: ~430 rows per step with the default policy,
//! 430,000 for 1,000 steps. But a bucket stops changing once its interval has ended and the attempts that ended in
//! it are rolled up; [`SumsCache`] keeps such *closed* buckets per key and reads only the newer ones each cycle
//! (a handful per step), then sums the windows in memory.
//!
//! A bucket `[start, start + res)` counts as closed when `start + res <= now - SLACK`: attempts are recorded with
//! their transaction's start time and rolled up right before each cycle, so an attempt can land in a bucket only
//! while a transaction that began inside it is still open. Anything written into older buckets later (an
//! import with [`cfp_store::Store::add_rollups`]) is picked up by the full reload every [`RELOAD_EVERY`].

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use cfp_store::slo::{SumKey, Sums, Window};
use cfp_store::Store;

/// How long after a bucket's end it may still change.
pub const SLACK: Duration = Duration::from_secs(120);
/// The cache is dropped and read again from the rollups this often.
pub const RELOAD_EVERY: Duration = Duration::from_secs(3600);

#[derive(Debug, Default)]
struct Closed {
    /// Buckets starting before this are in `buckets` (or outside every window).
    until_ms: i64,
    /// Closed buckets, oldest first.
    buckets: VecDeque<(i64, Sums)>,
}

#[derive(Debug, Default)]
struct KeyCache {
    minute: Closed,
    hour: Closed,
}

/// Closed buckets per key; see the module's documentation.
#[derive(Debug, Default)]
pub struct SumsCache {
    keys: HashMap<SumKey, KeyCache>,
    loaded_at_ms: Option<i64>,
    last_now_ms: i64,
}

fn add(to: &mut Sums, s: &Sums) {
    to.total += s.total;
    to.errors += s.errors;
    to.latency_count += s.latency_count;
    to.latency_good += s.latency_good;
}

impl SumsCache {
    /// Closed buckets held (for tests and the benchmark).
    pub fn buckets(&self) -> usize {
        self.keys
            .values()
            .map(|k| k.minute.buckets.len() + k.hour.buckets.len())
            .sum()
    }

    /// The same sums as [`Store::window_sums`] (buckets starting in `[now - window, now)`), read mostly from memory.
    pub async fn window_sums(
        &mut self,
        store: &Store,
        keys: &[SumKey],
        windows: &[Window],
        now_ms: i64,
    ) -> cfp_store::Result<HashMap<SumKey, Vec<Sums>>> {
        let reload = now_ms < self.last_now_ms
            || self
                .loaded_at_ms
                .is_none_or(|at| now_ms - at >= RELOAD_EVERY.as_millis() as i64);
        if reload {
            self.keys.clear();
            self.loaded_at_ms = Some(now_ms);
        }
        self.last_now_ms = now_ms;
        let wanted: std::collections::HashSet<&SumKey> = keys.iter().collect();
        self.keys.retain(|k, _| wanted.contains(k));

        let longest = |res: i32| windows.iter().filter(|w| w.res == res).map(|w| w.secs).max();
        let slack = SLACK.as_millis() as i64;
        // Per resolution: where windows start (None: no window of it) and where closed buckets end.
        let bounds = |res: i32| {
            longest(res).map(|secs| {
                let res_ms = i64::from(res) * 1000;
                let from = now_ms - secs * 1000;
                let closed = (now_ms - slack).div_euclid(res_ms) * res_ms;
                (from, closed.max(from))
            })
        };
        let (minute, hour) = (bounds(60), bounds(3600));
        let from_of = |c: Option<&Closed>, b: Option<(i64, i64)>| match (c, b) {
            (_, None) => i64::MAX,
            (Some(c), Some((from, _))) => c.until_ms.max(from),
            (None, Some((from, _))) => from,
        };
        let mut minute_from = Vec::with_capacity(keys.len());
        let mut hour_from = Vec::with_capacity(keys.len());
        for k in keys {
            let c = self.keys.get(k);
            minute_from.push(from_of(c.map(|c| &c.minute), minute));
            hour_from.push(from_of(c.map(|c| &c.hour), hour));
        }
        let mut rows = store.bucket_sums(keys, &minute_from, &hour_from, now_ms).await?;
        rows.sort_by_key(|r| (r.key, r.res, r.start_ms));

        // New closed buckets go into the cache; open ones are summed for this cycle only.
        let mut open: HashMap<usize, Vec<(i32, i64, Sums)>> = HashMap::new();
        for r in rows {
            let (closed_until, entry) = match r.res {
                60 => (
                    minute.map(|b| b.1),
                    &mut self.keys.entry(keys[r.key].clone()).or_default().minute,
                ),
                _ => (
                    hour.map(|b| b.1),
                    &mut self.keys.entry(keys[r.key].clone()).or_default().hour,
                ),
            };
            if closed_until.is_some_and(|c| r.start_ms < c) {
                entry.buckets.push_back((r.start_ms, r.sums));
            } else {
                open.entry(r.key).or_default().push((r.res, r.start_ms, r.sums));
            }
        }
        let mut out = HashMap::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            let cache = self.keys.entry(k.clone()).or_default();
            for (c, b) in [(&mut cache.minute, minute), (&mut cache.hour, hour)] {
                match b {
                    Some((from, closed)) => {
                        c.until_ms = c.until_ms.max(closed);
                        while c.buckets.front().is_some_and(|(s, _)| *s < from) {
                            c.buckets.pop_front();
                        }
                    }
                    None => *c = Closed::default(),
                }
            }
            let sums: Vec<Sums> = windows
                .iter()
                .map(|w| {
                    let start = now_ms - w.secs * 1000;
                    let c = if w.res == 60 { &cache.minute } else { &cache.hour };
                    let mut s = Sums::default();
                    for (_, b) in c.buckets.iter().rev().take_while(|(at, _)| *at >= start) {
                        add(&mut s, b);
                    }
                    for (_, _, b) in open
                        .get(&i)
                        .into_iter()
                        .flatten()
                        .filter(|(res, at, _)| *res == w.res && *at >= start)
                    {
                        add(&mut s, b);
                    }
                    s
                })
                .collect();
            out.insert(k.clone(), sums);
        }
        Ok(out)
    }
}
