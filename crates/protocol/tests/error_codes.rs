//! The closed set of HTTP error codes ([`ErrorCode`]) and the table of `docs/errors.md` are the same: every code
//! in the enum is documented with its status, and every code the table documents is in the enum.

use std::collections::BTreeMap;

use cfp_protocol::ErrorCode;

const DOC: &str = include_str!("../../../docs/errors.md");

/// `code → status` from the rows of the `## HTTP` table: `| \`code\` | 400 | ... |`.
fn documented() -> BTreeMap<String, u16> {
    let section = DOC
        .split("\n## HTTP")
        .nth(1)
        .expect("docs/errors.md has a `## HTTP` section");
    let section = section.split("\n## ").next().unwrap();
    let mut out = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let code = cells[1].trim_matches('`').to_string();
        let status: u16 = cells[2]
            .parse()
            .unwrap_or_else(|_| panic!("status of `{code}` is not a number"));
        assert!(
            out.insert(code.clone(), status).is_none(),
            "`{code}` is documented twice"
        );
    }
    out
}

#[test]
fn every_code_is_documented_with_its_status() {
    let doc = documented();
    for code in ErrorCode::ALL {
        let status = doc
            .get(code.as_str())
            .unwrap_or_else(|| panic!("`{code}` is not in the HTTP table of docs/errors.md"));
        assert_eq!(
            *status,
            code.http_status(),
            "`{code}`: docs/errors.md and ErrorCode::http_status differ"
        );
    }
}

#[test]
fn every_documented_code_is_in_the_enum() {
    for (code, _) in documented() {
        assert!(
            code.parse::<ErrorCode>().is_ok(),
            "docs/errors.md documents `{code}`, which ErrorCode does not have"
        );
    }
    assert_eq!(documented().len(), ErrorCode::ALL.len());
}

#[test]
fn codes_are_distinct_snake_case_and_round_trip() {
    let mut seen = std::collections::BTreeSet::new();
    for code in ErrorCode::ALL {
        let s = code.as_str();
        assert!(seen.insert(s), "`{s}` twice");
        assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "`{s}`");
        assert_eq!(serde_json::to_value(code).unwrap(), serde_json::json!(s));
        assert_eq!(
            serde_json::from_value::<ErrorCode>(serde_json::json!(s)).unwrap(),
            *code
        );
        assert!((400..600).contains(&code.http_status()));
    }
    assert!(serde_json::from_value::<ErrorCode>(serde_json::json!("made_up")).is_err());
}
