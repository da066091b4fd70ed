//! Replay protection of signed webhooks: `webhook.claim` records a verified request by the digest of its
//! signature; the same digest again within its window is refused, per project, and expires.

mod common;

use std::time::Duration;

use cfp_store::Scope;
use common::*;
use serde_json::{json, Value};

const OTHER_TOKEN: &str = "test-worker-token-of-another-project";

async fn claim(w: &mut FakeWorker, id: u64, params: Value) -> Value {
    w.send(json!({"type": "call", "id": id, "method": "webhook.claim", "params": params}));
    let reply = w.expect("reply").await;
    assert_eq!(reply["id"], id);
    reply
}

#[tokio::test]
async fn a_signed_request_is_accepted_once_per_window_and_project() {
    let mut opts = RuntimeOptions::default();
    opts.engine
        .worker_tokens
        .push((OTHER_TOKEN.into(), Scope::new("default", "other")));
    let rt = start(opts).await;
    let (mut a, _) = FakeWorker::connect(&rt.ws_url(), TOKEN, json!([]), handlers(vec![])).await;
    let (mut b, _) = FakeWorker::connect(&rt.ws_url(), OTHER_TOKEN, json!([]), handlers(vec![])).await;
    let digest = "ab".repeat(32);

    let first = claim(&mut a, 1, json!({"digest": digest, "ttlSeconds": 1})).await;
    assert_eq!(first["result"], json!({"claimed": true}), "{first}");
    let replay = claim(&mut a, 2, json!({"digest": digest, "ttlSeconds": 1})).await;
    assert_eq!(
        replay["result"],
        json!({"claimed": false}),
        "the same signature again is a replay"
    );
    let elsewhere = claim(&mut b, 3, json!({"digest": digest, "ttlSeconds": 1})).await;
    assert_eq!(
        elsewhere["result"],
        json!({"claimed": true}),
        "another project's record is its own"
    );

    for (id, params) in [
        (4, json!({"digest": "zz", "ttlSeconds": 60})),
        (5, json!({"digest": "ab", "ttlSeconds": 60})),
        (6, json!({"digest": digest, "ttlSeconds": 0})),
        (7, json!({"digest": digest, "ttlSeconds": 9_999_999})),
        (8, json!({"ttlSeconds": 60})),
    ] {
        let r = claim(&mut a, id, params.clone()).await;
        assert_eq!(r["error"]["code"], "bad_request", "{params} → {r}");
    }

    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let later = claim(&mut a, 9, json!({"digest": digest, "ttlSeconds": 60})).await;
    assert_eq!(
        later["result"],
        json!({"claimed": true}),
        "a record expires with its window"
    );
    let swept = rt.store.sweep_webhooks().await.unwrap();
    assert!(swept >= 1, "the other project's expired record is swept");
    rt.stop().await;
}
