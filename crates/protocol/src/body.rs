//! How an API request's body reaches its step: which parse the body gets (`bodyFrom`), the parse itself, and a
//! JSON check that builds no tree.
//!
//! Protocol 1 sends the parsed `body` and the bytes (`rawBody`); protocol 2 sends the bytes and `bodyFrom`, and
//! the worker parses them the same way ([`parse`]), so the runtime holds one copy of the body and never a
//! `serde_json::Value` of it (docs/protocol.md, "API input").

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Serialize;
use serde_json::Value;

/// How a step's `req.body` is made from the request's bytes.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BodyFrom {
    /// Parsed as JSON (the runtime checked it is valid JSON).
    Json,
    /// Decoded as UTF-8 text (invalid sequences become U+FFFD).
    Text,
    /// `null`: an empty body, or a content type that is neither JSON nor text.
    #[serde(rename = "none")]
    Nothing,
}

impl BodyFrom {
    /// The parse a body of `content_type` (the request's `Content-Type`, `""` when absent) gets: JSON for
    /// `application/json`, `*+json` or no content type with a body starting with `{` or `[`; text for `text/*`,
    /// `application/x-www-form-urlencoded` and `application/xml`; else none. An empty body is none.
    pub fn of(content_type: &str, bytes: &[u8]) -> BodyFrom {
        if bytes.is_empty() {
            return BodyFrom::Nothing;
        }
        let ct = content_type.to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or("").trim();
        if essence == "application/json" || essence.ends_with("+json") || essence.is_empty() && looks_like_json(bytes) {
            return BodyFrom::Json;
        }
        if essence.starts_with("text/")
            || essence == "application/x-www-form-urlencoded"
            || essence == "application/xml"
        {
            return BodyFrom::Text;
        }
        BodyFrom::Nothing
    }
}

fn looks_like_json(bytes: &[u8]) -> bool {
    matches!(bytes.iter().find(|b| !b.is_ascii_whitespace()), Some(b'{') | Some(b'['))
}

/// The step's `body` from the bytes: JSON parsed, text as a string (taking over the buffer when it is UTF-8),
/// else `null`.
pub fn parse(from: BodyFrom, bytes: Vec<u8>) -> Result<Value, serde_json::Error> {
    match from {
        BodyFrom::Json => serde_json::from_slice(&bytes),
        BodyFrom::Text => {
            Ok(Value::String(String::from_utf8(bytes).unwrap_or_else(|e| {
                String::from_utf8_lossy(e.as_bytes()).into_owned()
            })))
        }
        BodyFrom::Nothing => Ok(Value::Null),
    }
}

/// Whether `bytes` is JSON that [`parse`] accepts, without building it: every string is checked (UTF-8, escapes,
/// no lone surrogate), every number parsed (one out of range fails, as it does for a `Value`), nesting limited
/// alike. `serde::de::IgnoredAny` is not enough: it skips strings and numbers without checking them, so it would
/// pass bodies [`parse`] refuses.
pub fn check_json(bytes: &[u8]) -> Result<(), serde_json::Error> {
    serde_json::from_slice::<Checked>(bytes).map(|_| ())
}

/// [`check_json`] of a body read from `reader` (a body streamed into storage, checked as it goes).
pub fn check_json_reader<R: std::io::Read>(reader: R) -> Result<(), serde_json::Error> {
    serde_json::from_reader::<_, Checked>(reader).map(|_| ())
}

/// A JSON value read and dropped.
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Checked, E> {
        // `Value` holds only finite numbers.
        if v.is_finite() {
            Ok(Checked)
        } else {
            Err(E::custom("number out of range"))
        }
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_borrowed_str<E: de::Error>(self, _: &'de str) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_string<E: de::Error>(self, _: String) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_none<E: de::Error>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_key::<Checked>()?.is_some() {
            map.next_value::<Checked>()?;
        }
        Ok(Checked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_choose_the_parse() {
        assert_eq!(BodyFrom::of("application/json; charset=utf-8", b"1"), BodyFrom::Json);
        assert_eq!(BodyFrom::of("Application/Vnd.Api+JSON", b"1"), BodyFrom::Json);
        assert_eq!(BodyFrom::of("", b"  [1]"), BodyFrom::Json);
        assert_eq!(BodyFrom::of("", b"abc"), BodyFrom::Nothing);
        assert_eq!(BodyFrom::of("text/plain", b"abc"), BodyFrom::Text);
        assert_eq!(
            BodyFrom::of("application/x-www-form-urlencoded", b"a=1"),
            BodyFrom::Text
        );
        assert_eq!(BodyFrom::of("application/octet-stream", b"\0"), BodyFrom::Nothing);
        assert_eq!(BodyFrom::of("application/json", b""), BodyFrom::Nothing);
    }

    /// The check accepts exactly what the parse accepts, including what `IgnoredAny` would let through.
    #[test]
    fn the_check_agrees_with_the_parse() {
        let cases: &[&[u8]] = &[
            br#"{"a":[1,2.5,-3,true,null,"x\u00e9"],"b":{}}"#,
            b"[1e400]",
            b"[-1e400]",
            br#"["\ud800"]"#,
            b"[\"\xff\"]",
            br#"{"a":1,}"#,
            b"[1] x",
            b"\xef\xbb\xbf[1]",
            br#"{"a":"\q"}"#,
            b"123456789012345678901234567890",
            b"-0",
            b"\"\xed\xa0\x80\"",
        ];
        for case in cases {
            let parsed = serde_json::from_slice::<Value>(case).is_ok();
            assert_eq!(check_json(case).is_ok(), parsed, "{}", String::from_utf8_lossy(case));
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(serde_json::from_str::<Value>(&deep).is_err());
        assert!(check_json(deep.as_bytes()).is_err(), "nesting is limited alike");
        for case in cases {
            let parsed = serde_json::from_slice::<Value>(case).is_ok();
            assert_eq!(
                check_json_reader(&case[..]).is_ok(),
                parsed,
                "reader: {}",
                String::from_utf8_lossy(case)
            );
        }
        // The cases above that `IgnoredAny` accepts although a `Value` refuses them.
        assert!(serde_json::from_slice::<serde::de::IgnoredAny>(b"[1e400]").is_ok());
        assert!(check_json(b"[1e400]").is_err());
    }

    #[test]
    fn text_is_decoded_lossily() {
        assert_eq!(
            parse(BodyFrom::Text, b"a\xffb".to_vec()).unwrap(),
            Value::String("a\u{fffd}b".into())
        );
        assert_eq!(parse(BodyFrom::Nothing, b"{}".to_vec()).unwrap(), Value::Null);
    }
}
