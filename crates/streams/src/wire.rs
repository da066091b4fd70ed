//! Motia's stream protocol, as `@motiadev/stream-client*` speak it.
//!
//! Client → server: `{"type": "join" | "leave", "data": {streamName, groupId, id?, subscriptionId}}`.
//! Server → client: `{timestamp, streamName, groupId, id?, event}` where `event` is `{type: "sync", data}` (the
//! item, or the group's items), `{type: "create" | "update" | "delete", data: item}`, or `{type: "event",
//! event: {type, data}}` for custom events and errors (`{type: "error", data: {code, message}}`; Motia's
//! `STREAM_ACCESS_DENIED` has this shape). Motia's clients drop a message whose `timestamp` is not newer than
//! the last one they applied to a subscription, so the hub stamps messages from a strictly increasing clock.

use cfp_store::streams::{ChangeKind, StreamChange};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::hub::{SyncData, Target};

/// Motia's code for a refused subscription.
pub const ACCESS_DENIED: &str = "STREAM_ACCESS_DENIED";
/// CFP: the stream name is not a stream of the project.
pub const NOT_FOUND: &str = "STREAM_NOT_FOUND";
/// CFP: the message could not be read (not JSON, unknown type, missing field).
pub const BAD_MESSAGE: &str = "BAD_MESSAGE";
/// CFP: the connection holds the most subscriptions allowed.
pub const TOO_MANY_SUBSCRIPTIONS: &str = "TOO_MANY_SUBSCRIPTIONS";
/// CFP: the current state could not be read (database unavailable); join again later.
pub const UNAVAILABLE: &str = "STREAM_UNAVAILABLE";

/// The subscription part of `join` and `leave`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub stream_name: String,
    pub group_id: String,
    #[serde(default)]
    pub id: Option<String>,
    pub subscription_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    Join(Subscription),
    Leave(Subscription),
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    ty: Value,
    data: Option<Value>,
}

/// Reads one client message. The error says what is wrong, for an error event back to the client.
pub fn parse_client(text: &str) -> Result<ClientMessage, String> {
    let env: Envelope = serde_json::from_str(text).map_err(|e| format!("message is not a JSON object: {e}"))?;
    let ty = env.ty.as_str().ok_or("`type` must be \"join\" or \"leave\"")?;
    if ty != "join" && ty != "leave" {
        return Err(format!("unknown message type `{ty}`; expected \"join\" or \"leave\""));
    }
    let data = env
        .data
        .ok_or_else(|| format!("`{ty}` needs `data`: {{streamName, groupId, id?, subscriptionId}}"))?;
    let sub: Subscription = serde_json::from_value(data).map_err(|e| format!("bad `{ty}` data: {e}"))?;
    if sub.stream_name.is_empty() {
        return Err("`streamName` must not be empty".into());
    }
    if sub.subscription_id.is_empty() {
        return Err("`subscriptionId` must not be empty".into());
    }
    Ok(if ty == "join" {
        ClientMessage::Join(sub)
    } else {
        ClientMessage::Leave(sub)
    })
}

#[derive(Serialize)]
struct Out<'a> {
    timestamp: i64,
    #[serde(rename = "streamName", skip_serializing_if = "Option::is_none")]
    stream_name: Option<&'a str>,
    #[serde(rename = "groupId", skip_serializing_if = "Option::is_none")]
    group_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    event: OutEvent<'a>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum OutEvent<'a> {
    Sync { data: SyncRef<'a> },
    Create { data: &'a Value },
    Update { data: &'a Value },
    Delete { data: &'a Value },
    Event { event: CustomRef<'a> },
}

#[derive(Serialize)]
#[serde(untagged)]
enum SyncRef<'a> {
    Item(&'a Option<Value>),
    Group(&'a [Value]),
}

#[derive(Serialize)]
#[serde(untagged)]
enum CustomRef<'a> {
    Raw(&'a Value),
    Error { r#type: &'static str, data: ErrorData<'a> },
}

#[derive(Serialize)]
struct ErrorData<'a> {
    code: &'a str,
    message: &'a str,
}

fn text(out: &Out) -> String {
    serde_json::to_string(out).expect("messages serialize")
}

/// The `create` / `update` / `delete` / `event` message of a change.
pub fn change_message(change: &StreamChange, ts: i64) -> String {
    let event = match change.kind {
        ChangeKind::Create => OutEvent::Create { data: &change.data },
        ChangeKind::Update => OutEvent::Update { data: &change.data },
        ChangeKind::Delete => OutEvent::Delete { data: &change.data },
        ChangeKind::Event => OutEvent::Event {
            event: CustomRef::Raw(&change.data),
        },
    };
    text(&Out {
        timestamp: ts,
        stream_name: Some(&change.stream),
        group_id: Some(&change.group),
        id: change.id.as_deref(),
        event,
    })
}

/// The `sync` message that starts a subscription: the item (or `null`), or the group's items.
pub fn sync_message(target: &Target, data: &SyncData, ts: i64) -> String {
    let data = match data {
        SyncData::Item(v) => SyncRef::Item(v),
        SyncData::Group(items) => SyncRef::Group(items),
    };
    text(&Out {
        timestamp: ts,
        stream_name: Some(&target.room.stream),
        group_id: Some(&target.room.group),
        id: target.item.as_deref(),
        event: OutEvent::Sync { data },
    })
}

/// An error as Motia sends `STREAM_ACCESS_DENIED`: a custom event of type `error` on the subscription, so a
/// client's `subscription.onEvent('error', ...)` receives `{code, message}`.
pub fn error_message(sub: Option<&Subscription>, code: &str, message: &str, ts: i64) -> String {
    text(&Out {
        timestamp: ts,
        stream_name: sub.map(|s| s.stream_name.as_str()),
        group_id: sub.map(|s| s.group_id.as_str()),
        id: sub.and_then(|s| s.id.as_deref()),
        event: OutEvent::Event {
            event: CustomRef::Error {
                r#type: "error",
                data: ErrorData { code, message },
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_motia_client_messages() {
        let m = parse_client(
            r#"{"type":"join","data":{"streamName":"todo","groupId":"g","id":"1","subscriptionId":"s1"}}"#,
        )
        .unwrap();
        assert_eq!(
            m,
            ClientMessage::Join(Subscription {
                stream_name: "todo".into(),
                group_id: "g".into(),
                id: Some("1".into()),
                subscription_id: "s1".into()
            })
        );
        let m = parse_client(r#"{"type":"leave","data":{"streamName":"todo","groupId":"g","subscriptionId":"s1"}}"#)
            .unwrap();
        assert!(matches!(m, ClientMessage::Leave(Subscription { id: None, .. })));
    }

    #[test]
    fn names_what_is_wrong() {
        assert!(parse_client("{").unwrap_err().contains("not a JSON object"));
        assert!(parse_client("[1]").unwrap_err().contains("not a JSON object"));
        assert!(parse_client(r#"{"type":"subscribe","data":{}}"#)
            .unwrap_err()
            .contains("unknown message type"));
        assert!(parse_client(r#"{"type":"join"}"#).unwrap_err().contains("needs `data`"));
        assert!(
            parse_client(r#"{"type":"join","data":{"streamName":"a","groupId":"g"}}"#)
                .unwrap_err()
                .contains("subscriptionId")
        );
        assert!(
            parse_client(r#"{"type":"join","data":{"streamName":1,"groupId":"g","subscriptionId":"s"}}"#)
                .unwrap_err()
                .contains("bad `join` data")
        );
    }

    #[test]
    fn messages_have_motias_shape() {
        let change = StreamChange {
            tenant: "t".into(),
            project: "p".into(),
            stream: "todo".into(),
            group: "g".into(),
            id: Some("1".into()),
            kind: ChangeKind::Update,
            data: json!({"id": "1", "title": "milk"}),
            seq: Some(3),
            origin: "rt".into(),
        };
        let v: Value = serde_json::from_str(&change_message(&change, 42)).unwrap();
        assert_eq!(
            v,
            json!({"timestamp": 42, "streamName": "todo", "groupId": "g", "id": "1",
                   "event": {"type": "update", "data": {"id": "1", "title": "milk"}}})
        );
        let event = StreamChange {
            id: None,
            kind: ChangeKind::Event,
            data: json!({"type": "typing", "data": {"who": "ann"}}),
            seq: None,
            ..change
        };
        let v: Value = serde_json::from_str(&change_message(&event, 43)).unwrap();
        assert_eq!(
            v,
            json!({"timestamp": 43, "streamName": "todo", "groupId": "g",
                   "event": {"type": "event", "event": {"type": "typing", "data": {"who": "ann"}}}})
        );
        let sub = Subscription {
            stream_name: "todo".into(),
            group_id: "g".into(),
            id: None,
            subscription_id: "s".into(),
        };
        let v: Value = serde_json::from_str(&error_message(Some(&sub), ACCESS_DENIED, "Access denied", 44)).unwrap();
        assert_eq!(
            v,
            json!({"timestamp": 44, "streamName": "todo", "groupId": "g",
                   "event": {"type": "event", "event": {"type": "error",
                             "data": {"code": "STREAM_ACCESS_DENIED", "message": "Access denied"}}}})
        );
    }
}
