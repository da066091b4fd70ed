//! The `ui` of a `register` frame: the workbench tabs a project's plugins declare and its `*.step.tsx` node
//! components, each a browser script the worker bundled, keyed by the SHA-256 (hex) of its text
//! (docs/workbench.md, "Plugin tabs and node components"). Tenant code: the runtime only stores and serves it,
//! as a sandboxed document, and checks [`UiManifest::check`] before keeping any of it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// At most this many scripts per registration.
pub const MAX_UI_BUNDLES: usize = 32;
/// At most this many bytes per script.
pub const MAX_UI_BUNDLE_BYTES: usize = 2 * 1024 * 1024;
/// At most this many bytes of scripts per registration.
pub const MAX_UI_TOTAL_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UiManifest {
    pub tabs: Vec<UiTab>,
    pub nodes: Vec<UiNode>,
    /// sha256 hex -> script.
    pub bundles: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UiTab {
    pub plugin: String,
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_icon: Option<String>,
    pub position: UiPosition,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub props: Option<Map<String, Value>>,
    pub bundle: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UiPosition {
    Top,
    Bottom,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UiNode {
    pub step: String,
    pub file: String,
    pub bundle: String,
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl UiManifest {
    /// Why this UI cannot be kept: a limit exceeded, a key that is not the SHA-256 of its script, a tab or node
    /// naming a script that is not there, a label longer than 200 characters.
    pub fn check(&self) -> Result<(), String> {
        if self.bundles.len() > MAX_UI_BUNDLES || self.tabs.len() > MAX_UI_BUNDLES || self.nodes.len() > MAX_UI_BUNDLES
        {
            return Err(format!("at most {MAX_UI_BUNDLES} workbench components are allowed"));
        }
        let mut total = 0usize;
        for (hash, code) in &self.bundles {
            if code.len() > MAX_UI_BUNDLE_BYTES {
                return Err(format!(
                    "a workbench script is {} bytes; at most {MAX_UI_BUNDLE_BYTES} are allowed",
                    code.len()
                ));
            }
            total += code.len();
            if !is_sha256_hex(hash) || hex::encode(Sha256::digest(code.as_bytes())) != *hash {
                return Err(format!(
                    "bundle key `{}` is not the SHA-256 of its script",
                    truncate(hash)
                ));
            }
        }
        if total > MAX_UI_TOTAL_BYTES {
            return Err(format!(
                "the workbench scripts are {total} bytes; at most {MAX_UI_TOTAL_BYTES} are allowed in all"
            ));
        }
        let bundles = self
            .tabs
            .iter()
            .map(|t| &t.bundle)
            .chain(self.nodes.iter().map(|n| &n.bundle));
        if let Some(missing) = bundles.clone().find(|b| !self.bundles.contains_key(*b)) {
            return Err(format!("bundle `{}` is named but not sent", truncate(missing)));
        }
        if let Some(t) = self
            .tabs
            .iter()
            .find(|t| t.label.chars().count() > 200 || t.label_icon.as_ref().is_some_and(|i| i.chars().count() > 200))
        {
            return Err(format!(
                "tab `{}`: label and labelIcon are at most 200 characters",
                truncate(&t.label)
            ));
        }
        Ok(())
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ui(code: &str) -> UiManifest {
        let hash = hex::encode(Sha256::digest(code.as_bytes()));
        UiManifest {
            tabs: vec![UiTab {
                plugin: "p".into(),
                label: "Tab".into(),
                label_icon: None,
                position: UiPosition::Top,
                props: None,
                bundle: hash.clone(),
            }],
            nodes: vec![],
            bundles: BTreeMap::from([(hash, code.to_string())]),
        }
    }

    #[test]
    fn accepts_a_content_addressed_script() {
        assert_eq!(ui("console.log(1)").check(), Ok(()));
    }

    #[test]
    fn refuses_a_key_that_is_not_the_hash_of_its_script() {
        let mut u = ui("a");
        let key = u.bundles.keys().next().unwrap().clone();
        u.bundles.insert(key, "b".into());
        assert!(u.check().unwrap_err().contains("not the SHA-256"));
    }

    #[test]
    fn refuses_oversized_and_dangling() {
        let big = "x".repeat(MAX_UI_BUNDLE_BYTES + 1);
        assert!(ui(&big).check().unwrap_err().contains("at most"));
        let mut u = ui("a");
        u.tabs[0].bundle = "0".repeat(64);
        assert!(u.check().unwrap_err().contains("named but not sent"));
    }
}
