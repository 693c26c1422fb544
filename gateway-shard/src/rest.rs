//! Calling Discord's REST API politely: a 429 is waited out (its `retry_after`) and the
//! call retried; a global 429 holds every call of this process until it has passed.
//! (twilight's own ratelimiter keeps us under the per-route buckets against the real
//! Discord; this handles the 429s that still come, and the simulator's injected ones.)

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;
use twilight_http::api_error::ApiError;
use twilight_http::error::ErrorType;

/// Attempts per call before giving up on 429s.
const ATTEMPTS: u32 = 5;
/// The longest single wait we accept; a longer `retry_after` fails the call instead.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// Discord bans the bot's IP, for every guild, at 10,000 invalid requests (401, 403, 404,
/// 429) in ten minutes. Past this many in the window this process stops every call but
/// answers to users, which it cannot do without.
pub const BRAKE_AT: usize = 2_500;
/// The window Discord counts invalid requests in.
pub const INVALID_WINDOW: Duration = Duration::from_secs(600);

/// This process's view of Discord's global rate limit and of its invalid requests.
#[derive(Clone, Default)]
pub struct RateLimits {
    global_until: Arc<Mutex<Option<Instant>>>,
    invalid: Arc<std::sync::Mutex<InvalidRequests>>,
}

/// When this process's recent invalid requests were answered, oldest first.
#[derive(Default)]
struct InvalidRequests(std::collections::VecDeque<Instant>);

impl InvalidRequests {
    fn record(&mut self, now: Instant) {
        self.forget(now);
        self.0.push_back(now);
    }

    fn forget(&mut self, now: Instant) {
        while self
            .0
            .front()
            .is_some_and(|t| now.duration_since(*t) >= INVALID_WINDOW)
        {
            self.0.pop_front();
        }
    }

    fn count(&mut self, now: Instant) -> usize {
        self.forget(now);
        self.0.len()
    }
}

/// Why a Discord call failed.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error("Discord refused the request: {0}")]
    Discord(#[from] twilight_http::Error),
    #[error(
        "still rate limited by Discord (after {ATTEMPTS} attempts, or for longer than {MAX_WAIT:?})"
    )]
    RateLimited,
    #[error(
        "not sent: {BRAKE_AT} or more invalid requests in the last ten minutes; only answers \
         to users go out until they age out"
    )]
    Braked,
    #[error("Discord's answer could not be read: {0}")]
    Body(#[from] twilight_http::response::DeserializeBodyError),
    #[error("not a Discord id (zero)")]
    NoSuchId,
}

impl RestError {
    /// The HTTP status Discord answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Discord(e) => match e.kind() {
                ErrorType::Response { status, .. } => Some(status.get()),
                _ => None,
            },
            _ => None,
        }
    }

    /// Discord's JSON error code (10008 Unknown Message, 50013 Missing Permissions, …), if
    /// it answered with one.
    pub fn code(&self) -> Option<u64> {
        match self {
            Self::Discord(e) => match e.kind() {
                ErrorType::Response {
                    error: ApiError::General(g),
                    ..
                } => Some(g.code),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Discord's code for a message that does not exist (deleted).
pub const UNKNOWN_MESSAGE: u64 = 10008;

impl RateLimits {
    /// Runs `call` until it is not rate limited (at most [`ATTEMPTS`] times), waiting
    /// while this process is globally rate limited.
    pub async fn send<T, F, Fut>(&self, call: F) -> Result<T, RestError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, twilight_http::Error>>,
    {
        self.send_inner(call, true).await
    }

    /// [`Self::send`] for interaction callbacks and edits, which Discord does not count
    /// against the bot's global limit: a global 429 from posting must not make a first
    /// response miss its 3 s deadline.
    pub async fn send_unheld<T, F, Fut>(&self, call: F) -> Result<T, RestError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, twilight_http::Error>>,
    {
        self.send_inner(call, false).await
    }

    /// Invalid requests (401, 403, 404, 429) answered in the last ten minutes.
    pub fn invalid_requests(&self) -> usize {
        self.invalid
            .lock()
            .map(|mut i| i.count(Instant::now()))
            .unwrap_or(0)
    }

    fn count_invalid(&self, error: &twilight_http::Error) {
        if let ErrorType::Response { status, .. } = error.kind()
            && matches!(status.get(), 401 | 403 | 404 | 429)
            && let Ok(mut invalid) = self.invalid.lock()
        {
            invalid.record(Instant::now());
        }
    }

    async fn send_inner<T, F, Fut>(&self, mut call: F, held: bool) -> Result<T, RestError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, twilight_http::Error>>,
    {
        if held && self.invalid_requests() >= BRAKE_AT {
            return Err(RestError::Braked);
        }
        for _ in 0..ATTEMPTS {
            let until = *self.global_until.lock().await;
            if let Some(until) = until.filter(|_| held) {
                tokio::time::sleep_until(until).await;
            }
            let error = match call().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            self.count_invalid(&error);
            let ErrorType::Response {
                error: ApiError::Ratelimited(limit),
                ..
            } = error.kind()
            else {
                return Err(error.into());
            };
            let Some(wait) = Duration::try_from_secs_f64(limit.retry_after)
                .ok()
                .filter(|w| *w <= MAX_WAIT)
            else {
                return Err(RestError::RateLimited);
            };
            tracing::warn!(
                retry_after_ms = wait.as_millis() as u64,
                global = limit.global,
                "rate limited by Discord; waiting"
            );
            if limit.global {
                let until = Instant::now() + wait;
                let mut global = self.global_until.lock().await;
                if global.is_none_or(|g| g < until) {
                    *global = Some(until);
                }
            }
            // The global wait happens at the top of the loop for held calls.
            if !limit.global || !held {
                tokio::time::sleep(wait).await;
            }
        }
        Err(RestError::RateLimited)
    }
}

/// How often a process reports its invalid requests of the last ten minutes to the
/// collector (while there are any, and once more when they are gone): Discord's ban counts
/// every process of the bot on one address, so only the collector sees the sum.
pub const INVALID_REPORT_EVERY: Duration = Duration::from_secs(60);

/// Reports this process's invalid requests to telemetry (kind `discord.invalid_requests`,
/// attribute `count`, informational: not an error) every [`INVALID_REPORT_EVERY`] while
/// there are any, and a last 0 when they are gone, until shutdown.
pub async fn report_invalid_requests(
    limits: RateLimits,
    telemetry: tower_daemon::telemetry::Telemetry,
    shutdown: tower_daemon::shutdown::Shutdown,
) {
    let mut tick = tokio::time::interval(INVALID_REPORT_EVERY);
    let mut reported = false;
    loop {
        tokio::select! {
            () = shutdown.wait() => return,
            _ = tick.tick() => {}
        }
        let count = limits.invalid_requests();
        if count == 0 && !reported {
            continue;
        }
        reported = count > 0;
        if count >= BRAKE_AT / 2 {
            tracing::warn!(
                count,
                "many invalid Discord requests in the last ten minutes"
            );
        }
        telemetry.report(tower_proto::v1::TelemetryEvent {
            level: tower_proto::v1::Level::Info as i32,
            kind: "discord.invalid_requests".to_owned(),
            message: format!(
                "{count} invalid requests (401, 403, 404, 429) in the last ten minutes"
            ),
            location: "gateway_shard::rest".to_owned(),
            attributes: [("count".to_owned(), count.to_string())].into(),
            ..Default::default()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_requests_age_out_of_the_ten_minute_window() {
        let mut invalid = InvalidRequests::default();
        let start = Instant::now();
        for i in 0..5 {
            invalid.record(start + Duration::from_secs(i * 100));
        }
        assert_eq!(invalid.count(start + Duration::from_secs(450)), 5);
        // The first two (at 0 s and 100 s) are ten minutes old at 700 s.
        assert_eq!(invalid.count(start + Duration::from_secs(700)), 3);
        assert_eq!(invalid.count(start + Duration::from_secs(2000)), 0);
    }

    #[tokio::test]
    async fn past_the_brake_only_answers_to_users_go_out() {
        let limits = RateLimits::default();
        if let Ok(mut invalid) = limits.invalid.lock() {
            for _ in 0..BRAKE_AT {
                invalid.record(Instant::now());
            }
        }
        let held = limits
            .send(|| async { Ok::<_, twilight_http::Error>(()) })
            .await;
        assert!(matches!(held, Err(RestError::Braked)), "{held:?}");
        let answer = limits
            .send_unheld(|| async { Ok::<_, twilight_http::Error>(()) })
            .await;
        assert!(answer.is_ok());
    }
}
