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
    #[error("Discord's response could not be read: {0}")]
    Body(#[from] twilight_http::response::DeserializeBodyError),
    #[error("still rate limited by Discord after {ATTEMPTS} attempts")]
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
    /// Runs `call` until it is not rate limited (at most [`ATTEMPTS`] times).
    pub async fn send<T, F, Fut>(&self, mut call: F) -> Result<T, RestError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, twilight_http::Error>>,
    {
        for _ in 0..ATTEMPTS {
            let held = *self.global_until.lock().await;
            if let Some(until) = held {
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
            let wait = Duration::try_from_secs_f64(limit.retry_after)
                .unwrap_or(MAX_WAIT)
                .min(MAX_WAIT);
            tracing::warn!(
                retry_after_ms = wait.as_millis() as u64,
                global = limit.global,
                "rate limited by Discord; waiting"
            );
            if limit.global {
                let until = Instant::now() + wait;
                let mut held = self.global_until.lock().await;
                if held.is_none_or(|h| h < until) {
                    *held = Some(until);
                }
            } else {
                tokio::time::sleep(wait).await;
            }
        }
        Err(RestError::RateLimited)
    }
}
