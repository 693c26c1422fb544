//! Inter-process auth: a token per role.
//!
//! Every tower.v1 call carries `authorization: Bearer <token>`, the calling process's own
//! token (config `[auth] token`). A server knows its callers by the SHA-256 of their
//! tokens (`[auth.callers]`, by [`Role`]), never the tokens themselves, so no process holds
//! a token that lets it call as another role. Servers wrap each tower.v1 service in
//! [`RequireToken`] naming the roles that may call it (the sftp-worker: the gateway; the
//! collector: the gateway and the workers), and put the caller's [`Role`] in the request's
//! extensions for finer checks ([`caller`]). Clients wrap their channel in
//! [`AttachToken`]. A deployment that configures no callers runs on one shared token:
//! every process accepts its own token as any role (roles cannot be told apart). The
//! standard gRPC health service stays open so orchestrators can probe it without a token.

use std::fmt;
use std::sync::Arc;

use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tonic::service::Interceptor;
use tonic::{Request, Status};

const HEADER: &str = "authorization";

/// Who calls: the kind of process a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A gateway-shard: calls the workers and the collector.
    Gateway,
    /// An sftp-worker: reports to the collector.
    Worker,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Gateway => "gateway",
            Role::Worker => "worker",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A process's own token. `Debug` never shows it.
#[derive(Clone)]
pub struct AuthToken {
    header: AsciiMetadataValue,
    digest: [u8; 32],
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
        Ok(Self {
            header,
            digest: digest(token.as_bytes()),
        })
    }

    /// A new random token (24 bytes, in hex).
    pub fn generate() -> Result<String, String> {
        let mut bytes = [0u8; 24];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
            .map_err(|_| "no randomness available for a token".to_owned())?;
        Ok(tower_ingest::hex::encode(&bytes))
    }

    /// The SHA-256 of the token, in hex: what its callees are configured with.
    pub fn sha256_hex(&self) -> String {
        tower_ingest::hex::encode(&self.digest)
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The SHA-256 (hex) of a caller's token, as configured in `[auth.callers]`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenDigest([u8; 32]);

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenDigest({})", tower_ingest::hex::encode(&self.0))
    }
}

impl TokenDigest {
    /// 64 hex digits.
    pub fn parse_hex(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bytes: Option<Vec<u8>> = (text.len() == 64)
            .then(|| {
                (0..32)
                    .map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok())
                    .collect()
            })
            .flatten();
        let mut out = [0u8; 32];
        match bytes {
            Some(b) => {
                out.copy_from_slice(&b);
                Ok(Self(out))
            }
            None => Err(
                "a caller's token digest must be the SHA-256 of its token: 64 hex digits \
                 (`towerctl token` prints both)"
                    .to_owned(),
            ),
        }
    }
}

/// Which tokens belong to which role, as a server sees its callers.
#[derive(Clone, Debug)]
pub struct Callers {
    digests: Vec<(Role, [u8; 32])>,
    /// No callers configured: one token for every role.
    shared: bool,
}

impl Callers {
    /// From `[auth.callers]`.
    pub fn configured(configured: &[(Role, TokenDigest)]) -> Self {
        Self {
            digests: configured.iter().map(|(r, d)| (*r, d.0)).collect(),
            shared: false,
        }
    }

    /// With no callers configured: `own` is accepted as every role (one shared token).
    pub fn shared_token(own: &AuthToken) -> Self {
        Self {
            digests: vec![(Role::Gateway, own.digest)],
            shared: true,
        }
    }

    /// True when the roles cannot be told apart (one shared token).
    pub fn shared(&self) -> bool {
        self.shared
    }

    /// The role of the token a call carries.
    fn role_of(&self, metadata: &MetadataMap) -> Option<Role> {
        let got = metadata.get(HEADER)?.to_str().ok()?;
        let token = got.strip_prefix("Bearer ")?;
        let d = digest(token.as_bytes());
        // Every role compared, without an early exit: the time taken tells nothing.
        self.digests.iter().fold(None, |found, (role, want)| {
            if constant_time_eq(&d, want) && found.is_none() {
                Some(*role)
            } else {
                found
            }
        })
    }
}

/// Compares without an early exit, so response time does not leak how much of a guess
/// was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Server side: refuses a call without a known token with `UNAUTHENTICATED`, and one of a
/// role not allowed here with `PERMISSION_DENIED`; puts the caller's [`Role`] in the
/// request's extensions.
#[derive(Clone, Debug)]
pub struct RequireToken {
    callers: Arc<Callers>,
    allowed: &'static [Role],
}

impl RequireToken {
    pub fn new(callers: Callers, allowed: &'static [Role]) -> Self {
        Self {
            callers: Arc::new(callers),
            allowed,
        }
    }
}

impl Interceptor for RequireToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let Some(role) = self.callers.role_of(request.metadata()) else {
            return Err(Status::unauthenticated(
                "missing or unknown inter-process auth token (authorization: Bearer …)",
            ));
        };
        // With one shared token the caller may be any role: it is allowed as the first
        // role allowed here.
        let role = if self.callers.shared() {
            self.allowed.first().copied().unwrap_or(role)
        } else {
            role
        };
        if !self.allowed.contains(&role) {
            return Err(Status::permission_denied(format!(
                "a {role} token may not call this service"
            )));
        }
        request.extensions_mut().insert(role);
        Ok(request)
    }
}

/// The role [`RequireToken`] found for a request.
pub fn caller<T>(request: &Request<T>) -> Option<Role> {
    request.extensions().get::<Role>().copied()
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

    fn digest_of(t: &AuthToken) -> TokenDigest {
        TokenDigest::parse_hex(&t.sha256_hex()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn carrying(t: &str) -> Request<()> {
        AttachToken::new(token(t))
            .call(Request::new(()))
            .unwrap_or_else(|s| panic!("{s}"))
    }

    #[test]
    fn short_or_odd_tokens_are_refused() {
        assert!(AuthToken::new("short").is_err());
        assert!(AuthToken::new("has a space in it!!").is_err());
        assert!(AuthToken::new("0123456789abcdef").is_ok());
        assert!(TokenDigest::parse_hex("abc").is_err());
    }

    #[test]
    fn each_role_calls_only_what_it_may() {
        let gateway = token("gateway-0123456789abcdef");
        let worker = token("worker-0123456789abcdef");
        let callers = Callers::configured(&[
            (Role::Gateway, digest_of(&gateway)),
            (Role::Worker, digest_of(&worker)),
        ]);
        let mut worker_api = RequireToken::new(callers.clone(), &[Role::Gateway]);
        let code = |r: Result<Request<()>, Status>| r.err().map(|s| s.code());
        assert_eq!(
            code(worker_api.call(Request::new(()))),
            Some(tonic::Code::Unauthenticated)
        );
        assert_eq!(
            code(worker_api.call(carrying("someone-else-0123456789"))),
            Some(tonic::Code::Unauthenticated)
        );
        assert_eq!(
            code(worker_api.call(carrying("worker-0123456789abcdef"))),
            Some(tonic::Code::PermissionDenied)
        );
        let allowed = worker_api.call(carrying("gateway-0123456789abcdef"));
        assert_eq!(allowed.as_ref().ok().and_then(caller), Some(Role::Gateway));

        let mut collector = RequireToken::new(callers, &[Role::Gateway, Role::Worker]);
        let reported = collector.call(carrying("worker-0123456789abcdef"));
        assert_eq!(reported.as_ref().ok().and_then(caller), Some(Role::Worker));
    }

    #[test]
    fn one_shared_token_is_every_role() {
        let shared = token("0123456789abcdef");
        let mut require = RequireToken::new(Callers::shared_token(&shared), &[Role::Gateway]);
        assert!(require.call(carrying("0123456789abcdef")).is_ok());
        assert!(require.call(carrying("fedcba9876543210")).is_err());
    }

    #[test]
    fn debug_output_hides_the_token() {
        assert_eq!(
            format!("{:?}", token("0123456789abcdef")),
            "AuthToken([redacted])"
        );
    }
}
