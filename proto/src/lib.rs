//! The gRPC contracts between Tower of Temptation's processes, version `tower.v1`.
//!
//! - [`v1::sftp_worker_server`] / [`v1::sftp_worker_client`]: the sftp-worker's API (test a
//!   server, list files, server status, backfill with progress, the notification stream).
//! - [`v1::telemetry_collector_server`] / [`v1::telemetry_collector_client`]: error and event
//!   reports, and the diagnostics queries behind `/debug`.
//!
//! The `.proto` sources live in `proto/tower/v1/`; they are the reference. A breaking change
//! gets a new package (`tower.v2`), never an edit in place.

/// `tower.v1`: generated messages, clients and servers.
pub mod v1 {
    tonic::include_proto!("tower.v1");

    impl BackfillProgress {
        /// Done or failed: no progress follows.
        pub fn has_ended(&self) -> bool {
            self.state == BackfillState::Done as i32 || self.state == BackfillState::Failed as i32
        }
    }
}
