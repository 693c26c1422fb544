//! telemetry-collector: receives errors and events from every process over gRPC, groups
//! them by fingerprint, stores them in MongoDB, and answers the diagnostics queries behind
//! `/debug` and the operator tools.
//!
//! Modules: [`fingerprint`] (what makes two errors the same), [`category`] (discord_api,
//! sftp, timeout, …), [`store`] (MongoDB), [`detections`] (spikes, one guild's errors,
//! hosts down), [`service`] (the tower.v1.TelemetryCollector service).

mod category;
mod detections;
mod fingerprint;
mod service;
mod store;

use std::process::ExitCode;

use clap::Parser;
use mongodb::bson::doc;
use tokio_stream::wrappers::TcpListenerStream;
use tonic_health::ServingStatus;
use tower_daemon::auth::Role;
use tower_daemon::cli::DaemonArgs;
use tower_daemon::config::Config;
use tower_daemon::grpc;
use tower_daemon::health_port;
use tower_daemon::process::ProcessIdentity;
use tower_daemon::shutdown::Shutdown;
use tower_daemon::startup::{self, StartError};
use tower_proto::v1::ProcessKind;
use tower_proto::v1::telemetry_collector_server::TelemetryCollectorServer;
use tower_store::db::collections;
use tower_store::retention;

#[derive(Debug, Parser)]
#[command(version, about = "Tower of Temptation telemetry-collector")]
struct Args {
    #[command(flatten)]
    daemon: DaemonArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    startup::run_daemon("telemetry-collector", args.daemon.load_config(), |config| {
        run(config, &args)
    })
    .await
}

async fn run(config: Config, args: &Args) -> Result<(), StartError> {
    let shutdown = Shutdown::on_signals();
    let me = ProcessIdentity::new(ProcessKind::TelemetryCollector);
    let serving = grpc::ServerSecurity::from_config(&config)?;
    let listen = args.daemon.listen.unwrap_or(config.collector.listen);
    // Checked before anything starts: no plaintext beyond loopback unless allowed.
    let mut server = grpc::server(&serving, listen)?;

    // Storage: connect, bring the schema up to date, register this process.
    let db = startup::open_database(&config, &me).await?;
    let startup::Listening {
        listener,
        addr,
        heartbeat,
    } = startup::listen(listen, &db, &me, doc! {}, shutdown.clone()).await?;

    // Serve: health (open), the collector (token required).
    let (health, health_service) = tonic_health::server::health_reporter();
    let collector = service::Collector::new(
        store::TelemetryStore::new(&db),
        detections::Detector::new(&db),
    );
    health
        .set_serving::<TelemetryCollectorServer<service::Collector>>()
        .await;
    health.set_service_status("", ServingStatus::Serving).await;
    tokio::spawn(grpc::track_database_health(
        db.clone(),
        health,
        shutdown.clone(),
    ));
    // Retention: error occurrences older than `collector.retention_days` go.
    tokio::spawn(retention::run(
        db.clone(),
        retention::Rule::days(
            collections::TELEMETRY_EVENTS,
            "received_at",
            config.collector.retention_days,
        ),
        shutdown.clone().wait_owned(),
    ));
    // Detections: spikes, one guild's errors, SFTP hosts down for everyone.
    tokio::spawn(detections::Detector::new(&db).run(
        std::time::Duration::from_secs(u64::from(config.collector.detect_every_secs)),
        shutdown.clone().wait_owned(),
    ));
    health_port::spawn(
        config.health.listen,
        health_service.clone(),
        shutdown.clone(),
    )
    .await?;
    tracing::info!(instance = %me.instance, %addr, "telemetry-collector ready");
    // Gateways and workers report; only gateways read errors back (`service.rs`).
    server
        .add_service(health_service)
        .add_service(TelemetryCollectorServer::with_interceptor(
            collector,
            serving.require(&[Role::Gateway, Role::Worker]),
        ))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown.wait())
        .await?;

    // Stop: record it, then exit.
    let _ = heartbeat.await;
    Ok(())
}
