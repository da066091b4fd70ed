//! Audit entries (docs/audit.md "Entries"): the event a writer records ([`Event`]), bounded as the spec says, and
//! the entry it becomes once a sequencer gives it its chain, sequence number and `prev` ([`seal`]).

use serde_json::{json, Map, Value};

use crate::jcs::{canonicalize, JcsError};
use crate::tree::{leaf_hash, Hash};

/// The `prev` of the entry at seq 0.
pub const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Longest string outside `details`, in bytes.
pub const MAX_STRING: usize = 4096;
/// Largest canonical `details`, in bytes.
pub const MAX_DETAILS: usize = 16 * 1024;

/// Whether `id` is a chain id: 1 to 200 bytes of `[A-Za-z0-9._:-]`.
pub fn valid_chain(id: &str) -> bool {
    !id.is_empty() && id.len() <= 200 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
}

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `user`, `api_key`, `worker`, `service`, `system`, `anonymous`.
    pub kind: &'static str,
    pub id: Option<String>,
    pub name: Option<String>,
    /// `session`, `password`, `oidc`, `saml`, `api_key`, `worker_token`, `runtime_token`, `system`.
    pub auth: Option<&'static str>,
}

impl Actor {
    pub fn system() -> Self {
        Self {
            kind: "system",
            id: None,
            name: None,
            auth: Some("system"),
        }
    }
}

/// What a writer records; [`seal`] turns it into an entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// RFC 3339 UTC with milliseconds ([`format_time`]).
    pub time: String,
    pub kind: String,
    pub actor: Actor,
    pub sid: Option<String>,
    pub tenant: Option<String>,
    pub team: Option<String>,
    pub project: Option<String>,
    /// `(type, id)`.
    pub target: Option<(String, Option<String>)>,
    /// `ok`, `denied`, `error`.
    pub status: &'static str,
    pub code: Option<String>,
    pub request_id: Option<String>,
    pub trace: Option<String>,
    pub addr: Option<String>,
    pub ua: Option<String>,
    pub details: Map<String, Value>,
}

impl Event {
    /// An `ok` event of `kind` by `actor` now, with nothing else set.
    pub fn new(kind: &str, actor: Actor) -> Self {
        Self {
            time: format_time(std::time::SystemTime::now()),
            kind: kind.to_string(),
            actor,
            sid: None,
            tenant: None,
            team: None,
            project: None,
            target: None,
            status: "ok",
            code: None,
            request_id: None,
            trace: None,
            addr: None,
            ua: None,
            details: Map::new(),
        }
    }

    /// The entry's members other than `v`, `chain`, `seq` and `prev` ([`seal`] bounds them as the spec says).
    pub fn to_json(&self) -> Value {
        let s = |v: &Option<String>| v.as_ref().map_or(Value::Null, |v| Value::String(v.clone()));
        let actor = json!({
            "type": self.actor.kind, "id": s(&self.actor.id), "name": s(&self.actor.name), "auth": self.actor.auth,
        });
        let scope = json!({"tenant": s(&self.tenant), "team": s(&self.team), "project": s(&self.project)});
        let target = match &self.target {
            Some((t, id)) => json!({"type": t, "id": s(id)}),
            None => Value::Null,
        };
        let request =
            json!({"id": s(&self.request_id), "trace": s(&self.trace), "addr": s(&self.addr), "ua": s(&self.ua)});
        json!({
            "time": self.time, "kind": self.kind, "actor": actor, "sid": s(&self.sid), "scope": scope, "target": target,
            "outcome": {"status": self.status, "code": s(&self.code)}, "request": request, "details": self.details,
        })
    }
}

/// `s` cut to its longest prefix of at most `max` bytes that does not split a code point.
fn bound(s: &str, max: usize, cut: &mut bool) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    *cut = true;
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

fn cut_strings(v: &Value, cut: &mut bool) -> Value {
    match v {
        Value::String(s) => Value::String(bound(s, MAX_STRING, cut)),
        Value::Array(a) => Value::Array(a.iter().map(|x| cut_strings(x, cut)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), cut_strings(x, cut))).collect()),
        v => v.clone(),
    }
}

fn canonical_len(v: &Value) -> usize {
    canonicalize(v).map_or(usize::MAX, |s| s.len())
}

/// The spec's bounds (docs/audit.md "Entries"): every string over 4,096 bytes anywhere in the entry (member names
/// aside) is cut to its longest prefix within 4,096 bytes that does not split a code point, and then
/// `details.truncated` is `true`; if the canonical `details` is then over 16 KiB, it becomes
/// `{"original_bytes": N, "truncated": true}`, N its canonical size after cutting and before adding `truncated`.
pub fn bound_entry(entry: &Value) -> Value {
    let mut cut = false;
    let mut e = cut_strings(entry, &mut cut);
    if let Some(details) = e.get_mut("details").filter(|d| d.is_object()) {
        let size = canonical_len(details);
        if cut {
            details["truncated"] = Value::Bool(true);
        }
        if canonical_len(details) > MAX_DETAILS {
            *details = json!({"original_bytes": size, "truncated": true});
        }
    }
    e
}

/// An entry sealed into its chain: its leaf (RFC 8785 text) and leaf hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub leaf: String,
    pub hash: Hash,
}

/// The entry of `event` (the members [`Event::to_json`] gives) at `seq` of `chain` after the entry whose leaf hash
/// is `prev` (lowercase hex; [`ZERO_HASH`] for seq 0).
pub fn seal(event: &Value, chain: &str, seq: u64, prev: &str) -> Result<Sealed, JcsError> {
    let Value::Object(members) = event else {
        return Err(JcsError("an event is a JSON object".into()));
    };
    let mut entry = members.clone();
    entry.insert("v".into(), json!(1));
    entry.insert("chain".into(), json!(chain));
    entry.insert("seq".into(), json!(seq));
    entry.insert("prev".into(), json!(prev));
    let leaf = canonicalize(&bound_entry(&Value::Object(entry)))?;
    let hash = leaf_hash(leaf.as_bytes());
    Ok(Sealed { leaf, hash })
}

/// RFC 3339 UTC with milliseconds: `2026-12-07T17:10:01.123Z`.
pub fn format_time(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn times_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(format_time(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_796_663_401_123);
        assert_eq!(format_time(t), "2026-12-07T17:10:01.123Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(format_time(leap), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn long_strings_and_large_details_are_cut_and_marked() {
        let mut e = Event::new("state.write", Actor::system());
        e.addr = Some("x".repeat(5000));
        for i in 0..5 {
            e.details.insert(format!("k{i}"), json!("k".repeat(4000)));
        }
        let v = bound_entry(&e.to_json());
        assert_eq!(v["request"]["addr"].as_str().unwrap().len(), MAX_STRING);
        assert_eq!(v["details"]["truncated"], json!(true));
        assert!(v["details"]["original_bytes"].as_u64().unwrap() > MAX_DETAILS as u64);
        let sealed = seal(&e.to_json(), "runtime:t1", 0, ZERO_HASH).unwrap();
        assert!(sealed.leaf.starts_with("{\"actor\":"));
        assert!(sealed.leaf.contains("\"chain\":\"runtime:t1\""));
        assert!(valid_chain("runtime:t_3kq9") && !valid_chain("runtime:a b") && !valid_chain(""));
    }
}
