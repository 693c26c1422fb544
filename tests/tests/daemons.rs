//! The foundation's promises, checked on real processes: each daemon starts and reports
//! SERVING, refuses tower.v1 calls without the token, reaches MongoDB and the collector,
//! refuses to start when misconfigured, and stops cleanly on SIGTERM.

use std::time::Duration;

use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};
use tonic::Code;
use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tower_daemon::auth::AuthToken;
use tower_daemon::grpc::ClientSecurity;
use tower_proto::v1::sftp_worker_client::SftpWorkerClient;
use tower_proto::v1::telemetry_collector_client::TelemetryCollectorClient;
use tower_proto::v1::{
    AckNotificationsRequest, ListProcessesRequest, ProcessKind, ReportRequest, ServerStatusRequest,
};
use tower_store::secret::SecretKey;
use tower_tests::WAIT;
use tower_tests::backing::TestDatabase;
use tower_tests::daemon::{Daemon, DaemonSpec, HarnessError};
use tower_tests::discord_sim::{DiscordSimulator, SimEvent};
use tower_tests::stack::{Stack, StackOptions};
use tower_tests::support::ok;

use tower_tests::stack::{TEST_TOKEN as TOKEN, TEST_WORKER_TOKEN};

fn options(db: &TestDatabase, sim: &DiscordSimulator, secret_key: Option<String>) -> StackOptions {
    StackOptions::simulated(db, sim, secret_key)
}

async fn health(addr: std::net::SocketAddr, service: &str) -> ServingStatus {
    let channel = ok(ok(Endpoint::from_shared(format!("http://{addr}")))
        .connect()
        .await);
    let reply = ok(HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await);
    ServingStatus::try_from(reply.into_inner().status).unwrap_or(ServingStatus::Unknown)
}

#[tokio::test]
async fn the_stack_comes_up_serving_and_stops_cleanly() {
    let db = ok(TestDatabase::create("stack_up").await);
    let sim = ok(DiscordSimulator::start().await);
    let stack = ok(Stack::start(&options(&db, &sim, None)).await);

    // Health without the token: the whole process and each tower.v1 service.
    assert_eq!(
        health(stack.collector_addr, "").await,
        ServingStatus::Serving
    );
    assert_eq!(
        health(stack.collector_addr, "tower.v1.TelemetryCollector").await,
        ServingStatus::Serving
    );
    assert_eq!(health(stack.worker_addr, "").await, ServingStatus::Serving);
    assert_eq!(
        health(stack.worker_addr, "tower.v1.SftpWorker").await,
        ServingStatus::Serving
    );
    assert_eq!(health(stack.gateway_addr, "").await, ServingStatus::Serving);

    // The gateway identified with the simulator and logged READY.
    let identified = ok(sim
        .wait_for("IDENTIFY", WAIT, |e| {
            matches!(e, SimEvent::Identified { .. })
        })
        .await);
    assert!(matches!(
        identified,
        // twilight sends the token as "Bot <token>".
        SimEvent::Identified { shard: [0, 1], ref token, .. } if token.trim_start_matches("Bot ") == "sandbox-token"
    ));
    ok(stack
        .gateway
        .wait_for_log("READY", WAIT, |l| l.message() == Some("READY"))
        .await);

    // SIGTERM: each stops by itself, exit 0, and says so.
    let handles = db.handle();
    let [gateway, worker, collector] = ok(stack.stop(Duration::from_secs(20)).await);
    assert!(gateway.success() && worker.success() && collector.success());
    let stopped: Vec<Document> = ok(ok(handles
        .collection::<Document>("processes")
        .find(doc! { "stopped_at": { "$exists": true } })
        .await)
    .try_collect()
    .await);
    assert_eq!(stopped.len(), 3, "every process records its clean stop");
    ok(db.drop_database().await);
}

/// The code a call was refused with (`None`: it was answered).
fn refusal<T>(answer: Result<T, tonic::Status>) -> Option<Code> {
    answer.err().map(|s| s.code())
}

#[tokio::test]
async fn tower_calls_without_the_token_are_refused() {
    let db = ok(TestDatabase::create("auth").await);
    let sim = ok(DiscordSimulator::start().await);
    let stack = ok(Stack::start(&options(&db, &sim, None)).await);
    let channel = |addr| ok(Endpoint::from_shared(format!("http://{addr}"))).connect_lazy();
    let status_request = || ServerStatusRequest {
        guild_id: 1,
        server_id: String::new(),
    };
    // The worker's and the collector's clients carrying `token`.
    let clients_with = |token: &str| {
        let security = ClientSecurity::plaintext(ok(AuthToken::new(token)));
        (
            ok(tower_daemon::grpc::worker_client(
                &format!("http://{}", stack.worker_addr),
                &security,
            )),
            ok(tower_daemon::grpc::collector_client(
                &format!("http://{}", stack.collector_addr),
                &security,
            )),
        )
    };

    // No token.
    let mut worker = SftpWorkerClient::new(channel(stack.worker_addr));
    let status = worker.server_status(status_request()).await;
    assert_eq!(refusal(status), Some(Code::Unauthenticated));
    let mut collector = TelemetryCollectorClient::new(channel(stack.collector_addr));
    let processes = collector
        .list_processes(ListProcessesRequest { kind: 0 })
        .await;
    assert_eq!(refusal(processes), Some(Code::Unauthenticated));

    // A wrong token.
    let (mut worker_wrong, _) = clients_with("wrong-token-0123456789abcdef");
    let status = worker_wrong.server_status(status_request()).await;
    assert_eq!(refusal(status), Some(Code::Unauthenticated));

    // The right one.
    let (mut worker_right, mut collector_right) = clients_with(TOKEN);
    let reply = ok(worker_right.server_status(status_request()).await).into_inner();
    assert!(reply.servers.is_empty());
    // A guild without premium gets tier 0's connection quota.
    assert_eq!(reply.pool.map(|p| p.limit), Some(2));
    ok(collector_right
        .list_processes(ListProcessesRequest { kind: 0 })
        .await);

    // A worker's own token: it may report to the collector, and nothing else — not call
    // a worker (poll, test, acknowledge notifications), not read errors back.
    let (mut worker_as_worker, mut collector_as_worker) = clients_with(TEST_WORKER_TOKEN);
    let acked = worker_as_worker
        .ack_notifications(AckNotificationsRequest {
            subscriber: "gateway:0-0/1".to_owned(),
            cursors: vec!["1".to_owned()],
        })
        .await;
    assert_eq!(refusal(acked), Some(Code::PermissionDenied));
    let status = worker_as_worker.server_status(status_request()).await;
    assert_eq!(refusal(status), Some(Code::PermissionDenied));
    let processes = collector_as_worker
        .list_processes(ListProcessesRequest { kind: 0 })
        .await;
    assert_eq!(refusal(processes), Some(Code::PermissionDenied));
    let reported = collector_as_worker.report(ReportRequest::default()).await;
    assert_eq!(
        refusal(reported),
        Some(Code::InvalidArgument),
        "a worker's report passes the token check (this empty one is then refused)"
    );

    ok(stack.stop_cleanly(Duration::from_secs(20)).await);
    ok(db.drop_database().await);
}

#[tokio::test]
async fn worker_and_gateway_reach_mongodb_and_the_collector() {
    let db = ok(TestDatabase::create("reach").await);
    let sim = ok(DiscordSimulator::start().await);
    let stack = ok(Stack::start(&options(&db, &sim, None)).await);

    // MongoDB: the schema is migrated once, and each process registered itself there.
    let handles = db.handle();
    let migration = ok(handles
        .collection::<Document>("schema_migrations")
        .find_one(doc! { "_id": "0001_foundation" })
        .await);
    assert_eq!(
        migration.as_ref().and_then(|m| m.get_str("state").ok()),
        Some("done")
    );
    for kind in ["telemetry-collector", "sftp-worker", "gateway-shard"] {
        let registered = ok(handles
            .collection::<Document>("processes")
            .find_one(doc! { "kind": kind })
            .await);
        assert!(registered.is_some(), "{kind} registered in MongoDB");
    }

    // The collector: worker and gateway each reported `process.started`. Reports are
    // batched and sent in the background, so wait (bounded) until both are in.
    let token = ClientSecurity::plaintext(ok(AuthToken::new(TOKEN)));
    let mut collector = ok(tower_daemon::grpc::collector_client(
        &format!("http://{}", stack.collector_addr),
        &token,
    ));
    let reported = tokio::time::timeout(WAIT, async {
        loop {
            let processes = ok(collector
                .list_processes(ListProcessesRequest { kind: 0 })
                .await)
            .into_inner()
            .processes;
            let kinds: Vec<i32> = processes
                .iter()
                .filter_map(|p| p.process.as_ref().map(|p| p.kind))
                .collect();
            if kinds.contains(&(ProcessKind::SftpWorker as i32))
                && kinds.contains(&(ProcessKind::GatewayShard as i32))
            {
                return processes;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let processes = ok(reported.map_err(|_| "worker and gateway never reported to the collector"));
    assert!(processes.iter().all(|p| p.last_seen_unix_ms > 0));

    ok(stack.stop_cleanly(Duration::from_secs(20)).await);
    ok(db.drop_database().await);
}

/// Starts one daemon with `env` and expects it to refuse to start, saying `expected`.
async fn refuses_to_start(binary: &str, env: Vec<(String, String)>, expected: &str) {
    let daemon = ok(Daemon::spawn(DaemonSpec::grpc(binary, env)).await);
    let status = ok(daemon.wait_exit(WAIT).await);
    assert!(!status.success(), "{binary} should have refused to start");
    let logs = daemon.logs();
    assert!(
        logs.iter().any(|l| l.raw.contains(expected)),
        "{binary} should say {expected:?}; it said:\n{}",
        logs.iter()
            .map(|l| l.raw.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test]
async fn daemons_refuse_to_start_without_a_token_or_a_database() {
    let db = ok(TestDatabase::create("refuse").await);
    let base = vec![
        ("MONGODB_URI".to_owned(), db.uri.clone()),
        ("TOWER_MONGODB_DATABASE".to_owned(), db.name.clone()),
    ];
    for binary in ["telemetry-collector", "sftp-worker", "gateway-shard"] {
        refuses_to_start(binary, base.clone(), "TOWER_AUTH_TOKEN").await;
    }

    // A database nobody serves: a config file sets a short selection timeout.
    let dir = std::env::temp_dir().join(format!("tower-refuse-{}", std::process::id()));
    ok(std::fs::create_dir_all(&dir));
    let config = dir.join("tower.toml");
    ok(std::fs::write(
        &config,
        "[mongodb]\nuri = \"mongodb://127.0.0.1:1/?directConnection=true\"\nserver_selection_timeout_secs = 1\n",
    ));
    let env = vec![
        ("TOWER_CONFIG".to_owned(), config.display().to_string()),
        ("TOWER_AUTH_TOKEN".to_owned(), TOKEN.to_owned()),
    ];
    refuses_to_start("sftp-worker", env, "MongoDB at 127.0.0.1:1 did not answer").await;
    let _ = std::fs::remove_dir_all(&dir);
    ok(db.drop_database().await);
}

#[tokio::test]
async fn a_deployment_with_secrets_needs_the_same_key_every_start() {
    let db = ok(TestDatabase::create("secret_key").await);
    let sim = ok(DiscordSimulator::start().await);
    let key = ok(SecretKey::generate_base64());
    let with_key = options(&db, &sim, Some(key.clone()));

    // First start with a key records the key check.
    let mut env = with_key.worker_env();
    env.push((
        "TOWER_COLLECTOR_URL".to_owned(),
        "http://127.0.0.1:1".to_owned(),
    ));
    let spec = DaemonSpec::grpc("sftp-worker", env.clone());
    let worker = ok(Daemon::spawn(spec).await);
    let addr = ok(worker.grpc_addr(WAIT).await);
    ok(worker.wait_serving(addr, "", WAIT).await);
    assert!(ok(worker.stop(Duration::from_secs(20)).await).success());

    // Without the key: refused.
    refuses_to_start(
        "sftp-worker",
        without_key(&env),
        "no secret key is configured",
    )
    .await;
    // With another key: refused.
    let mut other = without_key(&env);
    other.push((
        "TOWER_SECRET_KEY".to_owned(),
        ok(SecretKey::generate_base64()),
    ));
    refuses_to_start(
        "sftp-worker",
        other,
        "not the one this database's secrets were sealed with",
    )
    .await;
    // With the same key again: fine.
    let worker = ok(Daemon::spawn(DaemonSpec::grpc("sftp-worker", env)).await);
    let addr = ok(worker.grpc_addr(WAIT).await);
    ok(worker.wait_serving(addr, "", WAIT).await);
    assert!(ok(worker.stop(Duration::from_secs(20)).await).success());
    ok(db.drop_database().await);
}

fn without_key(env: &[(String, String)]) -> Vec<(String, String)> {
    env.iter()
        .filter(|(k, _)| k != "TOWER_SECRET_KEY")
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_daemon_that_exits_early_is_reported_with_its_status() {
    // The harness itself: waiting on a daemon that died fails at once with its exit status,
    // instead of waiting out the timeout.
    let daemon = ok(Daemon::spawn(DaemonSpec::grpc("sftp-worker", Vec::new())).await);
    let err = daemon.grpc_addr(WAIT).await.err();
    assert!(matches!(err, Some(HarnessError::Exited { .. })), "{err:?}");
}

#[tokio::test]
async fn the_test_runs_sshd_speaks_ssh_on_loopback() {
    use tokio::io::AsyncReadExt;
    let port = ok(tower_tests::backing::sshd_port());
    let mut stream = ok(tokio::net::TcpStream::connect(("127.0.0.1", port)).await);
    let mut banner = [0u8; 64];
    let n = ok(tokio::time::timeout(WAIT, stream.read(&mut banner))
        .await
        .map_err(|_| "no banner"));
    let banner = String::from_utf8_lossy(&banner[..ok(n)]).to_string();
    assert!(banner.starts_with("SSH-2.0-OpenSSH"), "{banner}");
}

#[tokio::test]
async fn towerctl_health_says_whether_a_daemon_serves() {
    let db = ok(TestDatabase::create("health_probe").await);
    let (collector, addr) = ok(tower_tests::stack::standalone_collector(&db).await);
    let serving = tower_tests::support::towerctl_health(&addr.to_string()).await;
    assert!(serving.status.success(), "{serving:?}");
    assert!(String::from_utf8_lossy(&serving.stdout).contains("SERVING"));

    // Nothing listening there any more: a failed probe, saying why.
    assert!(ok(collector.stop(WAIT).await).success());
    let gone = tower_tests::support::towerctl_health(&addr.to_string()).await;
    assert!(!gone.status.success(), "{gone:?}");
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("no answer"),
        "{gone:?}"
    );
    ok(db.drop_database().await);
}
