//! Streams: items by (stream, group, id), the stream definitions workers registered, and the change
//! notifications every runtime replica listens to (see [`Store::streams_channel`]).
//!
//! A write and its notification commit together. A change whose JSON fits in a NOTIFY payload travels inline;
//! a larger one is stored in `stream_changes` and the notification carries its `seq` (PostgreSQL limits a
//! payload to 8000 bytes). A store made [`Store::with_stream_notify`]`(false)` sends no NOTIFY: the caller
//! publishes the returned notice (Redis fan-out); large changes still go by reference.

use cfp_protocol::StreamManifest;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgConnection, Row};

use crate::{Result, Scope, Store, StoreError};

/// The channel name of this store's schema, computed by PostgreSQL: runtimes of other schemas in the same
/// database (another deployment, tests) never receive these changes.
const CHANNEL_SQL: &str = "'cfp_streams_' || substr(md5(current_schema()), 1, 16)";

/// Largest change sent inline in a notification; PostgreSQL refuses payloads of 8000 bytes or more.
const INLINE_LIMIT: usize = 7_600;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Create,
    Update,
    Delete,
    /// A custom event (`send`): `data` is `{type, data}`.
    Event,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Create => "create",
            ChangeKind::Update => "update",
            ChangeKind::Delete => "delete",
            ChangeKind::Event => "event",
        }
    }
}

/// One change of a stream, as every replica's hub receives it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StreamChange {
    pub tenant: String,
    pub project: String,
    pub stream: String,
    pub group: String,
    /// The item; absent for a custom event sent to a whole group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub kind: ChangeKind,
    pub data: Value,
    /// Position of an item write in `stream_seq` (per item, later writes have larger values); none for events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    /// Instance id of the runtime that made the change (it delivers its own changes without the round trip).
    pub origin: String,
}

impl StreamChange {
    pub fn scope(&self) -> Scope {
        Scope::new(&self.tenant, &self.project)
    }
}

/// What a notification on [`Store::streams_channel`] carries.
// Parsed and consumed at once, never stored in bulk: the size of an inline change (larger since serde_json's
// `preserve_order` maps) is not worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum StreamNotice {
    Inline(StreamChange),
    /// A large change: read it with [`Store::stream_change`].
    Stored {
        origin: String,
        seq: i64,
    },
}

#[derive(Serialize, Deserialize)]
struct StoredRef {
    origin: String,
    stored: i64,
}

impl StreamNotice {
    pub fn parse(payload: &str) -> Option<StreamNotice> {
        if let Ok(r) = serde_json::from_str::<StoredRef>(payload) {
            return Some(StreamNotice::Stored {
                origin: r.origin,
                seq: r.stored,
            });
        }
        serde_json::from_str(payload).ok().map(StreamNotice::Inline)
    }

    pub fn origin(&self) -> &str {
        match self {
            StreamNotice::Inline(c) => &c.origin,
            StreamNotice::Stored { origin, .. } => origin,
        }
    }
}

/// Streams and their groups with item counts (runtime API).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupCount {
    pub group_id: String,
    pub items: i64,
}

/// A write and the notice announcing it (what a NOTIFY carries; [`StreamNotice::parse`] reads it back).
#[derive(Debug, Clone)]
pub struct Announced {
    pub change: StreamChange,
    pub notice: String,
}

/// Announces a change to every replica, inside the caller's transaction (NOTIFY unless `pg_notify` is false);
/// returns the notice.
async fn notify(conn: &mut PgConnection, change: &StreamChange, pg_notify: bool) -> Result<String> {
    let text = serde_json::to_string(change).expect("changes serialize");
    let payload = if text.len() <= INLINE_LIMIT {
        text
    } else {
        let seq: i64 = sqlx::query_scalar("INSERT INTO stream_changes (change) VALUES ($1::json) RETURNING seq")
            .bind(&text)
            .fetch_one(&mut *conn)
            .await?;
        serde_json::to_string(&StoredRef {
            origin: change.origin.clone(),
            stored: seq,
        })
        .expect("refs serialize")
    };
    if pg_notify {
        sqlx::query(&format!("SELECT pg_notify({CHANNEL_SQL}, $1)"))
            .bind(&payload)
            .execute(&mut *conn)
            .await?;
    }
    Ok(payload)
}

/// The JSON text of an item and the placeholder in it that stands for `_createdAt` (empty when the item's
/// `_createdAt` is a number, kept as given). The placeholder is a string holding a random UUID, in the place
/// `_createdAt` has in the item (appended when absent, as `{ ...data, _createdAt }` puts it): no tenant text can
/// contain it by chance or on purpose.
fn item_text(mut item: Value) -> (String, String) {
    let map = item.as_object_mut().expect("items are objects");
    if map.get("_createdAt").is_some_and(Value::is_number) {
        return (crate::json_text(&item), String::new());
    }
    let mark = format!("cfp-created-{}", uuid::Uuid::new_v4().simple());
    map.insert("_createdAt".into(), Value::String(mark.clone()));
    (crate::json_text(&item), format!("\"{mark}\""))
}

/// `data` with `id` set, as Motia returns items (`{ ...data, id }`). Data must be a JSON object.
pub fn item_with_id(data: Value, id: &str) -> Result<Value> {
    match data {
        Value::Object(mut map) => {
            map.insert("id".into(), Value::String(id.to_string()));
            Ok(Value::Object(map))
        }
        other => Err(StoreError::Invalid(format!(
            "a stream item must be a JSON object, got {}",
            match other {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                Value::Array(_) => "an array",
                Value::Object(_) => unreachable!(),
            }
        ))),
    }
}

impl Store {
    /// The channel stream changes of this store's schema are announced on (`cfp_streams_<hash of the schema>`).
    pub async fn streams_channel(&self) -> Result<String> {
        Ok(sqlx::query_scalar(&format!("SELECT {CHANNEL_SQL}"))
            .fetch_one(&self.pool)
            .await?)
    }

    /// Creates or replaces an item and announces the change (`create` or `update`).
    ///
    /// The stored item carries `_createdAt` (milliseconds since the epoch, a number) as Motia's stream items do:
    /// the value the data gives when it is a number (Motia: `data._createdAt || Date.now()`), else the stored
    /// item's when it is replaced (an update keeps its creation time), else now.
    pub async fn stream_set(
        &self,
        scope: &Scope,
        stream: &str,
        group: &str,
        id: &str,
        data: Value,
        origin: &str,
    ) -> Result<Announced> {
        let (text, mark) = item_text(item_with_id(data, id)?);
        let mut tx = self.pool.begin().await?;
        // `$7` (the placeholder of `_createdAt` in `$6`, or '' when the item gives its own) is replaced with now
        // in milliseconds, or on an update with the stored item's `_createdAt`; the text is otherwise stored as
        // is (a `json` column keeps the key order).
        let row = sqlx::query(
            "INSERT INTO stream_items (tenant_id, project_id, stream, group_id, id, data, seq)
             VALUES ($1, $2, $3, $4, $5,
                     replace($6, $7, floor(extract(epoch FROM now()) * 1000)::bigint::text)::json,
                     nextval('stream_seq'))
             ON CONFLICT (tenant_id, project_id, stream, group_id, id)
             DO UPDATE SET data = CASE
                     WHEN $7 = '' OR json_typeof(stream_items.data->'_createdAt') IS DISTINCT FROM 'number'
                       THEN EXCLUDED.data
                     ELSE replace($6, $7, (stream_items.data->'_createdAt')::text)::json
                   END,
                   seq = nextval('stream_seq'), updated_at = now()
             RETURNING (xmax = 0) AS created, seq, data",
        )
        .bind(&scope.tenant)
        .bind(&scope.project)
        .bind(stream)
        .bind(group)
        .bind(id)
        .bind(&text)
        .bind(&mark)
        .fetch_one(&mut *tx)
        .await?;
        let created: bool = row.get("created");
        let change = StreamChange {
            tenant: scope.tenant.clone(),
            project: scope.project.clone(),
            stream: stream.into(),
            group: group.into(),
            id: Some(id.into()),
            kind: if created {
                ChangeKind::Create
            } else {
                ChangeKind::Update
            },
            data: row.get("data"),
            seq: Some(row.get("seq")),
            origin: origin.into(),
        };
        let notice = notify(&mut tx, &change, self.stream_notify).await?;
        tx.commit().await?;
        self.usage.stream_message(scope);
        Ok(Announced { change, notice })
    }

    /// Deletes an item; announces a `delete` change when there was one.
    pub async fn stream_delete(
        &self,
        scope: &Scope,
        stream: &str,
        group: &str,
        id: &str,
        origin: &str,
    ) -> Result<Option<Announced>> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "DELETE FROM stream_items
              WHERE tenant_id = $1 AND project_id = $2 AND stream = $3 AND group_id = $4 AND id = $5
             RETURNING data, nextval('stream_seq') AS seq",
        )
        .bind(&scope.tenant)
        .bind(&scope.project)
        .bind(stream)
        .bind(group)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(None);
        };
        let change = StreamChange {
            tenant: scope.tenant.clone(),
            project: scope.project.clone(),
            stream: stream.into(),
            group: group.into(),
            id: Some(id.into()),
            kind: ChangeKind::Delete,
            data: row.get("data"),
            seq: Some(row.get("seq")),
            origin: origin.into(),
        };
        let notice = notify(&mut tx, &change, self.stream_notify).await?;
        tx.commit().await?;
        self.usage.stream_message(scope);
        Ok(Some(Announced { change, notice }))
    }

    /// Announces a custom event (`send`); nothing is stored but an oversized payload. Returns the notice.
    pub async fn stream_announce(&self, change: &StreamChange) -> Result<String> {
        let mut tx = self.pool.begin().await?;
        let notice = notify(&mut tx, change, self.stream_notify).await?;
        tx.commit().await?;
        self.usage.stream_message(&change.scope());
        Ok(notice)
    }

    pub async fn stream_get(&self, scope: &Scope, stream: &str, group: &str, id: &str) -> Result<Option<Value>> {
        Ok(sqlx::query_scalar(
            "SELECT data FROM stream_items
              WHERE tenant_id = $1 AND project_id = $2 AND stream = $3 AND group_id = $4 AND id = $5",
        )
        .bind(&scope.tenant)
        .bind(&scope.project)
        .bind(stream)
        .bind(group)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The items of a group, oldest first.
    pub async fn stream_group(&self, scope: &Scope, stream: &str, group: &str) -> Result<Vec<Value>> {
        Ok(sqlx::query_scalar(
            "SELECT data FROM stream_items
              WHERE tenant_id = $1 AND project_id = $2 AND stream = $3 AND group_id = $4
              ORDER BY created_at, id",
        )
        .bind(&scope.tenant)
        .bind(&scope.project)
        .bind(stream)
        .bind(group)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every group of a stream with its item count, by group id.
    pub async fn stream_groups(&self, scope: &Scope, stream: &str) -> Result<Vec<GroupCount>> {
        let rows = sqlx::query(
            "SELECT group_id, count(*) AS n FROM stream_items
              WHERE tenant_id = $1 AND project_id = $2 AND stream = $3
              GROUP BY group_id ORDER BY group_id",
        )
        .bind(&scope.tenant)
        .bind(&scope.project)
        .bind(stream)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| GroupCount {
                group_id: r.get("group_id"),
                items: r.get("n"),
            })
            .collect())
    }

    /// A change too large for its notification.
    pub async fn stream_change(&self, seq: i64) -> Result<Option<StreamChange>> {
        let v: Option<Value> = sqlx::query_scalar("SELECT change FROM stream_changes WHERE seq = $1")
            .bind(seq)
            .fetch_optional(&self.pool)
            .await?;
        Ok(v.and_then(|v| serde_json::from_value(v).ok()))
    }

    /// Deletes stored changes older than `older_than_s` (every replica has read them by then).
    pub async fn sweep_stream_changes(&self, older_than_s: i64) -> Result<u64> {
        let r = sqlx::query("DELETE FROM stream_changes WHERE created_at < now() - make_interval(secs => $1)")
            .bind(older_than_s as f64)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    /// Makes `streams` the project's registered stream set.
    pub async fn replace_stream_defs(&self, scope: &Scope, streams: &[StreamManifest]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let names: Vec<&str> = streams.iter().map(|s| s.name.as_str()).collect();
        sqlx::query("DELETE FROM stream_defs WHERE tenant_id = $1 AND project_id = $2 AND name <> ALL($3)")
            .bind(&scope.tenant)
            .bind(&scope.project)
            .bind(&names)
            .execute(&mut *tx)
            .await?;
        for s in streams {
            sqlx::query(
                "INSERT INTO stream_defs (tenant_id, project_id, name, manifest) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant_id, project_id, name) DO UPDATE SET manifest = $4, updated_at = now()",
            )
            .bind(&scope.tenant)
            .bind(&scope.project)
            .bind(&s.name)
            .bind(serde_json::to_value(s).expect("manifests serialize"))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The project's registered streams, by name.
    pub async fn stream_defs(&self, scope: &Scope) -> Result<Vec<StreamManifest>> {
        let rows: Vec<Value> = sqlx::query_scalar(
            "SELECT manifest FROM stream_defs WHERE tenant_id = $1 AND project_id = $2 ORDER BY name",
        )
        .bind(&scope.tenant)
        .bind(&scope.project)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_round_trip() {
        let change = StreamChange {
            tenant: "t".into(),
            project: "p".into(),
            stream: "todo".into(),
            group: "g".into(),
            id: Some("1".into()),
            kind: ChangeKind::Update,
            data: serde_json::json!({"id": "1"}),
            seq: Some(4),
            origin: "rt-a".into(),
        };
        let text = serde_json::to_string(&change).unwrap();
        assert_eq!(StreamNotice::parse(&text), Some(StreamNotice::Inline(change)));
        assert_eq!(
            StreamNotice::parse(r#"{"origin":"rt-b","stored":9}"#),
            Some(StreamNotice::Stored {
                origin: "rt-b".into(),
                seq: 9
            })
        );
        assert_eq!(StreamNotice::parse("nope"), None);
    }

    #[test]
    fn items_are_objects_with_their_id() {
        let item = item_with_id(serde_json::json!({"id": "other", "a": 1}), "x").unwrap();
        assert_eq!(item, serde_json::json!({"id": "x", "a": 1}));
        assert!(item_with_id(serde_json::json!([1]), "x")
            .unwrap_err()
            .to_string()
            .contains("an array"));
    }
}
