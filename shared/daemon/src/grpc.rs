//! Serving and calling tower.v1 services the same way in every process.
//!
//! Servers: [`bind`] the listener (logging the bound address, which the test harness reads
//! when asked for port 0), build with [`server`] (TLS when the process has a certificate;
//! plaintext only on loopback unless the operator allows it), add the health service
//! unwrapped and every tower.v1 service behind [`ServerSecurity::require`]. Clients:
//! [`worker_client`] and [`collector_client`] give lazily-connecting clients that attach
//! the process's token, over TLS for `https://` URLs (checked against `tls.ca_file`) and in
//! plaintext for `http://` ones only to loopback unless allowed.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{
    Certificate, Channel, ClientTlsConfig, Endpoint, Identity, Server, ServerTlsConfig,
};
use tower::layer::util::Stack;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_proto::v1::sftp_worker_client::SftpWorkerClient;
use tower_proto::v1::telemetry_collector_client::TelemetryCollectorClient;

use crate::auth::{AttachToken, AuthToken, Callers, RequireToken, Role};
use crate::config::{Config, ConfigError, read_file};

/// Calls in progress at once across all connections of one process; more wait their turn
/// rather than exhaust memory.
pub const MAX_CONCURRENT_CALLS: usize = 1024;

/// A channel that adds the auth token to every call.
pub type AuthedChannel = InterceptedService<Channel, AttachToken>;

/// Binds `addr` and logs the address actually bound (`addr` may ask for port 0).
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tracing::info!(addr = %bound, "gRPC listening");
    Ok((listener, bound))
}

/// Why gRPC could not be served or called as configured.
#[derive(Debug, thiserror::Error)]
pub enum GrpcError {
    #[error("{0}")]
    Transport(#[from] tonic::transport::Error),
    #[error(
        "{what} would be plaintext beyond loopback; give this process a certificate ([tls] \
         cert_file and key_file, or https:// URLs with tls.ca_file), or set \
         tls.allow_plaintext = true for a private network you trust"
    )]
    Plaintext { what: String },
    #[error("{0}")]
    Tls(String),
}

impl GrpcError {
    /// A short machine name, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Transport(_) => "transport",
            Self::Plaintext { .. } => "plaintext",
            Self::Tls(_) => "tls",
        }
    }
}

/// How a process serves: its TLS identity, and who may call it.
#[derive(Clone, Debug)]
pub struct ServerSecurity {
    pub callers: Callers,
    pub identity: Option<Identity>,
    pub allow_plaintext: bool,
}

impl ServerSecurity {
    /// From `[auth]` and `[tls]`: who may call this process, and its TLS identity.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let configured = config.auth_callers()?;
        // A process that knows its callers needs no token of its own to serve them.
        let callers = if configured.is_empty() {
            Callers::shared_token(&config.auth_token()?)
        } else {
            Callers::configured(&configured)
        };
        let identity = match (&config.tls.cert_file, &config.tls.key_file) {
            (Some(cert), Some(key)) => Some(Identity::from_pem(read_file(cert)?, read_file(key)?)),
            (None, None) => None,
            _ => {
                return Err(ConfigError::Invalid(
                    "tls.cert_file and tls.key_file go together".into(),
                ));
            }
        };
        Ok(Self {
            callers,
            identity,
            allow_plaintext: config.tls.allow_plaintext,
        })
    }

    /// The interceptor for a tower.v1 service that `allowed` roles may call.
    pub fn require(&self, allowed: &'static [Role]) -> RequireToken {
        if self.callers.shared() {
            tracing::warn!(
                "no [auth.callers]: one token for every role, so roles cannot be told apart \
                 (see deploy/tower.example.toml)"
            );
        }
        RequireToken::new(self.callers.clone(), allowed)
    }
}

/// How a process calls others: its own token, and the CA it trusts for `https://`.
#[derive(Clone, Debug)]
pub struct ClientSecurity {
    pub token: AuthToken,
    pub ca: Option<Certificate>,
    pub allow_plaintext: bool,
}

impl ClientSecurity {
    /// From `[auth]` and `[tls]`: this process's own token, and the CA it trusts.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        Ok(Self {
            token: config.auth_token()?,
            ca: match &config.tls.ca_file {
                Some(path) => Some(Certificate::from_pem(read_file(path)?)),
                None => None,
            },
            allow_plaintext: config.tls.allow_plaintext,
        })
    }

    /// Plaintext only (to loopback), with `token`.
    pub fn plaintext(token: AuthToken) -> Self {
        Self {
            token,
            ca: None,
            allow_plaintext: false,
        }
    }
}

/// The server settings every process uses, serving on `listen`: TLS with the process's
/// certificate; plaintext only on a loopback address unless allowed.
pub fn server(
    security: &ServerSecurity,
    listen: SocketAddr,
) -> Result<Server<Stack<GlobalConcurrencyLimitLayer, tower::layer::util::Identity>>, GrpcError> {
    let mut builder = Server::builder();
    match &security.identity {
        Some(identity) => {
            builder = builder.tls_config(ServerTlsConfig::new().identity(identity.clone()))?;
        }
        None if !listen.ip().is_loopback() && !security.allow_plaintext => {
            return Err(GrpcError::Plaintext {
                what: format!("serving gRPC on {listen}"),
            });
        }
        None => {}
    }
    Ok(builder
        .tcp_nodelay(true)
        .concurrency_limit_per_connection(256)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .layer(GlobalConcurrencyLimitLayer::new(MAX_CONCURRENT_CALLS)))
}

/// A channel to `url` that connects on first use and reconnects after failures: TLS for
/// `https://` (the server's certificate checked against the configured CA and the URL's
/// host), plaintext for `http://` to loopback (or anywhere, if allowed).
pub fn channel(url: &str, security: &ClientSecurity) -> Result<Channel, GrpcError> {
    let mut endpoint = Endpoint::from_shared(url.to_owned())?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true);
    let uri = endpoint.uri().clone();
    let host = uri.host().unwrap_or_default().to_owned();
    match uri.scheme_str() {
        Some("https") => {
            let ca = security.ca.clone().ok_or_else(|| {
                GrpcError::Tls(format!(
                    "{url} is https:// but no CA is configured to check it (tls.ca_file)"
                ))
            })?;
            endpoint = endpoint.tls_config(
                ClientTlsConfig::new()
                    .ca_certificate(ca)
                    .domain_name(host.trim_matches(['[', ']'])),
            )?;
        }
        _ if !is_loopback_host(&host) && !security.allow_plaintext => {
            return Err(GrpcError::Plaintext {
                what: format!("calling {url}"),
            });
        }
        _ => {}
    }
    Ok(endpoint.connect_lazy())
}

/// Whether `url`'s host is loopback (plaintext is allowed to it).
pub fn is_loopback_url(url: &str) -> bool {
    url.parse::<tonic::codegen::http::Uri>()
        .ok()
        .and_then(|u| u.host().map(is_loopback_host))
        .unwrap_or(false)
}

/// `localhost`, or an address in 127.0.0.0/8 or `::1`.
fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub fn worker_client(
    url: &str,
    security: &ClientSecurity,
) -> Result<SftpWorkerClient<AuthedChannel>, GrpcError> {
    Ok(SftpWorkerClient::with_interceptor(
        channel(url, security)?,
        AttachToken::new(security.token.clone()),
    ))
}

pub fn collector_client(
    url: &str,
    security: &ClientSecurity,
) -> Result<TelemetryCollectorClient<AuthedChannel>, GrpcError> {
    Ok(TelemetryCollectorClient::with_interceptor(
        channel(url, security)?,
        AttachToken::new(security.token.clone()),
    ))
}

/// How often a daemon re-checks MongoDB for its health status.
pub const HEALTH_CHECK_EVERY: Duration = Duration::from_secs(5);

/// Whether MongoDB answers, re-checked every [`HEALTH_CHECK_EVERY`] until shutdown: `true`
/// at first (the daemon has just connected), then each change.
pub fn watch_database(
    db: tower_store::db::Database,
    shutdown: crate::shutdown::Shutdown,
) -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(true);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(HEALTH_CHECK_EVERY);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = shutdown.wait() => return,
            }
            let ok = tokio::time::timeout(HEALTH_CHECK_EVERY, db.ping())
                .await
                .is_ok_and(|r| r.is_ok());
            if *tx.borrow() != ok {
                if ok {
                    tracing::info!("MongoDB reachable again");
                } else {
                    tracing::warn!("MongoDB unreachable");
                }
                if tx.send(ok).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// Keeps the overall health status ("") in step with MongoDB: NOT_SERVING while pings
/// fail, SERVING again when they succeed. Ends at shutdown.
pub async fn track_database_health(
    db: tower_store::db::Database,
    health: tonic_health::server::HealthReporter,
    shutdown: crate::shutdown::Shutdown,
) {
    use tonic_health::ServingStatus;
    let mut reachable = watch_database(db, shutdown.clone());
    loop {
        tokio::select! {
            changed = reachable.changed() => if changed.is_err() { return },
            () = shutdown.wait() => return,
        }
        let status = if *reachable.borrow_and_update() {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        health.set_service_status("", status).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn security() -> ClientSecurity {
        let token = AuthToken::new("0123456789abcdef").unwrap_or_else(|e| panic!("{e}"));
        ClientSecurity::plaintext(token)
    }

    #[tokio::test]
    async fn plaintext_goes_only_to_loopback_unless_allowed() {
        let mut s = security();
        for url in ["http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1"] {
            assert!(channel(url, &s).is_ok(), "{url}");
        }
        assert!(matches!(
            channel("http://10.0.0.5:50052", &s),
            Err(GrpcError::Plaintext { .. })
        ));
        assert!(matches!(
            channel("https://worker.internal:50052", &s),
            Err(GrpcError::Tls(_))
        ));
        s.allow_plaintext = true;
        assert!(channel("http://10.0.0.5:50052", &s).is_ok());
    }

    #[test]
    fn serving_in_plaintext_beyond_loopback_is_refused() {
        let token = AuthToken::new("0123456789abcdef").unwrap_or_else(|e| panic!("{e}"));
        let mut security = ServerSecurity {
            callers: Callers::shared_token(&token),
            identity: None,
            allow_plaintext: false,
        };
        let open = SocketAddr::from(([0, 0, 0, 0], 50052));
        assert!(matches!(
            server(&security, open),
            Err(GrpcError::Plaintext { .. })
        ));
        assert!(server(&security, SocketAddr::from(([127, 0, 0, 1], 50052))).is_ok());
        security.allow_plaintext = true;
        assert!(server(&security, open).is_ok());
    }
}
