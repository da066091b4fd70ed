//! The runtime anchors its own audit checkpoints (`--audit-tsa-url`, `--audit-anchor-dir`): against a local
//! RFC 3161 authority built on OpenSSL (`cfp-audit-verify/testing`, run by Node), a runtime with a 1 s anchor and
//! checkpoint interval writes an anchor after a state write, records it as an `audit.anchor` entry of
//! `runtime:system`, and `cfp audit verify --anchors DIR --tsa-cert CA` checks the anchor fully (CMS signature,
//! certificate, digest, anchored checkpoints) and finds the chains intact; an anchor altered on disk is named.
//! Needs `node`, `openssl` and the built `packages/audit-verify` and `packages/cli`.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{database_url, start_runtime, Killed};

const ADMIN: &str = "audit-anchor-admin-token-0123456789";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// One HTTP/1.1 request with the admin token.
fn request(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\nauthorization: Bearer {ADMIN}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split(' ').nth(1)?.parse().ok()?;
    Some((status, out.split_once("\r\n\r\n")?.1.to_string()))
}

fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if let Some(v) = probe() {
            return v;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

/// Runs `cfp audit verify` on the schema with the anchors: (exit code, output).
fn verify(schema: &str, anchors: &Path, ca: &str) -> (i32, String) {
    let out = Command::new("node")
        .arg(repo().join("packages/cli/dist/main.js"))
        .args([
            "audit",
            "verify",
            "--database-url",
            &database_url(),
            "--schema",
            schema,
            "--anchors",
        ])
        .arg(anchors)
        .args(["--tsa-cert", ca])
        .env("NO_COLOR", "1")
        .output()
        .expect("node runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(99), text)
}

#[test]
fn the_runtime_anchors_its_checkpoints_and_cfp_audit_verify_checks_the_anchor() {
    // the local authority: prints {url, ca} and serves until its stdin closes
    let script = format!(
        "const t = await import({:?}); const tsa = t.localTsa(); const s = await t.serveTsa(tsa);\
         const {{ join }} = await import('node:path');\
         console.log(JSON.stringify({{ url: s.url, ca: join(tsa.dir, 'ca.crt') }}));\
         process.stdin.resume(); process.stdin.on('end', () => process.exit(0));",
        repo()
            .join("packages/audit-verify/dist/testing.js")
            .display()
            .to_string()
    );
    let mut node = Command::new("node")
        .args(["--input-type=module", "-e", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs");
    let mut line = String::new();
    BufReader::new(node.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _tsa = Killed(node);
    let tsa: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("the TSA said {line}"));
    let ca = tsa["ca"].as_str().unwrap().to_string();

    let schema = format!("t_anchor_{}", std::process::id());
    let data = std::env::temp_dir().join(format!("cfp-audit-anchor-{schema}"));
    let anchors = data.join("anchors-store");
    let (rt, port) = start_runtime(
        Command::new(env!("CARGO_BIN_EXE_cfp-runtime"))
            .args(["--schema", &schema, "--dev-endpoints=true"])
            .args(["--audit-tsa-url", tsa["url"].as_str().unwrap()])
            .arg("--audit-anchor-dir")
            .arg(&anchors)
            .args(["--audit-anchor-interval-s", "1", "--audit-checkpoint-interval-s", "1"])
            .arg("--data-dir")
            .arg(&data)
            .env("DATABASE_URL", database_url())
            .env("CFP_ADMIN_TOKEN", ADMIN)
            .env_remove("CFP_LOG")
            .stderr(Stdio::null()),
    );
    let rt = Killed(rt);
    wait_for("the runtime", || {
        request(port, "GET", "/__cfp/health", "").filter(|(s, _)| *s == 200)
    });
    let (status, body) = request(port, "PUT", "/__cfp/api/state/g/k", "{\"v\":1}").unwrap();
    assert_eq!(status, 200, "{body}");

    let dir = anchors.join("anchors/runtime");
    let first = wait_for("an anchor file", || {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).ok()?.flatten().map(|e| e.path()).collect();
        files.sort();
        files.into_iter().next()
    });
    let anchor: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&first).unwrap()).unwrap();
    assert_eq!(anchor["plane"], "runtime");
    assert!(anchor["checkpoints"][0]
        .as_str()
        .unwrap()
        .starts_with("cfp-audit/runtime:"));
    let readonly = std::fs::metadata(&first).unwrap().permissions().readonly();
    assert!(readonly, "written read-only");
    let digest = anchor["digest"].as_str().unwrap().to_string();
    // its entry in the runtime's system chain
    wait_for("the audit.anchor entry", || {
        let (_, body) = request(
            port,
            "GET",
            "/__cfp/api/audit/entries?chain=runtime:system&kind=audit.anchor&limit=100",
            "",
        )?;
        let page: serde_json::Value = serde_json::from_str(body.lines().find(|l| l.starts_with('{'))?).ok()?;
        page["items"]
            .as_array()?
            .iter()
            .any(|e| e["entry"]["details"]["digest"] == digest)
            .then_some(())
    });
    drop(rt);

    let (code, out) = verify(&schema, &anchors, &ca);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("audit chains intact"), "{out}");
    // an anchor altered on disk (its time changed: the digest no longer matches) is named
    let mut altered = anchor.clone();
    altered["time"] = serde_json::json!("2000-01-01T00:00:00.000Z");
    let mut perms = std::fs::metadata(&first).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&first, perms).unwrap();
    std::fs::write(&first, altered.to_string()).unwrap();
    let (code, out) = verify(&schema, &anchors, &ca);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("bad_anchor"), "{out}");

    std::fs::remove_dir_all(&data).ok();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&database_url()).await.unwrap();
        sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .execute(&mut c)
            .await
            .ok();
    });
}
