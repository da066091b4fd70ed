//! A schema exactly as pydantic 2 emits it (`fixtures/pydantic-schema.json`: `Order.model_json_schema()` with
//! `$defs`/`$ref`, a discriminated union as `oneOf` with a `discriminator`, `Optional` as `anyOf` with null, a
//! tuple as `prefixItems`, a recursive model) compiles under 2020-12 and checks: valid data passes, invalid
//! data names its field.

use cfp_protocol::schema::{Schema, CHECK_BUDGET};
use serde_json::{json, Value};

#[test]
fn pydantic_schema_checks_as_pydantic_would() {
    let source: Value = serde_json::from_str(include_str!("fixtures/pydantic-schema.json")).unwrap();
    let schema = Schema::compile(&source).unwrap();
    assert_eq!(schema.draft(), jsonschema::Draft::Draft202012);
    let data = json!({
        "id": "5b7f3f4e-6c1d-4a53-9a43-4f5d8b0e6a11", "at": "2026-12-07T10:00:00Z",
        "items": [{"sku": "ABC-1", "qty": 2}], "note": null, "pet": {"kind": "dog", "good": true},
        "point": [1.5, 2], "tags": {"a": 1},
        "tree": {"name": "root", "children": [{"name": "leaf"}]}
    });
    let check = |d: &Value| schema.check(d, "data", &mut CHECK_BUDGET.clone());
    assert_eq!(check(&data), Ok(()));
    let wrong = |path: &str, value: Value| {
        let mut d = data.clone();
        *d.pointer_mut(path).unwrap() = value;
        check(&d).unwrap_err()
    };
    assert_eq!(wrong("/items/0/qty", json!(0)), "data.items[0].qty: must be ≥ 1");
    assert_eq!(
        wrong("/items/0/sku", json!("abc")),
        "data.items[0].sku: must match the pattern `^[A-Z]{3}-\\d+$`"
    );
    assert_eq!(wrong("/id", json!("nope")), "data.id: must be a valid `uuid`");
    assert_eq!(
        wrong("/note", json!(5)),
        "data.note: expected string or null, got integer"
    );
    assert_eq!(
        wrong("/pet", json!({"kind": "cat", "lives": "nine"})),
        "data.pet.lives: expected integer, got string"
    );
    assert_eq!(
        wrong("/point/1", json!("x")),
        "data.point[1]: expected number, got string"
    );
    assert_eq!(
        wrong("/tags/a", json!("x")),
        "data.tags.a: expected integer, got string"
    );
    assert_eq!(
        wrong("/tree/children/0/name", json!(1)),
        "data.tree.children[0].name: expected string, got integer"
    );
}
