//! The engine's clock: what time it is and how to wait, injected through [`EngineConfig::clock`] so tests drive
//! time-dependent behaviour (cron ticks, retry wake-ups, invocation deadlines, SLO cycles, alert resends) with a
//! [`ManualClock`] instead of sleeping.
//!
//! Lease expiry and a delivery's `visible_at` are PostgreSQL's `now()`: they are compared in the database, where
//! every replica agrees on one clock; the engine's clock decides when the engine looks.
//!
//! [`EngineConfig::clock`]: crate::EngineConfig::clock

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

pub trait Clock: Debug + Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
    /// Time elapsed since a fixed origin of this clock; it never goes back (a wall clock set back does not move
    /// it). Deadlines are measured on it.
    fn monotonic(&self) -> Duration;
    /// Resolves once `d` has passed on this clock.
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
}

/// The wall clock and tokio's timer.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn monotonic(&self) -> Duration {
        static ORIGIN: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
        ORIGIN.get_or_init(tokio::time::Instant::now).elapsed()
    }

    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// A clock that moves only when told ([`ManualClock::advance`]); sleeps end when it passes their deadline.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<watch::Sender<DateTime<Utc>>>,
    start: DateTime<Utc>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(watch::channel(start).0),
            start,
        }
    }

    /// A clock at `ms` milliseconds since the Unix epoch.
    pub fn at_millis(ms: i64) -> Self {
        Self::new(DateTime::from_timestamp_millis(ms).unwrap_or_default())
    }

    /// Moves the clock forward by `d`, ending the sleeps whose deadline it reaches.
    pub fn advance(&self, d: Duration) {
        let step = chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        self.now.send_modify(|now| *now += step);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    fn monotonic(&self) -> Duration {
        (self.now() - self.start).to_std().unwrap_or_default()
    }

    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        let until = self.now() + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        let mut rx = self.now.subscribe();
        Box::pin(async move {
            // The sender lives as long as the clock; if it is gone, nothing will ever move it.
            if rx.wait_for(|now| *now >= until).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

/// The default clock of [`crate::EngineConfig`].
pub fn system() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_sleep_ends_only_when_the_clock_passes_its_deadline() {
        let clock = ManualClock::new(DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().into());
        let mut sleep = clock.sleep(Duration::from_secs(10));
        clock.advance(Duration::from_secs(9));
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut sleep)
                .await
                .is_err(),
            "9 s of 10 have passed"
        );
        clock.advance(Duration::from_secs(1));
        tokio::time::timeout(Duration::from_millis(500), sleep)
            .await
            .expect("10 s have passed");
        assert_eq!(clock.now().to_rfc3339(), "2026-01-01T00:00:10+00:00");
        assert_eq!(clock.monotonic(), Duration::from_secs(10));
    }
}
