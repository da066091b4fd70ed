//! Tests of the runtime's options.

use super::*;

#[test]
fn worker_caps_are_flags() {
    let o = Options::load(&[
        "--max-workers-per-project=2".into(),
        "--max-steps-per-registration=10".into(),
        "--max-calls-per-worker=3".into(),
        "--max-queued-log-lines=50".into(),
    ])
    .unwrap();
    assert_eq!(
        (
            o.max_workers_per_project,
            o.max_steps_per_registration,
            o.max_calls_per_worker,
            o.max_queued_log_lines
        ),
        (2, 10, 3, 50)
    );
    assert!(Options::load(&["--max-calls-per-worker=0".into()]).is_err());
}

#[test]
fn flags_override_defaults_and_errors_name_the_option() {
    let o = Options::load(&["--listen".into(), "127.0.0.1:9".into(), "--dev".into()]).unwrap();
    assert_eq!(o.listen, "127.0.0.1:9");
    assert!(o.dev);
    let e = Options::load(&["--body-limit=abc".into()]).err().unwrap().to_string();
    assert!(e.contains("--body-limit"), "{e}");
    let e = Options::load(&["--nope".into()]).err().unwrap().to_string();
    assert!(e.contains("unknown option `--nope`"), "{e}");
    let o = Options::load(&["--redis-url=redis://:pw@127.0.0.1:6379".into()]).unwrap();
    assert_eq!(o.redis_url.as_deref(), Some("redis://:pw@127.0.0.1:6379"));
    assert_eq!(o.to_json()["redisUrl"], "redis://:***@127.0.0.1:6379");
    let e = Options::load(&["--redis-url".into(), "127.0.0.1:6379".into()])
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("--redis-url"), "{e}");
}

#[test]
fn control_plane_options_are_checked() {
    let e = Options::load(&["--control-plane-url=cp.example".into(), "--service-token=x".into()])
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("https://"), "{e}");
    let https = Options::load(&[
        "--control-plane-url=https://cp.example".into(),
        "--service-token=x".into(),
    ]);
    assert_eq!(https.unwrap().control_plane_url.as_deref(), Some("https://cp.example"));
    let e = Options::load(&["--control-plane-url=http://127.0.0.1:4100".into()])
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("--service-token"), "{e}");
    let e = Options::load(&[
        "--control-plane-url=http://127.0.0.1:4100".into(),
        "--service-token=x".into(),
        "--dev".into(),
    ])
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("--dev cannot be combined with --control-plane-url"), "{e}");
    let o = Options::load(&[
        "--control-plane-url=http://127.0.0.1:4100/".into(),
        "--service-token=secret".into(),
        "--require-auth".into(),
        "--region=eu".into(),
    ])
    .unwrap();
    assert_eq!(o.control_plane_url.as_deref(), Some("http://127.0.0.1:4100"));
    assert!(o.require_auth);
    assert_eq!(o.to_json()["serviceToken"], "***");
    assert_eq!(o.region, "eu");
}

#[test]
fn edge_limits_have_defaults_and_are_checked() {
    let o = Options::load(&[]).unwrap();
    assert_eq!(o.worker_hello_timeout, Duration::from_secs(3));
    assert_eq!(
        (o.worker_max_unauthenticated, o.worker_max_unauthenticated_per_peer),
        (256, 16)
    );
    assert_eq!(o.worker_max_frame, 64 << 20);
    assert_eq!(o.header_read_timeout, Duration::from_secs(10));
    assert_eq!(o.db_acquire_timeout, Duration::from_secs(2));
    for bad in [
        "--hello-timeout-ms=0",
        "--max-unauthenticated=0",
        "--worker-max-frame-bytes=1024",
    ] {
        let e = Options::load(&[bad.into()]).err().unwrap().to_string();
        assert!(e.contains(bad.split('=').next().unwrap()), "{e}");
    }
}

#[test]
fn redacts_passwords() {
    assert_eq!(redact_url("postgres://u:pw@h:5/d"), "postgres://u:***@h:5/d");
    assert_eq!(redact_url("postgres://u@h/d"), "postgres://u@h/d");
}
