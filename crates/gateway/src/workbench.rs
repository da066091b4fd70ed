//! Serves the workbench SPA (apps/workbench/dist) under `/__cfp/`: files by path, `index.html` for client
//! routes. The shell is public (it is the login page once sign-in exists); every data call it makes is
//! authenticated by the runtime API.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::AppState;
use cfp_protocol::ErrorCode;

pub async fn index(state: State<AppState>) -> Response {
    asset(state, Path(String::new())).await
}

pub async fn asset(State(app): State<AppState>, Path(path): Path<String>) -> Response {
    let Some(dir) = app.cfg.workbench_dir.as_deref() else {
        return ApiError::new(ErrorCode::WorkbenchUnavailable,
            "the workbench is not being served: build it (npm run build -w apps/workbench) and start the runtime with --workbench-dir",
        )
        .into_response();
    };
    // Only plain relative paths inside the directory.
    let clean: Vec<&str> = path.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    if clean.iter().any(|p| *p == ".." || p.contains('\\')) {
        return ApiError::not_found("no such file").into_response();
    }
    let file = dir.join(clean.join("/"));
    let (bytes, served) = match tokio::fs::read(&file).await {
        Ok(b) if !clean.is_empty() => (b, file),
        _ if clean.last().is_some_and(|last| last.contains('.')) => {
            return ApiError::not_found(format!("no workbench file /__cfp/{path}")).into_response();
        }
        _ => match tokio::fs::read(dir.join("index.html")).await {
            Ok(b) => (b, dir.join("index.html")),
            Err(_) => {
                return ApiError::not_found(format!("{} has no index.html; build the workbench", dir.display()))
                    .into_response()
            }
        },
    };
    let ext = served.extension().and_then(|e| e.to_str()).unwrap_or("");
    let mime = match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "map" => "application/json",
        _ => "application/octet-stream",
    };
    // Hashed assets are immutable; the shell must always be revalidated.
    let cache = if ext == "html" {
        "no-cache"
    } else {
        "public, max-age=31536000, immutable"
    };
    let mut response = Response::new(Body::from(bytes));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    response
}
