//! The runtime's own audit anchoring (docs/audit.md "Anchors"), the counterpart of the control plane's
//! `--audit-tsa-url`: every interval, when a runtime chain has a new signed checkpoint, one replica (an advisory
//! lock of the schema) binds the latest checkpoint of every runtime chain into an anchor digest, has it
//! timestamped by an RFC 3161 authority, writes the anchor write-once (`O_EXCL`, mode 0444, fsynced) under
//! `--audit-anchor-dir` as `anchors/runtime/<time>-<digest>.json`, and records an `audit.anchor` entry in
//! `runtime:system`. `cfp audit verify --anchors DIR --tsa-cert CA.pem` checks the token fully (CMS signature,
//! certificate chain); here the reply is checked for a granted status and a token that names the digest.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Result};
use cfp_audit::{Actor, Event};
use cfp_store::Store;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// (flag, env, default, help), listed by `--help` after the other options.
pub const SPEC: &[(&str, &str, &str, &str)] = &[
    (
        "--audit-tsa-url",
        "CFP_AUDIT_TSA_URL",
        "",
        "RFC 3161 time-stamping authority (http or https) that anchors the audit checkpoints; with --audit-anchor-dir",
    ),
    (
        "--audit-anchor-dir",
        "CFP_AUDIT_ANCHOR_DIR",
        "",
        "directory the anchors are written to, write-once (a mount of write-once storage in production)",
    ),
    (
        "--audit-anchor-interval-s",
        "CFP_AUDIT_ANCHOR_INTERVAL_S",
        "3600",
        "seconds between anchors (only when a chain has a new checkpoint)",
    ),
    (
        "--audit-checkpoint-interval-s",
        "CFP_AUDIT_CHECKPOINT_INTERVAL_S",
        "60",
        "a chain that grew gets a signed checkpoint at least this often (and every 1,000 entries)",
    ),
    (
        "--audit-verify-interval-s",
        "CFP_AUDIT_VERIFY_INTERVAL_S",
        "3600",
        "seconds between verifications of every audit chain by the runtime itself (0: never; the first a minute after start)",
    ),
];

/// The audit options of the runtime.
pub struct AuditConfig {
    /// (TSA URL, anchor directory), when anchoring is on.
    pub anchoring: Option<(String, PathBuf)>,
    pub anchor_interval: Duration,
    pub checkpoint_interval: Duration,
    /// Scheduled self-verification (`None`: off).
    pub verify_interval: Option<Duration>,
}

impl AuditConfig {
    pub fn parse(get: &dyn Fn(&str) -> String) -> Result<Self> {
        let secs = |k: &str| -> Result<Duration> {
            match get(k).parse::<u64>() {
                Ok(n) if n > 0 => Ok(Duration::from_secs(n)),
                _ => bail!("{k} must be a whole number of seconds above 0, got `{}`", get(k)),
            }
        };
        let anchoring = match (get("--audit-tsa-url"), get("--audit-anchor-dir")) {
            (u, d) if u.is_empty() && d.is_empty() => None,
            (u, d) if u.is_empty() || d.is_empty() => {
                bail!("--audit-tsa-url and --audit-anchor-dir go together: give both or neither")
            }
            (u, _) if !(u.starts_with("http://") || u.starts_with("https://")) => {
                bail!("--audit-tsa-url: `{u}` is not an http(s) URL")
            }
            (u, d) => Some((u, PathBuf::from(d))),
        };
        Ok(Self {
            anchoring,
            anchor_interval: secs("--audit-anchor-interval-s")?,
            checkpoint_interval: secs("--audit-checkpoint-interval-s")?,
            verify_interval: match get("--audit-verify-interval-s").parse::<u64>() {
                Ok(0) => None,
                Ok(n) => Some(Duration::from_secs(n)),
                Err(_) => bail!(
                    "--audit-verify-interval-s must be a whole number of seconds (0: never), got `{}`",
                    get("--audit-verify-interval-s")
                ),
            },
        })
    }

    pub fn to_json(&self) -> Value {
        json!({
            "tsaUrl": self.anchoring.as_ref().map(|(u, _)| u),
            "anchorDir": self.anchoring.as_ref().map(|(_, d)| d.display().to_string()),
            "anchorIntervalS": self.anchor_interval.as_secs(),
            "checkpointIntervalS": self.checkpoint_interval.as_secs(),
            "verifyIntervalS": self.verify_interval.map_or(0, |d| d.as_secs()),
        })
    }
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// An RFC 3161 TimeStampReq for a SHA-256 digest: version 1, the imprint, certReq TRUE (as `cfp audit anchor`).
pub fn timestamp_query(digest: &[u8; 32]) -> Vec<u8> {
    let algorithm = hex::decode("300d06096086480165030402010500").expect("constant");
    let imprint = der(0x30, &[algorithm, der(0x04, digest)].concat());
    der(0x30, &[der(0x02, &[1]), imprint, vec![0x01, 0x01, 0xff]].concat())
}

/// Reads one DER header at `at`: (tag, start of content, length).
fn header(b: &[u8], at: usize) -> Option<(u8, usize, usize)> {
    let tag = *b.get(at)?;
    let first = *b.get(at + 1)? as usize;
    if first < 0x80 {
        return Some((tag, at + 2, first));
    }
    let n = first & 0x7f;
    if n == 0 || n > 4 {
        return None;
    }
    let len = b
        .get(at + 2..at + 2 + n)?
        .iter()
        .fold(0usize, |l, x| (l << 8) | *x as usize);
    Some((tag, at + 2 + n, len))
}

/// Checks a TimeStampResp: status granted (0) or granted with mods (1), and a token that carries `digest` (the
/// full check of the token is the verifier's). Returns a reason when it does not.
pub fn check_reply(reply: &[u8], digest: &[u8; 32]) -> Result<(), String> {
    let bad = || "the reply is not a DER TimeStampResp".to_string();
    let (tag, body, len) = header(reply, 0).ok_or_else(bad)?;
    if tag != 0x30 || body + len != reply.len() {
        return Err(bad());
    }
    let (tag, status_info, _) = header(reply, body).ok_or_else(bad)?;
    let (itag, istart, ilen) = header(reply, status_info).ok_or_else(bad)?;
    if tag != 0x30 || itag != 0x02 || ilen != 1 {
        return Err(bad());
    }
    match reply[istart] {
        0 | 1 => {}
        s => return Err(format!("the authority refused the request (PKIStatus {s})")),
    }
    if !reply.windows(32).any(|w| w == digest) {
        return Err("the time-stamp token does not name the anchor digest".into());
    }
    Ok(())
}

/// Writes `body` at `path`, refusing an existing file; fsynced and read-only.
fn write_once(path: &Path, body: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(path)?;
    f.write_all(body)?;
    f.sync_all()
}

/// One anchoring turn: `Ok(Some(path))` when an anchor was written, `Ok(None)` when there was nothing new (or
/// another replica holds the turn). `last` holds the checkpoints anchored last by this process.
pub async fn anchor_once(store: &Store, tsa: &str, dir: &Path, last: &mut Vec<String>) -> Result<Option<PathBuf>> {
    let Some((lease, mut notes)) = store.audit_anchor_lease().await? else {
        return Ok(None);
    };
    // sorted by origin (the first line), byte order (docs/audit.md)
    notes.sort_by(|a, b| a.split('\n').next().cmp(&b.split('\n').next()));
    if notes.is_empty() || &notes == last {
        return Ok(None);
    }
    let time = cfp_audit::entry::format_time(std::time::SystemTime::now());
    let body = json!({ "v": 1, "plane": "runtime", "time": time, "checkpoints": notes });
    let canonical = cfp_audit::canonicalize(&body).map_err(|e| anyhow::anyhow!("{e}"))?;
    let digest: [u8; 32] = Sha256::digest(canonical.as_bytes()).into();
    let reply = cfp_otel::post(
        tsa,
        &[
            ("content-type", "application/timestamp-query"),
            ("accept", "application/timestamp-reply"),
        ],
        timestamp_query(&digest),
        Duration::from_secs(30),
        1024 * 1024,
    )
    .await
    .map_err(|e| anyhow::anyhow!("the time-stamping authority {tsa}: {e}"))?;
    check_reply(&reply, &digest).map_err(|e| anyhow::anyhow!("the time-stamp response from {tsa}: {e}"))?;
    use base64::Engine as _;
    let mut anchor = body;
    anchor["digest"] = json!(hex::encode(digest));
    anchor["tsr"] = json!(base64::engine::general_purpose::STANDARD.encode(&reply));
    let name = format!(
        "anchors/runtime/{}-{}.json",
        time.replace(':', "-"),
        hex::encode(digest)
    );
    let path = dir.join(&name);
    let text = format!("{}\n", serde_json::to_string_pretty(&anchor)?);
    let write = (path.clone(), text);
    tokio::task::spawn_blocking(move || write_once(&write.0, write.1.as_bytes())).await??;
    let mut e = Event::new("audit.anchor", Actor::system());
    e.target = Some(("system".into(), None));
    e.details.insert("digest".into(), json!(hex::encode(digest)));
    e.details.insert("checkpoints".into(), json!(notes.len()));
    e.details.insert("object".into(), json!(name));
    lease.record(store, &e).await?;
    *last = notes;
    Ok(Some(path))
}

/// Anchors every `interval` until shutdown; a failure (authority unreachable, bad reply) writes nothing and is
/// logged, and the next interval tries again.
pub async fn run(
    store: Store,
    tsa: String,
    dir: PathBuf,
    interval: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut last = Vec::new();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        match anchor_once(&store, &tsa, &dir, &mut last).await {
            Ok(Some(path)) => tracing::info!(path = %path.display(), "anchored the audit checkpoints"),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "anchoring the audit checkpoints failed; retrying next interval")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_the_der_that_cfp_audit_anchor_sends() {
        // packages/audit-verify timestampQuery(Buffer.alloc(32, 7)) without a nonce
        let q = timestamp_query(&[7; 32]);
        let want = format!(
            "30390201013031300d060960864801650304020105000420{}0101ff",
            "07".repeat(32)
        );
        assert_eq!(hex::encode(q), want);
    }

    #[test]
    fn replies_are_checked_for_status_and_digest() {
        let digest = [9u8; 32];
        let token = der(0x30, &der(0x04, &digest));
        let granted = der(0x30, &[der(0x30, &der(0x02, &[0])), token.clone()].concat());
        assert_eq!(check_reply(&granted, &digest), Ok(()));
        assert!(check_reply(&granted, &[8; 32]).unwrap_err().contains("does not name"));
        let refused = der(0x30, &der(0x30, &der(0x02, &[2])));
        assert!(check_reply(&refused, &digest).unwrap_err().contains("PKIStatus 2"));
        assert!(check_reply(b"not DER", &digest).is_err());
        assert!(check_reply(&granted[..granted.len() - 1], &digest).is_err());
    }

    #[test]
    fn a_written_anchor_is_never_replaced() {
        let dir = std::env::temp_dir().join(format!("cfp-anchor-{}", std::process::id()));
        let path = dir.join("anchors/runtime/a.json");
        write_once(&path, b"one").unwrap();
        assert!(write_once(&path, b"two").is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn options_go_together_and_are_checked() {
        let with = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(f, _)| *f == k)
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_else(|| {
                        SPEC.iter()
                            .find(|(f, ..)| *f == k)
                            .map(|(_, _, d, _)| d.to_string())
                            .unwrap()
                    })
            }
        };
        assert!(AuditConfig::parse(&with(&[])).unwrap().anchoring.is_none());
        let e = AuditConfig::parse(&with(&[("--audit-tsa-url", "http://tsa/")]))
            .err()
            .unwrap();
        assert!(e.to_string().contains("go together"));
        let e = AuditConfig::parse(&with(&[("--audit-tsa-url", "file:///x"), ("--audit-anchor-dir", "/a")]))
            .err()
            .unwrap();
        assert!(e.to_string().contains("not an http(s) URL"));
        let e = AuditConfig::parse(&with(&[("--audit-anchor-interval-s", "0")]))
            .err()
            .unwrap();
        assert!(e.to_string().contains("--audit-anchor-interval-s"));
    }
}
