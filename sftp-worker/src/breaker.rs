//! A circuit breaker per game server: after a failure the server is left alone for a
//! while, growing exponentially (with jitter, so many servers of one host do not retry in
//! step), and at once for a long time when only an admin can fix it (wrong password,
//! changed host key, refused address). Admins see its state in `/csv_status`.

use std::time::{Duration, Instant};

use tower_proto::v1::BreakerState;

const BASE: Duration = Duration::from_secs(5);
const MAX: Duration = Duration::from_secs(300);
/// Problems a retry cannot fix wait this long (or for an admin's change).
const NEEDS_ADMIN: Duration = Duration::from_secs(1800);

#[derive(Debug, Clone, Default)]
pub struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
    pub last_error: Option<String>,
}

impl Breaker {
    /// Whether a poll may run now (closed, or half-open after the wait).
    pub fn allows(&self, now: Instant) -> bool {
        self.open_until.is_none_or(|until| now >= until)
    }

    pub fn state(&self, now: Instant) -> BreakerState {
        match self.open_until {
            None => BreakerState::Closed,
            Some(until) if now < until => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }

    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.open_until = None;
        self.last_error = None;
    }

    /// Records a failure; `jitter` in 0..1 spreads retries.
    pub fn failed(&mut self, message: String, transient: bool, now: Instant, jitter: f64) {
        self.failures = self.failures.saturating_add(1);
        let wait = if transient {
            let exp = BASE.saturating_mul(1u32 << self.failures.min(10).saturating_sub(1));
            exp.min(MAX).mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
        } else {
            NEEDS_ADMIN
        };
        self.open_until = Some(now + wait);
        self.last_error = Some(message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_and_reset() {
        let now = Instant::now();
        let mut b = Breaker::default();
        assert!(b.allows(now));
        b.failed("timeout".into(), true, now, 1.0);
        assert_eq!(b.state(now), BreakerState::Open);
        assert!(!b.allows(now + Duration::from_secs(4)));
        assert!(b.allows(now + Duration::from_secs(5)));
        b.failed("timeout".into(), true, now, 1.0);
        assert!(!b.allows(now + Duration::from_secs(9)));
        assert_eq!(
            b.state(now + Duration::from_secs(10)),
            BreakerState::HalfOpen
        );
        for _ in 0..20 {
            b.failed("timeout".into(), true, now, 1.0);
        }
        assert!(b.allows(now + MAX));
        b.succeeded();
        assert_eq!(b.state(now), BreakerState::Closed);
    }

    #[test]
    fn problems_for_an_admin_wait_long() {
        let now = Instant::now();
        let mut b = Breaker::default();
        b.failed("wrong password".into(), false, now, 0.0);
        assert!(!b.allows(now + Duration::from_secs(600)));
        assert_eq!(b.last_error.as_deref(), Some("wrong password"));
    }
}
