//! How a violation is worded: the first failing field, its path from the root, what was expected.

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use jsonschema::ValidationError;
use serde_json::Value;

/// The error in the wording strict validation has always used, at its path from `root`.
pub(super) fn describe(e: &ValidationError<'_>, root: &str) -> String {
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
