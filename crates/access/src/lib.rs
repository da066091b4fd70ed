//! Who may do what in the runtime.
//!
//! - [`policy`]: the permission matrix `policy/permissions.json`, shared with the control plane.
//! - [`jws`]: splitting and decoding compact JWS, shared by [`jwt`] and [`oidc`].
//! - [`jwt`]: control-plane access tokens (ES256, JWKS).
//! - [`oidc`]: end-user tokens from a project's own OIDC provider (RS256/ES256, the provider's JWKS).
//! - [`control`]: the control plane's service API — keys, revocations, credential checks, project settings.
//! - [`settings`]: project settings (limits, CORS, strict validation, diagnostics, end-user OIDC provider).
//! - [`tls`]: TLS of the calls to the control plane (private CA, client certificate).

pub mod control;
pub mod jws;
pub mod jwt;
pub mod oidc;
pub mod policy;
pub mod settings;
pub mod tls;

pub use control::{AuthError, Control, ControlConfig, ControlError, Credential};
pub use oidc::{EndUser, EndUserTokens, OidcError, OidcOptions, ProjectOidc};
pub use policy::{Binding, BindingScope, Policy, ProjectPath};
pub use settings::{Cors, CorsGrant, Diagnostics, Limits, ProjectSettings};
pub use tls::ControlTls;
