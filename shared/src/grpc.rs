//! Serving and calling tower.v1 services the same way in every process.
//!
//! Servers: [`bind`] the listener (logging the bound address, which the test harness reads
//! when asked for port 0), build with [`server`], add the health service unwrapped and every
//! tower.v1 service behind [`crate::auth::RequireToken`]. Clients: [`worker_client`] and
//! [`collector_client`] give lazily-connecting clients that attach the token.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint, Server};
use tower::layer::util::{Identity, Stack};
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_proto::v1::sftp_worker_client::SftpWorkerClient;
use tower_proto::v1::telemetry_collector_client::TelemetryCollectorClient;

use crate::auth::{AttachToken, AuthToken};

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

/// The server settings every process uses.
pub fn server() -> Server<Stack<GlobalConcurrencyLimitLayer, Identity>> {
    Server::builder()
        .tcp_nodelay(true)
        .concurrency_limit_per_connection(256)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .layer(GlobalConcurrencyLimitLayer::new(MAX_CONCURRENT_CALLS))
}

/// A channel to `url` that connects on first use and reconnects after failures.
pub fn channel(url: &str) -> Result<Channel, tonic::transport::Error> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true)
        .connect_lazy())
}

pub fn worker_client(
    url: &str,
    token: &AuthToken,
) -> Result<SftpWorkerClient<AuthedChannel>, tonic::transport::Error> {
    Ok(SftpWorkerClient::with_interceptor(
        channel(url)?,
        AttachToken::new(token.clone()),
    ))
}

pub fn collector_client(
    url: &str,
    token: &AuthToken,
) -> Result<TelemetryCollectorClient<AuthedChannel>, tonic::transport::Error> {
    Ok(TelemetryCollectorClient::with_interceptor(
        channel(url)?,
        AttachToken::new(token.clone()),
    ))
}

/// How often a daemon re-checks MongoDB for its health status.
pub const HEALTH_CHECK_EVERY: Duration = Duration::from_secs(5);

/// Whether MongoDB answers, re-checked every [`HEALTH_CHECK_EVERY`] until shutdown: `true`
/// at first (the daemon has just connected), then each change.
pub fn watch_database(
    db: crate::db::Database,
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
    db: crate::db::Database,
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
