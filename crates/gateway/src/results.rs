//! The JSON answers of the runtime API's admin and observe routes (`admin.rs`, `observe.rs`), as typed structs.
//! Their wire shape is what `docs/runtime-api.md` documents and the workbench reads; the tests below pin each one
//! to the shape the routes answered before they were typed.

use serde::Serialize;

/// `POST /emit` (202).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Emitted<E: Serialize> {
    pub event_id: E,
    pub trace_id: String,
    /// The event's data failed its schema with strict validation off: delivered anyway.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// `GET /dlq` and `GET /state/{group}`.
#[derive(Serialize)]
pub struct Items<T: Serialize> {
    pub items: Vec<T>,
}

/// `POST /dlq/{id}/replay`.
#[derive(Serialize)]
pub struct Replayed {
    pub replayed: i64,
    pub step: String,
}

/// `DELETE /dlq/{id}`.
#[derive(Serialize)]
pub struct Discarded {
    pub discarded: i64,
}

/// `GET /steps`: the project's steps and how many workers are connected to this runtime.
#[derive(Serialize)]
pub struct Steps<T: Serialize> {
    pub steps: Vec<T>,
    pub workers: usize,
}

/// `GET /logs`.
#[derive(Serialize)]
pub struct Logs<T: Serialize> {
    pub logs: Vec<T>,
}

/// `GET /queues`.
#[derive(Serialize)]
pub struct Queues<T: Serialize> {
    pub queues: Vec<T>,
}

/// `GET /traces`.
#[derive(Serialize)]
pub struct Traces<T: Serialize> {
    pub traces: Vec<T>,
}

/// `GET /traces/{traceId}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Trace<T: Serialize> {
    pub trace_id: String,
    pub spans: Vec<T>,
}

/// One state group of `GET /state`: its name and how many keys it holds.
#[derive(Serialize)]
pub struct StateGroup {
    pub group: String,
    pub keys: i64,
}

/// `GET /state`.
#[derive(Serialize)]
pub struct StateGroups {
    pub groups: Vec<StateGroup>,
}

/// One item of `GET /state/{group}`.
#[derive(Serialize)]
pub struct StateEntry<V: Serialize> {
    pub key: String,
    pub value: V,
}

/// `PUT /state/{group}/{key}`, and inside `DELETE`'s answer.
#[derive(Serialize)]
pub struct StateValue<V: Serialize> {
    pub group: String,
    pub key: String,
    pub value: V,
}

/// `DELETE /state/{group}/{key}`: the value removed.
#[derive(Serialize)]
pub struct StateDeleted<V: Serialize> {
    pub deleted: StateValue<V>,
}

/// `PUT /layout`.
#[derive(Serialize)]
pub struct Saved {
    pub saved: bool,
}

/// The `lagged` event of `GET /live`: how many events the client missed (it refetches).
#[derive(Serialize)]
pub struct Lagged {
    pub missed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, to_value, Value};

    /// Each answer serializes exactly as the `json!` the routes built before (key names, nesting, absent fields).
    #[test]
    fn answers_keep_their_wire_shape() {
        let id = uuid::Uuid::nil();
        let cases: Vec<(Value, Value)> = vec![
            (
                to_value(Emitted {
                    event_id: id,
                    trace_id: "t1".into(),
                    warning: None,
                })
                .unwrap(),
                json!({ "eventId": id, "traceId": "t1" }),
            ),
            (
                to_value(Emitted {
                    event_id: id,
                    trace_id: "t1".into(),
                    warning: Some("w".into()),
                })
                .unwrap(),
                json!({ "eventId": id, "traceId": "t1", "warning": "w" }),
            ),
            (
                to_value(Items {
                    items: vec![json!({"id": 1})],
                })
                .unwrap(),
                json!({ "items": [{"id": 1}] }),
            ),
            (
                to_value(Replayed {
                    replayed: 7,
                    step: "S".into(),
                })
                .unwrap(),
                json!({ "replayed": 7, "step": "S" }),
            ),
            (to_value(Discarded { discarded: 7 }).unwrap(), json!({ "discarded": 7 })),
            (
                to_value(Steps {
                    steps: vec![json!({"name": "S"})],
                    workers: 2,
                })
                .unwrap(),
                json!({ "steps": [{"name": "S"}], "workers": 2 }),
            ),
            (to_value(Logs::<Value> { logs: vec![] }).unwrap(), json!({ "logs": [] })),
            (
                to_value(Queues {
                    queues: vec![json!({"step": "S"})],
                })
                .unwrap(),
                json!({ "queues": [{"step": "S"}] }),
            ),
            (
                to_value(Traces::<Value> { traces: vec![] }).unwrap(),
                json!({ "traces": [] }),
            ),
            (
                to_value(Trace {
                    trace_id: "t1".into(),
                    spans: vec![json!({"step": "S"})],
                })
                .unwrap(),
                json!({ "traceId": "t1", "spans": [{"step": "S"}] }),
            ),
            (
                to_value(StateGroups {
                    groups: vec![StateGroup {
                        group: "g".into(),
                        keys: 3,
                    }],
                })
                .unwrap(),
                json!({ "groups": [{ "group": "g", "keys": 3 }] }),
            ),
            (
                to_value(Items {
                    items: vec![StateEntry {
                        key: "k".into(),
                        value: json!({"n": 1}),
                    }],
                })
                .unwrap(),
                json!({ "items": [{ "key": "k", "value": {"n": 1} }] }),
            ),
            (
                to_value(StateValue {
                    group: "g".into(),
                    key: "k".into(),
                    value: json!(1),
                })
                .unwrap(),
                json!({ "group": "g", "key": "k", "value": 1 }),
            ),
            (
                to_value(StateDeleted {
                    deleted: StateValue {
                        group: "g".into(),
                        key: "k".into(),
                        value: json!(1),
                    },
                })
                .unwrap(),
                json!({ "deleted": { "group": "g", "key": "k", "value": 1 } }),
            ),
            (to_value(Saved { saved: true }).unwrap(), json!({ "saved": true })),
            (to_value(Lagged { missed: 3 }).unwrap(), json!({ "missed": 3 })),
        ];
        for (typed, before) in cases {
            assert_eq!(typed, before);
        }
    }
}
