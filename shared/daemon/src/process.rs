//! Who this process is, and its registration in MongoDB.
//!
//! Each daemon registers in `processes` at start and refreshes `last_seen` every
//! [`HEARTBEAT`]; on a clean stop it records `stopped_at`. Operators (and later, the
//! worker leases) read liveness from there.

use std::time::Duration;

use mongodb::bson::{DateTime, Document, doc};
use tower_proto::v1::{ProcessInfo, ProcessKind};

use crate::shutdown::Shutdown;
use tower_store::db::{Database, DbError, collections};
use tower_store::schema::SCHEMA_VERSION;

pub const HEARTBEAT: Duration = Duration::from_secs(10);
/// The longest a stopping process waits to record its stop.
const STOP_RECORD_WAIT: Duration = Duration::from_secs(3);

/// This process.
#[derive(Debug, Clone)]
pub struct ProcessIdentity {
    pub kind: ProcessKind,
    /// Unique per running process: `<kind>-<host>-<pid>-<random>`.
    pub instance: String,
    pub host: String,
}

impl ProcessIdentity {
    pub fn new(kind: ProcessKind) -> Self {
        let host = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|h| h.trim().to_owned())
            })
            .unwrap_or_else(|| "localhost".to_owned());
        let mut nonce = [0u8; 3];
        // A failed random read only makes the suffix less unique; the pid still separates us.
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce);
        let suffix = tower_ingest::hex::encode(&nonce);
        let instance = format!("{}-{host}-{}-{suffix}", kind_name(kind), std::process::id());
        Self {
            kind,
            instance,
            host,
        }
    }

    pub fn to_proto(&self) -> ProcessInfo {
        ProcessInfo {
            kind: self.kind as i32,
            instance: self.instance.clone(),
            version: crate::VERSION.to_owned(),
            host: self.host.clone(),
        }
    }

    pub fn kind_name(&self) -> &'static str {
        kind_name(self.kind)
    }
}

/// The name a process kind goes by in logs, documents and binaries.
pub fn kind_name(kind: ProcessKind) -> &'static str {
    match kind {
        ProcessKind::GatewayShard => "gateway-shard",
        ProcessKind::SftpWorker => "sftp-worker",
        ProcessKind::TelemetryCollector => "telemetry-collector",
        ProcessKind::Towerctl => "towerctl",
        ProcessKind::Unspecified => "unknown",
    }
}

/// Registers the process, then keeps its heartbeat until shutdown, then records the stop.
/// `details` describes what this process serves (listen address, shard range, …). Await
/// the returned task before exiting so the stop is recorded.
pub async fn register(
    db: &Database,
    me: &ProcessIdentity,
    details: Document,
    shutdown: Shutdown,
) -> Result<tokio::task::JoinHandle<()>, DbError> {
    let processes = db.raw().collection::<Document>(collections::PROCESSES);
    let now = DateTime::now();
    processes
        .update_one(
            doc! { "_id": &me.instance },
            doc! { "$set": {
                "kind": me.kind_name(),
                "host": &me.host,
                "pid": i64::from(std::process::id()),
                "version": crate::VERSION,
                "started_at": now,
                "last_seen": now,
                "details": details,
                "schema_version": SCHEMA_VERSION,
            }, "$unset": { "stopped_at": "" } },
        )
        .upsert(true)
        .await?;
    tracing::info!(instance = %me.instance, "registered in MongoDB");
    Ok(tokio::spawn(heartbeat(
        processes,
        me.instance.clone(),
        shutdown,
    )))
}

async fn heartbeat(processes: mongodb::Collection<Document>, instance: String, shutdown: Shutdown) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.wait() => break,
        }
        let beat = processes.update_one(
            doc! { "_id": &instance },
            doc! { "$set": { "last_seen": DateTime::now() } },
        );
        tokio::select! {
            written = beat => if let Err(e) = written {
                tracing::warn!(error = %e, "process heartbeat not written; retrying next beat");
            },
            // A beat waiting on MongoDB that is away must not hold up stopping.
            () = shutdown.wait() => break,
        }
    }
    // Bounded: with MongoDB away the stop goes unrecorded, and the process still stops
    // within its grace period (the heartbeat's age then tells it is gone).
    let stop = processes.update_one(
        doc! { "_id": &instance },
        doc! { "$set": { "stopped_at": DateTime::now() } },
    );
    match tokio::time::timeout(STOP_RECORD_WAIT, stop).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "could not record the stop in MongoDB"),
        Err(_) => tracing::warn!("could not record the stop in MongoDB in time"),
    }
}
