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

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use jsonschema::{Draft, PatternOptions, ValidationError, Validator};
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

/// The error in the wording strict validation has always used, at its path from `root`.
fn describe(e: &ValidationError<'_>, root: &str) -> String {
    let mut path = root.to_string();
    for seg in e.instance_path().segments() {
        match seg {
            LocationSegment::Property(p) => {
                path.push('.');
                path.push_str(&p);
            }
            LocationSegment::Index(i) => path.push_str(&format!("[{i}]")),
        }
    }
    let instance: &Value = e.instance();
    match e.kind() {
        ValidationErrorKind::Type { kind } => {
            let mut types = Vec::new();
            type_names(kind, &mut types);
            expected(&path, &types, instance)
        }
        ValidationErrorKind::Required { property } => {
            format!("{path}.{}: required", property.as_str().unwrap_or_default())
        }
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
            format!(
                "{path}.{}: unknown field",
                unexpected.first().map(String::as_str).unwrap_or("?")
            )
        }
        ValidationErrorKind::Enum { options } => {
            let list: Vec<String> = options
                .as_array()
                .map(|o| o.iter().map(Value::to_string).collect())
                .unwrap_or_default();
            format!("{path}: must be one of {}", list.join(", "))
        }
        ValidationErrorKind::Constant { expected_value } => format!("{path}: must be {expected_value}"),
        ValidationErrorKind::MinLength { limit } => format!("{path}: must be at least {limit} characters"),
        ValidationErrorKind::MaxLength { limit } => format!("{path}: must be at most {limit} characters"),
        ValidationErrorKind::Minimum { limit } => format!("{path}: must be ≥ {limit}"),
        ValidationErrorKind::Maximum { limit } => format!("{path}: must be ≤ {limit}"),
        ValidationErrorKind::ExclusiveMinimum { limit } => format!("{path}: must be > {limit}"),
        ValidationErrorKind::ExclusiveMaximum { limit } => format!("{path}: must be < {limit}"),
        ValidationErrorKind::MultipleOf { multiple_of } => format!("{path}: must be a multiple of {multiple_of}"),
        ValidationErrorKind::MinItems { limit } => {
            let n = instance.as_array().map_or(0, Vec::len);
            format!("{path}: needs at least {limit} items, has {n}")
        }
        ValidationErrorKind::MaxItems { limit } => {
            let n = instance.as_array().map_or(0, Vec::len);
            format!("{path}: allows at most {limit} items, has {n}")
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            let firsts: Vec<&ValidationError<'_>> = context.iter().filter_map(|b| b.first()).collect();
            // Alternatives that are all types of this value (`string | null`): one message naming them all.
            let mut types = Vec::new();
            let all_types = !firsts.is_empty()
                && firsts.iter().all(|f| match f.kind() {
                    ValidationErrorKind::Type { kind } if f.instance_path() == e.instance_path() => {
                        type_names(kind, &mut types);
                        true
                    }
                    _ => false,
                });
            if all_types {
                return expected(&path, &types, instance);
            }
            // Else the first branch that got furthest into the data says the most.
            let deepest = firsts.iter().map(|f| f.instance_path().segments().count()).max();
            firsts
                .iter()
                .find(|f| Some(f.instance_path().segments().count()) == deepest)
                .map(|f| describe(f, root))
                .unwrap_or_else(|| format!("{path}: matches no allowed shape"))
        }
        ValidationErrorKind::OneOfMultipleValid { .. } => {
            format!("{path}: matches more than one of the allowed shapes, must match exactly one")
        }
        ValidationErrorKind::Not { .. } => format!("{path}: matches a shape that is not allowed"),
        ValidationErrorKind::FalseSchema => format!("{path}: no value is allowed here"),
        ValidationErrorKind::Pattern { pattern } => format!("{path}: must match the pattern `{pattern}`"),
        ValidationErrorKind::Format { format } => format!("{path}: must be a valid `{format}`"),
        ValidationErrorKind::MinProperties { limit } => format!("{path}: needs at least {limit} fields"),
        ValidationErrorKind::MaxProperties { limit } => format!("{path}: allows at most {limit} fields"),
        ValidationErrorKind::UniqueItems => format!("{path}: items must be unique"),
        ValidationErrorKind::Contains => format!("{path}: no item matches the allowed shape"),
        ValidationErrorKind::PropertyNames { error } => {
            format!("{path}: field name {}", describe(error, "").trim_start_matches(": "))
        }
        other => format!("{path}: fails `{}`", other.keyword()),
    }
}

/// Adds the JSON types of a `type` error to `out` (once each, `null` last).
fn type_names(kind: &TypeKind, out: &mut Vec<String>) {
    let mut add = |t: String| {
        if !out.contains(&t) {
            out.push(t);
        }
    };
    match kind {
        TypeKind::Single(t) => add(t.to_string()),
        TypeKind::Multiple(set) => set.iter().for_each(|t| add(t.to_string())),
    }
    out.sort_by_key(|t| t == "null");
}

/// `data.id: expected string, got integer`.
fn expected(path: &str, types: &[String], instance: &Value) -> String {
    let shown = if instance.is_null() {
        "nothing (null or missing)"
    } else {
        type_name(instance)
    };
    format!("{path}: expected {}, got {shown}", types.join(" or "))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order() -> Value {
        json!({
            "type": "object",
            "properties": {
                "id": {"type": "string", "minLength": 1},
                "qty": {"type": "integer", "minimum": 1},
                "status": {"enum": ["new", "paid"]},
                "items": {"type": "array", "items": {"type": "object", "properties": {"sku": {"type": "string"}}, "required": ["sku"]}},
                "note": {"type": ["string", "null"]}
            },
            "required": ["id", "qty"],
            "additionalProperties": false
        })
    }

    #[test]
    fn valid_data_passes() {
        let data = json!({"id": "o1", "qty": 2, "status": "paid", "items": [{"sku": "a"}], "note": null});
        assert_eq!(check(&order(), &data, "data"), Ok(()));
        assert_eq!(check(&json!({}), &json!(42), "data"), Ok(()));
        assert_eq!(check(&json!(true), &json!(42), "data"), Ok(()));
    }

    #[test]
    fn the_first_violation_names_its_field() {
        let e = |d: Value| check(&order(), &d, "data").unwrap_err();
        assert_eq!(e(json!({"qty": 1})), "data.id: required");
        assert_eq!(e(json!({"id": 5, "qty": 1})), "data.id: expected string, got integer");
        assert_eq!(e(json!({"id": "", "qty": 1})), "data.id: must be at least 1 characters");
        assert_eq!(e(json!({"id": "a", "qty": 0})), "data.qty: must be ≥ 1");
        assert_eq!(
            e(json!({"id": "a", "qty": 1.5})),
            "data.qty: expected integer, got number"
        );
        assert_eq!(
            e(json!({"id": "a", "qty": 1, "status": "x"})),
            r#"data.status: must be one of "new", "paid""#
        );
        assert_eq!(
            e(json!({"id": "a", "qty": 1, "items": [{"sku": "a"}, {}]})),
            "data.items[1].sku: required"
        );
        assert_eq!(e(json!({"id": "a", "qty": 1, "extra": 1})), "data.extra: unknown field");
        assert_eq!(e(json!(null)), "data: expected object, got nothing (null or missing)");
    }

    #[test]
    fn combinators() {
        let s = json!({"anyOf": [{"type": "string"}, {"type": "number"}]});
        assert!(check(&s, &json!("a"), "d").is_ok());
        assert!(check(&s, &json!(true), "d").is_err());
        let one = json!({"oneOf": [{"type": "integer"}, {"type": "number"}]});
        assert!(check(&one, &json!(1), "d").unwrap_err().contains("exactly one"));
        assert!(check(&one, &json!(1.5), "d").is_ok());
        let not = json!({"not": {"type": "null"}});
        assert!(check(&not, &json!(null), "d").is_err());
        let all = json!({"allOf": [{"type": "integer"}, {"maximum": 3}]});
        assert_eq!(check(&all, &json!(4), "d").unwrap_err(), "d: must be ≤ 3");
    }

    #[test]
    fn nullable_still_means_or_null() {
        let s = json!({"type": "object", "properties": {"n": {"type": "string", "nullable": true}}});
        assert!(check(&s, &json!({"n": null}), "data").is_ok());
        assert_eq!(
            check(&s, &json!({"n": 1}), "data").unwrap_err(),
            "data.n: expected string or null, got integer"
        );
        // Inside `const` it is data, not a schema.
        let c = json!({"const": {"type": "string", "nullable": true}});
        assert!(check(&c, &json!({"type": "string", "nullable": true}), "data").is_ok());
    }

    #[test]
    fn pattern_format_and_ref_are_now_checked() {
        let s = json!({
            "$defs": {"Sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]+$"}},
            "type": "object",
            "properties": {"sku": {"$ref": "#/$defs/Sku"}, "at": {"type": "string", "format": "date-time"}}
        });
        assert!(check(&s, &json!({"sku": "ABC-1", "at": "2026-01-01T00:00:00Z"}), "data").is_ok());
        assert_eq!(
            check(&s, &json!({"sku": "abc"}), "data").unwrap_err(),
            "data.sku: must match the pattern `^[A-Z]{3}-[0-9]+$`"
        );
        assert_eq!(
            check(&s, &json!({"at": "yesterday"}), "data").unwrap_err(),
            "data.at: must be a valid `date-time`"
        );
    }

    /// `zod-to-json-schema` (zod 3, target jsonSchema7) output, with `$schema` stripped as the SDK sends it:
    /// `definitions`, a tuple as `items: [...]`, references into the root by JSON pointer.
    fn zod3() -> Value {
        json!({
            "type": "object",
            "properties": {
                "order": {"$ref": "#/definitions/Order"},
                "point": {"type": "array", "minItems": 2, "maxItems": 2, "items": [{"type": "number"}, {"type": "number"}]},
                "backup": {"$ref": "#/properties/order"}
            },
            "required": ["order"],
            "additionalProperties": false,
            "definitions": {
                "Order": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "format": "uuid"},
                        "items": {"type": "array", "items": {"type": "object", "properties": {"qty": {"type": "integer", "exclusiveMinimum": 0}}, "required": ["qty"], "additionalProperties": false}}
                    },
                    "required": ["id", "items"],
                    "additionalProperties": false
                }
            }
        })
    }

    #[test]
    fn zod_style_draft_07() {
        let s = Schema::compile(&zod3()).unwrap();
        assert_eq!(s.draft(), Draft::Draft7);
        let mut b = CHECK_BUDGET;
        let ok =
            json!({"order": {"id": "5b7f3f4e-6c1d-4a53-9a43-4f5d8b0e6a11", "items": [{"qty": 2}]}, "point": [1, 2.5]});
        assert_eq!(s.check(&ok, "data", &mut b), Ok(()));
        let bad = json!({"order": {"id": "5b7f3f4e-6c1d-4a53-9a43-4f5d8b0e6a11", "items": [{"qty": 0}]}});
        assert_eq!(
            s.check(&bad, "data", &mut b).unwrap_err(),
            "data.order.items[0].qty: must be > 0"
        );
        let bad_id = json!({"order": {"id": "5b7f3f4e-6c1d-4a53-9a43", "items": []}});
        assert_eq!(
            s.check(&bad_id, "data", &mut b).unwrap_err(),
            "data.order.id: must be a valid `uuid`"
        );
        let tuple = json!({"order": {"id": "5b7f3f4e-6c1d-4a53-9a43-4f5d8b0e6a11", "items": []}, "point": [1, "x"]});
        assert_eq!(
            s.check(&tuple, "data", &mut b).unwrap_err(),
            "data.point[1]: expected number, got string"
        );
        let mut with_uri = zod3();
        with_uri["$schema"] = json!("http://json-schema.org/draft-07/schema#");
        assert_eq!(Schema::compile(&with_uri).unwrap().draft(), Draft::Draft7);
    }

    /// pydantic v2 `model_json_schema()` output: `$defs`, `$ref`, `anyOf` with null for `Optional`.
    #[test]
    fn pydantic_style_defs() {
        let s = json!({
            "$defs": {
                "Item": {
                    "properties": {"sku": {"title": "Sku", "type": "string"}, "qty": {"title": "Qty", "type": "integer", "minimum": 1}},
                    "required": ["sku", "qty"], "title": "Item", "type": "object"
                }
            },
            "properties": {
                "items": {"items": {"$ref": "#/$defs/Item"}, "title": "Items", "type": "array"},
                "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null, "title": "Note"}
            },
            "required": ["items"], "title": "Order", "type": "object"
        });
        let s = Schema::compile(&s).unwrap();
        assert_eq!(s.draft(), Draft::Draft202012);
        let mut b = CHECK_BUDGET;
        assert_eq!(
            s.check(
                &json!({"items": [{"sku": "a", "qty": 1}], "note": null}),
                "data",
                &mut b
            ),
            Ok(())
        );
        assert_eq!(
            s.check(&json!({"items": [{"sku": "a", "qty": 0}]}), "data", &mut b)
                .unwrap_err(),
            "data.items[0].qty: must be ≥ 1"
        );
        assert_eq!(
            s.check(&json!({"items": [], "note": 3}), "data", &mut b).unwrap_err(),
            "data.note: expected string or null, got integer"
        );
    }

    /// A pattern that backtracks catastrophically on a backtracking engine (`(a+)+$` on `aaaa…!`) answers at
    /// once.
    #[test]
    fn catastrophic_pattern_is_harmless() {
        let s = json!({"type": "string", "pattern": "^(a+)+$"});
        let long = format!("{}!", "a".repeat(100_000));
        let t = std::time::Instant::now();
        assert!(check(&s, &json!(long), "data")
            .unwrap_err()
            .contains("must match the pattern"));
        assert!(t.elapsed() < std::time::Duration::from_millis(500), "{:?}", t.elapsed());
        let huge = json!({"type": "string", "pattern": "(\\w{100}){100}"});
        let e = Schema::compile(&huge).unwrap_err();
        assert!(e.contains("compiles beyond 64 KiB (the limit)"), "{e}");
    }

    /// Patterns as zod and pydantic emit them compile within the size limit; a pattern nested a hundred
    /// thousand groups deep is refused, not a stack overflow.
    #[test]
    fn patterns_within_limits() {
        for p in [
            r"^\w{1,64}$",
            r"^(?!\.)(?!.*\.\.)([A-Za-z0-9_'+\-\.]*)[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$",
            r"^[\p{L}\p{M} .'-]{1,200}$",
            r"^[0-9a-fA-F]{8}\b-[0-9a-fA-F]{4}\b-[0-9a-fA-F]{4}\b-[0-9a-fA-F]{4}\b-[0-9a-fA-F]{12}$",
            r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$",
        ] {
            let s = json!({"type": "string", "pattern": p});
            assert!(Schema::compile(&s).is_ok(), "{p}: {:?}", Schema::compile(&s).err());
        }
        // zod 4's email pattern needs look-ahead: not checked (its `format: "email"` is).
        let email = json!({"type": "string", "format": "email",
            "pattern": r"^(?!\.)(?!.*\.\.)([A-Za-z0-9_'+\-\.]*)[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$"});
        assert!(check(&email, &json!("ada@example.com"), "data").is_ok());
        assert_eq!(
            check(&email, &json!("ada"), "data").unwrap_err(),
            "data: must be a valid `email`"
        );
        let nested = format!("{}a{}", "(".repeat(100_000), ")".repeat(100_000));
        let e = Schema::compile(&json!({"pattern": nested})).unwrap_err();
        assert!(
            e.ends_with("is not a valid regular expression or compiles beyond 64 KiB (the limit)"),
            "{e}"
        );
        let many: Vec<Value> = (0..300).map(|i| json!({"pattern": format!("^a{i}$")})).collect();
        assert_eq!(
            Schema::compile(&json!({"allOf": many})).unwrap_err(),
            format!("schema has more than {MAX_PATTERNS} patterns (the limit)")
        );
    }

    #[test]
    fn remote_and_dynamic_refs_are_refused() {
        let remote = json!({"properties": {"a": {"$ref": "https://example.com/a.json"}}});
        assert_eq!(
            Schema::compile(&remote).unwrap_err(),
            "`$ref` `https://example.com/a.json` is not local (at `#/properties/a`): only references inside the schema (`#/…`) are resolved"
        );
        let relative = json!({"$ref": "other.json#/x"});
        assert!(Schema::compile(&relative).unwrap_err().contains("is not local"));
        let missing = json!({"$ref": "#/$defs/Nope"});
        assert_eq!(
            Schema::compile(&missing).unwrap_err(),
            "`$ref` `#/$defs/Nope` points to nothing in the schema"
        );
        let e = Schema::compile(&json!({"type": "strng"})).unwrap_err();
        assert!(e.starts_with("invalid schema: "), "{e}");
        let dynamic = json!({"$dynamicRef": "#node"});
        assert!(Schema::compile(&dynamic)
            .unwrap_err()
            .contains("`$dynamicRef` is not supported"));
        let nested_id = json!({"properties": {"a": {"$id": "https://example.com/a", "type": "string"}}});
        assert!(Schema::compile(&nested_id).unwrap_err().contains("nested `$id`"));
    }

    #[test]
    fn oversized_deep_and_exploding_schemas_are_refused() {
        let big = json!({"enum": (0..40_000).map(|i| format!("value-{i}")).collect::<Vec<_>>()});
        assert_eq!(
            Schema::compile(&big).unwrap_err(),
            "schema is larger than 256 KiB serialized (the limit)"
        );
        let mut deep = json!({"type": "string"});
        for _ in 0..70 {
            deep = json!({"properties": {"a": deep}});
        }
        assert!(Schema::compile(&deep).unwrap_err().contains("deeper than 64 levels"));
        let mut chain = json!({"type": "string"});
        let mut defs = Map::new();
        for i in (0..70).rev() {
            defs.insert(format!("d{i}"), chain);
            chain = json!({"$ref": format!("#/$defs/d{i}")});
        }
        let long_chain = json!({"$defs": defs, "$ref": "#/$defs/d0"});
        assert!(Schema::compile(&long_chain)
            .unwrap_err()
            .contains("counting along `$ref`s"));
        assert!(Schema::compile(&exponential(20))
            .unwrap_err()
            .contains("expands to more than 50000 subschemas"));
    }

    /// `d0` refers twice to `d1`, which refers twice to `d2`, …: 2^depth applications, a small document.
    fn exponential(depth: usize) -> Value {
        let mut defs = Map::new();
        defs.insert(format!("d{depth}"), json!({"type": "integer"}));
        for i in (0..depth).rev() {
            let next = format!("#/$defs/d{}", i + 1);
            defs.insert(format!("d{i}"), json!({"anyOf": [{"$ref": next}, {"$ref": next}]}));
        }
        json!({"$defs": defs, "$ref": "#/$defs/d0"})
    }

    /// Below the expansion limit, a schema applying itself twice to the same value at every level of the data
    /// still costs 2^depth: the budget refuses the data before the validator runs.
    #[test]
    fn costly_checks_are_refused_within_the_budget() {
        assert!(Schema::compile(&exponential(12)).is_ok());
        let twice = json!({"anyOf": [
            {"type": "object", "properties": {"a": {"$ref": "#"}}, "required": ["z"]},
            {"type": "object", "properties": {"a": {"$ref": "#"}}, "required": ["y"]}
        ]});
        let s = Schema::compile(&twice).unwrap();
        let mut data = json!({});
        for _ in 0..40 {
            data = json!({"a": data});
        }
        let t = std::time::Instant::now();
        let mut b = CHECK_BUDGET;
        let e = s.check(&data, "data", &mut b).unwrap_err();
        assert!(e.starts_with("data: too costly to check"), "{e}");
        assert!(t.elapsed() < std::time::Duration::from_millis(500), "{:?}", t.elapsed());
        // Shallow data of the same schema is checked as usual.
        let mut b = CHECK_BUDGET;
        assert!(s.check(&json!({"a": {"z": 1}, "z": 1}), "data", &mut b).is_ok());
    }
}
