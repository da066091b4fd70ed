//! Runtime options: defaults, then environment variables, then command-line flags; validated at start-up.
//! `cfp-runtime --print-config` shows the result (secrets masked), `--help` lists every option.

use std::time::Duration;

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
    // --- Alert delivery (docs/slo.md) ---
    pub alerts: Option<crate::alerts::AlertOptions>,
}

/// (flag, env, default, help)
const SPEC: &[(&str, &str, &str, &str)] = &[
    (
        "--listen",
        "CFP_LISTEN",
        "127.0.0.1:3111",
        "address to serve HTTP, API steps and the worker protocol on",
    ),
    (
        "--database-url",
        "DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/postgres",
        "PostgreSQL connection URL",
    ),
    (
        "--schema",
        "CFP_DB_SCHEMA",
        "cfp_runtime",
        "PostgreSQL schema of the runtime's tables",
    ),
    (
        "--max-db-connections",
        "CFP_MAX_DB_CONNECTIONS",
        "16",
        "size of the database connection pool",
    ),
    (
        "--db-acquire-timeout-ms",
        "CFP_DB_ACQUIRE_TIMEOUT_MS",
        "2000",
        "how long a request waits for a database connection before answering 503 unavailable",
    ),
    (
        "--header-read-timeout-ms",
        "CFP_HEADER_READ_TIMEOUT_MS",
        "10000",
        "an HTTP connection that sends no complete request head within this many ms is closed",
    ),
    (
        "--hello-timeout-ms",
        "CFP_HELLO_TIMEOUT_MS",
        "3000",
        "a worker connection that sends no hello within this many ms is closed (4401)",
    ),
    (
        "--max-workers-per-project",
        "CFP_MAX_WORKERS_PER_PROJECT",
        "64",
        "connected workers per project, at most (close 4429 too_many_workers beyond)",
    ),
    (
        "--max-steps-per-registration",
        "CFP_MAX_STEPS_PER_REGISTRATION",
        "1000",
        "steps in one worker registration, at most (too_many_steps beyond: nothing registered)",
    ),
    (
        "--max-calls-per-worker",
        "CFP_MAX_CALLS_PER_WORKER",
        "64",
        "state and stream calls of one worker answered at once (too_many_calls beyond)",
    ),
    (
        "--max-queued-log-lines",
        "CFP_MAX_QUEUED_LOG_LINES",
        "10000",
        "log lines of one worker waiting to be written; beyond, its lines are dropped, counted and reported",
    ),
    (
        "--max-unauthenticated",
        "CFP_MAX_UNAUTHENTICATED",
        "256",
        "worker connections waiting for their hello, at most (503 too_many_connections beyond)",
    ),
    (
        "--max-unauthenticated-per-peer",
        "CFP_MAX_UNAUTHENTICATED_PER_PEER",
        "16",
        "worker connections waiting for their hello from one IP address, at most",
    ),
    (
        "--worker-max-frame-bytes",
        "CFP_WORKER_MAX_FRAME_BYTES",
        "67108864",
        "largest frame an authenticated worker may send (closed with 1009 beyond)",
    ),
    (
        "--worker-token",
        "CFP_WORKER_TOKEN",
        "",
        "worker token bound to the default tenant/project",
    ),
    (
        "--worker-tokens",
        "CFP_WORKER_TOKENS",
        "",
        "more worker tokens: `tenant/project=token,...`",
    ),
    (
        "--admin-token",
        "CFP_ADMIN_TOKEN",
        "",
        "bearer token of the runtime API",
    ),
    (
        "--dev",
        "CFP_DEV",
        "false",
        "dev mode: loopback callers run as the local developer; dev endpoints on",
    ),
    (
        "--dev-endpoints",
        "CFP_DEV_ENDPOINTS",
        "false",
        "enable dev/diagnostic endpoints (emit) outside dev mode",
    ),
    (
        "--data-dir",
        "CFP_DATA_DIR",
        ".cfp/data",
        "directory for large payloads (object storage, local)",
    ),
    (
        "--body-limit",
        "CFP_BODY_LIMIT",
        "1048576",
        "largest API request body in bytes (413 beyond); the ceiling: a project's maxBodyBytes never exceeds it",
    ),
    (
        "--purge-deleted-after-s",
        "CFP_PURGE_DELETED_AFTER_S",
        "604800",
        "seconds the data of a project deleted in the control plane is kept before it is purged (0: at once)",
    ),
    (
        "--request-timeout-ms",
        "CFP_REQUEST_TIMEOUT_MS",
        "30000",
        "API step timeout in ms (504 beyond); the ceiling: a project's requestTimeoutMs never exceeds it",
    ),
    (
        "--payload-threshold",
        "CFP_PAYLOAD_THRESHOLD",
        "262144",
        "event payloads above this many bytes go to object storage",
    ),
    (
        "--shutdown-timeout-ms",
        "CFP_SHUTDOWN_TIMEOUT_MS",
        "10000",
        "how long shutdown waits for in-flight work",
    ),
    (
        "--retry-base-ms",
        "CFP_RETRY_BASE_MS",
        "1000",
        "first retry delay; doubles per attempt (deterministic jitter)",
    ),
    ("--tenant", "CFP_TENANT", "default", "tenant id of the default project"),
    (
        "--project",
        "CFP_PROJECT",
        "default",
        "project id served at the root of the port",
    ),
    (
        "--workbench-dir",
        "CFP_WORKBENCH_DIR",
        "",
        "built workbench (apps/workbench/dist) to serve under /__cfp/",
    ),
    (
        "--layout-file",
        "CFP_LAYOUT_FILE",
        "",
        "the project's motia-workbench.json (flow node positions)",
    ),
    (
        "--redis-url",
        "CFP_REDIS_URL",
        "",
        "Redis (redis://…) shared by the region's replicas: stream fan-out instead of NOTIFY, and concurrency limits counted across replicas",
    ),
    (
        "--require-auth",
        "CFP_REQUIRE_AUTH",
        "false",
        "dev mode enforces what production enforces: no loopback local developer",
    ),
    (
        "--control-plane-url",
        "CFP_CONTROL_PLANE_URL",
        "",
        "control plane (https://host or http://host:port): access tokens, API keys, worker tokens, project settings",
    ),
    (
        "--control-plane-issuer",
        "CFP_CONTROL_PLANE_ISSUER",
        "",
        "`iss` of its access tokens (default: the control plane URL)",
    ),
    (
        "--control-plane-ca",
        "CFP_CONTROL_PLANE_CA",
        "",
        "PEM file of the CA(s) to trust for an https control plane instead of the public roots",
    ),
    (
        "--control-plane-client-cert",
        "CFP_CONTROL_PLANE_CLIENT_CERT",
        "",
        "PEM certificate (chain) this runtime presents to the control plane (mTLS); needs the key",
    ),
    (
        "--control-plane-client-key",
        "CFP_CONTROL_PLANE_CLIENT_KEY",
        "",
        "PEM private key of --control-plane-client-cert",
    ),
    (
        "--service-token",
        "CFP_SERVICE_TOKEN",
        "",
        "bearer token for the control plane's /v1/service API",
    ),
    (
        "--region",
        "CFP_REGION",
        "local",
        "this runtime's region: other regions' tokens and tenants are refused",
    ),
    (
        "--strict-validation",
        "CFP_STRICT_VALIDATION",
        "false",
        "refuse emits whose data fails the topic's schema (projects may override); off: a warning",
    ),
    (
        "--allow-loopback-oidc",
        "CFP_ALLOW_LOOPBACK_OIDC",
        "false",
        "accept plain-http JWKS URLs on loopback for projects' own OIDC providers (tests, local IdPs)",
    ),
    (
        "--workbench-origins",
        "CFP_WORKBENCH_ORIGINS",
        "",
        "comma-separated origins of workbenches served elsewhere (the control plane) allowed to call the runtime API",
    ),
    (
        "--metrics",
        "CFP_METRICS",
        "on",
        "Prometheus metrics at /metrics: on or off (off: nothing recorded, nothing served)",
    ),
    (
        "--metrics-token",
        "CFP_METRICS_TOKEN",
        "",
        "bearer token /metrics requires (otherwise: the admin token, or the --metrics-listen listener)",
    ),
    (
        "--metrics-listen",
        "CFP_METRICS_LISTEN",
        "",
        "separate address serving only /metrics and health (e.g. 127.0.0.1:9464); the main listener then has none",
    ),
    (
        "--metrics-max-series",
        "CFP_METRICS_MAX_SERIES",
        "10000",
        "series per metric family on the tenant/project/step labels; beyond, one __overflow__ series (counted)",
    ),
    (
        "--metrics-extra-buckets",
        "CFP_METRICS_EXTRA_BUCKETS",
        "",
        "comma-separated bounds (seconds) added to cfp_step_duration_seconds, e.g. SLO latency thresholds",
    ),
    (
        "--log-format",
        "CFP_LOG_FORMAT",
        "",
        "json or pretty (default: pretty in dev mode, json otherwise); json lines carry tenant, project and trace ids",
    ),
    // --- Traces (docs/tracing.md) ---
    (
        "--otlp-endpoint",
        "CFP_OTLP_ENDPOINT",
        "",
        "OTLP/HTTP (protobuf) endpoint spans are exported to: a base URL (http://collector:4318) or …/v1/traces; empty: no export",
    ),
    (
        "--otlp-headers",
        "CFP_OTLP_HEADERS",
        "",
        "extra headers of OTLP export requests: key=value,key2=value2 (e.g. authorization=Bearer …)",
    ),
    (
        "--trace-sample-ratio",
        "CFP_TRACE_SAMPLE_RATIO",
        "1",
        "share (0 to 1) of new traces exported; a trace with a caller's traceparent follows its sampled flag",
    ),
];

/// Every option: the main ones, then those of the subsystems that list their own.
fn specs() -> impl Iterator<Item = &'static (&'static str, &'static str, &'static str, &'static str)> {
    SPEC.iter().chain(crate::alerts::SPEC)
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
        let (otlp, trace_sample_ratio) = crate::otlp::OtlpOptions::parse(
            &get("--otlp-endpoint"),
            &get("--otlp-headers"),
            &get("--trace-sample-ratio"),
        )?;
        let alerts = crate::alerts::AlertOptions::parse(&get)?;
        Ok(Options {
            alerts,
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
        out["traceSampleRatio"] = json!(self.trace_sample_ratio);
        out["alerts"] = crate::alerts::AlertOptions::to_json(self.alerts.as_ref());
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
