//! Runtime options: defaults, then environment variables, then command-line flags; validated at start-up.
//! `cfp-runtime --print-config` shows the result (secrets masked), `--help` lists every option.

use std::time::Duration;

use crate::options_spec::SPEC;
use anyhow::{bail, Context, Result};
use serde_json::json;

pub struct Options {
    pub listen: String,
    pub database_url: String,
    pub schema: String,
    pub max_db_connections: u32,
    pub worker_tokens: Vec<(String, String, String)>, // (token, tenant, project)
    pub admin_token: Option<String>,
    pub dev: bool,
    pub dev_endpoints: bool,
    pub data_dir: String,
    pub body_limit: usize,
    pub request_timeout: Duration,
    /// Retention of a deleted project's data.
    pub purge_deleted_after: Duration,
    pub payload_threshold: usize,
    pub shutdown_timeout: Duration,
    pub retry_base_ms: u64,
    pub tenant: String,
    pub project: String,
    pub workbench_dir: Option<String>,
    pub layout_file: Option<String>,
    pub redis_url: Option<String>,
    pub require_auth: bool,
    pub control_plane_url: Option<String>,
    /// PEM file of the CA to trust for the control plane.
    pub control_plane_ca: Option<String>,
    /// PEM files of the client certificate and key for the control plane (mTLS).
    pub control_plane_client: Option<(String, String)>,
    pub control_plane_issuer: Option<String>,
    pub service_token: Option<String>,
    pub region: String,
    pub strict_validation: bool,
    pub allow_loopback_oidc: bool,
    pub workbench_origins: Vec<String>,
    pub print_config: bool,
    pub db_acquire_timeout: Duration,
    pub header_read_timeout: Duration,
    pub worker_hello_timeout: Duration,
    pub worker_max_unauthenticated: usize,
    pub worker_max_unauthenticated_per_peer: usize,
    pub worker_max_frame: usize,
    pub max_workers_per_project: usize,
    pub max_steps_per_registration: usize,
    pub max_calls_per_worker: usize,
    pub max_queued_log_lines: usize,
    pub metrics: crate::observability::MetricsOptions,
    pub log_format: crate::observability::LogFormat,
    // --- Traces (docs/tracing.md) ---
    pub otlp: Option<crate::otlp::OtlpOptions>,
    pub trace_sample_ratio: f64,
    /// The SLO evaluator's rules and cycle (`None`: off), docs/slo.md.
    pub slo: Option<cfp_engine::slo::SloPolicy>,
    pub audit: crate::anchor::AuditConfig,
    // --- Audit retention (docs/audit.md "Retention and legal hold") ---
    pub audit_retention: cfp_store::audit_retention::RetentionOptions,
    // --- Alert delivery (docs/slo.md) ---
    pub alerts: Option<crate::alerts::AlertOptions>,
}

/// Every option: the main ones, then those of the subsystems that list their own.
fn specs() -> impl Iterator<Item = &'static (&'static str, &'static str, &'static str, &'static str)> {
    SPEC.iter()
        .chain(crate::anchor::SPEC)
        .chain(crate::alerts::SPEC)
        .chain(crate::otlp::SPEC)
}

pub fn usage() -> String {
    let mut s = String::from("cfp-runtime — the CFP data plane\n\nUSAGE: cfp-runtime [OPTIONS]\n\nOPTIONS (flag, environment variable, default):\n");
    for (flag, env, default, help) in specs() {
        s.push_str(&format!(
            "  {flag:<22} {env:<24} {:<14} {help}\n",
            if default.is_empty() { "-" } else { default }
        ));
    }
    s.push_str("  --print-config                                          print the resolved options and exit\n");
    s
}

impl Options {
    pub fn load(args: &[String]) -> Result<Self> {
        let mut values: std::collections::HashMap<&str, String> = specs()
            .map(|(flag, env, default, _)| (*flag, std::env::var(env).unwrap_or_else(|_| default.to_string())))
            .collect();
        let mut print_config = false;
        let mut i = 0;
        while i < args.len() {
            let arg = &args[i];
            if arg == "--print-config" {
                print_config = true;
                i += 1;
                continue;
            }
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) => (f.to_string(), Some(v.to_string())),
                None => (arg.clone(), None),
            };
            let Some((name, ..)) = specs().find(|(f, ..)| *f == flag) else {
                bail!("unknown option `{arg}`\n\n{}", usage());
            };
            let boolean = matches!(
                *name,
                "--dev" | "--dev-endpoints" | "--require-auth" | "--strict-validation" | "--allow-loopback-oidc"
            );
            let value = match inline {
                Some(v) => v,
                None if boolean => "true".into(),
                None => {
                    i += 1;
                    args.get(i)
                        .cloned()
                        .with_context(|| format!("option `{flag}` needs a value"))?
                }
            };
            values.insert(name, value);
            i += 1;
        }
        let get = |k: &str| values[k].clone();
        let num = |k: &str| -> Result<u64> {
            get(k)
                .parse::<u64>()
                .with_context(|| format!("option {k} must be a whole number, got `{}`", get(k)))
        };
        let boolean = |k: &str| -> Result<bool> {
            match get(k).to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" | "" => Ok(false),
                other => bail!("option {k} must be true or false, got `{other}`"),
            }
        };
        let tenant = get("--tenant");
        let project = get("--project");
        let mut worker_tokens = Vec::new();
        if !get("--worker-token").is_empty() {
            worker_tokens.push((get("--worker-token"), tenant.clone(), project.clone()));
        }
        for entry in get("--worker-tokens")
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let (scope, token) = entry
                .split_once('=')
                .with_context(|| format!("worker token entry `{entry}` must be `tenant/project=token`"))?;
            let (t, p) = scope
                .split_once('/')
                .with_context(|| format!("worker token scope `{scope}` must be `tenant/project`"))?;
            worker_tokens.push((token.to_string(), t.to_string(), p.to_string()));
        }
        if let Some((short, ..)) = worker_tokens.iter().find(|(t, ..)| t.len() < 16) {
            bail!(
                "worker tokens must be at least 16 characters (one is {} long)",
                short.len()
            );
        }
        let body_limit = num("--body-limit")? as usize;
        if body_limit == 0 {
            bail!("--body-limit must be greater than 0");
        }
        let timeout = num("--request-timeout-ms")?;
        if timeout == 0 {
            bail!("--request-timeout-ms must be greater than 0");
        }
        let admin_token = Some(get("--admin-token")).filter(|t| !t.is_empty());
        let redis_url = Some(get("--redis-url")).filter(|u| !u.is_empty());
        if let Some(url) = &redis_url {
            if !(url.starts_with("redis://") || url.starts_with("redis+unix://") || url.starts_with("unix://")) {
                bail!(
                    "--redis-url must be a redis:// (or unix://) URL, got `{}` (TLS rediss:// is not supported)",
                    redact_url(url)
                );
            }
        }
        let control_plane_url =
            Some(get("--control-plane-url").trim_end_matches('/').to_string()).filter(|u| !u.is_empty());
        let service_token = Some(get("--service-token")).filter(|t| !t.is_empty());
        if let Some(url) = &control_plane_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                bail!("--control-plane-url must be an https:// (or http://) URL, got `{url}`");
            }
            if service_token.is_none() {
                bail!(
                    "--control-plane-url needs --service-token (CFP_SERVICE_TOKEN) for the control plane's service API"
                );
            }
        }
        if control_plane_url.is_some() && boolean("--dev")? {
            bail!(
                "--dev cannot be combined with --control-plane-url: dev mode trusts loopback callers as the local \
                 developer, which a runtime serving the control plane's projects must not; drop --dev (use \
                 --dev-endpoints for the diagnostic endpoints)"
            );
        }
        let file = |k: &str| Some(get(k)).filter(|v| !v.is_empty());
        let control_plane_ca = file("--control-plane-ca");
        let control_plane_client = match (file("--control-plane-client-cert"), file("--control-plane-client-key")) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => bail!("--control-plane-client-cert and --control-plane-client-key go together: give both or neither"),
        };
        if control_plane_ca.is_some() || control_plane_client.is_some() {
            match &control_plane_url {
                Some(url) if url.starts_with("https://") => {}
                _ => {
                    bail!("--control-plane-ca and --control-plane-client-cert apply to an https:// --control-plane-url")
                }
            }
        }
        let mut workbench_origins = Vec::new();
        for o in get("--workbench-origins")
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
        {
            let (scheme, rest) = o.split_once("://").unwrap_or(("", ""));
            if !matches!(scheme, "http" | "https") || rest.is_empty() || rest.contains('/') || o == "*" {
                bail!("--workbench-origins: `{o}` is not an origin like https://cfp.example.com (no path, no *)");
            }
            workbench_origins.push(o.to_string());
        }
        let positive = |k: &str| -> Result<u64> {
            match num(k)? {
                0 => bail!("{k} must be greater than 0"),
                n => Ok(n),
            }
        };
        let db_acquire_timeout = Duration::from_millis(positive("--db-acquire-timeout-ms")?);
        let header_read_timeout = Duration::from_millis(positive("--header-read-timeout-ms")?);
        let worker_hello_timeout = Duration::from_millis(positive("--hello-timeout-ms")?);
        let worker_max_unauthenticated = positive("--max-unauthenticated")? as usize;
        let worker_max_unauthenticated_per_peer = positive("--max-unauthenticated-per-peer")? as usize;
        let worker_max_frame = positive("--worker-max-frame-bytes")? as usize;
        let max_workers_per_project = positive("--max-workers-per-project")? as usize;
        let max_steps_per_registration = positive("--max-steps-per-registration")? as usize;
        let max_calls_per_worker = positive("--max-calls-per-worker")? as usize;
        let max_queued_log_lines = positive("--max-queued-log-lines")? as usize;
        if worker_max_frame < 64 * 1024 {
            bail!("--worker-max-frame-bytes must be at least 65536 (a worker's register frame can be large)");
        }
        let dev = boolean("--dev")?;
        let metrics = crate::observability::MetricsOptions::parse(
            &get("--metrics"),
            &get("--metrics-token"),
            &get("--metrics-listen"),
            &get("--metrics-max-series"),
            &get("--metrics-extra-buckets"),
        )?;
        let log_format = crate::observability::LogFormat::parse(&get("--log-format"), dev)?;
        let region = get("--region");
        if region.is_empty() || region.len() > 32 {
            bail!("--region must be 1 to 32 characters, got `{region}`");
        }
        // --- Traces (docs/tracing.md) ---
        let (otlp, trace_sample_ratio) = crate::otlp::OtlpOptions::parse(&get)?;
        let audit_retention = cfp_store::audit_retention::RetentionOptions {
            default_days: num("--audit-retention-days")?.min(36_500) as u32,
            min_days: num("--audit-retention-min-days")?.clamp(1, 36_500) as u32,
            interval: Duration::from_secs(num("--audit-prune-interval-s")?.max(1)),
            database_url: Some(get("--audit-prune-database-url")).filter(|v| !v.is_empty()),
        };
        if audit_retention.default_days > 0 && audit_retention.default_days < audit_retention.min_days {
            bail!(
                "--audit-retention-days {} is below --audit-retention-min-days {} (0 keeps forever)",
                audit_retention.default_days,
                audit_retention.min_days
            );
        }
        let alerts = crate::alerts::AlertOptions::parse(&get)?;
        Ok(Options {
            alerts,
            slo: crate::slo_policy::parse(&get("--slo-policy"))?,
            audit: crate::anchor::AuditConfig::parse(&get)?,
            audit_retention,
            otlp,
            trace_sample_ratio,
            require_auth: boolean("--require-auth")?,
            control_plane_issuer: Some(get("--control-plane-issuer")).filter(|v| !v.is_empty()),
            control_plane_url,
            control_plane_ca,
            control_plane_client,
            service_token,
            region,
            strict_validation: boolean("--strict-validation")?,
            allow_loopback_oidc: boolean("--allow-loopback-oidc")?,
            workbench_origins,
            listen: get("--listen"),
            database_url: get("--database-url"),
            schema: get("--schema"),
            max_db_connections: num("--max-db-connections")?.max(2) as u32,
            worker_tokens,
            admin_token,
            dev: boolean("--dev")?,
            dev_endpoints: boolean("--dev-endpoints")?,
            data_dir: get("--data-dir"),
            body_limit,
            request_timeout: Duration::from_millis(timeout),
            purge_deleted_after: Duration::from_secs(num("--purge-deleted-after-s")?),
            payload_threshold: num("--payload-threshold")? as usize,
            shutdown_timeout: Duration::from_millis(num("--shutdown-timeout-ms")?),
            retry_base_ms: num("--retry-base-ms")?.max(1),
            tenant,
            project,
            workbench_dir: Some(get("--workbench-dir")).filter(|v| !v.is_empty()),
            layout_file: Some(get("--layout-file")).filter(|v| !v.is_empty()),
            redis_url,
            print_config,
            db_acquire_timeout,
            header_read_timeout,
            worker_hello_timeout,
            worker_max_unauthenticated,
            worker_max_unauthenticated_per_peer,
            worker_max_frame,
            max_workers_per_project,
            max_steps_per_registration,
            max_calls_per_worker,
            max_queued_log_lines,
            metrics,
            log_format,
        })
    }

    pub fn to_json(&self) -> serde_json::Value {
        let mask = |s: &str| {
            if s.is_empty() {
                String::new()
            } else {
                "***".into()
            }
        };
        let mut out = json!({
            "listen": self.listen,
            "databaseUrl": redact_url(&self.database_url),
            "schema": self.schema,
            "maxDbConnections": self.max_db_connections,
            "workerTokens": self.worker_tokens.iter().map(|(t, te, p)| json!({"tenant": te, "project": p, "token": mask(t)})).collect::<Vec<_>>(),
            "adminToken": self.admin_token.as_deref().map(mask),
            "dev": self.dev,
            "devEndpoints": self.dev_endpoints,
            "dataDir": self.data_dir,
            "bodyLimit": self.body_limit,
            "requestTimeoutMs": self.request_timeout.as_millis() as u64,
            "purgeDeletedAfterS": self.purge_deleted_after.as_secs(),
            "payloadThreshold": self.payload_threshold,
            "shutdownTimeoutMs": self.shutdown_timeout.as_millis() as u64,
            "retryBaseMs": self.retry_base_ms,
            "tenant": self.tenant,
            "project": self.project,
            "workbenchDir": self.workbench_dir,
            "layoutFile": self.layout_file,
            "redisUrl": self.redis_url.as_deref().map(redact_url),
            "requireAuth": self.require_auth,
            "controlPlaneUrl": self.control_plane_url,
            "controlPlaneCa": self.control_plane_ca,
            "controlPlaneClientCert": self.control_plane_client.as_ref().map(|(c, _)| c),
            "controlPlaneIssuer": self.control_plane_issuer,
            "serviceToken": self.service_token.as_deref().map(mask),
            "region": self.region,
            "strictValidation": self.strict_validation,
            "allowLoopbackOidc": self.allow_loopback_oidc,
            "workbenchOrigins": self.workbench_origins,
            "dbAcquireTimeoutMs": self.db_acquire_timeout.as_millis() as u64,
            "headerReadTimeoutMs": self.header_read_timeout.as_millis() as u64,
            "helloTimeoutMs": self.worker_hello_timeout.as_millis() as u64,
            "maxUnauthenticated": self.worker_max_unauthenticated,
            "maxUnauthenticatedPerPeer": self.worker_max_unauthenticated_per_peer,
            "workerMaxFrameBytes": self.worker_max_frame,
            "maxWorkersPerProject": self.max_workers_per_project,
            "maxStepsPerRegistration": self.max_steps_per_registration,
            "maxCallsPerWorker": self.max_calls_per_worker,
            "maxQueuedLogLines": self.max_queued_log_lines,
        });
        out["metrics"] = self.metrics.to_json();
        out["logFormat"] = self.log_format.as_str().into();
        // --- Traces (docs/tracing.md) ---
        out["otlpEndpoint"] = json!(self.otlp.as_ref().map(|o| o.url.clone()));
        out["otlpHeaders"] = json!(self.otlp.as_ref().map(|o| o
            .headers
            .iter()
            .map(|(k, _)| format!("{k}=***"))
            .collect::<Vec<_>>()));
        out["otlpLogs"] = json!(self.otlp.as_ref().and_then(|o| o.logs_url.clone()));
        out["otlpBuffer"] = json!(self.otlp.as_ref().map(|o| o.buffer));
        out["otlpBatchDelayMs"] = json!(self.otlp.as_ref().map(|o| o.batch_delay.as_millis() as u64));
        out["otlpFlushTimeoutMs"] = json!(self.otlp.as_ref().map(|o| o.flush_timeout.as_millis() as u64));
        out["traceSampleRatio"] = json!(self.trace_sample_ratio);
        out["alerts"] = crate::alerts::AlertOptions::to_json(self.alerts.as_ref());
        out["sloPolicy"] = crate::slo_policy::to_json(&self.slo);
        out["audit"] = self.audit.to_json();
        // --- Audit retention ---
        out["auditRetentionDays"] = json!(self.audit_retention.default_days);
        out["auditRetentionMinDays"] = json!(self.audit_retention.min_days);
        out["auditPruneIntervalS"] = json!(self.audit_retention.interval.as_secs());
        out["auditPruneDatabaseUrl"] = json!(self.audit_retention.database_url.as_deref().map(redact_url));
        out
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
#[path = "options_tests.rs"]
mod tests;
