//! A minimal protobuf encoder for OTLP's `ExportTraceServiceRequest` and `ExportLogsServiceRequest`
//! (opentelemetry-proto, `collector/trace/v1`, `collector/logs/v1`, `trace/v1`, `logs/v1`, `common/v1`,
//! `resource/v1`). Only the fields CFP sets are written; field numbers and wire types
//! follow the official `.proto` files, and the tests decode the output with the official generated types.
//!
//! Messages are written inside-out into one buffer: each nested message is encoded into a scratch buffer and
//! then copied with its length prefix, which keeps the code short; a request is at most a batch of spans.

use crate::{AttrValue, LogData, SpanData};

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;
const FIXED32: u32 = 5;

fn varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn key(buf: &mut Vec<u8>, field: u32, wire: u32) {
    varint(buf, u64::from((field << 3) | wire));
}

fn bytes_field(buf: &mut Vec<u8>, field: u32, b: &[u8]) {
    key(buf, field, LEN);
    varint(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

/// A string field; proto3 omits empty ones.
fn str_field(buf: &mut Vec<u8>, field: u32, s: &str) {
    if !s.is_empty() {
        bytes_field(buf, field, s.as_bytes());
    }
}

fn message(buf: &mut Vec<u8>, field: u32, f: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    f(&mut inner);
    bytes_field(buf, field, &inner);
}

fn fixed64(buf: &mut Vec<u8>, field: u32, v: u64) {
    key(buf, field, FIXED64);
    buf.extend_from_slice(&v.to_le_bytes());
}

fn fixed32(buf: &mut Vec<u8>, field: u32, v: u32) {
    key(buf, field, FIXED32);
    buf.extend_from_slice(&v.to_le_bytes());
}

fn enum_field(buf: &mut Vec<u8>, field: u32, v: i32) {
    if v != 0 {
        key(buf, field, VARINT);
        varint(buf, v as i64 as u64);
    }
}

/// `common.v1.KeyValue { key = 1; value = 2 (AnyValue { string_value = 1; bool_value = 2; int_value = 3;
/// double_value = 4 }) }`.
fn key_value(buf: &mut Vec<u8>, field: u32, k: &str, v: &AttrValue) {
    message(buf, field, |kv| {
        str_field(kv, 1, k);
        message(kv, 2, |any| match v {
            AttrValue::Str(s) => bytes_field(any, 1, s.as_bytes()),
            AttrValue::Bool(b) => {
                key(any, 2, VARINT);
                varint(any, u64::from(*b));
            }
            AttrValue::Int(i) => {
                key(any, 3, VARINT);
                varint(any, *i as u64);
            }
            AttrValue::Double(d) => fixed64(any, 4, d.to_bits()),
        });
    });
}

/// `trace.v1.Span`.
fn span(buf: &mut Vec<u8>, s: &SpanData) {
    message(buf, 2, |m| {
        bytes_field(m, 1, &s.trace_id);
        bytes_field(m, 2, &s.span_id);
        str_field(m, 3, s.tracestate.as_deref().unwrap_or(""));
        if let Some(p) = &s.parent_span_id {
            bytes_field(m, 4, p);
        }
        str_field(m, 5, &s.name);
        enum_field(m, 6, s.kind as i32);
        fixed64(m, 7, s.start_unix_nano);
        fixed64(m, 8, s.end_unix_nano);
        for (k, v) in &s.attributes {
            key_value(m, 9, k, v);
        }
        if s.dropped_attributes > 0 {
            key(m, 10, VARINT);
            varint(m, u64::from(s.dropped_attributes));
        }
        if s.status.code != crate::StatusCode::Unset || !s.status.message.is_empty() {
            message(m, 15, |st| {
                str_field(st, 2, &s.status.message);
                enum_field(st, 3, s.status.code as i32);
            });
        }
        // SpanFlags: the W3C trace flags in bits 0-7, then HAS_IS_REMOTE (0x100) and IS_REMOTE (0x200).
        let remote = if s.parent_is_remote { 0x300 } else { 0x100 };
        fixed32(m, 16, u32::from(s.flags) | remote);
    });
}

/// Encodes `collector.trace.v1.ExportTraceServiceRequest` with one `ResourceSpans` (the resource's
/// attributes) and one `ScopeSpans` per instrumentation scope, in the order the spans' scopes first appear.
pub fn encode_request(resource: &[(String, AttrValue)], spans: &[SpanData]) -> Vec<u8> {
    let mut scopes: Vec<&str> = Vec::new();
    for s in spans {
        if !scopes.contains(&s.scope) {
            scopes.push(s.scope);
        }
    }
    let mut out = Vec::with_capacity(256 * spans.len() + 128);
    message(&mut out, 1, |rs| {
        message(rs, 1, |r| {
            for (k, v) in resource {
                key_value(r, 1, k, v);
            }
        });
        for scope in scopes {
            message(rs, 2, |ss| {
                self::scope(ss, scope);
                for s in spans.iter().filter(|s| s.scope == scope) {
                    span(ss, s);
                }
            });
        }
    });
    out
}

/// `common.v1.InstrumentationScope { name = 1; version = 2 }`.
fn scope(buf: &mut Vec<u8>, name: &str) {
    message(buf, 1, |is| {
        str_field(is, 1, name);
        str_field(is, 2, env!("CARGO_PKG_VERSION"));
    });
}

/// `logs.v1.LogRecord`.
fn log_record(buf: &mut Vec<u8>, l: &LogData) {
    message(buf, 2, |m| {
        fixed64(m, 1, l.time_unix_nano);
        enum_field(m, 2, crate::severity_number(&l.level));
        str_field(m, 3, &l.level);
        message(m, 5, |any| bytes_field(any, 1, l.body.as_bytes()));
        for (k, v) in &l.attributes {
            key_value(m, 6, k, v);
        }
        // LogRecordFlags: the W3C trace flags in bits 0-7.
        if l.trace_id.is_some() && l.flags != 0 {
            fixed32(m, 8, u32::from(l.flags));
        }
        if let Some(t) = &l.trace_id {
            bytes_field(m, 9, t);
        }
        if let Some(s) = &l.span_id {
            bytes_field(m, 10, s);
        }
        fixed64(m, 11, l.observed_unix_nano);
    });
}

/// Encodes `collector.logs.v1.ExportLogsServiceRequest` with one `ResourceLogs` and one `ScopeLogs` per
/// instrumentation scope, in the order the records' scopes first appear.
pub fn encode_logs(resource: &[(String, AttrValue)], logs: &[LogData]) -> Vec<u8> {
    let mut scopes: Vec<&str> = Vec::new();
    for l in logs {
        if !scopes.contains(&l.scope) {
            scopes.push(l.scope);
        }
    }
    let mut out = Vec::with_capacity(192 * logs.len() + 128);
    message(&mut out, 1, |rl| {
        message(rl, 1, |r| {
            for (k, v) in resource {
                key_value(r, 1, k, v);
            }
        });
        for name in scopes {
            message(rl, 2, |sl| {
                scope(sl, name);
                for l in logs.iter().filter(|l| l.scope == name) {
                    log_record(sl, l);
                }
            });
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        let mut b = Vec::new();
        varint(&mut b, 300);
        assert_eq!(b, [0xac, 0x02]);
        let mut b = Vec::new();
        varint(&mut b, u64::MAX);
        assert_eq!(b.len(), 10);
    }
}
