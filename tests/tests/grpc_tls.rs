//! Inter-process gRPC over TLS: a collector and a worker serving with certificates from a
//! deployment CA, the worker reporting to the collector over TLS, a gateway's call over
//! TLS answered and a plaintext one not; and a process asked to serve plaintext beyond
//! loopback refuses to start.

use std::time::Duration;

use tonic::transport::{Certificate, Endpoint};
use tower_daemon::auth::AuthToken;
use tower_daemon::grpc::ClientSecurity;
use tower_proto::v1::{ListProcessesRequest, ProcessKind, ServerStatusRequest};
use tower_tests::WAIT;
use tower_tests::backing::TestDatabase;
use tower_tests::daemon::{Daemon, DaemonSpec};
use tower_tests::sftp_home::Home;
use tower_tests::stack::{RoleTokens, TEST_TOKEN, TEST_WORKER_TOKEN};
use tower_tests::support::{ok, towerctl_health};

/// A deployment CA and one certificate it signed for `127.0.0.1` and `localhost`, written
/// to `home`: (CA, certificate, key) paths.
fn certificates(home: &Home) -> (String, String, String) {
    let ca_key = ok(rcgen::KeyPair::generate());
    let mut ca = ok(rcgen::CertificateParams::new(Vec::<String>::new()));
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "tower test CA");
    let ca_cert = ok(ca.self_signed(&ca_key));
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = ok(rcgen::KeyPair::generate());
    let leaf = ok(rcgen::CertificateParams::new(vec![
        "127.0.0.1".to_owned(),
        "localhost".to_owned(),
    ]));
    let cert = ok(leaf.signed_by(&key, &issuer));
    (
        home.config_file("ca.pem", &ca_cert.pem()),
        home.config_file("process.pem", &cert.pem()),
        home.config_file("process.key", &key.serialize_pem()),
    )
}

/// Starts `binary` serving TLS with the certificate; SERVING (checked over TLS) when
/// returned, with its address.
async fn spawn_tls(
    binary: &str,
    mut env: Vec<(String, String)>,
    (ca, cert, key): &(String, String, String),
) -> (Daemon, std::net::SocketAddr) {
    env.extend([
        ("TOWER_TLS_CERT_FILE".to_owned(), cert.clone()),
        ("TOWER_TLS_KEY_FILE".to_owned(), key.clone()),
        ("TOWER_TLS_CA_FILE".to_owned(), ca.clone()),
    ]);
    env.extend(RoleTokens::test().callers_env());
    let daemon = ok(Daemon::spawn(DaemonSpec::grpc(binary, env)).await);
    let addr = ok(daemon.grpc_addr(WAIT).await);
    let endpoint = ok(
        ok(Endpoint::from_shared(format!("https://{addr}"))).tls_config(
            tonic::transport::ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(ok(std::fs::read(ca))))
                .domain_name("127.0.0.1"),
        ),
    );
    ok(daemon.wait_serving_at(endpoint, "", WAIT).await);
    (daemon, addr)
}

#[tokio::test]
async fn processes_talk_over_tls_and_refuse_plaintext_beyond_loopback() {
    let db = ok(TestDatabase::create("grpc_tls").await);
    let home = Home::new("grpc_tls");
    let pki = certificates(&home);
    let base = vec![
        ("MONGODB_URI".to_owned(), db.uri.clone()),
        ("TOWER_MONGODB_DATABASE".to_owned(), db.name.clone()),
    ];
    let (collector, collector_addr) = spawn_tls("telemetry-collector", base.clone(), &pki).await;
    let mut worker_env = base.clone();
    worker_env.extend([
        ("TOWER_AUTH_TOKEN".to_owned(), TEST_WORKER_TOKEN.to_owned()),
        (
            "TOWER_COLLECTOR_URL".to_owned(),
            format!("https://{collector_addr}"),
        ),
        // The health port, for probes that cannot speak TLS.
        ("TOWER_HEALTH_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
    ]);
    let (worker, worker_addr) = spawn_tls("sftp-worker", worker_env, &pki).await;

    // A probe that speaks no TLS gets the worker's health from its health port, and only
    // there: the main port takes TLS alone.
    let line = ok(worker
        .wait_for_log("the health port", WAIT, |l| {
            l.message() == Some("health port listening")
        })
        .await);
    let health_port = line
        .field("addr")
        .and_then(|a| a.as_str())
        .unwrap_or_default()
        .to_owned();
    let probe = towerctl_health(&health_port).await;
    assert!(probe.status.success(), "{probe:?}");
    let probe = towerctl_health(&worker_addr.to_string()).await;
    assert!(!probe.status.success(), "{probe:?}");

    // A gateway's call over TLS, its certificate checked against the deployment CA.
    let gateway = ClientSecurity {
        token: ok(AuthToken::new(TEST_TOKEN)),
        ca: Some(Certificate::from_pem(ok(std::fs::read(&pki.0)))),
        allow_plaintext: false,
    };
    let mut client = ok(tower_daemon::grpc::worker_client(
        &format!("https://{worker_addr}"),
        &gateway,
    ));
    let status = ServerStatusRequest {
        guild_id: 1,
        server_id: String::new(),
    };
    ok(client.server_status(status.clone()).await);
    // The same call in plaintext does not get through.
    let mut plaintext = ok(tower_daemon::grpc::worker_client(
        &format!("http://{worker_addr}"),
        &ClientSecurity::plaintext(ok(AuthToken::new(TEST_TOKEN))),
    ));
    assert!(
        tokio::time::timeout(WAIT, plaintext.server_status(status))
            .await
            .is_ok_and(|r| r.is_err()),
        "a plaintext call to a TLS server fails"
    );

    // The worker reported its start to the collector, over TLS.
    let mut collector_client = ok(tower_daemon::grpc::collector_client(
        &format!("https://{collector_addr}"),
        &gateway,
    ));
    let reported = tokio::time::timeout(WAIT, async {
        loop {
            let processes = ok(collector_client
                .list_processes(ListProcessesRequest { kind: 0 })
                .await)
            .into_inner()
            .processes;
            if processes
                .iter()
                .filter_map(|p| p.process.as_ref())
                .any(|p| p.kind == ProcessKind::SftpWorker as i32)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(
        reported.is_ok(),
        "the worker's report reached the collector"
    );

    // Serving beyond loopback without a certificate: refused before anything starts.
    let mut spec = DaemonSpec::grpc("telemetry-collector", base.clone());
    for arg in &mut spec.args {
        if arg == "127.0.0.1:0" {
            *arg = "0.0.0.0:0".to_owned();
        }
    }
    spec.env.extend(RoleTokens::test().callers_env());
    let refused = ok(Daemon::spawn(spec).await);
    let exit = ok(refused.wait_exit(WAIT).await);
    assert!(!exit.success(), "plaintext beyond loopback refused");
    assert!(
        refused
            .logs()
            .iter()
            .any(|l| l.raw.contains("plaintext beyond loopback")),
        "and it says why"
    );

    assert!(ok(worker.stop(WAIT).await).success());
    assert!(ok(collector.stop(WAIT).await).success());
    ok(db.drop_database().await);
}
