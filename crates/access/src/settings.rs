//! Project settings as the control plane's service API sends them: effective limits (min of tenant and project),
//! the tenant's own limits (enforced across all its projects), the CORS allowlist, strict validation, the
//! diagnostics switches and the project's own OIDC provider for end-user tokens (`auth.oidc`).

use serde::Deserialize;
use serde_json::Value;

use crate::oidc::ProjectOidc;
use crate::policy::ProjectPath;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
    #[serde(default)]
    pub request_timeout_ms: Option<u64>,
    #[serde(default)]
    pub max_concurrent_requests: Option<u32>,
    #[serde(default)]
    pub max_concurrent_executions: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cors {
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub allow_credentials: bool,
}

/// What an `Origin` gets.
#[derive(Debug, PartialEq, Eq)]
pub enum CorsGrant {
    /// Not allowlisted: no CORS headers (the browser blocks the response).
    Denied,
    /// `Access-Control-Allow-Origin: <the origin>` — and credentials when the project allows them.
    Origin { credentials: bool },
    /// Allowlisted through `*`: `Access-Control-Allow-Origin: *`, never with credentials.
    Any,
}

impl Cors {
    pub fn grant(&self, origin: &str) -> CorsGrant {
        if self.allowed_origins.iter().any(|o| o == origin) {
            CorsGrant::Origin {
                credentials: self.allow_credentials,
            }
        } else if self.allowed_origins.iter().any(|o| o == "*") {
            CorsGrant::Any
        } else {
            CorsGrant::Denied
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Diagnostics {
    #[serde(default)]
    pub emit: bool,
    #[serde(default)]
    pub state_write: bool,
    #[serde(default)]
    pub dlq_replay: bool,
    #[serde(default)]
    pub step_source: bool,
}

impl Diagnostics {
    /// The switch a diagnostic action needs.
    pub fn allows(&self, action: &str) -> bool {
        match action {
            "emit" => self.emit,
            "state.write" => self.state_write,
            "dlq.replay" => self.dlq_replay,
            "step.source.read" => self.step_source,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProjectSettings {
    pub project_id: String,
    pub tenant_id: String,
    pub team_id: String,
    pub slug: String,
    pub limits: Limits,
    pub tenant_limits: Limits,
    pub cors: Cors,
    /// `None`: the runtime's default applies.
    pub strict_validation: Option<bool>,
    pub diagnostics: Diagnostics,
    /// The project's own OIDC provider: API steps also accept its end users' JWTs
    /// ([`EndUserTokens`](crate::oidc::EndUserTokens)). `None`: no end-user tokens.
    pub oidc: Option<ProjectOidc>,
    pub version: u64,
}

impl ProjectSettings {
    pub fn from_service(v: &Value) -> Result<Self, String> {
        let s = |k: &str| {
            v[k].as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("project settings without `{k}`"))
        };
        let part = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
        let parse = |k: &str| -> Result<Value, String> {
            Ok(if part(k).is_null() {
                Value::Object(Default::default())
            } else {
                part(k)
            })
        };
        Ok(Self {
            project_id: s("projectId")?,
            tenant_id: s("tenantId")?,
            team_id: s("teamId")?,
            slug: v["slug"].as_str().unwrap_or_default().to_string(),
            limits: serde_json::from_value(parse("limits")?).map_err(|e| format!("limits: {e}"))?,
            tenant_limits: serde_json::from_value(parse("tenantLimits")?).map_err(|e| format!("tenantLimits: {e}"))?,
            cors: serde_json::from_value(parse("cors")?).map_err(|e| format!("cors: {e}"))?,
            strict_validation: v["validation"]["strict"].as_bool(),
            diagnostics: serde_json::from_value(parse("diagnostics")?).map_err(|e| format!("diagnostics: {e}"))?,
            oidc: match &v["auth"]["oidc"] {
                Value::Null => None,
                o => Some(serde_json::from_value(o.clone()).map_err(|e| format!("auth.oidc: {e}"))?),
            },
            version: v["version"].as_u64().unwrap_or(0),
        })
    }

    pub fn path(&self) -> ProjectPath {
        ProjectPath {
            tenant: self.tenant_id.clone(),
            team: self.team_id.clone(),
            project: self.project_id.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_items_parse_with_defaults() {
        let v = serde_json::json!({
            "projectId": "p", "tenantId": "t", "teamId": "tm", "slug": "shop",
            "limits": {"maxBodyBytes": 10, "maxConcurrentRequests": 2}, "tenantLimits": {"maxConcurrentRequests": 5},
            "cors": {"allowedOrigins": ["https://a.example"], "allowCredentials": true},
            "validation": {"strict": true}, "diagnostics": {"emit": true}, "version": 7
        });
        let p = ProjectSettings::from_service(&v).unwrap();
        assert_eq!(p.limits.max_body_bytes, Some(10));
        assert_eq!(p.tenant_limits.max_concurrent_requests, Some(5));
        assert_eq!(p.strict_validation, Some(true));
        assert!(p.diagnostics.allows("emit") && !p.diagnostics.allows("state.write"));
        let bare = ProjectSettings::from_service(
            &serde_json::json!({"projectId": "p", "tenantId": "t", "teamId": "tm", "cors": {}}),
        )
        .unwrap();
        assert_eq!(bare.strict_validation, None);
        assert_eq!(bare.oidc, None);
        assert!(bare.cors.allowed_origins.is_empty());
        assert!(ProjectSettings::from_service(&serde_json::json!({"tenantId": "t"}))
            .unwrap_err()
            .contains("projectId"));
    }

    #[test]
    fn the_end_user_oidc_provider_is_read_from_auth() {
        let item = |auth: Value| serde_json::json!({"projectId": "p", "tenantId": "t", "teamId": "tm", "auth": auth});
        let oidc = ProjectSettings::from_service(&item(serde_json::json!({"oidc": {
            "issuer": "https://acme.eu.auth0.com/", "audience": "https://api.acme.example",
            "jwksUrl": "https://acme.eu.auth0.com/.well-known/jwks.json"
        }})))
        .unwrap()
        .oidc
        .unwrap();
        assert_eq!(oidc.issuer, "https://acme.eu.auth0.com/");
        assert_eq!(oidc.audience, "https://api.acme.example");
        assert_eq!(oidc.jwks_url, "https://acme.eu.auth0.com/.well-known/jwks.json");
        let none = ProjectSettings::from_service(&item(serde_json::json!({"oidc": null}))).unwrap();
        assert_eq!(none.oidc, None);
        let bad = ProjectSettings::from_service(&item(serde_json::json!({"oidc": {"issuer": "x"}})));
        assert!(bad.unwrap_err().contains("auth.oidc"));
    }

    #[test]
    fn cors_grants_exact_origins_and_never_credentials_with_star() {
        let cors = Cors {
            allowed_origins: vec!["https://a.example".into()],
            allow_credentials: true,
        };
        assert_eq!(cors.grant("https://a.example"), CorsGrant::Origin { credentials: true });
        assert_eq!(cors.grant("https://a.example.evil"), CorsGrant::Denied);
        assert_eq!(cors.grant("http://a.example"), CorsGrant::Denied);
        let star = Cors {
            allowed_origins: vec!["*".into()],
            allow_credentials: false,
        };
        assert_eq!(star.grant("https://x.example"), CorsGrant::Any);
    }
}
