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

/// This process's view of Discord's global rate limit.
#[derive(Clone, Default)]
pub struct RateLimits {
    global_until: Arc<Mutex<Option<Instant>>>,
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
}

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

    async fn send_inner<T, F, Fut>(&self, mut call: F, held: bool) -> Result<T, RestError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, twilight_http::Error>>,
    {
        for _ in 0..ATTEMPTS {
            let until = *self.global_until.lock().await;
            if let Some(until) = until.filter(|_| held) {
                tokio::time::sleep_until(until).await;
            }
            let error = match call().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
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
