use super::*;

const URL: &str = "redis://127.0.0.1:6379";

/// Counters with their upkeep running (an engine runs it as one of its services).
fn started(url: &str, replica: &str) -> Result<SharedCounters, String> {
    let c = SharedCounters::new(url, replica)?;
    tokio::spawn(c.upkeep());
    Ok(c)
}

fn ids() -> (String, String) {
    (uuid::Uuid::new_v4().to_string(), uuid::Uuid::new_v4().to_string())
}

#[tokio::test]
async fn two_replicas_share_project_and_tenant_counts() {
    let a = started(URL, "rt-a").unwrap();
    let b = started(URL, "rt-b").unwrap();
    let (tenant, p1) = ids();
    let p2 = uuid::Uuid::new_v4().to_string();
    let Acquired::Held(l1) = a.acquire("ex", &tenant, &p1, [Some(2), Some(3)]).await else {
        panic!("the first lease is taken (is Redis running at {URL}?)")
    };
    let Acquired::Held(l2) = b.acquire("ex", &tenant, &p1, [Some(2), Some(3)]).await else {
        panic!("the second lease is taken on the other replica")
    };
    assert!(matches!(
        a.acquire("ex", &tenant, &p1, [Some(2), Some(3)]).await,
        Acquired::Full { index: 0, count: 2 }
    ));
    assert_eq!(b.room("ex", &tenant, &p1, [Some(2), Some(3)]).await, Some(0));
    // another project of the tenant: its own limit is free, the tenant's has one place left
    let Acquired::Held(_l3) = b.acquire("ex", &tenant, &p2, [None, Some(3)]).await else {
        panic!("the tenant has room for a third")
    };
    assert!(matches!(
        a.acquire("ex", &tenant, &p2, [None, Some(3)]).await,
        Acquired::Full { index: 1, count: 3 }
    ));
    // requests are counted apart from executions
    assert!(matches!(
        a.acquire("rq", &tenant, &p1, [Some(2), Some(3)]).await,
        Acquired::Held(_)
    ));
    drop(l1);
    let mut room = None;
    for _ in 0..50 {
        room = a.room("ex", &tenant, &p1, [Some(2), Some(3)]).await;
        if room == Some(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(room, Some(1), "a released lease frees its place on every replica");
    drop(l2);
    assert_eq!(a.failures() + b.failures(), 0);
}

#[tokio::test]
async fn far_from_the_limit_places_are_reserved_in_batches_and_idle_ones_given_back() {
    let a = started(URL, "rt-a").unwrap();
    let b = started(URL, "rt-b").unwrap();
    let (tenant, p) = ids();
    let limits = [Some(1000), None];
    let mut held = Vec::new();
    for _ in 0..200 {
        match a.acquire("rq", &tenant, &p, limits).await {
            Acquired::Held(l) => held.push(l),
            _ => panic!("room for 200 of 1000 (is Redis running at {URL}?)"),
        }
    }
    let calls = a.calls();
    assert!(calls < 20, "200 places in batches took {calls} Redis calls");
    // the other replica sees them: at most the limit minus what replica a holds
    let room = b.room("rq", &tenant, &p, limits).await.unwrap();
    assert!((1000 - 200 - 64..=800).contains(&room), "room {room}");
    drop(held);
    let mut room = 0;
    for _ in 0..100 {
        room = b.room("rq", &tenant, &p, limits).await.unwrap();
        if room == 1000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(room, 1000, "spare places are given back once idle");
    assert_eq!(a.failures(), 0);
}

#[tokio::test]
async fn near_the_limit_no_place_is_kept_spare() {
    let a = started(URL, "rt-a").unwrap();
    let b = started(URL, "rt-b").unwrap();
    let (tenant, p) = ids();
    let limits = [Some(8), None];
    let mut held = Vec::new();
    for _ in 0..8 {
        let Acquired::Held(l) = a.acquire("ex", &tenant, &p, limits).await else {
            panic!("room for 8 of 8")
        };
        held.push(l);
    }
    assert!(matches!(
        b.acquire("ex", &tenant, &p, limits).await,
        Acquired::Full { index: 0, count: 8 }
    ));
    held.pop();
    // the freed place is given back at once (no spare near the limit): the other replica gets it
    let mut got = None;
    for _ in 0..50 {
        if let Acquired::Held(l) = b.acquire("ex", &tenant, &p, limits).await {
            got = Some(l);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(got.is_some(), "a place freed on replica a reaches replica b");
}

#[tokio::test]
async fn without_a_limit_nothing_is_counted() {
    let a = started(URL, "rt-a").unwrap();
    let (tenant, p) = ids();
    assert!(matches!(
        a.acquire("rq", &tenant, &p, [None, None]).await,
        Acquired::Unavailable
    ));
    assert_eq!(a.room("rq", &tenant, &p, [None, None]).await, None);
}

#[tokio::test]
async fn an_unreachable_redis_falls_back_to_local_counting_quickly() {
    // nothing listens on port 9 of loopback: connection refused at once
    let a = started("redis://127.0.0.1:9", "rt-a").unwrap();
    let (tenant, p) = ids();
    let started = Instant::now();
    assert!(matches!(
        a.acquire("rq", &tenant, &p, [Some(1), None]).await,
        Acquired::Unavailable
    ));
    // skipped, not retried, during the back-off
    assert!(matches!(
        a.acquire("rq", &tenant, &p, [Some(1), None]).await,
        Acquired::Unavailable
    ));
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    assert_eq!(a.failures(), 1);
}

/// Runs `f` on a runtime of its own that is dropped when `f` returns: a task `f` left behind (not awaited) is
/// dropped with it, as at a process exit.
fn on_own_runtime<F: std::future::Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = rt.block_on(f);
    drop(rt);
    out
}

#[test]
fn a_give_back_issued_just_before_close_reaches_redis() {
    let (tenant, p) = ids();
    // Near the limit: the place is given back as soon as its lease is dropped (nothing is kept spare).
    let limits = [Some(2), None];
    on_own_runtime(async {
        let a = SharedCounters::new(URL, "rt-a").unwrap();
        let Acquired::Held(lease) = a.acquire("ex", &tenant, &p, limits).await else {
            panic!("room for 1 of 2 (is Redis running at {URL}?)")
        };
        assert_eq!(a.room("ex", &tenant, &p, limits).await, Some(1));
        drop(lease);
        // The give-back has not run yet (this runtime has one thread and `drop` does not yield).
        assert_eq!(a.close(Duration::from_secs(2)).await, 0, "nothing had to be aborted");
    });
    let room = on_own_runtime(async {
        let b = SharedCounters::new(URL, "rt-b").unwrap();
        b.room("ex", &tenant, &p, limits).await
    });
    assert_eq!(room, Some(2), "the give-back reached Redis before close returned");
}

#[test]
fn close_gives_back_the_spare_places_at_once() {
    let (tenant, p) = ids();
    // Far from the limit: a dropped lease's place is kept spare (the upkeep, not running here, gives it back
    // when idle; a stopped replica would keep it until the reservation expires).
    let limits = [Some(1000), None];
    on_own_runtime(async {
        let a = SharedCounters::new(URL, "rt-a").unwrap();
        let mut held = Vec::new();
        for _ in 0..3 {
            let Acquired::Held(l) = a.acquire("rq", &tenant, &p, limits).await else {
                panic!("room for 3 of 1000 (is Redis running at {URL}?)")
            };
            held.push(l);
        }
        drop(held);
        let b = SharedCounters::new(URL, "rt-b").unwrap();
        let room = b.room("rq", &tenant, &p, limits).await.unwrap();
        assert!(room < 1000, "replica a keeps spare places: room {room}");
        a.close(Duration::from_secs(2)).await;
        assert_eq!(
            b.room("rq", &tenant, &p, limits).await,
            Some(1000),
            "close gave every spare place back"
        );
    });
}

#[test]
fn keys_of_a_tenant_share_a_cluster_slot() {
    assert_eq!(key("rq", "t1", Some("p1")), "cfp:limits:rq:{t1}:p:p1");
    assert_eq!(key("rq", "t1", None), "cfp:limits:rq:{t1}:t");
    assert_eq!(redact("redis://:pw@h:6379"), "redis://***@h:6379");
}
