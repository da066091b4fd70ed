//! Schemas exactly as zod emits them for a manifest (`fixtures/zod-schemas.json`: zod 4.6's `toJSONSchema`
//! with target 2020-12, and `zod-to-json-schema` on zod 3 with target jsonSchema7 and root references, both
//! with `$schema` stripped as the SDK sends them) compile and check: valid data passes, invalid data names
//! its field.

use cfp_protocol::schema::{Schema, CHECK_BUDGET};
use serde_json::{json, Value};

fn fixtures() -> Value {
    serde_json::from_str(include_str!("fixtures/zod-schemas.json")).unwrap()
}

fn valid() -> Value {
    json!({
        "email": "ada@example.com", "id": "5b7f3f4e-6c1d-4a53-9a43-4f5d8b0e6a11", "url": "https://example.com/a",
        "at": "2026-12-07T10:00:00Z", "code": "ABC", "n": 3, "tag": "a", "nul": null, "rec": {"x": 1.5},
        "tup": ["a", 1], "uni": 2, "disc": {"kind": "y", "y": "why"},
        "tree": {"name": "root", "children": [{"name": "leaf", "children": []}]},
        "date": "2026-12-07", "ip": "10.0.0.1", "again": "bob@example.com"
    })
}

fn check(schema: &Schema, data: &Value) -> Result<(), String> {
    schema.check(data, "data", &mut CHECK_BUDGET.clone())
}

#[test]
fn zod_4_and_zod_3_schemas_check_as_zod_would() {
    let all = fixtures();
    for (name, draft) in [
        ("zod4", jsonschema::Draft::Draft202012),
        ("zod3", jsonschema::Draft::Draft7),
    ] {
        let mut source = all[name].clone();
        let schema = Schema::compile(&source).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(schema.draft(), draft, "{name}");
        let mut data = valid();
        // Each version only has its own fields (zod 3 refuses unknown ones).
        let props = source["properties"].as_object_mut().unwrap().clone();
        data.as_object_mut().unwrap().retain(|k, _| props.contains_key(k));
        assert_eq!(check(&schema, &data), Ok(()), "{name}");

        let wrong = |path: &str, value: Value| {
            let mut d = data.clone();
            *d.pointer_mut(path).unwrap() = value;
            check(&schema, &d).unwrap_err()
        };
        // zod 4 also gives a `pattern`, which may be the first to fail.
        assert!(wrong("/email", json!("ada")).starts_with("data.email: must"), "{name}");
        assert!(wrong("/id", json!("5b7f3f4e")).starts_with("data.id: must"), "{name}");
        assert_eq!(
            wrong("/code", json!("abc")),
            "data.code: must match the pattern `^[A-Z]{3}$`",
            "{name}"
        );
        assert_eq!(wrong("/n", json!(11)), "data.n: must be ≤ 10", "{name}");
        assert_eq!(
            wrong("/tup/1", json!("x")),
            "data.tup[1]: expected number, got string",
            "{name}"
        );
        assert_eq!(
            wrong("/rec/x", json!("y")),
            "data.rec.x: expected number, got string",
            "{name}"
        );
        assert_eq!(
            wrong("/tree/children/0/name", json!(5)),
            "data.tree.children[0].name: expected string, got integer",
            "{name}"
        );
        assert_eq!(
            wrong("/nul", json!(1)),
            "data.nul: expected string or null, got integer",
            "{name}"
        );
        let e = wrong("/disc", json!({"kind": "y", "y": 5}));
        assert_eq!(e, "data.disc.y: expected string, got integer", "{name}");
        assert!(wrong("/at", json!("yesterday")).starts_with("data.at: must"), "{name}");
    }
}
