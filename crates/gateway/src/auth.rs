//! Who is calling. Until the control plane's tokens exist (issue: control plane), the runtime knows two
//! principals: the holder of the admin token, and — in dev mode only — the local developer on loopback.

use std::net::SocketAddr;

use axum::http::HeaderMap;

use cfp_engine::constant_time_eq;

use crate::error::ApiError;
use crate::GatewayConfig;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    LocalDeveloper,
    Admin,
}

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// In dev mode a loopback caller is the local developer whatever it sends (API steps often use the
/// `Authorization` header for their own purposes); otherwise the bearer token must be the admin token.
pub fn authenticate(cfg: &GatewayConfig, peer: SocketAddr, headers: &HeaderMap) -> Result<Principal, ApiError> {
    if cfg.dev && peer.ip().is_loopback() {
        return Ok(Principal::LocalDeveloper);
    }
    match (bearer(headers), cfg.admin_token.as_deref()) {
        (Some(given), Some(expected)) if constant_time_eq(given.as_bytes(), expected.as_bytes()) => {
            Ok(Principal::Admin)
        }
        (Some(_), _) => Err(ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the bearer token is not valid",
        )),
        (None, _) => Err(ApiError::unauthorized()),
    }
}
