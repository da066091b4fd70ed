//! W3C Trace Context (`traceparent`, `tracestate`) and how CFP's trace ids map to W3C trace ids.
//!
//! A CFP trace id is a UUID in its hyphenated lowercase form (`0af76519-16cd-43dd-8448-eb211c80319c`); the
//! W3C trace id of the same trace is the same 16 bytes as 32 lowercase hex digits
//! (`0af7651916cd43dd8448eb211c80319c`). Either form converts to the other without loss, so one id works in
//! the workbench, the logs, `x-trace-id` and any OpenTelemetry backend. See `docs/tracing.md`.
//!
//! Parsing is strict (W3C Trace Context Level 1, section 3.2): anything invalid yields `None` and the caller
//! starts a fresh trace; it is never an error.

/// A 16-byte trace id (never all zeros when valid).
pub type TraceId = [u8; 16];
/// An 8-byte span id (never all zeros when valid).
pub type SpanId = [u8; 8];

/// The `sampled` bit of `trace-flags`.
pub const FLAG_SAMPLED: u8 = 0x01;

/// A parsed `traceparent` (and the `tracestate` that came with it, when valid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: TraceId,
    pub parent_id: SpanId,
    pub flags: u8,
    pub tracestate: Option<String>,
}

impl TraceParent {
    pub fn sampled(&self) -> bool {
        self.flags & FLAG_SAMPLED != 0
    }

    /// The `traceparent` header value (version 00).
    pub fn header(&self) -> String {
        format_traceparent(&self.trace_id, &self.parent_id, self.flags)
    }
}

fn hex_lower(s: &[u8], out: &mut [u8]) -> bool {
    if s.len() != out.len() * 2 {
        return false;
    }
    for (i, pair) in s.chunks(2).enumerate() {
        let d = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        match (d(pair[0]), d(pair[1])) {
            (Some(h), Some(l)) => out[i] = (h << 4) | l,
            _ => return false,
        }
    }
    true
}

/// Parses a `traceparent` header value strictly: `version-traceid-parentid-flags`, lowercase hex, version not
/// `ff`, trace id and parent id not all zeros. Version `00` must be exactly 55 characters; a higher version
/// may carry more fields after a `-` (forward compatibility, as the specification requires).
pub fn parse_traceparent(value: &str) -> Option<TraceParent> {
    let b = value.as_bytes();
    if b.len() < 55 {
        return None;
    }
    let mut version = [0u8; 1];
    if !hex_lower(&b[0..2], &mut version) || version[0] == 0xff {
        return None;
    }
    if version[0] == 0 && b.len() != 55 {
        return None;
    }
    if b.len() > 55 && b[55] != b'-' {
        return None;
    }
    if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return None;
    }
    let mut trace_id = [0u8; 16];
    let mut parent_id = [0u8; 8];
    let mut flags = [0u8; 1];
    if !hex_lower(&b[3..35], &mut trace_id) || !hex_lower(&b[36..52], &mut parent_id) {
        return None;
    }
    if !hex_lower(&b[53..55], &mut flags) {
        return None;
    }
    if trace_id == [0; 16] || parent_id == [0; 8] {
        return None;
    }
    Some(TraceParent {
        trace_id,
        parent_id,
        flags: flags[0],
        tracestate: None,
    })
}

/// Validates a `tracestate` header value (section 3.3): at most 32 comma-separated `key=value` members with
/// the specification's key and value grammar, at most 512 characters. An invalid value yields `None` (it is
/// dropped; the `traceparent` still counts).
pub fn parse_tracestate(value: &str) -> Option<String> {
    if value.len() > 512 {
        return None;
    }
    let mut members = 0;
    let mut keys = Vec::new();
    for member in value.split(',') {
        let member = member.trim_matches([' ', '\t']);
        if member.is_empty() {
            continue;
        }
        members += 1;
        if members > 32 {
            return None;
        }
        let (key, val) = member.split_once('=')?;
        if !valid_key(key) || !valid_value(val) || keys.contains(&key) {
            return None;
        }
        keys.push(key);
    }
    (members > 0).then(|| value.to_string())
}

fn valid_key(key: &str) -> bool {
    let simple = |s: &str, max: usize| {
        let b = s.as_bytes();
        !b.is_empty()
            && b.len() <= max
            && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-*/".contains(c))
    };
    match key.split_once('@') {
        None => simple(key, 256),
        Some((tenant, system)) => {
            simple(tenant, 241) && simple(system, 14) && system.as_bytes()[0].is_ascii_lowercase()
        }
    }
}

fn valid_value(val: &str) -> bool {
    let b = val.as_bytes();
    !b.is_empty()
        && b.len() <= 256
        && b.iter().all(|&c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
        && b[b.len() - 1] != b' '
}

/// Reads a request's trace context: a valid `traceparent`, with its `tracestate` when that is valid too.
pub fn from_headers(traceparent: Option<&str>, tracestate: Option<&str>) -> Option<TraceParent> {
    let mut tp = parse_traceparent(traceparent?.trim_matches([' ', '\t']))?;
    tp.tracestate = tracestate.and_then(parse_tracestate);
    Some(tp)
}

/// `00-<trace id>-<span id>-<flags>`.
pub fn format_traceparent(trace_id: &TraceId, span_id: &SpanId, flags: u8) -> String {
    let mut s = String::with_capacity(55);
    s.push_str("00-");
    push_hex(&mut s, trace_id);
    s.push('-');
    push_hex(&mut s, span_id);
    s.push('-');
    push_hex(&mut s, &[flags]);
    s
}

pub fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    push_hex(&mut s, bytes);
    s
}

/// Appends the lowercase hex digits of `bytes` (without `fmt`: this runs several times per API call).
fn push_hex(s: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
}

/// The CFP form of a trace id: the 16 bytes as a hyphenated lowercase UUID.
pub fn cfp_trace_id(trace_id: &TraceId) -> String {
    let mut s = String::with_capacity(36);
    for (i, part) in [
        &trace_id[0..4],
        &trace_id[4..6],
        &trace_id[6..8],
        &trace_id[8..10],
        &trace_id[10..16],
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            s.push('-');
        }
        push_hex(&mut s, part);
    }
    s
}

/// The W3C trace id of a CFP trace id: a UUID (hyphenated or not, any case) or 32 hex digits. `None` for
/// anything else or for all zeros.
pub fn w3c_trace_id(cfp: &str) -> Option<TraceId> {
    let digits: String = cfp
        .chars()
        .filter(|c| *c != '-')
        .collect::<String>()
        .to_ascii_lowercase();
    let hyphens = cfp.len() - digits.len();
    if hyphens != 0 && (hyphens != 4 || cfp.len() != 36) {
        return None;
    }
    let mut out = [0u8; 16];
    (hex_lower(digits.as_bytes(), &mut out) && out != [0; 16]).then_some(out)
}

/// A span id from 8 random-looking bytes; never all zeros.
pub fn span_id_from(bytes: [u8; 8]) -> SpanId {
    if bytes == [0; 8] {
        [0, 0, 0, 0, 0, 0, 0, 1]
    } else {
        bytes
    }
}

/// Parent-based sampling with a ratio for new traces: a trace with a remote parent follows the parent's
/// `sampled` flag; a new trace is sampled when its id falls under the ratio. The decision for a new trace
/// depends on its id only (the low 8 bytes, as OpenTelemetry's `TraceIdRatioBased`), so every hop of a
/// trace decides the same without carrying a flag.
pub fn sample(trace_id: &TraceId, remote_flags: Option<u8>, ratio: f64) -> bool {
    if let Some(flags) = remote_flags {
        return flags & FLAG_SAMPLED != 0;
    }
    if ratio >= 1.0 {
        return true;
    }
    if ratio <= 0.0 || ratio.is_nan() {
        return false;
    }
    let low = u64::from_be_bytes(trace_id[8..16].try_into().unwrap_or_default()) >> 1;
    (low as f64) < ratio * (1u64 << 63) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn parses_the_spec_example() {
        let tp = parse_traceparent(GOOD).unwrap();
        assert_eq!(to_hex(&tp.trace_id), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(to_hex(&tp.parent_id), "b7ad6b7169203331");
        assert!(tp.sampled());
        assert_eq!(tp.header(), GOOD);
        assert_eq!(cfp_trace_id(&tp.trace_id), "0af76519-16cd-43dd-8448-eb211c80319c");
        assert_eq!(
            format_traceparent(&[0xff; 16], &[0xa0; 8], 0xfe),
            "00-ffffffffffffffffffffffffffffffff-a0a0a0a0a0a0a0a0-fe"
        );
    }

    #[test]
    fn rejects_invalid_values() {
        let bad = [
            "",
            "00",
            "garbage",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0g",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01x",
            "00_0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331_01",
            "0-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319-cb7ad6b7169203331-01",
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-é1",
        ];
        for v in bad {
            assert_eq!(parse_traceparent(v), None, "{v:?} must be refused");
        }
        // A future version may carry more fields.
        assert!(parse_traceparent("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what").is_some());
    }

    #[test]
    fn fuzzed_values_never_panic() {
        // Every single-byte mutation of a valid value parses or is refused without panicking; a mutation of a
        // hex digit to another lowercase hex digit keeps it valid (unless it zeroes an id, impossible here).
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..5000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut b = GOOD.as_bytes().to_vec();
            let at = (seed % b.len() as u64) as usize;
            b[at] = (seed >> 32) as u8;
            if seed & 0x100 != 0 {
                b.truncate((seed >> 40) as usize % 60);
            }
            let s = String::from_utf8_lossy(&b);
            let _ = parse_traceparent(&s);
            let _ = parse_tracestate(&s);
            let _ = w3c_trace_id(&s);
        }
    }

    #[test]
    fn tracestate_grammar() {
        assert_eq!(
            parse_tracestate("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE").as_deref(),
            Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
        );
        assert!(parse_tracestate("tenant@vendor=x").is_some());
        assert!(parse_tracestate("Upper=x").is_none());
        assert!(parse_tracestate("a=1,a=2").is_none());
        assert!(parse_tracestate("novalue").is_none());
        assert!(parse_tracestate(&"k=v,".repeat(33)).is_none());
        assert!(parse_tracestate(&format!("k={}", "v".repeat(600))).is_none());
        let tp = from_headers(Some(GOOD), Some("bad key=1")).unwrap();
        assert_eq!(tp.tracestate, None);
    }

    #[test]
    fn ids_map_both_ways() {
        let id = w3c_trace_id("0af76519-16cd-43dd-8448-eb211c80319c").unwrap();
        assert_eq!(w3c_trace_id("0af7651916cd43dd8448eb211c80319c"), Some(id));
        assert_eq!(w3c_trace_id("0AF76519-16CD-43DD-8448-EB211C80319C"), Some(id));
        assert_eq!(cfp_trace_id(&id), "0af76519-16cd-43dd-8448-eb211c80319c");
        assert_eq!(w3c_trace_id("00000000-0000-0000-0000-000000000000"), None);
        assert_eq!(w3c_trace_id("0af7-651916cd43dd8448eb211c80319c"), None);
        assert_eq!(w3c_trace_id("not a trace"), None);
    }

    #[test]
    fn sampling_is_parent_based_and_deterministic() {
        let t = [7u8; 16];
        assert!(sample(&t, Some(1), 0.0));
        assert!(!sample(&t, Some(0), 1.0));
        assert!(sample(&t, None, 1.0));
        assert!(!sample(&t, None, 0.0));
        let mut hits = 0;
        for i in 0..10_000u32 {
            let mut id = [0u8; 16];
            id[8..12].copy_from_slice(&i.wrapping_mul(2_654_435_761).to_be_bytes());
            id[12..16].copy_from_slice(&i.to_be_bytes());
            hits += sample(&id, None, 0.25) as u32;
        }
        assert!((2000..3000).contains(&hits), "{hits}");
    }
}
