//! U+0000 (NUL), which PostgreSQL stores in neither `text` nor `jsonb`.
//!
//! A value carrying it would make the whole statement fail, and with it every other row of the batch. So what a
//! worker sends is checked at the edge: emitted events carrying NUL are refused (the attempt fails, not
//! retried, with a message naming the field); error messages and log lines are kept with each NUL replaced by
//! U+FFFD, so they are never lost (`docs/semantics.md`).

use serde_json::Value;

const REPLACEMENT: char = '\u{FFFD}';

/// The path of the first string or object key in `v` that contains NUL (`path` names `v` itself).
pub fn find(v: &Value, path: &str) -> Option<String> {
    match v {
        Value::String(s) if s.contains('\0') => Some(path.to_string()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| find(item, &format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, item)| {
            let here = format!("{path}.{}", k.replace('\0', "\\u0000"));
            if k.contains('\0') {
                Some(here)
            } else {
                find(item, &here)
            }
        }),
        _ => None,
    }
}

/// Replaces every NUL of `s` with U+FFFD.
pub fn scrub(s: &mut String) {
    if s.contains('\0') {
        *s = s.replace('\0', &REPLACEMENT.to_string());
    }
}

pub fn scrub_opt(s: &mut Option<String>) {
    if let Some(s) = s {
        scrub(s);
    }
}

/// Replaces every NUL in the strings and object keys of `v` with U+FFFD.
pub fn scrub_value(v: &mut Value) {
    match v {
        Value::String(s) => scrub(s),
        Value::Array(items) => items.iter_mut().for_each(scrub_value),
        Value::Object(map) => {
            if map.keys().any(|k| k.contains('\0')) {
                let old = std::mem::take(map);
                for (mut k, mut item) in old {
                    scrub(&mut k);
                    scrub_value(&mut item);
                    map.insert(k, item);
                }
            } else {
                map.values_mut().for_each(scrub_value);
            }
        }
        _ => {}
    }
}

/// The first field of an emitted event that PostgreSQL could not store, as `emits[i].field`.
pub fn find_in_emits(emits: &[cfp_protocol::Emit]) -> Option<String> {
    emits.iter().enumerate().find_map(|(i, e)| {
        if e.topic.contains('\0') {
            Some(format!("emits[{i}].topic"))
        } else if e.message_group_id.as_deref().is_some_and(|g| g.contains('\0')) {
            Some(format!("emits[{i}].messageGroupId"))
        } else {
            find(&e.data, &format!("emits[{i}].data"))
        }
    })
}

/// A worker's error with every NUL replaced.
pub fn scrub_error(e: &mut cfp_protocol::WorkerError) {
    scrub(&mut e.message);
    scrub_opt(&mut e.name);
    scrub_opt(&mut e.stack);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_the_path_and_scrubs_keys_and_strings() {
        let v = json!({"a": [1, {"b": "x\u{0}y"}]});
        assert_eq!(find(&v, "data").as_deref(), Some("data.a[1].b"));
        assert_eq!(find(&json!({"k\u{0}": 1}), "d").as_deref(), Some("d.k\\u0000"));
        assert_eq!(find(&json!({"a": "fine"}), "d"), None);
        let mut v = json!({"k\u{0}": ["a\u{0}"]});
        scrub_value(&mut v);
        assert_eq!(v, json!({"k\u{FFFD}": ["a\u{FFFD}"]}));
        let mut s = "a\u{0}".to_string();
        scrub(&mut s);
        assert_eq!(s, "a\u{FFFD}");
    }
}
