//! `towerctl health ADDR`: asks a daemon's standard gRPC health service (served without a
//! token) whether it serves, so a container healthcheck or a probe needs no other binary.

use std::time::Duration;

use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// `Ok` when the daemon at `addr` answers SERVING within `timeout`; otherwise why not.
pub fn check(addr: &str, timeout: Duration) -> Result<(), String> {
    let url = if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("http://{addr}")
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let status = runtime.block_on(async {
        let endpoint = Endpoint::from_shared(url.clone())
            .map_err(|e| format!("{addr} is not an address: {e}"))?
            .connect_timeout(timeout)
            .timeout(timeout);
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| format!("{url}: no answer ({e})"))?;
        HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map(|r| r.into_inner().status())
            .map_err(|e| format!("{url}: health check refused ({})", e.message()))
    })?;
    if status == ServingStatus::Serving {
        println!("{addr}: SERVING");
        Ok(())
    } else {
        Err(format!("{addr}: {}", status.as_str_name()))
    }
}
