//! OpenTelemetry export: with an OTLP endpoint set, every process pushes its traces and
//! metrics to it (here a receiver on loopback standing in for the operator's collector):
//! the worker's polls, the gateway's commands and posts, errors, SFTP connections.

use tower_tests::WAIT;
use tower_tests::backing::TestDatabase;
use tower_tests::discord_sim::DiscordSimulator;
use tower_tests::discord_sim::interactions::{Member, Opt};
use tower_tests::guild_setup::{add_server_with_killfeed, kill};
use tower_tests::otlp_receiver::{OtlpReceiver, Received};
use tower_tests::support::ok;

const GUILD: u64 = 862_000_000_000_000_001;
const ADMIN: u64 = 962_000_000_000_000_001;
const CHANNEL: u64 = 662_000_000_000_000_001;

#[tokio::test]
async fn every_process_exports_its_traces_and_metrics_to_the_configured_collector() {
    let receiver = ok(OtlpReceiver::start().await);
    let db = ok(TestDatabase::create("otlp_export").await);
    let home = tower_tests::sftp_home::Home::new("otlp_export");
    let server = tower_tests::sftp_home::unique_server_id();
    let csv = home.killfeed(&server).join("2026.01.01-00.00.00.csv");
    ok(std::fs::write(&csv, ""));
    let sim = ok(DiscordSimulator::start().await);
    let key = ok(tower_store::secret::SecretKey::generate_base64());
    let mut options =
        tower_tests::stack::StackOptions::simulated(&db, &sim, Some(key)).with_loopback_sftp();
    options.extra_env.extend([
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
            receiver.endpoint(),
        ),
        // Exported every half second, not every minute, so the test need not wait.
        ("OTEL_METRIC_EXPORT_INTERVAL".to_owned(), "500".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY".to_owned(), "200".to_owned()),
    ]);
    let stack = ok(tower_tests::stack::Stack::start(&options).await);
    let admin = Member::admin(GUILD, ADMIN);
    add_server_with_killfeed(&sim, &db.handle(), &admin, &server, CHANNEL).await;
    // A kill to post, and a command that fails (an error).
    ok(std::fs::write(&csv, kill(1)));
    let sent = sim.slash(
        0,
        &admin,
        "list_sftp_files",
        &[
            ("server", Opt::str(&server)),
            ("path", Opt::str("no/such/folder")),
        ],
    );
    ok(sim.answer(&sent, WAIT).await);

    let pair = |service: &str, name: &str| (service.to_owned(), name.to_owned());
    let spans = [
        pair("sftp-worker", "poll"),
        pair("gateway-shard", "command"),
        pair("gateway-shard", "post"),
    ];
    let metrics = [
        pair("sftp-worker", "tower.polls"),
        pair("sftp-worker", "tower.poll.lag"),
        pair("sftp-worker", "tower.sftp.connections"),
        pair("gateway-shard", "tower.errors"),
        pair("gateway-shard", "tower.commands"),
        pair("gateway-shard", "tower.posts"),
    ];
    let all_there = |r: &Received| {
        spans.iter().all(|s| r.spans.contains(s)) && metrics.iter().all(|m| r.metrics.contains(m))
    };
    if let Err(got) = receiver.wait_until(WAIT, all_there).await {
        panic!("expected spans {spans:?} and metrics {metrics:?}; received {got:#?}");
    }
    ok(stack.stop_cleanly(WAIT).await);
}
