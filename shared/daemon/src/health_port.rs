//! The health port: the standard gRPC health service alone, in plaintext, on an address of
//! its own (`[health] listen`, `TOWER_HEALTH_LISTEN`; off unless set). Probes that cannot
//! speak TLS use it: Kubernetes' gRPC probes and `towerctl health` in a container
//! healthcheck. It answers whether the daemon serves and nothing else (no tower.v1 service,
//! no data), so unlike the main gRPC port it may listen beyond loopback without TLS.

use std::net::SocketAddr;

use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;
use tonic_health::pb::health_server::{Health, HealthServer};

use crate::shutdown::Shutdown;
use crate::startup::StartError;

/// Binds `listen` (when set) and serves `health` there until `shutdown`; the bound address.
pub async fn spawn<H: Health>(
    listen: Option<SocketAddr>,
    health: HealthServer<H>,
    shutdown: Shutdown,
) -> Result<Option<SocketAddr>, StartError> {
    let Some(listen) = listen else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: listen,
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| StartError::Listen {
        addr: listen,
        source,
    })?;
    tracing::info!(addr = %bound, "health port listening");
    tokio::spawn(async move {
        let served = Server::builder()
            .add_service(health)
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown.wait_owned())
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "the health port stopped");
        }
    });
    Ok(Some(bound))
}
