//! The collector's detections, from real reports: an error that jumps above its usual rate
//! is a spike and one produced by one guild is named with the guild, while an error as
//! frequent as usual, spread over guilds, is neither; an SFTP host failing for every guild
//! that uses it is a host down, one that still works for some guild is not, nor one whose
//! guilds all gave a wrong password; the gateways'
//! invalid Discord requests, summed, near the ban are a risk. Errors carry their category
//! (sftp, timeout, …).

use std::collections::HashMap;
use std::time::Duration;

use mongodb::bson::{Document, doc};
use tower_daemon::auth::AuthToken;
use tower_proto::v1::{
    DetectionsRequest, ErrorContext, Level, ProcessInfo, ProcessKind, ReportRequest,
    TelemetryEvent, TopErrorsRequest,
};
use tower_tests::WAIT;
use tower_tests::backing::TestDatabase;
use tower_tests::stack::TEST_TOKEN;
use tower_tests::support::ok;

fn event(kind: &str, message: &str, guild: u64, server: &str, ago_ms: i64) -> TelemetryEvent {
    let now = tower_daemon::telemetry::now_unix_ms();
    TelemetryEvent {
        level: Level::Error as i32,
        kind: kind.to_owned(),
        message: message.to_owned(),
        location: "sftp_worker::poller".to_owned(),
        context: Some(ErrorContext {
            guild_id: guild,
            server_id: server.to_owned(),
            command: "poll".to_owned(),
            shard: None,
        }),
        occurred_unix_ms: now - ago_ms,
        error_id: String::new(),
        attributes: HashMap::new(),
    }
}

#[tokio::test]
async fn spikes_one_guilds_errors_and_hosts_down_are_detected_and_nothing_else() {
    let db = ok(TestDatabase::create("detections").await);
    // Game servers on three hosts: one down for both its guilds, one failing for two of
    // its three guilds, one fine.
    let servers = db.handle().collection::<Document>("game_servers");
    for (guild, server, host) in [
        ("31", "3101", "down.example"),
        ("32", "3201", "down.example"),
        ("33", "3301", "partly.example"),
        ("34", "3401", "partly.example"),
        ("35", "3501", "partly.example"),
        ("36", "3601", "wrongpw.example"),
        ("37", "3701", "wrongpw.example"),
    ] {
        ok(servers
            .insert_one(doc! {
                "guild_id": guild, "server_id": server, "enabled": true,
                "sftp": { "host": host, "port": 22, "username": "u" },
            })
            .await);
    }
    let (_collector, addr) = ok(tower_tests::stack::standalone_collector_with(
        &db,
        vec![(
            "TOWER_COLLECTOR_DETECT_EVERY_SECS".to_owned(),
            "1".to_owned(),
        )],
    )
    .await);
    let mut client = ok(tower_daemon::grpc::collector_client(
        &format!("http://{addr}"),
        &tower_daemon::grpc::ClientSecurity::plaintext(ok(AuthToken::new(TEST_TOKEN))),
    ));

    let mut events = Vec::new();
    // A spike: 25 in the last minutes, never before, all from guild 21.
    for _ in 0..25 {
        events.push(event(
            "sftp.auth",
            "authentication failed",
            21,
            "2101",
            1_000,
        ));
    }
    // As often as usual (200 over the 6 hours before, 25 now), from two guilds.
    for i in 0..200i64 {
        let guild = if i % 2 == 0 { 22 } else { 23 };
        events.push(event(
            "poll.killfeed",
            "read failed: eof",
            guild,
            "2201",
            700_000 + i * 100_000,
        ));
    }
    for i in 0..25 {
        events.push(event(
            "poll.killfeed",
            "read failed: eof",
            22 + (i % 2),
            "2201",
            1_000,
        ));
    }
    // SFTP failures: both guilds of down.example, two of the three of partly.example.
    for (guild, server) in [(31, "3101"), (32, "3201"), (33, "3301"), (34, "3401")] {
        events.push(event(
            "sftp.timeout",
            "connect timed out after 10s",
            guild,
            server,
            1_000,
        ));
    }
    // Both guilds of wrongpw.example gave a wrong password: their settings, not the host.
    for (guild, server) in [(36, "3601"), (37, "3701")] {
        events.push(event(
            "sftp.authfailed",
            "the user name or password was refused",
            guild,
            server,
            1_000,
        ));
    }
    ok(client
        .report(ReportRequest {
            process: Some(ProcessInfo {
                kind: ProcessKind::SftpWorker as i32,
                instance: "sftp-worker-detections".to_owned(),
                version: "test".to_owned(),
                host: "test".to_owned(),
            }),
            events,
        })
        .await);
    // Two gateways' invalid Discord requests: 1,500 and then 1,200 from one (its latest
    // counts), 900 from the other: 2,100 together.
    for (instance, counts) in [("gateway-a", vec![1_500, 1_200]), ("gateway-b", vec![900])] {
        let events = counts
            .iter()
            .enumerate()
            .map(|(i, count)| TelemetryEvent {
                level: Level::Warn as i32,
                kind: "discord.invalid_requests".to_owned(),
                message: format!("{count} invalid requests in the last ten minutes"),
                location: "gateway_shard::rest".to_owned(),
                occurred_unix_ms: tower_daemon::telemetry::now_unix_ms() - 60_000
                    + i64::try_from(i).unwrap_or(0) * 1_000,
                attributes: [("count".to_owned(), count.to_string())].into(),
                ..Default::default()
            })
            .collect();
        ok(client
            .report(ReportRequest {
                process: Some(ProcessInfo {
                    kind: ProcessKind::GatewayShard as i32,
                    instance: instance.to_owned(),
                    version: "test".to_owned(),
                    host: "test".to_owned(),
                }),
                events,
            })
            .await);
    }

    let detections = ok(tokio::time::timeout(WAIT, async {
        loop {
            let found = ok(client.detections(DetectionsRequest {}).await)
                .into_inner()
                .detections;
            let kinds: Vec<&str> = found.iter().map(|d| d.kind.as_str()).collect();
            if ["spike", "one_guild", "host_down", "discord_ban_risk"]
                .iter()
                .all(|k| kinds.contains(k))
            {
                break found;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await);
    let summaries: Vec<String> = detections
        .iter()
        .map(|d| format!("{} {} {}", d.kind, d.key, d.summary))
        .collect();
    let spikes: Vec<&String> = summaries
        .iter()
        .filter(|s| s.starts_with("spike"))
        .collect();
    assert_eq!(spikes.len(), 1, "only the new error spiked: {summaries:#?}");
    assert!(spikes[0].contains("sftp.auth"), "{summaries:#?}");
    let one_guild: Vec<&String> = summaries
        .iter()
        .filter(|s| s.starts_with("one_guild"))
        .collect();
    assert_eq!(one_guild.len(), 1, "{summaries:#?}");
    assert!(
        one_guild[0]
            .contains("guild 21 produced 25 of 25 in the last hour, game server 2101 alone 25"),
        "{summaries:#?}"
    );
    let down: Vec<&String> = summaries
        .iter()
        .filter(|s| s.starts_with("host_down"))
        .collect();
    assert_eq!(down.len(), 1, "{summaries:#?}");
    assert!(down[0].contains("down.example"), "{summaries:#?}");
    let risk: Vec<&String> = summaries
        .iter()
        .filter(|s| s.starts_with("discord_ban_risk"))
        .collect();
    assert_eq!(risk.len(), 1, "{summaries:#?}");
    assert!(
        risk[0].contains("2100 invalid Discord requests"),
        "each gateway's latest count, summed: {summaries:#?}"
    );
    assert!(
        detections
            .iter()
            .all(|d| d.expires_unix_ms > d.last_detected_unix_ms),
        "each expires"
    );

    // Categories: a failed login is sftp, a connect that timed out is a timeout.
    let groups = ok(client
        .top_errors(TopErrorsRequest {
            window_secs: 0,
            limit: 10,
        })
        .await)
    .into_inner()
    .groups;
    let category = |kind: &str| {
        groups
            .iter()
            .find(|g| g.kind == kind)
            .map(|g| g.category.clone())
    };
    assert_eq!(category("sftp.auth").as_deref(), Some("sftp"));
    assert_eq!(category("sftp.timeout").as_deref(), Some("timeout"));
}
