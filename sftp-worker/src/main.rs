//! sftp-worker: the only process that talks SFTP. It holds guild-isolated SFTP connection
//! pools with premium quotas, polls game servers, parses their logs, writes statistics to
//! MongoDB and emits notifications for the gateway-shards. (The parts are in `lib.rs`.)

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
use tower_daemon::telemetry::Telemetry;
use tower_proto::v1::ProcessKind;
use tower_proto::v1::sftp_worker_server::SftpWorkerServer;
use tower_store::db::collections;
use tower_store::retention;

use sftp_worker::{poller, service};

#[derive(Debug, Parser)]
#[command(version, about = "Tower of Temptation sftp-worker")]
struct Args {
    #[command(flatten)]
    daemon: DaemonArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    startup::run_daemon("sftp-worker", args.daemon.load_config(), |config| {
        run(config, &args)
    })
    .await
}

async fn run(config: Config, args: &Args) -> Result<(), StartError> {
    let shutdown = Shutdown::on_signals();
    let me = ProcessIdentity::new(ProcessKind::SftpWorker);
    let calling = grpc::ClientSecurity::from_config(&config)?;
    let serving = grpc::ServerSecurity::from_config(&config)?;
    let listen = args.daemon.listen.unwrap_or(config.worker.listen);
    // Checked before anything starts: no plaintext beyond loopback unless allowed.
    let mut server = grpc::server(&serving, listen)?;

    // Storage and secrets: connect, migrate, and refuse a missing or wrong secret key.
    let db = startup::open_database(&config, &me).await?;
    // Checked now so a wrong key stops the start; it opens the stored SFTP credentials.
    let secret_key = startup::open_secret_key(&config, &db)
        .await?
        .map(std::sync::Arc::new);

    // Retention: notifications older than their limit go.
    tokio::spawn(retention::run(
        db.clone(),
        retention::Rule::days(
            collections::NOTIFICATIONS,
            "created_at",
            config.retention.notifications_days,
        ),
        shutdown.clone().wait_owned(),
    ));

    // Delayed killfeed: held posts go to the outbox when they are due.
    tokio::spawn(
        tower_store::delayed_killfeed::HeldPosts::new(&db)
            .release_until(shutdown.clone().wait_owned()),
    );

    // Ledger: economy transactions cut short (a process stopped mid-way) are completed.
    tokio::spawn(tower_store::ledger::Ledger::new(&db).resume_until(shutdown.clone().wait_owned()));

    // Bounties: overdue ones expire and are refunded; held claims are paid once linked.
    tokio::spawn(
        tower_store::bounties::Bounties::new(&db).sweep_until(shutdown.clone().wait_owned()),
    );

    // Gambling: games whose buttons expired are settled (blackjack stands) and paid.
    tokio::spawn(
        tower_store::gambling::Gambling::new(&db).sweep_until(shutdown.clone().wait_owned()),
    );

    // Telemetry: errors and events go to the collector in the background.
    let (telemetry, telemetry_task) =
        Telemetry::start(&config.collector.url, &calling, &me, shutdown.clone())?;

    // Serve: health (open), the worker API (token required).
    let startup::Listening {
        listener,
        addr,
        heartbeat,
    } = startup::listen(listen, &db, &me, doc! {}, shutdown.clone()).await?;
    // Poll: the servers this worker holds leases on, into statistics and the outbox.
    let poller = std::sync::Arc::new(poller::Poller::new(
        &db,
        &config.worker,
        config.sftp.clone(),
        config.premium.tiers.clone(),
        secret_key.clone(),
        telemetry.clone(),
        &me.instance,
    ));
    let polling = tokio::spawn(std::sync::Arc::clone(&poller).run(shutdown.clone()));
    // Its SFTP connections, observed when metrics are exported.
    let _connections_gauge = {
        let poller = std::sync::Arc::clone(&poller);
        tower_daemon::metrics::meter()
            .u64_observable_gauge("tower.sftp.connections")
            .with_description("The worker's SFTP connections, open (kept or in use) and busy")
            .with_callback(move |observe| {
                let (open, busy) = poller.pools.totals();
                observe.observe(
                    open,
                    &[tower_daemon::metrics::KeyValue::new("state", "open")],
                );
                observe.observe(
                    busy,
                    &[tower_daemon::metrics::KeyValue::new("state", "busy")],
                );
            })
            .build()
    };

    let (health, health_service) = tonic_health::server::health_reporter();
    let worker = service::Worker::new(
        db.clone(),
        &config,
        secret_key,
        telemetry.clone(),
        me.instance.clone(),
        poller,
        shutdown.clone(),
    );
    health
        .set_serving::<SftpWorkerServer<service::Worker>>()
        .await;
    health.set_service_status("", ServingStatus::Serving).await;
    tokio::spawn(grpc::track_database_health(
        db.clone(),
        health,
        shutdown.clone(),
    ));
    health_port::spawn(
        config.health.listen,
        health_service.clone(),
        shutdown.clone(),
    )
    .await?;
    telemetry.info("process.started", format!("sftp-worker serving on {addr}"));
    tracing::info!(instance = %me.instance, %addr, "sftp-worker ready");
    // Only gateways call workers: a worker's token cannot poll, test or acknowledge.
    server
        .add_service(health_service)
        .add_service(SftpWorkerServer::with_interceptor(
            worker,
            serving.require(&[Role::Gateway]),
        ))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown.wait())
        .await?;

    // Stop: finish polls and give leases back, record it, flush telemetry, exit.
    let _ = polling.await;
    let _ = heartbeat.await;
    let _ = telemetry_task.await;
    Ok(())
}
