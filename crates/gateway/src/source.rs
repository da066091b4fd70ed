//! The source text of a step, for the workbench's code view: `GET /__cfp/api/steps/{name}/source`
//! (`step.source.read`, a diagnostic endpoint). The runtime never reads project files itself: it asks a worker
//! hosting the step (`source` frame) and waits at most 5 s for its `source_result`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Uri};
use axum::Json;
use cfp_engine::WorkerId;
use cfp_protocol::ToWorker;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::error::ApiError;
use crate::AppState;
use cfp_protocol::ErrorCode;

const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// A worker's answer.
pub struct Answer {
    pub ok: bool,
    pub file: Option<String>,
    pub text: Option<String>,
    pub error: Option<String>,
}

/// Source requests waiting for their worker.
#[derive(Default)]
pub struct Sources {
    waiting: Mutex<HashMap<String, (WorkerId, oneshot::Sender<Answer>)>>,
}

impl Sources {
    /// A `source_result` frame; answers from another worker than the one asked are ignored.
    pub fn answer(&self, worker: WorkerId, id: &str, answer: Answer) {
        let mut waiting = self.waiting.lock().unwrap();
        if waiting.get(id).is_some_and(|(w, _)| *w == worker) {
            if let Some((_, tx)) = waiting.remove(id) {
                let _ = tx.send(answer);
            }
        }
    }
}

pub async fn step_source(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    Path(step): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let access = crate::auth::access(&app, peer, &headers, uri.query(), "step.source.read").await?;
    let details = serde_json::json!({ "endpoint": "step.source.read", "method": "GET", "step": step });
    crate::audit::record_action(
        &app,
        &access,
        peer,
        &headers,
        "diagnostic.use",
        ("step", Some(step.clone())),
        details,
    )
    .await;
    let Some(worker) = app.engine.worker_for(&access.scope, &step) else {
        return Err(ApiError::not_found(format!(
            "no connected worker hosts step `{step}`; its source is read from the worker"
        )));
    };
    let id = uuid::Uuid::new_v4().to_string();
    let (tx, rx) = oneshot::channel();
    app.sources.waiting.lock().unwrap().insert(id.clone(), (worker, tx));
    let sent = app.engine.send_to_worker(
        worker,
        ToWorker::Source {
            id: id.clone(),
            step: step.clone(),
        },
    );
    let answer = if sent {
        tokio::time::timeout(ANSWER_WITHIN, rx).await.ok().and_then(Result::ok)
    } else {
        None
    };
    app.sources.waiting.lock().unwrap().remove(&id);
    let Some(answer) = answer else {
        return Err(ApiError::new(
            ErrorCode::WorkerUnavailable,
            format!("the worker hosting step `{step}` did not send its source within 5 s; retry shortly"),
        ));
    };
    if !answer.ok {
        return Err(ApiError::new(
            ErrorCode::SourceUnavailable,
            answer
                .error
                .unwrap_or_else(|| "the worker could not read the step's file".into()),
        ));
    }
    Ok(Json(
        json!({ "step": step, "file": answer.file, "text": answer.text.unwrap_or_default() }),
    ))
}
