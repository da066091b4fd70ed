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

/// The codes in the first cell of the tables (or, with `cell`, another cell) of the `## Worker socket` section
/// whose header row starts with `header`.
fn socket_section_codes(header: &str, cell: usize) -> std::collections::BTreeSet<String> {
    let section = DOC
        .split("\n## Worker socket")
        .nth(1)
        .expect("docs/errors.md has a `## Worker socket` section");
    let section = section.split("\n## ").next().unwrap();
    let mut out = std::collections::BTreeSet::new();
    let mut in_table = false;
    for line in section.lines() {
        if line.starts_with(header) {
            in_table = true;
            continue;
        }
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        if in_table && !line.starts_with("|---") {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if let Some(code) = cells[cell].strip_prefix('`').and_then(|c| c.strip_suffix('`')) {
                out.insert(code.to_string());
            }
        }
    }
    out
}

#[test]
fn worker_socket_codes_and_the_doc_are_the_same_both_ways() {
    use cfp_protocol::SocketCode;
    // Error frames before a close (the close table's reason column) and those that leave the connection open.
    let mut documented = socket_section_codes("| close code | reason", 2);
    documented.extend(socket_section_codes("| code | when |", 1));
    let enum_codes: std::collections::BTreeSet<String> = SocketCode::ALL.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        documented, enum_codes,
        "the error-frame codes of docs/errors.md and SocketCode differ"
    );
    for code in SocketCode::ALL {
        assert_eq!(code.as_str().parse::<SocketCode>().unwrap(), *code);
        assert_eq!(serde_json::to_value(code).unwrap(), serde_json::json!(code.as_str()));
    }
    assert!(serde_json::from_value::<SocketCode>(serde_json::json!("made_up")).is_err());
}

#[test]
fn call_reply_codes_and_the_doc_are_the_same_both_ways() {
    use cfp_protocol::RpcCode;
    let documented = socket_section_codes("| reply code | when |", 1);
    let enum_codes: std::collections::BTreeSet<String> = RpcCode::ALL.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        documented, enum_codes,
        "the call reply codes of docs/errors.md and RpcCode differ"
    );
    for code in RpcCode::ALL {
        assert_eq!(
            serde_json::from_value::<RpcCode>(serde_json::json!(code.as_str())).unwrap(),
            *code
        );
    }
    assert!(serde_json::from_value::<RpcCode>(serde_json::json!("made_up")).is_err());
}

#[test]
fn registration_codes_and_the_doc_are_the_same_both_ways() {
    use cfp_protocol::RegistrationCode;
    let doc = socket_section_codes("| registration code", 1);
    let enum_codes: std::collections::BTreeSet<String> = RegistrationCode::ALL.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        doc, enum_codes,
        "the registration codes of docs/errors.md and RegistrationCode differ"
    );
    for code in RegistrationCode::ALL {
        let wire = serde_json::to_value(code).unwrap();
        assert_eq!(wire, serde_json::json!(code.as_str()));
        assert_eq!(serde_json::from_value::<RegistrationCode>(wire).unwrap(), *code);
    }
    assert!(serde_json::from_value::<RegistrationCode>(serde_json::json!("made_up")).is_err());
}
