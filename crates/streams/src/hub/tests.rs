use super::*;
use cfp_store::streams::ChangeKind;
use serde_json::json;

fn scope() -> Scope {
    Scope::new("t", "p")
}

fn target(group: &str, item: Option<&str>) -> Target {
    Target {
        room: RoomKey {
            scope: scope(),
            stream: "todo".into(),
            group: group.into(),
        },
        item: item.map(Into::into),
    }
}

fn change(group: &str, id: &str, seq: i64, title: &str) -> StreamChange {
    StreamChange {
        tenant: "t".into(),
        project: "p".into(),
        stream: "todo".into(),
        group: group.into(),
        id: Some(id.into()),
        kind: ChangeKind::Update,
        data: json!({ "id": id, "title": title }),
        seq: Some(seq),
        origin: "rt".into(),
    }
}

fn join(hub: &Hub, conn: &Arc<Conn>, sub: &str, t: Target) {
    let ts = hub.begin_join(conn, sub, t.clone()).unwrap();
    let data = if t.item.is_some() {
        SyncData::Item(None)
    } else {
        SyncData::Group(vec![])
    };
    hub.finish_join(conn, &t, ts, &data);
}

fn drain(outbox: &mut Outbox) -> Vec<Value> {
    let mut out = Vec::new();
    while let Some(m) = outbox.try_recv() {
        out.push(serde_json::from_str(&m).unwrap());
    }
    out
}

fn kinds(msgs: &[Value]) -> Vec<String> {
    msgs.iter()
        .map(|m| m["event"]["type"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn fans_out_once_per_connection() {
    let hub = Hub::new(Limits::default());
    let (a, mut oa) = hub.connect(scope(), json!({}));
    let (b, mut ob) = hub.connect(scope(), json!({}));
    let (c, mut oc) = hub.connect(Scope::new("t", "other"), json!({}));
    join(&hub, &a, "a1", target("g", None));
    join(&hub, &a, "a2", target("g", Some("1")));
    join(&hub, &b, "b1", target("g", None));
    let ct = Target {
        room: RoomKey {
            scope: Scope::new("t", "other"),
            ..target("g", None).room
        },
        item: None,
    };
    join(&hub, &c, "c1", ct);
    drain(&mut oa);
    drain(&mut ob);
    drain(&mut oc);

    assert_eq!(hub.publish(&change("g", "1", 1, "milk")), 2);
    let got = drain(&mut oa);
    assert_eq!(
        kinds(&got),
        ["update"],
        "a holds a group and an item subscription: one message"
    );
    assert_eq!(got[0]["event"]["data"]["title"], "milk");
    assert_eq!(kinds(&drain(&mut ob)), ["update"]);
    assert!(drain(&mut oc).is_empty(), "another project never sees the change");

    assert!(hub.leave(&b, "b1"));
    assert_eq!(hub.publish(&change("g", "1", 2, "eggs")), 1);
    assert!(drain(&mut ob).is_empty());
    hub.disconnect(&a);
    assert_eq!(hub.publish(&change("g", "1", 3, "tea")), 0);
    assert_eq!(hub.counts(), (2, 1), "the other project's room remains");
}

#[test]
fn item_rooms_are_keyed_by_group() {
    let hub = Hub::new(Limits::default());
    let (a, mut oa) = hub.connect(scope(), json!({}));
    let (b, mut ob) = hub.connect(scope(), json!({}));
    join(&hub, &a, "s", target("alice", Some("inbox")));
    join(&hub, &b, "s", target("bob", Some("inbox")));
    drain(&mut oa);
    drain(&mut ob);
    hub.publish(&change("alice", "inbox", 1, "for alice"));
    let got = drain(&mut oa);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["groupId"], "alice");
    assert!(
        drain(&mut ob).is_empty(),
        "bob's item of the same id in another group sees nothing"
    );
}

#[test]
fn a_slow_client_is_closed_and_others_keep_receiving() {
    let limits = Limits {
        max_messages: 4,
        ..Limits::default()
    };
    let hub = Hub::new(limits);
    let (slow, _never_read) = hub.connect(scope(), json!({}));
    let (fast, mut of) = hub.connect(scope(), json!({}));
    join(&hub, &slow, "s", target("g", None));
    join(&hub, &fast, "f", target("g", None));
    drain(&mut of);
    let mut received = 0;
    for i in 0..10 {
        hub.publish(&change("g", "1", i + 1, &format!("v{i}")));
        received += drain(&mut of).len();
    }
    assert_eq!(received, 10);
    assert!(slow.is_closed());
    assert!(!fast.is_closed());
    let close = futures_now(slow.closed());
    assert_eq!(close.code, 1013);
    assert!(close.reason.contains("too slow"), "{}", close.reason);
}

#[test]
fn a_byte_budget_also_bounds_the_outbox() {
    let hub = Hub::new(Limits {
        max_bytes: 1000,
        ..Limits::default()
    });
    let (slow, _never_read) = hub.connect(scope(), json!({}));
    join(&hub, &slow, "s", target("g", None));
    let big = "x".repeat(400);
    for i in 0..4 {
        hub.publish(&change("g", "1", i + 1, &big));
    }
    assert!(slow.is_closed());
}

#[test]
fn changes_during_a_join_follow_its_sync() {
    let hub = Hub::new(Limits::default());
    let (a, mut oa) = hub.connect(scope(), json!({}));
    let t = target("g", Some("1"));
    let ts = hub.begin_join(&a, "s", t.clone()).unwrap();
    // a change committed after the sync was read arrives while the join is in progress
    hub.publish(&change("g", "1", 5, "newer"));
    assert!(drain(&mut oa).is_empty(), "held back until the sync is sent");
    hub.finish_join(&a, &t, ts, &SyncData::Item(Some(json!({"id": "1", "title": "older"}))));
    let got = drain(&mut oa);
    assert_eq!(kinds(&got), ["sync", "update"]);
    assert!(got[0]["timestamp"].as_i64() < got[1]["timestamp"].as_i64());
    assert_eq!(got[1]["event"]["data"]["title"], "newer");
}

#[test]
fn an_older_change_arriving_late_is_dropped() {
    let hub = Hub::new(Limits::default());
    let (a, mut oa) = hub.connect(scope(), json!({}));
    join(&hub, &a, "s", target("g", None));
    drain(&mut oa);
    hub.publish(&change("g", "1", 7, "new"));
    hub.publish(&change("g", "1", 6, "old"));
    hub.publish(&change("g", "2", 1, "other item"));
    let got = drain(&mut oa);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["event"]["data"]["title"], "new");
}

#[test]
fn timestamps_strictly_increase() {
    let hub = Hub::default();
    let mut last = 0;
    for _ in 0..10_000 {
        let ts = hub.next_ts();
        assert!(ts > last);
        last = ts;
    }
}

#[test]
fn subscriptions_per_connection_are_bounded() {
    let hub = Hub::new(Limits {
        max_subscriptions: 2,
        ..Limits::default()
    });
    let (a, _oa) = hub.connect(scope(), json!({}));
    join(&hub, &a, "1", target("g", None));
    join(&hub, &a, "2", target("h", None));
    // re-using an id replaces the subscription
    join(&hub, &a, "2", target("k", None));
    assert_eq!(
        hub.begin_join(&a, "3", target("x", None)),
        Err(JoinError::TooManySubscriptions(2))
    );
    assert_eq!(a.subscriptions(), 2);
    assert_eq!(hub.counts().1, 2, "the replaced room was removed");
}

/// Polls a future that is already ready.
fn futures_now<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}
