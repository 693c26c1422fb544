//! The sftp-worker's parts, as a library so its binary, tests and benchmarks share them.
//!
//! - [`connection`]: an SSH connection and its SFTP session, host key pinned.
//! - [`sftp_source`]: SFTP as a byte source for the incremental reader; [`read_ahead`]:
//!   its reads, pipelined so a far-away server is read at the link's speed.
//! - [`discovery`]: finding a server's killfeed folders and log.
//! - [`pool`]: per-guild connection quotas and kept connections; [`slots`]: the quota
//!   held across every worker; [`handshakes`]: how many connections open at once, per
//!   host and in all.
//! - [`breaker`]: backing off failing servers; [`budget`]: a guild's ingest per hour.
//! - [`lease`]: which worker polls which server.
//! - [`poller`]: polling every held server into statistics and the outbox.
//! - [`status`]: what each poll did, written to `server_status` in batches.
//! - [`service`]: the tower.v1.SftpWorker gRPC service.

pub mod breaker;
pub mod budget;
pub mod connection;
pub mod discovery;
pub mod handshakes;
pub mod lease;
pub mod poller;
pub mod pool;
pub mod read_ahead;
pub mod service;
pub mod sftp_source;
pub mod slots;
pub mod status;
