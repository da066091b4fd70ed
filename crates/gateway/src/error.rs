//! Errors as `{ "error": { "code", "message" } }` with the right status; 5xx bodies stay generic.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cfp_protocol::{ErrorBody, ErrorCode};

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    /// An error answer; its status is the code's ([`ErrorCode::http_status`]).
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.http_status()).expect("every ErrorCode has a valid status")
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            ErrorCode::Unauthenticated,
            "authentication required: send `Authorization: Bearer <token>`",
        )
    }

    /// An internal failure: the detail goes to the log, the caller gets a generic message.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        let id = uuid::Uuid::new_v4();
        tracing::error!(error_id = %id, "internal error: {detail}");
        Self::new(ErrorCode::Internal, format!("internal error (id {id})"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let unavailable = status == StatusCode::SERVICE_UNAVAILABLE;
        let mut res = (status, Json(ErrorBody::new(self.code, self.message))).into_response();
        // For the metrics middleware (`cfp_auth_failures_total` by reason, limit refusals by reason).
        res.extensions_mut().insert(self.code);
        // Every 503 is worth retrying (the database, the control plane or a worker will be back): say when.
        if unavailable {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        res
    }
}

impl From<cfp_store::StoreError> for ApiError {
    fn from(e: cfp_store::StoreError) -> Self {
        if e.is_transient() {
            tracing::warn!(error = %e, "database unavailable");
            return ApiError::new(ErrorCode::Unavailable, "the database is unavailable; try again");
        }
        ApiError::internal(e)
    }
}

/// A failed invocation of an API step: the engine names the code ([`cfp_engine::InvokeError::code`]); a
/// database failure keeps its detail in the log.
impl From<cfp_engine::InvokeError> for ApiError {
    fn from(e: cfp_engine::InvokeError) -> Self {
        match e {
            cfp_engine::InvokeError::Store(s) => s.into(),
            e => ApiError::new(e.code(), e.to_string()),
        }
    }
}

/// An unknown path under `/__cfp/api`: `no_endpoint`, distinct from `not_found` (an unknown thing).
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(ErrorCode::NoEndpoint, format!("no runtime endpoint at {}", uri.path()))
}

/// Makes every error answer of the runtime's own routes JSON with a code: axum's rejections (a query that does
/// not parse, a path parameter that is not UTF-8, an unsupported method, …) are plain text or empty. Requests
/// with a NUL character (`%00`) in the path or query are refused here too: PostgreSQL cannot store or compare
/// text with NUL.
pub async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let uri = req.uri();
    let nul = |s: &str| s.as_bytes().windows(3).any(|w| w.eq_ignore_ascii_case(b"%00"));
    if nul(uri.path()) {
        return ApiError::new(ErrorCode::InvalidPath, "the path must not contain NUL characters (%00)").into_response();
    }
    if uri.query().is_some_and(nul) {
        return ApiError::new(
            ErrorCode::InvalidQuery,
            "the query string must not contain NUL characters (%00)",
        )
        .into_response();
    }
    let res = next.run(req).await;
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    let (code, fallback) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (ErrorCode::MethodNotAllowed, "this endpoint does not answer this method"),
        StatusCode::PAYLOAD_TOO_LARGE => (ErrorCode::BodyTooLarge, "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (ErrorCode::UnsupportedMediaType, "send the body as application/json"),
        StatusCode::NOT_FOUND => (ErrorCode::NotFound, "not found"),
        StatusCode::BAD_REQUEST if text.starts_with("Failed to deserialize query string") => {
            (ErrorCode::InvalidQuery, "the query string is not valid")
        }
        StatusCode::BAD_REQUEST if text.starts_with("Invalid URL") || text.starts_with("Invalid UTF-8") => {
            (ErrorCode::InvalidPath, "a path parameter is not valid")
        }
        s if s.is_server_error() => (ErrorCode::Internal, "internal error"),
        _ => (ErrorCode::BadRequest, "the request is not valid"),
    };
    // axum's rejection texts name what was wrong and carry no internal detail; 5xx texts are not passed on.
    let message = if text.is_empty() || status.is_server_error() {
        fallback.to_string()
    } else {
        text
    };
    let mut out = ApiError::new(code, message).into_response();
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = parts.headers.get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

/// Refuses JSON that PostgreSQL cannot store: a NUL character (`\u0000`) in any string or key of `value` (the
/// message names the first one, e.g. `data.items[0].name`).
pub fn refuse_nul(what: &str, value: &serde_json::Value) -> Result<(), ApiError> {
    match cfp_engine::nul::find(value, what) {
        Some(path) => Err(ApiError::new(
            ErrorCode::InvalidBody,
            format!("{path} contains the character U+0000 (NUL), which cannot be stored"),
        )),
        None => Ok(()),
    }
}
