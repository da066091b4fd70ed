//! Deterministic identifiers and retry timing (NFR-5).
//!
//! An emitted event's id is derived from the emitting delivery's stable key and the emit's index, so a retried
//! handler that emits the same sequence produces the same ids (duplicates are dropped by a unique key). Retry
//! backoff is exponential with jitter derived from (delivery, attempt): the same failure schedules the same
//! retry time on every replica and in every test run.

use sha2::{Digest, Sha256};
use uuid::Uuid;

const NAMESPACE: Uuid = Uuid::from_u128(0x6c1f_2a0e_93d4_4f1b_b0a8_5cf9_7e11_d3a2);

/// Id of the `index`-th event emitted by the invocation whose stable key is `parent`.
pub fn event_id(parent: &str, index: usize) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("{parent}#{index}").as_bytes())
}

/// Id of the run of a cron step for one scheduled tick.
pub fn cron_event_id(scope_key: &str, step: &str, tick_ms: i64) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("cron:{scope_key}:{step}:{tick_ms}").as_bytes())
}

/// Delay before retry number `attempt` (1 = the retry after the first failure):
/// `base * 2^(attempt-1)`, capped, times a jitter factor in [0.5, 1.0) derived from (key, attempt).
pub fn backoff_ms(key: &str, attempt: u32, base_ms: u64, cap_ms: u64) -> u64 {
    let exp = base_ms
        .saturating_mul(1u64 << attempt.saturating_sub(1).min(30))
        .min(cap_ms);
    let digest = Sha256::digest(format!("{key}:{attempt}").as_bytes());
    let r = u16::from_be_bytes([digest[0], digest[1]]) as u64; // 0..65535
    exp / 2 + (exp / 2) * r / 65536
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_stable_and_distinct() {
        assert_eq!(event_id("step:abc", 0), event_id("step:abc", 0));
        assert_ne!(event_id("step:abc", 0), event_id("step:abc", 1));
        assert_ne!(event_id("step:abc", 0), event_id("step:abd", 0));
    }

    #[test]
    fn backoff_grows_is_capped_and_deterministic() {
        let a1 = backoff_ms("k", 1, 1000, 60_000);
        let a3 = backoff_ms("k", 3, 1000, 60_000);
        assert!((500..1000).contains(&a1), "{a1}");
        assert!((2000..4000).contains(&a3), "{a3}");
        assert_eq!(a3, backoff_ms("k", 3, 1000, 60_000));
        assert!(backoff_ms("k", 40, 1000, 60_000) < 60_000);
        // Different deliveries spread out.
        let spread: std::collections::HashSet<u64> =
            (0..20).map(|i| backoff_ms(&format!("k{i}"), 2, 1000, 60_000)).collect();
        assert!(spread.len() > 10);
    }
}
