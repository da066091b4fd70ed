//! Checks event data against a topic's JSON Schema (strict event validation, FR-8) and names the first field
//! that fails (`data.items[2].sku: expected string, got number`).
//!
//! Covers what step input schemas are made of (zod and hand-written JSON Schema): `type` (one or a list),
//! `nullable`, `enum`, `const`, `properties`, `required`, `additionalProperties` (false or a schema), `items`,
//! `minItems`/`maxItems`, `minLength`/`maxLength`, `minimum`/`maximum` and their exclusive forms, `multipleOf`,
//! `anyOf`/`oneOf`/`allOf`/`not`. Keywords outside this list (`$ref`, `pattern`, `format`, …) are not checked:
//! such data passes rather than being refused for a rule the runtime cannot evaluate.

use serde_json::Value;

/// `Ok(())` or the first violation, with its path from `root`.
pub fn check(schema: &Value, data: &Value, root: &str) -> Result<(), String> {
    at(schema, data, root)
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

fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "number" => v.is_number(),
        "integer" => v.as_f64().is_some_and(|f| f.fract() == 0.0),
        other => type_name(v) == other,
    }
}

fn at(schema: &Value, data: &Value, path: &str) -> Result<(), String> {
    let Value::Object(s) = schema else {
        // `true` / `{}` accept anything; `false` nothing.
        return if schema == &Value::Bool(false) {
            Err(format!("{path}: no value is allowed here"))
        } else {
            Ok(())
        };
    };
    if data.is_null() && s.get("nullable") == Some(&Value::Bool(true)) {
        return Ok(());
    }
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::String(one) => vec![one.as_str()],
            Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.is_empty() && !types.iter().any(|t| is_type(data, t)) {
            let shown = if data.is_null() {
                "nothing (null or missing)".to_string()
            } else {
                type_name(data).to_string()
            };
            return Err(format!("{path}: expected {}, got {shown}", types.join(" or ")));
        }
    }
    if let Some(Value::Array(options)) = s.get("enum") {
        if !options.contains(data) {
            let list: Vec<String> = options.iter().map(Value::to_string).collect();
            return Err(format!("{path}: must be one of {}", list.join(", ")));
        }
    }
    if let Some(c) = s.get("const") {
        if c != data {
            return Err(format!("{path}: must be {c}"));
        }
    }
    match data {
        Value::Object(obj) => {
            if let Some(Value::Array(required)) = s.get("required") {
                for r in required.iter().filter_map(Value::as_str) {
                    if !obj.contains_key(r) {
                        return Err(format!("{path}.{r}: required"));
                    }
                }
            }
            let props = s.get("properties").and_then(Value::as_object);
            for (k, v) in obj {
                match props.and_then(|p| p.get(k)) {
                    Some(ps) => at(ps, v, &format!("{path}.{k}"))?,
                    None => match s.get("additionalProperties") {
                        Some(Value::Bool(false)) => return Err(format!("{path}.{k}: unknown field")),
                        Some(extra @ Value::Object(_)) => at(extra, v, &format!("{path}.{k}"))?,
                        _ => {}
                    },
                }
            }
        }
        Value::Array(items) => {
            let n = items.len() as u64;
            if let Some(min) = s.get("minItems").and_then(Value::as_u64).filter(|m| n < *m) {
                return Err(format!("{path}: needs at least {min} items, has {n}"));
            }
            if let Some(max) = s.get("maxItems").and_then(Value::as_u64).filter(|m| n > *m) {
                return Err(format!("{path}: allows at most {max} items, has {n}"));
            }
            if let Some(item) = s.get("items").filter(|i| i.is_object()) {
                for (i, v) in items.iter().enumerate() {
                    at(item, v, &format!("{path}[{i}]"))?;
                }
            }
        }
        Value::String(text) => {
            let n = text.chars().count() as u64;
            if let Some(min) = s.get("minLength").and_then(Value::as_u64).filter(|m| n < *m) {
                return Err(format!("{path}: must be at least {min} characters"));
            }
            if let Some(max) = s.get("maxLength").and_then(Value::as_u64).filter(|m| n > *m) {
                return Err(format!("{path}: must be at most {max} characters"));
            }
        }
        Value::Number(num) => {
            let x = num.as_f64().unwrap_or(0.0);
            let bound = |k: &str| s.get(k).and_then(Value::as_f64);
            if let Some(m) = bound("minimum").filter(|m| x < *m) {
                return Err(format!("{path}: must be ≥ {m}"));
            }
            if let Some(m) = bound("maximum").filter(|m| x > *m) {
                return Err(format!("{path}: must be ≤ {m}"));
            }
            if let Some(m) = bound("exclusiveMinimum").filter(|m| x <= *m) {
                return Err(format!("{path}: must be > {m}"));
            }
            if let Some(m) = bound("exclusiveMaximum").filter(|m| x >= *m) {
                return Err(format!("{path}: must be < {m}"));
            }
            if let Some(m) = bound("multipleOf").filter(|m| *m > 0.0 && (x / m).fract().abs() > 1e-9) {
                return Err(format!("{path}: must be a multiple of {m}"));
            }
        }
        _ => {}
    }
    if let Some(Value::Array(all)) = s.get("allOf") {
        for sub in all {
            at(sub, data, path)?;
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(options)) = s.get(key) {
            let errors: Vec<String> = options.iter().filter_map(|o| at(o, data, path).err()).collect();
            let matched = options.len() - errors.len();
            if matched == 0 {
                return Err(errors
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| format!("{path}: matches no allowed shape")));
            }
            if key == "oneOf" && matched > 1 {
                return Err(format!(
                    "{path}: matches {matched} of the allowed shapes, must match exactly one"
                ));
            }
        }
    }
    if let Some(not) = s.get("not") {
        if at(not, data, path).is_ok() {
            return Err(format!("{path}: matches a shape that is not allowed"));
        }
    }
    Ok(())
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
}
