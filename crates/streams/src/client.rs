//! What a client message does. Messages of one connection are handled one at a time, in order (a `leave`
//! never overtakes its `join`). A bad message gets an error event and changes nothing, for this client or
//! any other.

use std::sync::Arc;

use cfp_protocol::ToWorker;
use cfp_store::StoreError;
use serde_json::Value;

use crate::hub::{Conn, JoinError, RoomKey, SyncData, Target};
use crate::wire::{self, ClientMessage, Subscription};
use crate::Streams;

impl Streams {
    /// Handles one text message of a client connection.
    pub async fn handle_client_text(&self, conn: &Arc<Conn>, text: &str) {
        match wire::parse_client(text) {
            Ok(ClientMessage::Join(sub)) => self.join(conn, &sub).await,
            Ok(ClientMessage::Leave(sub)) => {
                self.hub().leave(conn, &sub.subscription_id);
            }
            Err(problem) => self.client_error(conn, None, wire::BAD_MESSAGE, &problem),
        }
    }

    /// Answers a message that could not be read with a `BAD_MESSAGE` error event.
    pub fn reject_client_message(&self, conn: &Arc<Conn>, problem: &str) {
        self.client_error(conn, None, wire::BAD_MESSAGE, problem);
    }

    fn client_error(&self, conn: &Arc<Conn>, sub: Option<&Subscription>, code: &str, message: &str) {
        conn.push(wire::error_message(sub, code, message, self.hub().next_ts()).into());
    }

    async fn join(&self, conn: &Arc<Conn>, sub: &Subscription) {
        let scope = conn.scope.clone();
        let manifest = match self.find(&scope, &sub.stream_name).await {
            Ok(Some(m)) => m,
            Ok(None) => {
                let message = self.unknown_stream(&scope, &sub.stream_name).await;
                return self.client_error(conn, Some(sub), wire::NOT_FOUND, &message);
            }
            Err(e) => return self.unavailable(conn, sub, e),
        };
        if manifest.has_can_access && !self.can_access(conn, sub).await {
            return self.client_error(conn, Some(sub), wire::ACCESS_DENIED, "Access denied");
        }
        let target = Target {
            room: RoomKey {
                scope: scope.clone(),
                stream: sub.stream_name.clone(),
                group: sub.group_id.clone(),
            },
            item: sub.id.clone(),
        };
        let ts = match self.hub().begin_join(conn, &sub.subscription_id, target.clone()) {
            Ok(ts) => ts,
            Err(JoinError::TooManySubscriptions(n)) => {
                let message = format!("a connection may hold {n} subscriptions; leave some first");
                return self.client_error(conn, Some(sub), wire::TOO_MANY_SUBSCRIPTIONS, &message);
            }
            Err(JoinError::Closed) => return,
        };
        let store = self.store();
        let data = match &sub.id {
            Some(id) => store
                .stream_get(&scope, &sub.stream_name, &sub.group_id, id)
                .await
                .map(SyncData::Item),
            None => store
                .stream_group(&scope, &sub.stream_name, &sub.group_id)
                .await
                .map(SyncData::Group),
        };
        match data {
            Ok(data) => self.hub().finish_join(conn, &target, ts, &data),
            Err(e) => {
                self.hub().abort_join(conn, &sub.subscription_id);
                self.unavailable(conn, sub, e);
            }
        }
    }

    fn unavailable(&self, conn: &Arc<Conn>, sub: &Subscription, e: StoreError) {
        tracing::warn!(error = %e, stream = %sub.stream_name, "reading a stream for a client failed");
        self.client_error(
            conn,
            Some(sub),
            wire::UNAVAILABLE,
            "the stream could not be read right now; join again in a moment",
        );
    }

    /// Asks a worker hosting the stream to run its `canAccess`. Refused when no worker of this runtime hosts
    /// it, the worker does not answer within the access timeout, or the function threw.
    async fn can_access(&self, conn: &Arc<Conn>, sub: &Subscription) -> bool {
        self.check_access(
            &conn.scope,
            &sub.stream_name,
            &sub.group_id,
            sub.id.as_deref(),
            &conn.auth,
            conn.id as usize,
        )
        .await
    }

    /// Runs the stream's `canAccess` on a worker of this runtime hosting it (the `spread`-th of them, so checks
    /// spread over workers) with `auth` as the auth context. Refused when no worker of this runtime hosts it, the
    /// worker does not answer within the access timeout, or the function threw. Used for socket joins and for
    /// the runtime API's group read, so both follow the same rule.
    pub async fn check_access(
        &self,
        scope: &cfp_store::Scope,
        stream: &str,
        group_id: &str,
        item_id: Option<&str>,
        auth: &Value,
        spread: usize,
    ) -> bool {
        let hosts = self.inner.registry.lock().unwrap().access_hosts(scope, stream);
        if hosts.is_empty() {
            tracing::warn!(
                stream,
                "no worker connected to this runtime hosts stream `{stream}` to run its canAccess; access refused"
            );
            return false;
        }
        let worker = hosts[spread % hosts.len()];
        let (id, rx) = self.inner.checks.start(worker);
        let frame = ToWorker::Access {
            id: id.clone(),
            stream: stream.to_string(),
            group_id: group_id.to_string(),
            item_id: item_id.map(str::to_string),
            auth_context: match auth {
                Value::Object(_) => auth.clone(),
                _ => Value::Object(Default::default()),
            },
        };
        if !(self.inner.send)(worker, frame) {
            self.inner.checks.cancel(&id);
            return false;
        }
        match tokio::time::timeout(self.config().access_timeout, rx).await {
            Ok(Ok(allowed)) => allowed,
            Ok(Err(_)) => false,
            Err(_) => {
                self.inner.checks.cancel(&id);
                tracing::warn!(
                    stream,
                    worker,
                    "canAccess did not answer within {:?}; access refused",
                    self.config().access_timeout
                );
                false
            }
        }
    }
}
