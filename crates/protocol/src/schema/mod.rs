//! Checks event data against a topic's JSON Schema (strict event validation, FR-8) and names the first field
//! that fails (`data.items[2].sku: expected string, got number`).
//!
//! Schemas are compiled once, when a worker registers its steps ([`Schema::compile`]), with the `jsonschema`
//! crate: JSON Schema **2020-12**, and **draft-07** as zod 3 (`zod-to-json-schema`) emits it — chosen by
//! `$schema`, else 2020-12 unless the schema uses draft-07-only forms (`definitions`, `items` as a list,
//! `additionalItems`, `dependencies`) and no 2020-12-only keyword. Every keyword of the draft is checked,
//! `$ref`, `pattern` and `format` included; the OpenAPI `nullable: true` (which the checker before this one
//! accepted) is read as "or null".
//!
//! Tenant schemas are hostile input, so compiling refuses, with a message naming the limit:
//! - a schema larger than [`MAX_SCHEMA_BYTES`] serialized, or nesting deeper than [`MAX_SCHEMA_DEPTH`]
//!   subschemas (following `$ref`s), or expanding to more than [`MAX_EXPANDED_SUBSCHEMAS`] subschemas when its
//!   `$ref`s are followed (a chain of definitions each referring twice to the next doubles at every step);
//! - a `$ref` that is not local (`#…`), points to nothing, or is dynamic (`$dynamicRef`, `$recursiveRef`), and
//!   a nested `$id` (it would change what local references mean);
//! - a `pattern` that compiles beyond [`MAX_REGEX_BYTES`], or more than [`MAX_PATTERNS`] of them: patterns run
//!   on the `regex` crate, whose matching time is linear in the input (no backtracking), so no pattern can be
//!   catastrophic.
//!
//! Checking is bounded too: before the data is checked, the schema applications it would take (every
//! subschema applied to every value it reaches, along every path, as the validator does) are counted against a
//! budget ([`CHECK_BUDGET`]); data that would take more is refused with a message saying so, and the validator
//! never runs on it. Nothing here takes a lock.

use std::collections::HashMap;
use std::io::Write;

use jsonschema::{Draft, PatternOptions, Validator};
use serde_json::{Map, Value};

/// Largest schema accepted, serialized (256 KiB).
pub const MAX_SCHEMA_BYTES: usize = 256 * 1024;
/// Deepest nesting of subschemas accepted, counted along `$ref`s.
pub const MAX_SCHEMA_DEPTH: usize = 64;
/// Most subschemas a schema may expand to when its `$ref`s are followed (a recursive reference counts once).
pub const MAX_EXPANDED_SUBSCHEMAS: usize = 50_000;
/// Compiled size limit of one `pattern` (and of its lazy DFA cache), in bytes.
pub const MAX_REGEX_BYTES: usize = 64 * 1024;
/// Most `pattern`s and `patternProperties` one schema may hold (each compiles to at most [`MAX_REGEX_BYTES`]).
pub const MAX_PATTERNS: usize = 256;
/// Most schema applications one check may take (a data value checked against one subschema is one).
pub const CHECK_BUDGET: u64 = 250_000;

/// A compiled schema: cheap to share (`Arc`), checked without any lock.
pub struct Schema {
    validator: Validator,
    /// The schema as compiled (after `nullable` was rewritten), for counting a check's cost.
    source: Value,
    /// `$anchor` (2020-12) and `$id: "#name"` (draft-07) names, as JSON pointers.
    anchors: HashMap<String, String>,
    draft: Draft,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schema")
            .field("draft", &self.draft)
            .finish_non_exhaustive()
    }
}

/// `Ok(())` or the first violation, with its path from `root`. Compiles the schema first: for tests and
/// one-off checks; the engine compiles once at registration and calls [`Schema::check`].
pub fn check(schema: &Value, data: &Value, root: &str) -> Result<(), String> {
    let compiled = Schema::compile(schema)?;
    compiled.check(data, root, &mut CHECK_BUDGET.clone())
}

impl Schema {
    /// Compiles a schema, or says why it is refused (the message names the limit it exceeds).
    pub fn compile(schema: &Value) -> Result<Schema, String> {
        let size = serialized_size(schema, MAX_SCHEMA_BYTES);
        if size > MAX_SCHEMA_BYTES {
            return Err(format!(
                "schema is larger than {} KiB serialized (the limit)",
                MAX_SCHEMA_BYTES / 1024
            ));
        }
        let mut source = schema.clone();
        let draft = detect_draft(&source)?;
        let mut anchors = HashMap::new();
        let mut found = Found::default();
        collect(&source, draft, "", true, &mut anchors, &mut found, 0)?;
        for r in &found.refs {
            resolve(&source, &anchors, r).ok_or_else(|| format!("`$ref` `{r}` points to nothing in the schema"))?;
        }
        Expansion::measure(&source, &anchors)?;
        prepare(&mut source, draft, 0)?;
        let validator = options(draft)
            .build(&source)
            .map_err(|e| format!("invalid schema: {}", short(&e.to_string())))?;
        Ok(Schema {
            validator,
            source,
            anchors,
            draft,
        })
    }

    /// The draft the schema is checked under.
    pub fn draft(&self) -> Draft {
        self.draft
    }

    /// `Ok(())` or the first violation, with its path from `root` (`data.items[0].qty: must be ≥ 1`). Data
    /// whose check would take more than what is left of `budget` is refused without running the validator;
    /// what the check takes is subtracted from `budget` (one budget can cover several checks).
    pub fn check(&self, data: &Value, root: &str, budget: &mut u64) -> Result<(), String> {
        let mut cost = Cost {
            root: &self.source,
            anchors: &self.anchors,
            left: *budget,
            stack: Vec::new(),
        };
        if cost.apply(&self.source, data, 0).is_err() {
            *budget = 0;
            return Err(format!(
                "{root}: too costly to check against this schema (more than {CHECK_BUDGET} schema applications)"
            ));
        }
        *budget = cost.left;
        match self.validator.validate(data) {
            Ok(()) => Ok(()),
            Err(e) => Err(short(&describe(&e, root))),
        }
    }
}

fn options(draft: Draft) -> jsonschema::ValidationOptions<'static> {
    jsonschema::options()
        .with_draft(draft)
        .offline()
        .should_validate_formats(true)
        // zod 3 emits `format: "uuid"` in draft-07 schemas, which only names it from 2019-09 on.
        .with_format("uuid", is_uuid)
        .with_pattern_options(
            PatternOptions::regex()
                .size_limit(MAX_REGEX_BYTES)
                .dfa_size_limit(MAX_REGEX_BYTES),
        )
}

/// Look-around and back-references: ECMAScript has them, the linear-time `regex` crate does not.
fn needs_backtracking(pattern: &str) -> bool {
    ["(?=", "(?!", "(?<=", "(?<!", "\\k<"]
        .iter()
        .any(|m| pattern.contains(m))
        || pattern
            .as_bytes()
            .windows(2)
            .any(|w| w[0] == b'\\' && (b'1'..=b'9').contains(&w[1]))
}

/// Rewrites `nullable` in every subschema, and checks every `pattern` and `patternProperties` key on the
/// linear-time engine. A `pattern` that needs backtracking (zod 4's email pattern had look-aheads; its
/// `format: "email"` checks the same) is removed: not checked, as before. Such a `patternProperties` key, an
/// invalid pattern or one compiling beyond [`MAX_REGEX_BYTES`] refuses the schema.
fn prepare(v: &mut Value, draft: Draft, depth: usize) -> Result<(), String> {
    let Value::Object(map) = v else {
        return Ok(());
    };
    if depth > MAX_SCHEMA_DEPTH {
        return Ok(()); // refused before
    }
    rewrite_nullable(map);
    let compiles = |p: &str| options(draft).build(&serde_json::json!({ "pattern": p })).is_ok();
    let refused = |p: &str| {
        format!(
            "pattern `{}` is not a valid regular expression or compiles beyond {} KiB (the limit)",
            short(p),
            MAX_REGEX_BYTES / 1024
        )
    };
    if let Some(Value::String(p)) = map.get("pattern") {
        if needs_backtracking(p) {
            map.remove("pattern");
        } else if !compiles(p) {
            return Err(refused(p));
        }
    }
    if let Some(Value::Object(props)) = map.get("patternProperties") {
        for p in props.keys() {
            if needs_backtracking(p) {
                return Err(format!(
                    "`patternProperties` `{}` uses look-around or back-references, which are not supported",
                    short(p)
                ));
            }
            if !compiles(p) {
                return Err(refused(p));
            }
        }
    }
    for (k, child) in map.iter_mut() {
        match (in_place(k).or_else(|| nested(k, child)), child) {
            (Some(Holds::One), s) => prepare(s, draft, depth + 1)?,
            (Some(Holds::List), Value::Array(list)) => {
                for s in list {
                    prepare(s, draft, depth + 1)?;
                }
            }
            (Some(Holds::Map), Value::Object(m)) => {
                for s in m.values_mut() {
                    prepare(s, draft, depth + 1)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Serialized length of `v`, counting stops a little past `limit`.
fn serialized_size(v: &Value, limit: usize) -> usize {
    struct Counter(usize, usize);
    impl Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            if self.0 > self.1 {
                return Err(std::io::Error::other("over the limit"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Counter(0, limit);
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

/// `8-4-4-4-12` hexadecimal digits (RFC 9562's text form).
fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Long messages (an `enum` of a thousand values) are cut.
fn short(s: &str) -> String {
    const MAX: usize = 1_000;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// `type: X` with `nullable: true` (OpenAPI 3.0, accepted by the checker before this one) becomes
/// `type: [X, "null"]`.
fn rewrite_nullable(map: &mut Map<String, Value>) {
    if map.get("nullable") != Some(&Value::Bool(true)) {
        return;
    }
    match map.get_mut("type") {
        Some(Value::String(t)) if t != "null" => {
            let t = std::mem::take(t);
            map.insert("type".into(), serde_json::json!([t, "null"]));
        }
        Some(Value::Array(list)) if !list.iter().any(|t| t == "null") => list.push("null".into()),
        _ => {}
    }
}

/// 2020-12 and 2019-09 keywords that draft-07 does not have.
const NEWER_ONLY: &[&str] = &[
    "$defs",
    "prefixItems",
    "dependentSchemas",
    "dependentRequired",
    "unevaluatedProperties",
    "unevaluatedItems",
    "$anchor",
    "$dynamicRef",
    "$dynamicAnchor",
    "$recursiveRef",
];

/// The draft named by `$schema`; without it, draft-07 when the schema uses a draft-07-only form and nothing
/// newer, else 2020-12.
fn detect_draft(schema: &Value) -> Result<Draft, String> {
    if let Some(uri) = schema.get("$schema") {
        let uri = uri.as_str().unwrap_or_default();
        let known = [
            ("draft/2020-12", Draft::Draft202012),
            ("draft/2019-09", Draft::Draft201909),
            ("draft-07", Draft::Draft7),
            ("draft-06", Draft::Draft6),
            ("draft-04", Draft::Draft4),
        ];
        return known
            .iter()
            .find(|(k, _)| uri.contains(k) && uri.contains("json-schema.org"))
            .map(|(_, d)| *d)
            .ok_or_else(|| {
                format!(
                    "`$schema` `{}` is not supported: use JSON Schema 2020-12 or draft-07",
                    short(uri)
                )
            });
    }
    let (mut older, mut newer) = (false, false);
    scan_forms(schema, &mut older, &mut newer, 0);
    Ok(if older && !newer {
        Draft::Draft7
    } else {
        Draft::Draft202012
    })
}

fn scan_forms(v: &Value, older: &mut bool, newer: &mut bool, depth: usize) {
    if depth > 256 {
        return;
    }
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if NEWER_ONLY.contains(&k.as_str()) {
                    *newer = true;
                }
                let draft7 = matches!(k.as_str(), "definitions" | "additionalItems" | "dependencies")
                    || (k == "items" && child.is_array());
                if draft7 {
                    *older = true;
                }
                scan_forms(child, older, newer, depth + 1);
            }
        }
        Value::Array(list) => list.iter().for_each(|c| scan_forms(c, older, newer, depth + 1)),
        _ => {}
    }
}

/// How a keyword's value holds subschemas.
enum Holds {
    /// The value is a subschema.
    One,
    /// The value is a list of subschemas.
    List,
    /// The value is an object whose values are subschemas.
    Map,
}

/// Keywords whose subschemas apply to the same value.
fn in_place(k: &str) -> Option<Holds> {
    Some(match k {
        "allOf" | "anyOf" | "oneOf" => Holds::List,
        "not" | "if" | "then" | "else" => Holds::One,
        "dependentSchemas" | "dependencies" => Holds::Map,
        _ => return None,
    })
}

/// Keywords whose subschemas apply to values inside the value, and definitions.
fn nested(k: &str, v: &Value) -> Option<Holds> {
    Some(match k {
        "properties" | "patternProperties" | "$defs" | "definitions" => Holds::Map,
        "items" if v.is_array() => Holds::List,
        "prefixItems" => Holds::List,
        "items"
        | "additionalItems"
        | "additionalProperties"
        | "unevaluatedProperties"
        | "unevaluatedItems"
        | "contains"
        | "propertyNames" => Holds::One,
        _ => return None,
    })
}

fn subschemas(holds: Holds, v: &Value) -> Vec<(String, &Value)> {
    match (holds, v) {
        (Holds::One, v) => vec![(String::new(), v)],
        (Holds::List, Value::Array(list)) => list.iter().enumerate().map(|(i, s)| (format!("/{i}"), s)).collect(),
        (Holds::Map, Value::Object(map)) => map
            .iter()
            .filter(|(_, s)| s.is_object() || s.is_boolean())
            .map(|(k, s)| (format!("/{}", k.replace('~', "~0").replace('/', "~1")), s))
            .collect(),
        _ => Vec::new(),
    }
}

/// What [`collect`] finds besides anchors.
#[derive(Default)]
struct Found {
    refs: Vec<String>,
    patterns: usize,
}

/// Walks every subschema (without following `$ref`s): collects anchors and references, refuses remote,
/// dynamic and unresolvable-by-design references and nested `$id`s.
fn collect(
    v: &Value,
    draft: Draft,
    pointer: &str,
    is_root: bool,
    anchors: &mut HashMap<String, String>,
    found: &mut Found,
    depth: usize,
) -> Result<(), String> {
    if depth > MAX_SCHEMA_DEPTH {
        return Err(format!(
            "schema nests deeper than {MAX_SCHEMA_DEPTH} levels (the limit)"
        ));
    }
    let Value::Object(map) = v else {
        return Ok(());
    };
    for key in ["$dynamicRef", "$recursiveRef"] {
        if map.contains_key(key) {
            return Err(format!("`{key}` is not supported (at `#{pointer}`): use `$ref`"));
        }
    }
    if let Some(Value::String(r)) = map.get("$ref") {
        if !r.starts_with('#') {
            return Err(format!(
                "`$ref` `{}` is not local (at `#{pointer}`): only references inside the schema (`#/…`) are resolved",
                short(r)
            ));
        }
        found.refs.push(r.clone());
    }
    if let Some(Value::String(id)) = map.get("$id") {
        match id.strip_prefix('#') {
            Some(name) if draft == Draft::Draft7 || draft == Draft::Draft6 || draft == Draft::Draft4 => {
                anchors.insert(name.to_string(), pointer.to_string());
            }
            _ if is_root => {}
            _ => return Err(format!("a nested `$id` is not supported (at `#{pointer}`)")),
        }
    }
    if let Some(Value::String(name)) = map.get("$anchor") {
        anchors.insert(name.clone(), pointer.to_string());
    }
    if map.get("pattern").is_some_and(Value::is_string) {
        found.patterns += 1;
    }
    if let Some(Value::Object(p)) = map.get("patternProperties") {
        found.patterns += p.len();
    }
    if found.patterns > MAX_PATTERNS {
        return Err(format!("schema has more than {MAX_PATTERNS} patterns (the limit)"));
    }
    for (k, child) in map {
        let holds = in_place(k).or_else(|| nested(k, child));
        if let Some(holds) = holds {
            let at = format!("{pointer}/{k}");
            for (suffix, s) in subschemas(holds, child) {
                collect(s, draft, &format!("{at}{suffix}"), false, anchors, found, depth + 1)?;
            }
        }
    }
    Ok(())
}

/// The subschema a local reference points to.
fn resolve<'a>(root: &'a Value, anchors: &HashMap<String, String>, r: &str) -> Option<&'a Value> {
    let fragment = r.strip_prefix('#')?;
    let fragment = percent_decode(fragment)?;
    if fragment.is_empty() {
        return Some(root);
    }
    if fragment.starts_with('/') {
        return root.pointer(&fragment);
    }
    root.pointer(anchors.get(&fragment)?)
}

fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The schema with its references followed: how many subschemas and how deep.
struct Expansion<'a> {
    root: &'a Value,
    anchors: &'a HashMap<String, String>,
    count: usize,
    /// References being followed (a reference to one of these is recursive: counted once, not followed).
    path: Vec<*const Value>,
}

impl<'a> Expansion<'a> {
    fn measure(root: &'a Value, anchors: &'a HashMap<String, String>) -> Result<(), String> {
        let mut e = Expansion {
            root,
            anchors,
            count: 0,
            path: Vec::new(),
        };
        e.walk(root, 1)
    }

    fn walk(&mut self, v: &'a Value, depth: usize) -> Result<(), String> {
        if depth > MAX_SCHEMA_DEPTH {
            return Err(format!(
                "schema nests deeper than {MAX_SCHEMA_DEPTH} levels (the limit), counting along `$ref`s"
            ));
        }
        self.count += 1;
        if self.count > MAX_EXPANDED_SUBSCHEMAS {
            return Err(format!(
                "schema expands to more than {MAX_EXPANDED_SUBSCHEMAS} subschemas when its `$ref`s are followed (the limit)"
            ));
        }
        let Value::Object(map) = v else {
            return Ok(());
        };
        if let Some(target) = schema_ref(map).and_then(|r| resolve(self.root, self.anchors, r)) {
            let id = target as *const Value;
            if !self.path.contains(&id) {
                self.path.push(id);
                let r = self.walk(target, depth + 1);
                self.path.pop();
                r?;
            }
        }
        for (k, child) in map {
            if k == "$defs" || k == "definitions" {
                continue; // reached through references
            }
            if let Some(holds) = in_place(k).or_else(|| nested(k, child)) {
                for (_, s) in subschemas(holds, child) {
                    self.walk(s, depth + 1)?;
                }
            }
        }
        Ok(())
    }
}

/// The `$ref` of a subschema (draft-07 and older ignore every other keyword beside it; the cost counts them
/// anyway, which only overestimates).
fn schema_ref(map: &Map<String, Value>) -> Option<&str> {
    map.get("$ref").and_then(Value::as_str)
}

/// Counts the schema applications a check takes, as the validator makes them (without its caches: an upper
/// bound), and stops when the budget is spent.
struct Cost<'a> {
    root: &'a Value,
    anchors: &'a HashMap<String, String>,
    left: u64,
    /// (subschema, value) pairs being applied through a `$ref`: the validator stops such a cycle.
    stack: Vec<(*const Value, *const Value)>,
}

struct Spent;

impl<'a> Cost<'a> {
    fn spend(&mut self, n: u64) -> Result<(), Spent> {
        self.left = self.left.checked_sub(n).ok_or(Spent)?;
        Ok(())
    }

    fn apply(&mut self, schema: &'a Value, data: &Value, depth: usize) -> Result<(), Spent> {
        let Value::Object(map) = schema else {
            return self.spend(1);
        };
        // Deeper than any schema the limits let through, or than serde_json parses: a reference cycle.
        if depth > 4 * MAX_SCHEMA_DEPTH + 256 {
            return Err(Spent);
        }
        self.spend(1)?;
        if let Some(Value::Array(options)) = map.get("enum") {
            self.spend(options.len() as u64)?;
        }
        if let Some(target) = schema_ref(map).and_then(|r| resolve(self.root, self.anchors, r)) {
            let key = (target as *const Value, data as *const Value);
            if !self.stack.contains(&key) {
                self.stack.push(key);
                let r = self.apply(target, data, depth + 1);
                self.stack.pop();
                r?;
            }
        }
        for (k, child) in map {
            match (in_place(k), child) {
                (Some(Holds::One), s) => self.apply(s, data, depth + 1)?,
                (Some(Holds::List), Value::Array(list)) => {
                    for s in list {
                        self.apply(s, data, depth + 1)?;
                    }
                }
                (Some(Holds::Map), Value::Object(m)) => {
                    for s in m.values().filter(|s| s.is_object() || s.is_boolean()) {
                        self.apply(s, data, depth + 1)?;
                    }
                }
                _ => {}
            }
        }
        match data {
            Value::Object(obj) => self.apply_object(map, obj, depth),
            Value::Array(items) => self.apply_array(map, items, depth),
            _ => Ok(()),
        }
    }

    fn apply_object(
        &mut self,
        map: &'a Map<String, Value>,
        obj: &Map<String, Value>,
        depth: usize,
    ) -> Result<(), Spent> {
        if let Some(Value::Object(props)) = map.get("properties") {
            for (k, s) in props {
                if let Some(v) = obj.get(k) {
                    self.apply(s, v, depth + 1)?;
                }
            }
        }
        if let Some(Value::Object(patterns)) = map.get("patternProperties") {
            for s in patterns.values() {
                for v in obj.values() {
                    self.apply(s, v, depth + 1)?;
                }
            }
        }
        for k in ["additionalProperties", "unevaluatedProperties"] {
            if let Some(s) = map.get(k) {
                for v in obj.values() {
                    self.apply(s, v, depth + 1)?;
                }
            }
        }
        if let Some(s) = map.get("propertyNames") {
            for k in obj.keys() {
                self.apply(s, &Value::String(k.clone()), depth + 1)?;
            }
        }
        Ok(())
    }

    fn apply_array(&mut self, map: &'a Map<String, Value>, items: &[Value], depth: usize) -> Result<(), Spent> {
        for k in ["items", "prefixItems"] {
            match map.get(k) {
                Some(Value::Array(list)) => {
                    for (s, v) in list.iter().zip(items) {
                        self.apply(s, v, depth + 1)?;
                    }
                }
                Some(s) if k == "items" => {
                    for v in items {
                        self.apply(s, v, depth + 1)?;
                    }
                }
                _ => {}
            }
        }
        for k in ["additionalItems", "unevaluatedItems", "contains"] {
            if let Some(s) = map.get(k) {
                for v in items {
                    self.apply(s, v, depth + 1)?;
                }
            }
        }
        Ok(())
    }
}

mod describe;
use describe::describe;

#[cfg(test)]
mod tests;
