//! `maxConcurrentExecutions` of a project and of its tenant (FR-6): every step execution in flight on this
//! runtime — API calls and queue deliveries alike — holds a [`Permit`] of its project's gate and of its tenant's.
//! An API call beyond the limit is refused (the gateway answers 429 naming the limit); dispatchers claim no more
//! deliveries than the gates have room for, and wake when a permit is released.
//!
//! With [`Limits::share`] (`--redis-url`) the limits hold across the region's replicas: a permit also holds a
//! lease in Redis ([`crate::shared_limits`]), and a dispatcher's room is the smaller of this replica's and the
//! region's. A dispatcher blocked by the region's count asks again every 100 ms (a place freed on another
//! replica wakes nothing here).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use cfp_store::Scope;

use crate::shared_limits::{Acquired, Lease, SharedCounters};
use tokio::sync::Notify;

/// No limit.
const NONE: u32 = u32::MAX;

pub struct Gate {
    limit: AtomicU32,
    inflight: AtomicU32,
    /// Woken when a permit is released while the gate was full.
    pub(crate) freed: Notify,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            limit: AtomicU32::new(NONE),
            inflight: AtomicU32::new(0),
            freed: Notify::new(),
        }
    }
}

impl Gate {
    /// The limit, when one is set.
    fn configured(&self) -> Option<u32> {
        Some(self.limit.load(Ordering::Acquire)).filter(|l| *l != NONE)
    }

    fn room(&self) -> u32 {
        self.limit
            .load(Ordering::Acquire)
            .saturating_sub(self.inflight.load(Ordering::Acquire))
    }

    fn try_take(&self) -> Result<(), u32> {
        let limit = self.limit.load(Ordering::Acquire);
        if self.inflight.fetch_add(1, Ordering::AcqRel) >= limit {
            self.inflight.fetch_sub(1, Ordering::AcqRel);
            return Err(limit);
        }
        Ok(())
    }
}

/// One execution's hold on its project's and tenant's gates (and its lease in the region's counts); released
/// on drop.
pub struct Permit {
    gates: [Arc<Gate>; 2],
    _lease: Option<Lease>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        for g in &self.gates {
            let before = g.inflight.fetch_sub(1, Ordering::AcqRel);
            if before >= g.limit.load(Ordering::Acquire) {
                g.freed.notify_waiters();
            }
        }
    }
}

impl std::fmt::Debug for Permit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Permit")
    }
}

/// Which limit refused an execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitReached {
    /// `project` or `tenant`.
    pub scope: &'static str,
    pub limit: u32,
}

#[derive(Default)]
pub struct Limits {
    projects: Mutex<HashMap<Scope, Arc<Gate>>>,
    tenants: Mutex<HashMap<String, Arc<Gate>>>,
    shared: OnceLock<SharedCounters>,
}

impl Limits {
    fn gates(&self, scope: &Scope) -> [Arc<Gate>; 2] {
        let project = self.projects.lock().unwrap().entry(scope.clone()).or_default().clone();
        let tenant = self
            .tenants
            .lock()
            .unwrap()
            .entry(scope.tenant.clone())
            .or_default()
            .clone();
        [project, tenant]
    }

    /// Sets the limits of a project and of its tenant (`None`: unlimited).
    pub fn set(&self, scope: &Scope, project: Option<u32>, tenant: Option<u32>) {
        let [p, t] = self.gates(scope);
        for (gate, value) in [(p, project), (t, tenant)] {
            let old = gate.limit.swap(value.unwrap_or(NONE), Ordering::AcqRel);
            if value.unwrap_or(NONE) > old {
                gate.freed.notify_waiters();
            }
        }
    }

    /// Counts executions across the region's replicas from now on (once; later calls are ignored).
    pub fn share(&self, counters: SharedCounters) {
        let _ = self.shared.set(counters);
    }

    /// The region's counters, when shared.
    pub fn shared(&self) -> Option<&SharedCounters> {
        self.shared.get()
    }

    pub async fn try_acquire(&self, scope: &Scope) -> Result<Permit, LimitReached> {
        let [p, t] = self.gates(scope);
        p.try_take().map_err(|limit| LimitReached {
            scope: "project",
            limit,
        })?;
        if let Err(limit) = t.try_take() {
            p.inflight.fetch_sub(1, Ordering::AcqRel);
            return Err(LimitReached { scope: "tenant", limit });
        }
        let limits = [p.configured(), t.configured()];
        let mut permit = Permit {
            gates: [p, t],
            _lease: None,
        };
        if let Some(shared) = self.shared.get() {
            match shared.acquire("ex", &scope.tenant, &scope.project, limits).await {
                Acquired::Held(lease) => permit._lease = Some(lease),
                Acquired::Full { index, .. } => {
                    return Err(LimitReached {
                        scope: if index == 0 { "project" } else { "tenant" },
                        limit: limits[index].unwrap_or(NONE),
                    })
                }
                Acquired::Unavailable => {}
            }
        }
        Ok(permit)
    }

    /// How many more executions the project may start now, and the gates to wait on when it is none.
    pub async fn room(&self, scope: &Scope) -> (u32, [Arc<Gate>; 2]) {
        let gates = self.gates(scope);
        let mut room = gates[0].room().min(gates[1].room());
        if let (true, Some(shared)) = (room > 0, self.shared.get()) {
            let limits = [gates[0].configured(), gates[1].configured()];
            if let Some(region) = shared.room("ex", &scope.tenant, &scope.project, limits).await {
                room = room.min(region);
            }
        }
        (room, gates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn project_and_tenant_limits_bound_executions() {
        let l = Limits::default();
        let a = Scope::new("t", "a");
        let b = Scope::new("t", "b");
        assert!(l.try_acquire(&a).await.is_ok(), "unlimited by default");
        l.set(&a, Some(2), Some(3));
        l.set(&b, None, Some(3));
        let p1 = l.try_acquire(&a).await.unwrap();
        let p2 = l.try_acquire(&a).await.unwrap();
        assert_eq!(
            l.try_acquire(&a).await.unwrap_err(),
            LimitReached {
                scope: "project",
                limit: 2
            }
        );
        assert_eq!(l.room(&a).await.0, 0);
        let p3 = l.try_acquire(&b).await.unwrap();
        assert_eq!(
            l.try_acquire(&b).await.unwrap_err(),
            LimitReached {
                scope: "tenant",
                limit: 3
            }
        );
        drop(p1);
        assert_eq!(l.room(&a).await.0, 1);
        let p4 = l.try_acquire(&b).await.unwrap();
        assert_eq!(l.room(&a).await.0, 0, "the project has room, its tenant does not");
        drop(p3);
        assert_eq!(l.room(&a).await.0, 1);
        drop((p2, p4));
        l.set(&a, None, None);
        assert_eq!(l.room(&a).await.0, u32::MAX);
    }
}
