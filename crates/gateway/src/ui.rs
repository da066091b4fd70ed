//! Plugin tabs and node components for the workbench (docs/workbench.md, "Plugin tabs and node components"):
//! `GET /__cfp/api/ui` lists what the project's workers registered (`flow.read`, like `/steps`), and
//! `GET /__cfp/api/ui/bundles/{sha256}` answers one script wrapped in a sandbox document. That code is the
//! tenant's: the document's own policy runs it with an opaque origin (`sandbox allow-scripts`, never
//! `allow-same-origin`), no network (`default-src 'none'`, no `connect-src`), so it reaches no cookie, storage or
//! credential of the console, even when opened top-level.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::AppState;
use cfp_protocol::ErrorCode;

/// The policy of a component's document: also in its `<meta>`, which is what applies in a `srcdoc` frame.
pub const UI_DOCUMENT_CSP: &str = "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline'; \
                                   style-src 'unsafe-inline'; img-src data: blob:; font-src data:; base-uri 'none'; \
                                   form-action 'none'";
const META_CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: \
                        blob:; font-src data:; base-uri 'none'; form-action 'none'";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui", get(list))
        .route("/ui/bundles/{hash}", get(bundle))
}

async fn list(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let access = crate::auth::access(&app, peer, &headers, uri.query(), "flow.read").await?;
    let mut tabs = Vec::new();
    let mut nodes = Map::new();
    for ui in app.engine.project_ui(&access.scope) {
        for t in &ui.tabs {
            tabs.push(json!(t));
        }
        for n in &ui.nodes {
            nodes
                .entry(n.step.clone())
                .or_insert_with(|| json!({ "file": n.file, "bundle": n.bundle }));
        }
    }
    Ok(Json(json!({ "tabs": tabs, "nodes": nodes })))
}

async fn bundle(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let access = crate::auth::access(&app, peer, &headers, uri.query(), "flow.read").await?;
    let code = app
        .engine
        .project_ui(&access.scope)
        .iter()
        .find_map(|ui| ui.bundles.get(&hash).cloned())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                format!("no workbench component `{hash:.64}` is registered"),
            )
        })?;
    let mut resp = document(&code).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(UI_DOCUMENT_CSP),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(resp)
}

/// The script inside an HTML document; `</script` and `<!--` in it cannot end or comment out the element.
pub fn document(code: &str) -> String {
    let code = escape_script(code);
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"Content-Security-Policy\" \
         content=\"{META_CSP}\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <style>html,body{{margin:0;font:14px system-ui,sans-serif;color-scheme:light dark;overflow-wrap:anywhere}}\
         </style></head><body><div id=\"root\"></div><script>{code}</script></body></html>"
    )
}

fn escape_script(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < code.len() {
        let rest = &bytes[i..];
        if rest.len() >= 8 && rest[0] == b'<' && rest[1] == b'/' && rest[2..8].eq_ignore_ascii_case(b"script") {
            out.push_str("<\\/");
            i += 2;
        } else if rest.starts_with(b"<!--") {
            out.push_str("<\\!--");
            i += 4;
        } else {
            let ch = code[i..].chars().next().unwrap_or('\0');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_cannot_close_its_element() {
        let doc = document("var s = '</SCRIPT><img src=x onerror=alert(1)>'; /* <!-- */");
        assert_eq!(doc.matches("</script>").count(), 1, "{doc}");
        assert!(doc.contains("<\\/SCRIPT>"));
        assert!(doc.contains("<\\!--"));
        assert!(doc.contains("default-src 'none'"));
    }
}
