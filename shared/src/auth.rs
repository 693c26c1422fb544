//! The inter-process auth token.
//!
//! Every tower.v1 call carries `authorization: Bearer <token>`, a secret shared by all the
//! processes of one deployment (config `[auth]`). Servers wrap each tower.v1 service in
//! [`RequireToken`]; clients wrap their channel in [`AttachToken`]. The standard gRPC health
//! service stays open so orchestrators can probe it without the secret.

use std::fmt;
use std::sync::Arc;

use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tonic::service::Interceptor;
use tonic::{Request, Status};

const HEADER: &str = "authorization";

/// The shared secret. `Debug` never shows it.
#[derive(Clone)]
pub struct AuthToken {
    header: AsciiMetadataValue,
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthToken([redacted])")
    }
}

impl AuthToken {
    pub const MIN_LEN: usize = 16;

    /// At least [`Self::MIN_LEN`] visible ASCII characters, so it fits a header and is not
    /// guessable by accident.
    pub fn new(token: &str) -> Result<Self, String> {
        if token.len() < Self::MIN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "the inter-process auth token must be at least {} visible ASCII characters",
                Self::MIN_LEN
            ));
        }
        let header = format!("Bearer {token}")
            .parse()
            .map_err(|_| "the inter-process auth token is not a valid header value".to_owned())?;
        Ok(Self { header })
    }

    fn matches(&self, metadata: &MetadataMap) -> bool {
        metadata
            .get(HEADER)
            .is_some_and(|got| constant_time_eq(got.as_bytes(), self.header.as_bytes()))
    }
}

/// Compares without an early exit, so response time does not leak how much of a guess
/// was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Server side: refuses a call without the token with `UNAUTHENTICATED`.
#[derive(Clone, Debug)]
pub struct RequireToken(Arc<AuthToken>);

impl RequireToken {
    pub fn new(token: AuthToken) -> Self {
        Self(Arc::new(token))
    }
}

impl Interceptor for RequireToken {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        if self.0.matches(request.metadata()) {
            Ok(request)
        } else {
            Err(Status::unauthenticated(
                "missing or wrong inter-process auth token (authorization: Bearer …)",
            ))
        }
    }
}

/// Client side: adds the token to every call.
#[derive(Clone, Debug)]
pub struct AttachToken(AuthToken);

impl AttachToken {
    pub fn new(token: AuthToken) -> Self {
        Self(token)
    }
}

impl Interceptor for AttachToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request.metadata_mut().insert(HEADER, self.0.header.clone());
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(s: &str) -> AuthToken {
        AuthToken::new(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn short_or_odd_tokens_are_refused() {
        assert!(AuthToken::new("short").is_err());
        assert!(AuthToken::new("has a space in it!!").is_err());
        assert!(AuthToken::new("0123456789abcdef").is_ok());
    }

    #[test]
    fn calls_need_the_right_token() {
        let mut require = RequireToken::new(token("0123456789abcdef"));
        assert_eq!(
            require.call(Request::new(())).map_err(|s| s.code()).err(),
            Some(tonic::Code::Unauthenticated)
        );
        let mut wrong = AttachToken::new(token("fedcba9876543210"));
        let req = wrong
            .call(Request::new(()))
            .unwrap_or_else(|s| panic!("{s}"));
        assert!(require.call(req).is_err());
        let mut right = AttachToken::new(token("0123456789abcdef"));
        let req = right
            .call(Request::new(()))
            .unwrap_or_else(|s| panic!("{s}"));
        assert!(require.call(req).is_ok());
    }

    #[test]
    fn debug_output_hides_the_token() {
        assert_eq!(
            format!("{:?}", token("0123456789abcdef")),
            "AuthToken([redacted])"
        );
    }
}
