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
    let ok = json!({"order": {"id": "5b7f3f4e-6c1d-4a53-9a43-4f5d8b0e6a11", "items": [{"qty": 2}]}, "point": [1, 2.5]});
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
    // Unbounded, this check would apply the schema 2^40 times (hours); the budget stops it within a bounded
    // number of applications (~0.3 s in a quiet debug build; the bound leaves room for a loaded CI machine).
    assert!(t.elapsed() < std::time::Duration::from_secs(3), "{:?}", t.elapsed());
    // Shallow data of the same schema is checked as usual.
    let mut b = CHECK_BUDGET;
    assert!(s.check(&json!({"a": {"z": 1}, "z": 1}), "data", &mut b).is_ok());
}
