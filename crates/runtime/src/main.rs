//! `cfp-runtime`: parses options, sets up tracing, connects to PostgreSQL (retrying with backoff), starts
//! the engine and the HTTP gateway, and shuts down gracefully on SIGINT/SIGTERM.

mod alerts;
mod anchor;
mod audit_verify;
mod observability;
mod options;
mod options_spec;
mod otlp;
mod settings;
mod slo_policy;

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use cfp_engine::{Engine, EngineConfig};
use cfp_gateway::GatewayConfig;
use cfp_store::{Payloads, Scope, Store, StoreOptions};
use options::{redact_url, Options};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{}", options::usage());
        return;
    }
    let opts = match Options::load(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("cfp-runtime: {e:#}");
            std::process::exit(2);
        }
    };
    if opts.print_config {
        println!("{}", serde_json::to_string_pretty(&opts.to_json()).unwrap());
        return;
    }
    observability::init_logs(opts.log_format);
    if let Err(e) = run(opts).await {
        // Once (the log goes to stderr), and each cause once: wrapped errors repeat their source's text.
        tracing::error!("{}", describe(&e));
        std::process::exit(1);
    }
}

/// An error and its causes, leaving out a cause whose text is already said (`database error: X: X` → once).
fn describe(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

async fn connect(opts: &Options) -> Result<Store> {
    let store_opts = StoreOptions {
        database_url: opts.database_url.clone(),
        schema: opts.schema.clone(),
        max_connections: opts.max_db_connections,
        payload_threshold: opts.payload_threshold,
        acquire_timeout: opts.db_acquire_timeout,
    };
    let mut delay = Duration::from_millis(250);
    let started = std::time::Instant::now();
    loop {
        let payloads = Payloads::local(Path::new(&opts.data_dir))?;
        match Store::connect(&store_opts, payloads).await {
            Ok(store) => return Ok(store),
            Err(e) if e.is_transient() && started.elapsed() < Duration::from_secs(300) => {
                tracing::warn!(
                    "cannot reach PostgreSQL at {}: {e}; retrying in {} ms (check DATABASE_URL and that the server is running)",
                    redact_url(&opts.database_url),
                    delay.as_millis()
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot use PostgreSQL at {}", redact_url(&opts.database_url)))
            }
        }
    }
}

/// The TLS client configuration for the control plane from `--control-plane-ca` and the client certificate.
fn control_tls(opts: &Options) -> Result<Option<cfp_access::ControlTls>> {
    if opts.control_plane_ca.is_none() && opts.control_plane_client.is_none() {
        return Ok(None);
    }
    let read = |flag: &str, path: &str| std::fs::read(path).with_context(|| format!("{flag}: cannot read `{path}`"));
    let ca = match &opts.control_plane_ca {
        Some(path) => Some(read("--control-plane-ca", path)?),
        None => None,
    };
    let client = match &opts.control_plane_client {
        Some((cert, key)) => Some((
            read("--control-plane-client-cert", cert)?,
            read("--control-plane-client-key", key)?,
        )),
        None => None,
    };
    let tls = cfp_access::ControlTls::from_pem(
        ca.as_deref(),
        client.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice())),
    )
    .map_err(|e| {
        let flags = match (&opts.control_plane_ca, &opts.control_plane_client) {
            (Some(ca), None) => format!("--control-plane-ca `{ca}`"),
            (None, Some((c, k))) => format!("--control-plane-client-cert `{c}` / --control-plane-client-key `{k}`"),
            (Some(ca), Some((c, k))) => {
                format!(
                    "--control-plane-ca `{ca}` or --control-plane-client-cert `{c}` / --control-plane-client-key `{k}`"
                )
            }
            (None, None) => unreachable!(),
        };
        anyhow::anyhow!("{flags}: {e}")
    })?;
    Ok(Some(tls))
}

async fn run(opts: Options) -> Result<()> {
    let store = connect(&opts).await?;
    let otlp = opts.otlp.as_ref().map(otlp::OtlpOptions::start);
    let scope = Scope::new(&opts.tenant, &opts.project);
    let engine_cfg = EngineConfig {
        worker_tokens: opts
            .worker_tokens
            .iter()
            .map(|(t, te, p)| (t.clone(), Scope::new(te, p)))
            .collect(),
        retry_base_ms: opts.retry_base_ms,
        strict_validation: opts.strict_validation,
        max_workers_per_project: opts.max_workers_per_project,
        max_steps_per_registration: opts.max_steps_per_registration,
        max_calls_per_worker: opts.max_calls_per_worker,
        max_queued_log_lines: opts.max_queued_log_lines,
        metrics: opts.metrics.engine_config(),
        // The audit chain's signing key: a file of this runtime, never in the database (docs/architecture.md).
        audit: Some(cfp_store::audit::AuditOptions {
            key: cfp_store::audit::KeySource::File(std::path::Path::new(&opts.data_dir).join("audit-key.json")),
            checkpoint_interval: opts.audit.checkpoint_interval,
            ..Default::default()
        }),
        otlp: otlp.as_ref().map(|e| e.spans.clone()),
        otlp_logs: otlp.as_ref().and_then(|e| e.logs.clone()),
        trace_sample_ratio: opts.trace_sample_ratio,
        slo: opts.slo.clone(),
        alerts: opts.alerts.as_ref().map(|a| {
            tracing::info!(targets = ?a.targets.names(), "delivering SLO alerts");
            a.targets.clone()
        }),
        ..EngineConfig::default()
    };
    if engine_cfg.worker_tokens.is_empty() && opts.control_plane_url.is_none() {
        tracing::warn!("no worker token configured (CFP_WORKER_TOKEN) and no control plane: no worker can connect");
    }
    let engine = Engine::start(store.clone(), engine_cfg);
    // Every task started here is awaited (bounded) at the shutdown below.
    let anchoring = opts.audit.anchoring.as_ref().map(|(tsa, dir)| {
        tokio::spawn(anchor::run(
            store.clone(),
            tsa.clone(),
            dir.clone(),
            opts.audit.anchor_interval,
            engine.shutdown_signal(),
        ))
    });
    if let Some(url) = &opts.redis_url {
        let counters = cfp_engine::shared_limits::SharedCounters::new(url, &engine.config().instance_id)
            .map_err(anyhow::Error::msg)?;
        engine.share_limits(counters);
    }
    let control = match (&opts.control_plane_url, &opts.service_token) {
        (Some(url), Some(token)) => {
            let control = cfp_access::Control::start(
                cfp_access::ControlConfig {
                    url: url.clone(),
                    issuer: opts.control_plane_issuer.clone().unwrap_or_else(|| url.clone()),
                    service_token: token.clone(),
                    region: opts.region.clone(),
                    credential_cache: Duration::from_secs(5),
                    settings_interval: Duration::from_millis(1000),
                    tls: control_tls(&opts)?,
                },
                engine.shutdown_signal(),
            );
            // Tokens can be checked only after the first sync; until then such requests answer 503.
            if !control.wait_ready(Duration::from_secs(15)).await {
                tracing::warn!(
                    "the control plane at {url} has not answered yet; token checks answer 503 until it does"
                );
            }
            tracing::info!(region = %opts.region, "control plane at {url}: access tokens, API keys and worker tokens accepted");
            // Project switches and the purge of deleted projects follow the control plane's settings feed.
            engine.follow_settings(settings::from_control(&control), opts.purge_deleted_after);
            Some(control)
        }
        _ => None,
    };
    let control_loops = control.clone();
    let gateway_cfg = GatewayConfig {
        body_limit: opts.body_limit,
        request_timeout: opts.request_timeout,
        dev: opts.dev,
        dev_endpoints: opts.dev_endpoints,
        admin_token: opts.admin_token.clone(),
        default_scope: scope,
        workbench_dir: opts.workbench_dir.as_ref().map(std::path::PathBuf::from),
        layout_file: opts.layout_file.as_ref().map(std::path::PathBuf::from),
        redis_url: opts.redis_url.clone(),
        require_auth: opts.require_auth,
        control,
        allow_loopback_oidc: opts.allow_loopback_oidc,
        workbench_origins: opts.workbench_origins.clone(),
        worker_hello_timeout: opts.worker_hello_timeout,
        worker_max_unauthenticated: opts.worker_max_unauthenticated,
        worker_max_unauthenticated_per_peer: opts.worker_max_unauthenticated_per_peer,
        worker_max_frame: opts.worker_max_frame,
        metrics_token: opts.metrics.token.clone(),
        metrics_separate: opts.metrics.listen.is_some(),
        audit_retention_days: opts.audit_retention.default_days,
        audit_retention_min_days: opts.audit_retention.min_days,
        audit_anchoring: opts.audit.anchoring.is_some(),
    };
    let app = cfp_gateway::router(engine.clone(), gateway_cfg);
    let listener = tokio::net::TcpListener::bind(&opts.listen)
        .await
        .with_context(|| format!("cannot listen on {} (is the port in use?)", opts.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        "cfp-runtime listening on http://{addr} (database {}, payloads in {})",
        redact_url(&opts.database_url),
        store.payloads().label()
    );
    match &opts.redis_url {
        Some(url) => tracing::info!(
            "stream changes and concurrency limits cross replicas over Redis at {}",
            redact_url(url)
        ),
        None => tracing::info!(
            "stream changes cross replicas over PostgreSQL NOTIFY; concurrency limits are counted per replica (no --redis-url)"
        ),
    }
    if opts.dev && !opts.require_auth {
        tracing::info!("dev mode: requests from loopback run as the local developer");
    } else if opts.dev {
        tracing::info!("dev mode with --require-auth: every request needs credentials, as in production");
    }
    match &opts.workbench_dir {
        Some(dir) => tracing::info!("workbench at http://{addr}/__cfp/ (from {dir})"),
        None => tracing::info!("workbench not served (no --workbench-dir)"),
    }
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let mut ready = serde_json::json!({ "ready": true, "addr": addr.to_string() });
    let metrics_server = match (&opts.metrics.listen, opts.metrics.enabled) {
        (Some(at), true) => {
            let listener = tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("cannot listen on --metrics-listen {at} (is the port in use?)"))?;
            let maddr = listener.local_addr()?;
            tracing::info!("metrics at http://{maddr}/metrics");
            ready["metricsAddr"] = maddr.to_string().into();
            let app = cfp_gateway::metrics::listener_router(engine.clone(), opts.metrics.token.clone());
            let mut stop = stop_rx.clone();
            Some(tokio::spawn(cfp_gateway::conn::serve(
                listener,
                app,
                cfp_gateway::conn::ServeOptions {
                    header_read_timeout: opts.header_read_timeout,
                },
                async move {
                    let _ = stop.wait_for(|v| *v).await;
                },
            )))
        }
        _ => None,
    };
    // The one line on stdout: supervisors (cfp dev, tests) wait for it.
    println!("{ready}");

    // Audit retention: prunes checkpointed ranges past each tenant's retention (docs/audit.md).
    let pruner = tokio::spawn(cfp_store::audit_retention::run_pruner(
        store.clone(),
        opts.audit_retention.clone(),
        stop_rx.clone(),
    ));
    // The runtime's own verification of every audit chain (docs/audit.md).
    let verifier = opts
        .audit
        .verify_interval
        .map(|every| tokio::spawn(audit_verify::run(store.clone(), every, stop_rx.clone())));
    let serve_opts = cfp_gateway::conn::ServeOptions {
        header_read_timeout: opts.header_read_timeout,
    };
    let server = tokio::spawn(cfp_gateway::conn::serve(listener, app, serve_opts, async move {
        let _ = stop_rx.wait_for(|v| *v).await;
    }));
    shutdown_signal().await;
    tracing::info!(
        "shutting down: no new work; waiting up to {:?} for in-flight work",
        opts.shutdown_timeout
    );
    let _ = stop_tx.send(true);
    engine.shutdown(opts.shutdown_timeout).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), pruner).await;
    if let Some(v) = verifier {
        let _ = tokio::time::timeout(Duration::from_secs(5), v).await;
    }
    if let Some(anchoring) = anchoring {
        let _ = tokio::time::timeout(Duration::from_secs(5), anchoring).await;
    }
    if let Some(control) = control_loops {
        control.stopped(Duration::from_secs(5)).await;
    }
    if let Some(m) = metrics_server {
        let _ = tokio::time::timeout(Duration::from_secs(1), m).await;
    }
    // The spans of the attempts that ended while draining, and the last log lines, before the process exits.
    if let Some(e) = &otlp {
        e.flush().await;
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
