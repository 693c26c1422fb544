//! The telemetry-collector as the other processes and `/debug` use it: reports in batches,
//! grouping by fingerprint, lookups by error id and by guild, replays counted once.

use std::collections::HashMap;
use std::time::Duration;

use tower_daemon::auth::AuthToken;
use tower_proto::v1::{
    ErrorContext, GetErrorRequest, GuildErrorsRequest, Level, ProcessInfo, ProcessKind,
    ReportRequest, TelemetryEvent, TopErrorsRequest,
};
use tower_tests::backing::TestDatabase;
use tower_tests::support::ok;

use tower_tests::stack::TEST_TOKEN as TOKEN;

/// The largest error groups, all time (`window_secs` 0) or within a window.
async fn top_groups(
    client: &mut tower_proto::v1::telemetry_collector_client::TelemetryCollectorClient<
        tower_daemon::grpc::AuthedChannel,
    >,
    window_secs: u32,
) -> Vec<tower_proto::v1::ErrorGroup> {
    let request = TopErrorsRequest {
        window_secs,
        limit: 10,
    };
    ok(client.top_errors(request).await).into_inner().groups
}

fn error(message: &str, guild: u64, error_id: &str) -> TelemetryEvent {
    TelemetryEvent {
        level: Level::Error as i32,
        kind: "sftp.auth_failed".to_owned(),
        message: message.to_owned(),
        location: "sftp_worker::pool".to_owned(),
        context: Some(ErrorContext {
            guild_id: guild,
            server_id: "7020".to_owned(),
            command: String::new(),
            shard: None,
        }),
        occurred_unix_ms: 0,
        error_id: error_id.to_owned(),
        attributes: HashMap::new(),
    }
}

#[tokio::test]
async fn errors_are_grouped_counted_and_found_by_id_and_guild() {
    let db = ok(TestDatabase::create("telemetry").await);
    let (collector, addr) = ok(tower_tests::stack::standalone_collector(&db).await);
    let mut client = ok(tower_daemon::grpc::collector_client(
        &format!("http://{addr}"),
        &tower_daemon::grpc::ClientSecurity::plaintext(ok(AuthToken::new(TOKEN))),
    ));

    let batch = ReportRequest {
        process: Some(ProcessInfo {
            kind: ProcessKind::SftpWorker as i32,
            instance: "sftp-worker-test-1".to_owned(),
            version: "0.1.0".to_owned(),
            host: "test".to_owned(),
        }),
        events: vec![
            error(
                "auth failed for user 'alpha' on 10.0.0.1:22",
                111,
                "E-TESTAAAAAA1",
            ),
            error(
                "auth failed for user 'beta' on 10.0.0.2:2222",
                111,
                "E-TESTAAAAAA2",
            ),
            error("auth failed for user 'gamma' on 10.0.0.3:22", 222, ""),
        ],
    };
    let reply = ok(client.report(batch.clone()).await).into_inner();
    assert_eq!(reply.accepted, 3);
    assert_eq!(&reply.error_ids[..2], ["E-TESTAAAAAA1", "E-TESTAAAAAA2"]);
    assert!(reply.error_ids[2].starts_with("E-"));

    // A retried batch (same error ids) is not counted twice.
    let mut replay = batch.clone();
    replay.events.truncate(2);
    ok(client.report(replay).await);

    let top = top_groups(&mut client, 0).await;
    assert_eq!(
        top.len(),
        1,
        "three occurrences differing only in data are one group"
    );
    assert_eq!(top[0].count, 3);
    assert_eq!(top[0].message, "auth failed for user '…' on #.#.#.#:#");
    let windowed = top_groups(&mut client, 3600).await;
    assert_eq!(windowed.first().map(|g| g.count), Some(3));

    let one = ok(client
        .get_error(GetErrorRequest {
            error_id: "E-TESTAAAAAA2".to_owned(),
            guild_id: 0,
        })
        .await)
    .into_inner();
    assert_eq!(one.message, "auth failed for user 'beta' on 10.0.0.2:2222");
    assert_eq!(one.last_context.map(|c| c.guild_id), Some(111));
    assert_eq!(one.count, 3);
    let missing = client
        .get_error(GetErrorRequest {
            error_id: "E-NOSUCHTHING".to_owned(),
            guild_id: 0,
        })
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(missing, Some(tonic::Code::NotFound));
    // Scoped to a guild (an admin's /debug): found in its own guild, not in another's.
    let in_guild = |guild_id| GetErrorRequest {
        error_id: "E-TESTAAAAAA2".to_owned(),
        guild_id,
    };
    ok(client.get_error(in_guild(111)).await);
    let elsewhere = client
        .get_error(in_guild(222))
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(
        elsewhere,
        Some(tonic::Code::NotFound),
        "another guild's error"
    );

    // A batch sent again with new events behind the old ones (the reporter's retry after a
    // lost answer): the old ones are not counted again, the new one is.
    let mut retry = batch.clone();
    retry.events.truncate(1);
    retry.events.push(error(
        "auth failed for user 'delta' on 10.0.0.4:22",
        111,
        "E-TESTAAAAAA4",
    ));
    ok(client.report(retry).await);
    let top = top_groups(&mut client, 0).await;
    assert_eq!(top.first().map(|g| g.count), Some(4));

    let guild = ok(client
        .guild_errors(GuildErrorsRequest {
            guild_id: 222,
            limit: 10,
        })
        .await)
    .into_inner()
    .errors;
    assert_eq!(guild.len(), 1, "a guild sees only its own errors");
    assert!(guild[0].message.contains("gamma"));

    // A message that quotes a secret (a caller's mistake) is stored without it.
    let mut leaky = batch.clone();
    leaky.events = vec![error(
        "connect to mongodb://tower:hunter2@db.example:27017 failed; password=hunter2",
        333,
        "",
    )];
    ok(client.report(leaky).await);
    let stored = ok(client
        .guild_errors(GuildErrorsRequest {
            guild_id: 333,
            limit: 10,
        })
        .await)
    .into_inner()
    .errors;
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].message,
        "connect to mongodb://tower:[redacted]@db.example:27017 failed; password=[redacted]"
    );

    assert!(ok(collector.stop(Duration::from_secs(20)).await).success());
    ok(db.drop_database().await);
}

/// The collector goes away and comes back on the same address: reporting never waits on
/// it, what the queue holds arrives once it is back, and what did not fit is counted.
#[tokio::test]
async fn the_collector_away_and_back_loses_nothing_the_queue_holds_and_counts_the_rest() {
    use tower_daemon::telemetry::{MAX_BATCH, QUEUE, Telemetry};

    let db = ok(TestDatabase::create("telemetry_away").await);
    let (collector, addr) = ok(tower_tests::stack::standalone_collector(&db).await);
    let security = tower_daemon::grpc::ClientSecurity::plaintext(ok(AuthToken::new(TOKEN)));
    let (_stop, shutdown) = tower_daemon::shutdown::Shutdown::new();
    let me = tower_daemon::process::ProcessIdentity::new(ProcessKind::SftpWorker);
    let (telemetry, _reporter) = ok(Telemetry::start(
        &format!("http://{addr}"),
        &security,
        &me,
        shutdown,
    ));
    assert!(ok(collector.stop(Duration::from_secs(20)).await).success());

    // While it is away: errors first (they fit), then more than the queue holds.
    let ids: Vec<String> = (0..10)
        .map(|i| {
            telemetry.error(
                "poll.killfeed",
                format!("read failed while the collector was away ({i})"),
                "test",
                None,
            )
        })
        .collect();
    let flood = QUEUE + MAX_BATCH + 500;
    for i in 0..flood {
        telemetry.info("test.flood", format!("flood {i}"));
    }
    assert!(
        telemetry.dropped() >= 500,
        "what did not fit is counted: {}",
        telemetry.dropped()
    );

    // Back on the same address.
    let mut spec = tower_tests::daemon::DaemonSpec::grpc(
        "telemetry-collector",
        vec![
            ("MONGODB_URI".to_owned(), db.uri.clone()),
            ("TOWER_MONGODB_DATABASE".to_owned(), db.name.clone()),
            ("TOWER_AUTH_TOKEN".to_owned(), TOKEN.to_owned()),
        ],
    );
    spec.args = vec![
        "--log-format".into(),
        "json".into(),
        "--listen".into(),
        addr.to_string(),
    ];
    let back = ok(tower_tests::daemon::Daemon::spawn(spec).await);
    assert_eq!(ok(back.grpc_addr(tower_tests::WAIT).await), addr);
    ok(back.wait_serving(addr, "", tower_tests::WAIT).await);
    let mut client = ok(tower_daemon::grpc::collector_client(
        &format!("http://{addr}"),
        &security,
    ));
    for id in &ids {
        let found = ok(tokio::time::timeout(tower_tests::WAIT, async {
            loop {
                let request = GetErrorRequest {
                    error_id: id.clone(),
                    guild_id: 0,
                };
                if let Ok(e) = client.get_error(request).await {
                    break e.into_inner();
                }
                // The reporter retries with a backoff of up to 30 s.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await);
        assert!(found.message.contains("while the collector was away"));
    }
    assert!(ok(back.stop(Duration::from_secs(20)).await).success());
    ok(db.drop_database().await);
}
