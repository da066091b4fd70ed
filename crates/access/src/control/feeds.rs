//! The control plane's feeds the runtime follows: the JWKS, the permission matrix, the revocation long-poll and
//! the region's project settings.

use super::*;

impl Control {
    /// Re-fetches the JWKS; `on_demand` ones (unknown kid) at most once a second.
    pub(super) async fn refresh_keys(&self, on_demand: bool) {
        let mut last = self.inner.keys_fetched.lock().await;
        if on_demand && last.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            return;
        }
        *last = Some(Instant::now());
        match self
            .request("GET", "/.well-known/jwks.json", None, Duration::from_secs(10))
            .await
        {
            Ok(doc) => match KeySet::from_jwks(doc.to_string().as_bytes()) {
                Ok(set) => *self.inner.keys.write().unwrap() = set,
                Err(e) => tracing::warn!(error = %e, "control plane JWKS unreadable"),
            },
            Err(e) => tracing::warn!(error = %e, "JWKS fetch failed; keeping the keys we have"),
        }
    }

    pub(super) async fn keys_loop(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            self.refresh_policy().await;
            self.refresh_keys(false).await;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(60)) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Fetches the control plane's permission matrix; keeps the one in use when that fails, when it does not
    /// parse, or when it lacks an action this runtime's routes check.
    pub(super) async fn refresh_policy(&self) {
        let served = match self
            .request("GET", "/v1/service/policy", None, Duration::from_secs(10))
            .await
        {
            Ok(page) => page["policy"].clone(),
            // A control plane without this route enforces the matrix it was built with: use ours.
            Err(ControlError::Unavailable(e)) if e.contains(" answered 404 ") => Value::Null,
            Err(e) => {
                tracing::warn!(error = %e, "cannot fetch the permission matrix; keeping the one in use");
                return;
            }
        };
        let builtin: Value = serde_json::from_str(crate::policy::BUILTIN).expect("the built-in matrix is JSON");
        let next = if served.is_null() || served == builtin {
            None
        } else {
            let parsed = crate::Policy::parse(&served.to_string()).and_then(|p| {
                let ours = crate::Policy::builtin();
                match ours.runtime_actions().into_iter().find(|a| p.action(a).is_none()) {
                    Some(missing) => Err(format!("it has no action `{missing}`, which this runtime checks")),
                    None => Ok(p),
                }
            });
            match parsed {
                Ok(p) => Some((served, Arc::new(p))),
                Err(e) => {
                    tracing::warn!(error = %e, "the control plane's permission matrix cannot be used; keeping the one in use");
                    self.inner.policy_synced.store(true, Ordering::Release);
                    return;
                }
            }
        };
        let mut current = self.inner.policy.write().unwrap();
        let changed = current.as_ref().map(|(v, _)| v) != next.as_ref().map(|(v, _)| v);
        if changed {
            match &next {
                Some(_) => tracing::info!(
                    "the control plane's permission matrix differs from the one built into this runtime; checking with the control plane's"
                ),
                None if current.is_some() => {
                    tracing::info!("the control plane's permission matrix is the built-in one again")
                }
                None => {}
            }
        }
        *current = next;
        drop(current);
        self.inner.policy_synced.store(true, Ordering::Release);
    }

    pub(super) async fn revocation_loop(self, mut shutdown: watch::Receiver<bool>) {
        let mut since = 0u64;
        let mut backoff = Duration::from_millis(200);
        loop {
            // Long-poll: answers as soon as something is revoked, else after `wait` seconds. The first call
            // does not wait: with nothing revoked yet it would hold the runtime's start-up for 5 s.
            let wait = if self.inner.revocations_synced.load(Ordering::Acquire) {
                5
            } else {
                0
            };
            let path = format!("/v1/service/revocations?since={since}&wait={wait}");
            let call = self.request("GET", &path, None, Duration::from_secs(15));
            let result = tokio::select! {
                r = call => r,
                _ = shutdown.changed() => return,
            };
            match result {
                Ok(page) => {
                    backoff = Duration::from_millis(200);
                    since = page["version"].as_u64().unwrap_or(since);
                    self.apply_revocations(page["items"].as_array().map(Vec::as_slice).unwrap_or(&[]));
                    self.inner.revocations_synced.store(true, Ordering::Release);
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "revocation feed unavailable");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    pub(super) fn apply_revocations(&self, items: &[Value]) {
        let now = now_s();
        let mut revoked_credentials = Vec::new();
        {
            let mut r = self.inner.revocations.write().unwrap();
            for item in items {
                if let Some(credential) = r.apply(item, now) {
                    revoked_credentials.push(credential);
                }
            }
            r.prune(now);
        }
        if !revoked_credentials.is_empty() {
            let mut cache = self.inner.credentials.lock().unwrap();
            cache.retain(|_, (c, _)| !revoked_credentials.contains(&c.id));
        }
        for id in revoked_credentials {
            let _ = self.inner.revoked_credentials.send(id);
        }
        if !items.is_empty() {
            self.inner.revocations_version.send_modify(|v| *v += 1);
        }
    }

    pub(super) async fn settings_loop(self, mut shutdown: watch::Receiver<bool>) {
        let mut since = 0u64;
        let region = self.inner.cfg.region.clone();
        // Long-poll once synced: the control plane answers as soon as a setting changes (or after `wait` s). A
        // control plane that does not know `wait` (400) is polled every `settings_interval` instead.
        let mut long_poll = true;
        loop {
            let wait = if long_poll && self.inner.settings_synced.load(Ordering::Acquire) {
                SETTINGS_WAIT_S
            } else {
                0
            };
            let path = match wait {
                0 => format!("/v1/service/projects?region={region}&since={since}"),
                w => format!("/v1/service/projects?region={region}&since={since}&wait={w}"),
            };
            let started = Instant::now();
            let call = self.request("GET", &path, None, Duration::from_secs(wait + 10));
            let result = tokio::select! {
                r = call => r,
                _ = shutdown.changed() => return,
            };
            let mut pause = self.inner.cfg.settings_interval;
            match result {
                Ok(page) => {
                    // after a long-poll ask again at once, unless it came back early with nothing new
                    if wait > 0
                        && (page["items"].as_array().is_some_and(|i| !i.is_empty())
                            || started.elapsed() >= Duration::from_secs(wait))
                    {
                        pause = Duration::ZERO;
                    }
                    let items = page["items"].as_array().cloned().unwrap_or_default();
                    if !items.is_empty() {
                        let mut projects = self.inner.projects.write().unwrap();
                        for item in items {
                            // A deleted project: forget it, so that it answers 404 like any unknown project,
                            // and queue it for the purge of its data (see `take_deleted`).
                            if item["deleted"] == serde_json::Value::Bool(true) {
                                if let (Some(tenant), Some(project)) =
                                    (item["tenantId"].as_str(), item["projectId"].as_str())
                                {
                                    projects.remove(project);
                                    self.inner
                                        .deleted
                                        .lock()
                                        .unwrap()
                                        .push((tenant.to_string(), project.to_string()));
                                }
                                continue;
                            }
                            match ProjectSettings::from_service(&item) {
                                Ok(p) => {
                                    projects.insert(p.project_id.clone(), Arc::new(p));
                                }
                                Err(e) => tracing::warn!(error = %e, "project settings skipped"),
                            }
                        }
                    }
                    let version = page["version"].as_u64().unwrap_or(since);
                    if version != since || !self.inner.settings_synced.load(Ordering::Acquire) {
                        since = version;
                        self.inner.settings_synced.store(true, Ordering::Release);
                        self.inner.settings_version.send_replace(version);
                    }
                }
                Err(ControlError::Unavailable(e)) if wait > 0 && e.contains(" answered 400 ") => {
                    long_poll = false;
                    tracing::info!(error = %e, "the control plane does not long-poll settings; polling instead");
                }
                Err(e) => tracing::warn!(error = %e, "project settings sync failed; keeping the last ones"),
            }
            if pause > Duration::ZERO {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.changed() => return,
                }
            }
        }
    }
}
