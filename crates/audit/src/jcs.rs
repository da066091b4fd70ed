//! RFC 8785 (JSON Canonicalization Scheme) of a [`serde_json::Value`]: object members sorted by the UTF-16 code
//! units of their names, no whitespace, strings escaped as ECMAScript's `JSON.stringify` does, and numbers written
//! as ECMAScript's Number-to-String (RFC 8785 §3.2.2.3) writes the IEEE 754 double they denote.
//!
//! Integers beyond ±2^53 are numbers like any other: they are written as the double nearest to them (as a
//! JavaScript writer would), so an entry should keep its integers within that range (docs/audit.md).

use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

/// Why a value has no canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JcsError(pub String);

impl std::fmt::Display for JcsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JcsError {}

/// The RFC 8785 text of `value`.
pub fn canonicalize(value: &Value) -> Result<String, JcsError> {
    let mut out = String::with_capacity(256);
    write_value(&mut out, value)?;
    Ok(out)
}

fn write_value(out: &mut String, value: &Value) -> Result<(), JcsError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n)?,
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item)?;
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map)?,
    }
    Ok(())
}

fn write_object(out: &mut String, map: &Map<String, Value>) -> Result<(), JcsError> {
    let mut members: Vec<(Vec<u16>, &String, &Value)> =
        map.iter().map(|(k, v)| (k.encode_utf16().collect(), k, v)).collect();
    members.sort_by(|a, b| a.0.cmp(&b.0));
    out.push('{');
    for (i, (_, k, v)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, k);
        out.push(':');
        write_value(out, v)?;
    }
    out.push('}');
    Ok(())
}

/// A JSON string as `JSON.stringify` writes it: `\b \t \n \f \r \" \\`, other controls as `\u00xx`, the rest as is.
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

const SAFE: u64 = 1 << 53;

fn write_number(out: &mut String, n: &Number) -> Result<(), JcsError> {
    if let Some(i) = n.as_u64().filter(|i| *i <= SAFE) {
        let _ = write!(out, "{i}");
        return Ok(());
    }
    if let Some(i) = n.as_i64().filter(|i| i.unsigned_abs() <= SAFE) {
        let _ = write!(out, "{i}");
        return Ok(());
    }
    let f = n
        .as_f64()
        .ok_or_else(|| JcsError(format!("the number {n} is not an IEEE 754 double")))?;
    write_double(out, f)
}

/// ECMAScript's Number::toString(10) of a finite double (NaN and infinities have no JSON form).
pub fn write_double(out: &mut String, f: f64) -> Result<(), JcsError> {
    if !f.is_finite() {
        return Err(JcsError("NaN and infinities have no JSON form".into()));
    }
    if f == 0.0 {
        out.push('0'); // -0 too
        return Ok(());
    }
    if f < 0.0 {
        out.push('-');
    }
    // Rust's `{:e}` writes the shortest digits that round-trip: `d[.ddd]e<exp>`.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` has an exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exp: i32 = exp.parse().expect("`{:e}` exponent is an integer");
    let k = digits.len() as i32;
    let n = exp + 1; // the value is 0.digits × 10^n
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = n - 1;
        let _ = write!(out, "e{}{}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    Ok(())
}

/// Parses JSON text as I-JSON (RFC 7493): numbers are IEEE 754 doubles, correctly rounded (serde_json's default
/// parser may be one unit off in the last place, which would change a canonical form), names are unique, strings
/// hold no lone surrogate, and nesting is at most 128 deep.
pub fn parse(text: &str) -> Result<Value, JcsError> {
    let mut p = Parser {
        b: text.as_bytes(),
        i: 0,
    };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i != p.b.len() {
        return Err(p.err("trailing characters"));
    }
    Ok(v)
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> JcsError {
        JcsError(format!("not I-JSON at byte {}: {what}", self.i))
    }

    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        if self.b[self.i..].starts_with(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, JcsError> {
        if depth > 128 {
            return Err(self.err("nested too deeply"));
        }
        match self.b.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut map = Map::new();
                self.ws();
                if self.eat(b"}") {
                    return Ok(Value::Object(map));
                }
                loop {
                    self.ws();
                    if self.b.get(self.i) != Some(&b'"') {
                        return Err(self.err("a member name must be a string"));
                    }
                    let k = self.string()?;
                    self.ws();
                    if !self.eat(b":") {
                        return Err(self.err("`:` expected"));
                    }
                    self.ws();
                    let v = self.value(depth + 1)?;
                    if map.insert(k, v).is_some() {
                        return Err(self.err("a member name appears twice"));
                    }
                    self.ws();
                    if self.eat(b"}") {
                        return Ok(Value::Object(map));
                    }
                    if !self.eat(b",") {
                        return Err(self.err("`,` or `}` expected"));
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat(b"]") {
                    return Ok(Value::Array(items));
                }
                loop {
                    self.ws();
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    if self.eat(b"]") {
                        return Ok(Value::Array(items));
                    }
                    if !self.eat(b",") {
                        return Err(self.err("`,` or `]` expected"));
                    }
                }
            }
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') if self.eat(b"true") => Ok(Value::Bool(true)),
            Some(b'f') if self.eat(b"false") => Ok(Value::Bool(false)),
            Some(b'n') if self.eat(b"null") => Ok(Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.err("a value expected")),
        }
    }

    fn number(&mut self) -> Result<Value, JcsError> {
        let start = self.i;
        self.eat(b"-");
        let digits = |p: &mut Self| {
            let s = p.i;
            while p.b.get(p.i).is_some_and(u8::is_ascii_digit) {
                p.i += 1;
            }
            p.i - s
        };
        let int_start = self.i;
        let n = digits(self);
        if n == 0 || (n > 1 && self.b[int_start] == b'0') {
            return Err(self.err("a malformed number"));
        }
        let mut integer = true;
        if self.eat(b".") {
            integer = false;
            if digits(self) == 0 {
                return Err(self.err("a malformed number"));
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            integer = false;
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return Err(self.err("a malformed number"));
            }
        }
        let text = std::str::from_utf8(&self.b[start..self.i]).expect("ASCII");
        if integer {
            if let Ok(i) = text.parse::<i64>() {
                return Ok(Value::Number(i.into()));
            }
            if let Ok(u) = text.parse::<u64>() {
                return Ok(Value::Number(u.into()));
            }
        }
        let f: f64 = text.parse().map_err(|_| self.err("a malformed number"))?;
        Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| self.err("a number beyond the range of a double"))
    }

    fn hex4(&mut self) -> Result<u32, JcsError> {
        let s = self
            .b
            .get(self.i..self.i + 4)
            .ok_or_else(|| self.err("a short \\u escape"))?;
        let s = std::str::from_utf8(s).map_err(|_| self.err("a malformed \\u escape"))?;
        let v = u32::from_str_radix(s, 16).map_err(|_| self.err("a malformed \\u escape"))?;
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, JcsError> {
        self.i += 1; // the opening quote
        let mut out = String::new();
        loop {
            let start = self.i;
            while self.i < self.b.len() && !matches!(self.b[self.i], b'"' | b'\\') && self.b[self.i] >= 0x20 {
                self.i += 1;
            }
            out.push_str(std::str::from_utf8(&self.b[start..self.i]).map_err(|_| self.err("not UTF-8"))?);
            match self.b.get(self.i) {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = *self.b.get(self.i).ok_or_else(|| self.err("an unfinished escape"))?;
                    self.i += 1;
                    match c {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if !self.eat(b"\\u") {
                                    return Err(self.err("a lone surrogate"));
                                }
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err("a lone surrogate"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else if (0xDC00..0xE000).contains(&hi) {
                                return Err(self.err("a lone surrogate"));
                            } else {
                                hi
                            };
                            out.push(char::from_u32(code).ok_or_else(|| self.err("not a character"))?);
                        }
                        _ => return Err(self.err("an unknown escape")),
                    }
                }
                _ => return Err(self.err("an unterminated string or a control character in it")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn num(f: f64) -> String {
        let mut s = String::new();
        write_double(&mut s, f).unwrap();
        s
    }

    #[test]
    fn numbers_are_written_as_ecmascript_does() {
        // RFC 8785 Appendix B samples.
        assert_eq!(num(0.0), "0");
        assert_eq!(num(-0.0), "0");
        assert_eq!(num(5e-324), "5e-324");
        assert_eq!(num(1.7976931348623157e308), "1.7976931348623157e+308");
        assert_eq!(num(9007199254740992.0), "9007199254740992");
        assert_eq!(num(9007199254740994.0), "9007199254740994");
        assert_eq!(num(295147905179352830000.0), "295147905179352830000");
        assert_eq!(num(1e21), "1e+21");
        assert_eq!(num(1e-7), "1e-7");
        assert_eq!(num(0.000001), "0.000001");
        assert_eq!(num(333333333.3333332), "333333333.3333332");
        assert_eq!(num(-1.5), "-1.5");
        assert!(write_double(&mut String::new(), f64::NAN).is_err());
    }

    #[test]
    fn members_are_sorted_by_utf16_code_units_and_strings_escaped() {
        let v = json!({"\u{20ac}": 1, "\r": 2, "\u{1f600}": 3, "1": 4, "\u{80}": 5, "ö": 6});
        assert_eq!(
            canonicalize(&v).unwrap(),
            "{\"\\r\":2,\"1\":4,\"\u{80}\":5,\"ö\":6,\"\u{20ac}\":1,\"\u{1f600}\":3}"
        );
        let v = json!({"s": "a\u{1}\u{1f}\"\\/\u{2028}\t"});
        assert_eq!(
            canonicalize(&v).unwrap(),
            "{\"s\":\"a\\u0001\\u001f\\\"\\\\/\u{2028}\\t\"}"
        );
        let big: Value = serde_json::from_str("[18446744073709551615, -9007199254740993, 1E3]").unwrap();
        assert_eq!(
            canonicalize(&big).unwrap(),
            "[18446744073709552000,-9007199254740992,1000]"
        );
    }
}
