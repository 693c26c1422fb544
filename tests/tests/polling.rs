//! Polling over real SFTP: a registered server's killfeed and log become statistics and
//! notifications as they grow, over one kept connection, and a replaced log is read anew; a guild never has more SSH
//! sessions open than its tier allows; a backfill cut short by a killed sshd session or a
//! killed worker goes on from its cursor; two workers split 50 servers with leases and one
//! killed with SIGKILL has its servers taken over — nothing lost or doubled.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures_util::StreamExt;
use mongodb::bson::{Document, doc};
use tower_ingest::ingest::parse_killfeed_chunk;
use tower_ingest::stats::ServerStats;
use tower_proto::v1::notification::Payload;
use tower_proto::v1::{
    ListFilesRequest, NotificationsRequest, ServerRef, ServerStatusRequest, ShardRange,
    TestServerRequest,
};
use tower_store::cursor_store::CursorStore;
use tower_store::game_servers::{Credential, GameServerStore, NewGameServer};
use tower_store::guilds::GuildStore;
use tower_store::ids::{GuildId, ServerId};
use tower_store::secret::{Redacted, SecretKey};
use tower_store::stats_store::StatsStore;
use tower_store::tier::Tier;
use tower_tests::WAIT;
use tower_tests::backing::{TestDatabase, sshd_port};
use tower_tests::daemon::Daemon;
use tower_tests::sftp_home::{Home, lines, unique_server_id};
use tower_tests::sockets::{established_by_any, established_to, server_side_of};
use tower_tests::stack::{standalone_worker, worker_client};
use tower_tests::support::{eventually, first_read_done, fixture, ok, required_env};

/// A worker that may reach the test sshd on loopback and polls every second (unless
/// `extra` says otherwise).
async fn worker(
    db: &TestDatabase,
    key: &str,
    extra: &[(&str, &str)],
) -> (Daemon, std::net::SocketAddr) {
    let mut env = vec![
        ("TOWER_SFTP_ALLOW_LOOPBACK", "true"),
        ("TOWER_POLL_INTERVAL_SECS", "1"),
    ];
    env.extend_from_slice(extra);
    ok(standalone_worker(db, key, &env).await)
}

async fn register(db: &TestDatabase, key: &SecretKey, guild: GuildId, server_id: &str) {
    register_at(db, key, guild, server_id, ok(sshd_port())).await;
}

/// [`register`], the game host reached on `port` (a delay line's).
async fn register_at(
    db: &TestDatabase,
    key: &SecretKey,
    guild: GuildId,
    server_id: &str,
    port: u16,
) {
    let handle = ok(db.open().await);
    let new = NewGameServer {
        server: ok(ServerId::parse(server_id)),
        name: format!("Server {server_id}"),
        host: "127.0.0.1".to_owned(),
        port,
        username: required_env("TOWER_TEST_SFTP_USER"),
        credential: Credential::Password(Redacted::new(required_env("TOWER_TEST_SFTP_PASSWORD"))),
    };
    ok(GameServerStore::new(&handle)
        .add(guild, new, Some(key))
        .await);
}

#[tokio::test]
async fn a_server_is_polled_into_stats_and_notifications_over_one_connection() {
    let db = ok(TestDatabase::create("polling").await);
    let home = Home::new("polling");
    let key_text = ok(SecretKey::generate_base64());
    let key = ok(SecretKey::from_base64(&key_text));
    let guild = GuildId(444_444_444_444_444_444);
    let server_id = unique_server_id();
    let file = fixture("2025.05.01-00.00.00.csv");
    let csv = home.killfeed(&server_id).join("2025.05.01-00.00.00.csv");
    // What the files hold at the first read is history: they start empty.
    ok(std::fs::write(&csv, ""));
    ok(std::fs::write(home.log(&server_id), ""));
    let id = "0002e69a65204b669c20238266782d7b";
    register(&db, &key, guild, &server_id).await;
    let (daemon, addr) = worker(&db, &key_text, &[]).await;
    first_read_done(&db.handle(), guild.0, &server_id).await;
    ok(std::fs::write(&csv, lines(&file, 100)));
    ok(std::fs::write(
        home.log(&server_id),
        format!(
            "Log file open, 05/03/25 02:00:00\n\
             [2025.05.03-02.01.50:297][ 42]LogNet: Join request: /Game/Maps/world_0/World_0?logintype=eos&login=Nj&Name=Nj&eosid=|{id}\n\
             [2025.05.03-02.01.52:004][ 43]LogOnline: Warning: Player |{id} successfully registered!\n\
             [2025.05.03-02.10.00:000][  1]LogSFPS: Mission GA_Military_02_mis1 switched to READY\n"
        ),
    ));
    let mut client = worker_client(addr);
    let mut stream = ok(client
        .notifications(NotificationsRequest {
            shards: Some(ShardRange {
                first: 0,
                last: 0,
                total: 1,
            }),
            subscriber: "test-gateway".to_owned(),
            // From the oldest: the worker may have stored some before this subscribes.
            resume_after: "0".to_owned(),
        })
        .await)
    .into_inner();

    // The first 100 lines, then the rest once the file grows: every line notified once.
    let mut killfeed = 0;
    let mut kinds = HashSet::new();
    let mut last_cursor = String::new();
    let mut collect = async |want: usize, killfeed: &mut usize| {
        let done = tokio::time::timeout(WAIT, async {
            while *killfeed < want {
                let Some(Ok(n)) = stream.next().await else {
                    return false;
                };
                last_cursor = n.cursor.clone();
                match n.payload {
                    Some(Payload::Kill(_) | Payload::Suicide(_) | Payload::EnvironmentDeath(_)) => {
                        *killfeed += 1
                    }
                    Some(other) => {
                        kinds.insert(
                            format!("{other:?}")
                                .split('(')
                                .next()
                                .unwrap_or_default()
                                .to_owned(),
                        );
                    }
                    None => {}
                }
            }
            true
        })
        .await;
        assert_eq!(done, Ok(true), "notifications stopped at {killfeed}");
    };
    collect(100, &mut killfeed).await;
    ok(std::fs::write(&csv, &file));
    collect(258, &mut killfeed).await;
    assert!(
        kinds.contains("Connection")
            && kinds.contains("PlayerCount")
            && kinds.contains("GameEvent"),
        "{kinds:?}"
    );

    // The statistics are the file's, exactly.
    let handle = ok(db.open().await);
    let stored = ok(StatsStore::new(&handle).load(guild.0, &server_id).await);
    let mut expected = ServerStats::default();
    expected.apply(&parse_killfeed_chunk("f", &file, 0, true).events);
    assert_eq!(stored.totals, expected.totals);
    assert_eq!(stored.players.len(), expected.players.len());

    // Steady state: several polls, one SSH connection.
    let status = handle.raw().collection::<Document>("server_status");
    let sid = format!("{}:{server_id}", guild.0);
    eventually("three more polls", WAIT, || {
        let status = status.clone();
        let sid = sid.clone();
        async move {
            let doc = status.find_one(doc! { "_id": sid }).await.ok().flatten();
            doc.is_some_and(|d| d.get_i64("polls").unwrap_or(0) >= 5)
        }
    })
    .await;
    let doc = ok(status.find_one(doc! { "_id": &sid }).await);
    assert_eq!(
        doc.as_ref()
            .and_then(|d| d.get_i64("connections_opened").ok()),
        Some(1),
        "{doc:?}"
    );
    assert_eq!(
        doc.as_ref().and_then(|d| d.get_str("last_error").ok()),
        Some("")
    );

    // The log is replaced by a shorter one (the game server restarted): it is read from
    // its start, and the players counted are the new log's, not the old one's.
    let other = "00024afed387453195c040bb85708405";
    ok(std::fs::write(
        home.log(&server_id),
        format!(
            "Log file open, 05/04/25 09:00:00\n\
             [2025.05.04-09.00.05:000][  1]LogNet: Join request: /Game/Maps/world_0/World_0?logintype=eos&login=Q&Name=Q&eosid=|{other}\n\
             [2025.05.04-09.00.07:000][  2]LogOnline: Warning: Player |{other} successfully registered!\n"
        ),
    ));
    let cursors = CursorStore::new(&handle);
    eventually("only the new log's player online", WAIT, || async {
        cursors
            .load_log(guild.0, &server_id)
            .await
            .is_ok_and(|s| s.online == vec![other.to_owned()])
    })
    .await;

    // A subscriber that acknowledged resumes after its acknowledgement.
    ok(client
        .ack_notifications(tower_proto::v1::AckNotificationsRequest {
            subscriber: "test-gateway".to_owned(),
            cursors: vec![last_cursor.clone()],
        })
        .await);
    let outbox = handle.raw().collection::<Document>("notification_acks");
    let acked = ok(outbox.find_one(doc! { "_id": "test-gateway" }).await);
    assert_eq!(
        acked
            .and_then(|d| d.get_i64("seq").ok())
            .map(|s| s.to_string()),
        Some(last_cursor)
    );

    assert!(ok(daemon.stop(Duration::from_secs(20)).await).success());
    ok(db.drop_database().await);
}

#[tokio::test]
async fn two_workers_split_the_servers_and_a_killed_one_is_taken_over_exactly() {
    const SERVERS: usize = 50;
    const GUILDS: usize = 5;
    let db = ok(TestDatabase::create("leases").await);
    let home = Home::new("leases");
    let key_text = ok(SecretKey::generate_base64());
    let key = ok(SecretKey::from_base64(&key_text));
    let file = fixture("2025.05.15-00.00.00.csv");
    let base = 10_000 + (std::process::id() % 1000) * 100;
    // 50 servers over 5 guilds (a guild's servers may be on either worker).
    let servers: Vec<(GuildId, String)> = (0..SERVERS)
        .map(|i| {
            (
                GuildId(555_555_555_555_555_000 + (i % GUILDS) as u64),
                (base as usize + i).to_string(),
            )
        })
        .collect();
    for (guild, id) in &servers {
        ok(std::fs::write(
            home.killfeed(id).join("2025.05.15-00.00.00.csv"),
            lines(&file, 10),
        ));
        register(&db, &key, *guild, id).await;
    }
    // Ten servers a guild: Warlord's slots.
    let guilds = GuildStore::new(&ok(db.open().await));
    for g in 0..GUILDS {
        ok(guilds
            .set_tier(555_555_555_555_555_000 + g as u64, Tier::WARLORD)
            .await);
    }
    let extra = [("TOWER_LEASE_SECS", "4")];
    let (first, _) = worker(&db, &key_text, &extra).await;
    let (second, _) = worker(&db, &key_text, &extra).await;
    let handle = ok(db.open().await);
    let leases = handle.raw().collection::<Document>("server_leases");
    let recorded = StatsStore::new(&handle);

    // Each worker holds its fair share (25 of 50), and every server's first 10 lines are in.
    eventually(
        "the servers split evenly over both workers and read",
        Duration::from_secs(90),
        || {
            let (leases, recorded) = (leases.clone(), recorded.clone());
            async move {
                let owners: Vec<String> = match leases.find(doc! {}).await {
                    Ok(c) => {
                        c.filter_map(|d| async { d.ok()?.get_str("owner").ok().map(str::to_owned) })
                            .collect()
                            .await
                    }
                    Err(_) => return false,
                };
                let mut held: HashMap<&str, usize> = HashMap::new();
                for owner in &owners {
                    *held.entry(owner.as_str()).or_default() += 1;
                }
                held.len() == 2
                    && held.values().all(|&n| n == SERVERS / 2)
                    && recorded
                        .lines_recorded(doc! {})
                        .await
                        .is_ok_and(|n| n == 10 * SERVERS as u64)
            }
        },
    )
    .await;

    // SIGKILL one worker; the files grow; the other takes everything over.
    ok(first.kill().await);
    for (_, id) in &servers {
        ok(std::fs::write(
            home.killfeed(id).join("2025.05.15-00.00.00.csv"),
            lines(&file, 40),
        ));
    }
    eventually(
        "every line of every server, once",
        Duration::from_secs(90),
        || {
            let recorded = recorded.clone();
            async move {
                recorded
                    .lines_recorded(doc! {})
                    .await
                    .is_ok_and(|n| n == 40 * SERVERS as u64)
            }
        },
    )
    .await;
    let stats = StatsStore::new(&handle);
    let mut expected = ServerStats::default();
    expected.apply(&parse_killfeed_chunk("f", lines(&file, 40), 0, true).events);
    // A batch stores its lines before it updates the statistics: wait for the updates.
    eventually("every server's statistics complete", WAIT, || {
        let (stats, servers, expected) = (&stats, &servers, &expected);
        async move {
            for (guild, id) in servers {
                match stats.load(guild.0, id).await {
                    Ok(s) if s.totals == expected.totals => {}
                    _ => return false,
                }
            }
            true
        }
    })
    .await;
    for (guild, id) in &servers {
        let stored = ok(stats.load(guild.0, id).await);
        assert_eq!(stored.totals, expected.totals, "server {id}");
    }
    assert!(ok(second.stop(Duration::from_secs(20)).await).success());
    ok(db.drop_database().await);
}

/// A tier table where tier 0 has more server slots (4) than connections (2).
const QUOTA_TIERS: &str = r#"
[[premium.tiers]]
tier = 0
name = "Scavenger"
game_servers = 4
sftp_connections = 2
killfeed_poll_secs = 60

[[premium.tiers]]
tier = 1
name = "Survivor"
game_servers = 4
sftp_connections = 5
killfeed_poll_secs = 30

[[premium.tiers]]
tier = 2
name = "Mercenary"
game_servers = 5
sftp_connections = 10
killfeed_poll_secs = 15

[[premium.tiers]]
tier = 3
name = "Warlord"
game_servers = 10
sftp_connections = 20
killfeed_poll_secs = 10

[[premium.tiers]]
tier = 4
name = "Overseer"
game_servers = 25
sftp_connections = 40
killfeed_poll_secs = 5
"#;

#[tokio::test]
async fn a_guild_never_has_more_connections_open_than_its_tier_allows() {
    const SERVERS: usize = 4;
    let db = ok(TestDatabase::create("quota").await);
    let home = Home::new("quota");
    let key_text = ok(SecretKey::generate_base64());
    let key = ok(SecretKey::from_base64(&key_text));
    let guild = GuildId(666_666_666_666_666_666);
    let file = fixture("2025.05.15-00.00.00.csv");
    for _ in 0..SERVERS {
        let id = unique_server_id();
        ok(std::fs::write(
            home.killfeed(&id).join("2025.05.15-00.00.00.csv"),
            lines(&file, 10),
        ));
        register(&db, &key, guild, &id).await;
    }
    // No grant: tier 0, here with four server slots but 2 SFTP connections (the default
    // tiers never give a guild more servers than connections).
    let tiers = home.config_file("tiers.toml", QUOTA_TIERS);
    let (worker, _) = worker(
        &db,
        &key_text,
        &[("TOWER_LEASE_SECS", "3"), ("TOWER_CONFIG", tiers.as_str())],
    )
    .await;
    let pid = worker.pid().unwrap_or(0);
    let port = ok(sshd_port());
    let handle = ok(db.open().await);
    let status = handle.raw().collection::<Document>("server_status");
    let recorded = StatsStore::new(&handle);

    // Watch the worker's SSH sessions from outside while every server is polled three
    // times (the samples only observe; what ends the loop is the poll count).
    let mut most = 0;
    let deadline = std::time::Instant::now() + 2 * WAIT;
    loop {
        most = most.max(ok(established_to(pid, port)).len());
        let polled = ok(status
            .count_documents(doc! { "polls": { "$gte": 3 } })
            .await);
        if polled == SERVERS as u64 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {polled} of {SERVERS} servers polled three times"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(most, 2, "a tier-0 guild's sessions open at once");
    assert_eq!(
        ok(recorded.lines_recorded(doc! {}).await),
        10 * SERVERS as u64
    );

    // Mercenary (10 connections): every server keeps its own session.
    ok(GuildStore::new(&handle)
        .set_tier(guild.0, Tier::MERCENARY)
        .await);
    eventually("each of the four servers keeps a session", WAIT, || async {
        established_to(pid, port).is_ok_and(|open| open.len() == SERVERS)
    })
    .await;
    assert!(ok(worker.stop(Duration::from_secs(20)).await).success());
    ok(db.drop_database().await);
}

#[tokio::test]
async fn a_guild_s_quota_holds_across_three_workers_while_its_commands_run() {
    const SERVERS: usize = 4;
    let db = ok(TestDatabase::create("quota_workers").await);
    let home = Home::new("quota_workers");
    let key_text = ok(SecretKey::generate_base64());
    let key = ok(SecretKey::from_base64(&key_text));
    let guild = GuildId(666_666_666_666_666_667);
    let file = fixture("2025.05.15-00.00.00.csv");
    let mut ids = Vec::new();
    for _ in 0..SERVERS {
        let id = unique_server_id();
        ok(std::fs::write(
            home.killfeed(&id).join("2025.05.15-00.00.00.csv"),
            lines(&file, 10),
        ));
        register(&db, &key, guild, &id).await;
        ids.push(id);
    }
    // Tier 0 (no grant), here with four server slots and 2 SFTP connections.
    let tiers = home.config_file("tiers.toml", QUOTA_TIERS);
    let env = [("TOWER_LEASE_SECS", "3"), ("TOWER_CONFIG", tiers.as_str())];
    let mut workers = Vec::new();
    for _ in 0..3 {
        workers.push(worker(&db, &key_text, &env).await);
    }
    let pids: Vec<u32> = workers.iter().filter_map(|(w, _)| w.pid()).collect();
    let port = ok(sshd_port());
    let handle = ok(db.open().await);
    let status = handle.raw().collection::<Document>("server_status");

    // While the servers are polled, every worker runs `/test_sftp` and `/list_sftp_files`
    // for the guild, again and again.
    let addrs: Vec<std::net::SocketAddr> = workers.iter().map(|(_, a)| *a).collect();
    let commands = tokio::spawn({
        let ids = ids.clone();
        async move {
            let (mut tested, mut listed, mut failed) = (0, 0, Vec::new());
            for round in 0..3 {
                let calls = addrs.iter().enumerate().map(|(i, addr)| {
                    let server = ServerRef {
                        guild_id: guild.0,
                        server_id: ids[(i + round) % ids.len()].clone(),
                    };
                    let mut client = worker_client(*addr);
                    async move {
                        let test = client.test_server(TestServerRequest {
                            server: Some(server.clone()),
                        });
                        let test = test.await.map(|r| {
                            let r = r.into_inner();
                            (r.ok, format!("{:?}", r.steps))
                        });
                        let list = client
                            .list_files(ListFilesRequest {
                                server: Some(server),
                                path: String::new(),
                                pattern: String::new(),
                                limit: 0,
                                log_folder: false,
                            })
                            .await
                            .map(|r| !r.into_inner().entries.is_empty());
                        (test, list)
                    }
                });
                for (test, list) in futures_util::future::join_all(calls).await {
                    match test {
                        Ok((true, _)) => tested += 1,
                        other => failed.push(format!("{other:?}")),
                    }
                    match list {
                        Ok(true) => listed += 1,
                        other => failed.push(format!("{other:?}")),
                    }
                }
            }
            (tested, listed, failed)
        }
    });

    // Watch the workers' SSH sessions from outside until every server is polled three
    // times and the commands are done (the samples only observe).
    let mut most = 0;
    let deadline = std::time::Instant::now() + 3 * WAIT;
    loop {
        // One snapshot of every worker's sessions (one read of the connection table).
        let open = established_by_any(&pids, port).unwrap_or(0);
        most = most.max(open);
        let polled = ok(status
            .count_documents(doc! { "polls": { "$gte": 3 } })
            .await);
        if polled == SERVERS as u64 && commands.is_finished() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {polled} of {SERVERS} servers polled three times, commands finished: {}",
            commands.is_finished()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (tested, listed, failed) = ok(commands.await);
    assert_eq!(
        (tested, listed),
        (9, 9),
        "every command went through: {failed:?}"
    );
    assert!(
        most <= 2,
        "a tier-0 guild had {most} sessions open at once across three workers"
    );
    for (worker, _) in workers {
        assert!(ok(worker.stop(Duration::from_secs(20)).await).success());
    }
    ok(db.drop_database().await);
}

#[tokio::test]
async fn a_guild_past_its_ingest_budget_pauses_until_the_hour_ends_and_says_so() {
    let db = ok(TestDatabase::create("budget").await);
    let home = Home::new("budget");
    let key_text = ok(SecretKey::generate_base64());
    let key = ok(SecretKey::from_base64(&key_text));
    let guild = GuildId(666_666_666_666_666_668);
    let server_id = unique_server_id();
    let file = fixture("2025.05.15-00.00.00.csv");
    let csv = home.killfeed(&server_id).join("2025.05.15-00.00.00.csv");
    ok(std::fs::write(&csv, lines(&file, 10)));
    register(&db, &key, guild, &server_id).await;
    // Tier 0 may read 100 lines an hour here.
    let tiers = home.config_file(
        "tiers.toml",
        &QUOTA_TIERS.replacen(
            "killfeed_poll_secs = 60\n",
            "killfeed_poll_secs = 60\ningest_mib_per_hour = 1\ningest_lines_per_hour = 100\n",
            1,
        ),
    );
    let (worker, addr) = worker(&db, &key_text, &[("TOWER_CONFIG", tiers.as_str())]).await;
    first_read_done(&db.handle(), guild.0, &server_id).await;
    let handle = ok(db.open().await);
    let recorded = StatsStore::new(&handle);
    let key_id = format!("{}:{server_id}", guild.0);
    let status = handle.raw().collection::<Document>("server_status");

    // 200 lines more: read (a poll is not cut short), and the budget is used up.
    ok(std::fs::write(&csv, lines(&file, 210)));
    eventually("the guild paused with a reason", WAIT, || async {
        ok(status.find_one(doc! { "_id": &key_id }).await)
            .and_then(|d| d.get_str("paused").ok().map(str::to_owned))
            .is_some_and(|p| p.contains("ingest budget"))
    })
    .await;
    assert_eq!(ok(recorded.lines_recorded(doc! {}).await), 210);
    let reply = ok(worker_client(addr)
        .server_status(ServerStatusRequest {
            guild_id: guild.0,
            server_id: server_id.clone(),
        })
        .await)
    .into_inner();
    let paused = reply
        .servers
        .first()
        .map(|s| s.paused.clone())
        .unwrap_or_default();
    assert!(
        paused.contains("210 of 100 lines") && paused.contains("reading resumes at"),
        "/csv_status says why and until when: {paused}"
    );

    // More lines are not read for the rest of the hour. (That nothing happens can only
    // be watched: three poll intervals.)
    ok(std::fs::write(&csv, lines(&file, 220)));
    let polls = |d: Option<Document>| d.and_then(|d| d.get_i64("polls").ok()).unwrap_or(0);
    let before = polls(ok(status.find_one(doc! { "_id": &key_id }).await));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        polls(ok(status.find_one(doc! { "_id": &key_id }).await)),
        before,
        "no poll while paused"
    );
    assert_eq!(ok(recorded.lines_recorded(doc! {}).await), 210);
    assert!(ok(worker.stop(Duration::from_secs(20)).await).success());
    ok(db.drop_database().await);
}

/// The SSH sessions the workers reported opening for a server (`guild:server`).
async fn opened(status: &mongodb::Collection<Document>, key: &str) -> Option<i64> {
    status
        .find_one(doc! { "_id": key })
        .await
        .ok()
        .flatten()
        .and_then(|d| d.get_i64("connections_opened").ok())
}

/// What cuts a backfill short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interruption {
    /// The sshd processes serving the worker's session are killed -9.
    SshdSession,
    /// The worker itself is killed -9, and a new one started.
    Worker,
}

#[tokio::test]
async fn an_sshd_session_killed_mid_backfill_loses_and_doubles_nothing() {
    backfill_interrupted(Interruption::SshdSession).await;
}

#[tokio::test]
async fn a_worker_killed_mid_backfill_and_restarted_loses_and_doubles_nothing() {
    backfill_interrupted(Interruption::Worker).await;
}

/// A backfill of ten files is cut short as soon as the first file's lines are in; it
/// goes on from its cursor, and every line is counted once.
async fn backfill_interrupted(how: Interruption) {
    const FILES: usize = 10;
    let test = match how {
        Interruption::SshdSession => "sshd_killed",
        Interruption::Worker => "worker_killed",
    };
    let db = ok(TestDatabase::create(test).await);
    let home = Home::new(test);
    let key_text = ok(SecretKey::generate_base64());
    let key = ok(SecretKey::from_base64(&key_text));
    let guild = GuildId(777_777_777_777_777_777);
    let id = unique_server_id();
    // Ten hourly files (a read and a batch each, see below), each line distinct: the fixture's
    // lines with the year changed per file.
    let fixture_lines = fixture("2025.05.15-00.00.00.csv");
    let mut all = Vec::new();
    for hour in 0..FILES {
        let mut file = Vec::new();
        for line in fixture_lines.split_inclusive(|&b| b == b'\n') {
            file.extend_from_slice(format!("{}", 2030 + hour).as_bytes());
            file.extend_from_slice(line.get(4..).unwrap_or_default());
        }
        ok(std::fs::write(
            home.killfeed(&id)
                .join(format!("2025.05.15-{hour:02}.00.00.csv")),
            &file,
        ));
        all.extend_from_slice(&file);
    }
    let mut expected = ServerStats::default();
    expected.apply(&parse_killfeed_chunk("f", &all, 0, true).events);
    let total = expected.totals.kills
        + expected.totals.suicides.total()
        + expected.totals.environment_deaths;
    register(&db, &key, guild, &id).await;
    // A short lease, so that a restarted worker takes the server over soon; batches of
    // one file each, so that the backfill takes ten batches to cut between.
    let lease = [("TOWER_LEASE_SECS", "3"), ("TOWER_BATCH_KIB", "32")];
    let (first, _) = worker(&db, &key_text, &lease).await;
    let pid = first.pid().unwrap_or(0);
    let port = ok(sshd_port());
    let handle = ok(db.open().await);
    let recorded = StatsStore::new(&handle);

    // As soon as the first file's lines are in, the backfill is cut between two reads.
    eventually("the backfill under way", WAIT, || async {
        recorded.lines_recorded(doc! {}).await.is_ok_and(|n| n > 0)
    })
    .await;
    let status = handle.raw().collection::<Document>("server_status");
    let status_id = format!("{}:{id}", guild.0);
    // What the killed worker had reported of the sessions it opened (it reports each
    // second; a worker killed -9 loses its last second of reports).
    let mut opened_before_restart = 0;
    let worker = match how {
        Interruption::SshdSession => {
            // No poll has failed yet: one that fails below failed on the cut session.
            let poll_failed = |l: &tower_tests::daemon::LogLine| l.message() == Some("poll failed");
            assert!(
                !first.logs().iter().any(poll_failed),
                "a poll failed before the cut"
            );
            let mut killed = Vec::new();
            for client_port in ok(established_to(pid, port)) {
                for sshd in ok(server_side_of(client_port, port)) {
                    if let Some(p) = rustix::process::Pid::from_raw(sshd as i32) {
                        ok(rustix::process::kill_process(
                            p,
                            rustix::process::Signal::KILL,
                        ));
                        killed.push(sshd);
                    }
                }
            }
            assert!(!killed.is_empty(), "no sshd process served the worker");
            // The cut was seen: a poll failed on the dead session.
            ok(first
                .wait_for_log("a poll cut short", WAIT, poll_failed)
                .await);
            first
        }
        Interruption::Worker => {
            ok(first.kill().await);
            opened_before_restart = opened(&status, &status_id).await.unwrap_or(0);
            worker(&db, &key_text, &lease).await.0
        }
    };
    let stored_when_killed = ok(recorded.lines_recorded(doc! {}).await);
    assert!(
        stored_when_killed < total,
        "the backfill ended before it was cut ({stored_when_killed} of {total} lines)"
    );

    // The session is reopened (by the same worker or the new one) and the backfill goes
    // on from its cursor: every line once.
    let stats = StatsStore::new(&handle);
    eventually(
        "every line counted once after the reconnect",
        2 * WAIT,
        || {
            let (stats, recorded, expected, id) = (&stats, &recorded, &expected, &id);
            async move {
                recorded
                    .lines_recorded(doc! {})
                    .await
                    .is_ok_and(|n| n == total)
                    && stats
                        .load(guild.0, id)
                        .await
                        .is_ok_and(|s| s.totals == expected.totals)
            }
        },
    )
    .await;
    let stored = ok(stats.load(guild.0, &id).await);
    assert_eq!(stored.players, expected.players);
    // Sessions opened, as reported: one, then one more after the cut (by the same worker,
    // or by the new one after what the killed one had reported).
    let expected = match how {
        Interruption::SshdSession => 2,
        Interruption::Worker => opened_before_restart + 1,
    };
    eventually("the reopened session reported", WAIT, || async {
        opened(&status, &status_id).await == Some(expected)
    })
    .await;
    assert!(ok(worker.stop(Duration::from_secs(20)).await).success());
    ok(db.drop_database().await);
}

#[tokio::test]
async fn two_guilds_with_the_same_host_and_server_id_stay_apart() {
    let db = ok(TestDatabase::create("isolation").await);
    let home = Home::new("isolation");
    let key_text = ok(SecretKey::generate_base64());
    let key = ok(SecretKey::from_base64(&key_text));
    let (alpha, beta) = (
        GuildId(666_666_666_666_666_666),
        GuildId(777_777_777_777_777_777),
    );
    let server_id = unique_server_id();
    let file = fixture("2025.05.01-00.00.00.csv");
    ok(std::fs::write(
        home.killfeed(&server_id).join("2025.05.01-00.00.00.csv"),
        &file,
    ));
    register(&db, &key, alpha, &server_id).await;
    register(&db, &key, beta, &server_id).await;
    let (daemon, _) = worker(&db, &key_text, &[]).await;
    let handle = ok(db.open().await);
    let status = handle.raw().collection::<Document>("server_status");
    eventually("both guilds' servers polled", WAIT, || {
        let status = status.clone();
        async move {
            status
                .count_documents(doc! { "polls": { "$gte": 2 } })
                .await
                .is_ok_and(|n| n == 2)
        }
    })
    .await;
    let mut expected = ServerStats::default();
    expected.apply(&parse_killfeed_chunk("f", &file, 0, true).events);
    let stats = StatsStore::new(&handle);
    for guild in [alpha, beta] {
        // Each guild counts the file for itself, on a connection of its own.
        assert_eq!(
            ok(stats.load(guild.0, &server_id).await).totals,
            expected.totals
        );
        let doc = ok(status
            .find_one(doc! { "_id": format!("{}:{server_id}", guild.0) })
            .await);
        assert_eq!(
            doc.and_then(|d| d.get_i64("connections_opened").ok()),
            Some(1)
        );
    }
    assert!(ok(daemon.stop(Duration::from_secs(20)).await).success());
    ok(db.drop_database().await);
}

/// A backfill of every file not read yet of `server_id` of `guild`.
fn backfill(guild: u64, server_id: &str) -> tower_proto::v1::StartBackfillRequest {
    tower_proto::v1::StartBackfillRequest {
        server: Some(tower_proto::v1::ServerRef {
            guild_id: guild,
            server_id: server_id.to_owned(),
        }),
        days: 0,
    }
}

/// A backfill whose progress stream broke is followed again by its id (`WatchBackfill`,
/// what the gateway does when its connection to the worker drops): the same backfill,
/// to the same end.
#[tokio::test]
async fn a_backfill_followed_again_by_its_id_reaches_the_same_end() {
    use tower_proto::v1::{BackfillState, WatchBackfillRequest};
    use tower_tests::delay_line::{DelayLine, Link};
    let db = ok(TestDatabase::create("backfill_watch").await);
    let home = Home::new("backfill_watch");
    let key_text = ok(SecretKey::generate_base64());
    let key = ok(SecretKey::from_base64(&key_text));
    let guild = GuildId(888_888_888_888_888_887);
    let server_id = unique_server_id();
    let dir = home.killfeed(&server_id);
    // Every round trip to the game host takes 300 ms: the backfill runs for a second or
    // more, and is followed again long before it can end.
    let sshd = std::net::SocketAddr::from(([127, 0, 0, 1], ok(sshd_port())));
    let line = ok(DelayLine::start(sshd, Link::new(300, 0)).await);
    register_at(&db, &key, guild, &server_id, line.addr.port()).await;
    let (daemon, addr) = worker(&db, &key_text, &[("TOWER_POLL_INTERVAL_SECS", "3600")]).await;
    let handle = ok(db.open().await);
    first_read_done(handle.raw(), guild.0, &server_id).await;
    let name = "2025.05.01-00.00.00.csv";
    let bytes = fixture(name);
    let expected_lines = parse_killfeed_chunk(name, &bytes, 0, true).lines;
    ok(std::fs::write(dir.join(name), bytes));

    let mut client = worker_client(addr);
    let request = backfill(guild.0, &server_id);
    let mut started = ok(client.start_backfill(request).await).into_inner();
    let first = ok(tokio::time::timeout(WAIT, started.next()).await);
    let id = first
        .and_then(Result::ok)
        .map(|p| p.backfill_id)
        .unwrap_or_default();
    assert!(!id.is_empty());
    let watched = ok(client
        .watch_backfill(WatchBackfillRequest {
            backfill_id: id.clone(),
        })
        .await)
    .into_inner();
    let last_of = |mut stream: tonic::Streaming<tower_proto::v1::BackfillProgress>| async move {
        let mut last = None;
        while let Some(Ok(p)) = stream.next().await {
            last = Some(p);
        }
        last.unwrap_or_default()
    };
    let (a, b) = ok(tokio::time::timeout(WAIT, async {
        tokio::join!(last_of(started), last_of(watched))
    })
    .await);
    for p in [&a, &b] {
        assert_eq!(p.backfill_id, id);
        assert_eq!(p.state, BackfillState::Done as i32, "{p:?}");
        assert_eq!((p.files_done, p.lines), (1, expected_lines));
    }
    drop(line);
    assert!(ok(daemon.stop(Duration::from_secs(20)).await).success());
    ok(db.drop_database().await);
}

#[tokio::test]
async fn a_backfill_reports_its_progress_to_the_end() {
    use tower_proto::v1::BackfillState;
    let db = ok(TestDatabase::create("backfill").await);
    let home = Home::new("backfill");
    let key_text = ok(SecretKey::generate_base64());
    let key = ok(SecretKey::from_base64(&key_text));
    let guild = GuildId(888_888_888_888_888_888);
    let server_id = unique_server_id();
    let dir = home.killfeed(&server_id);
    register(&db, &key, guild, &server_id).await;
    // Polls only when asked (after the first, empty one).
    let (daemon, addr) = worker(&db, &key_text, &[("TOWER_POLL_INTERVAL_SECS", "3600")]).await;
    let handle = ok(db.open().await);
    let status = handle.raw().collection::<Document>("server_status");
    eventually("the first (empty) poll", WAIT, || {
        let status = status.clone();
        async move {
            status
                .count_documents(doc! { "polls": { "$gte": 1 } })
                .await
                .is_ok_and(|n| n == 1)
        }
    })
    .await;

    let mut total = 0u64;
    for name in [
        "2025.03.27-00.00.00.csv",
        "2025.05.01-00.00.00.csv",
        "2025.05.15-00.00.00.csv",
    ] {
        let bytes = fixture(name);
        total += bytes.len() as u64;
        ok(std::fs::write(dir.join(name), bytes));
    }
    let mut client = worker_client(addr);
    let mut progress = ok(client.start_backfill(backfill(guild.0, &server_id)).await).into_inner();
    let mut seen = Vec::new();
    let finished = tokio::time::timeout(WAIT, async {
        while let Some(Ok(p)) = progress.next().await {
            seen.push(p);
        }
    })
    .await;
    assert!(finished.is_ok(), "the progress stream did not end");
    let last = seen.last().cloned().unwrap_or_default();
    assert_eq!(last.state, BackfillState::Done as i32, "{seen:?}");
    assert_eq!((last.files_total, last.files_done), (3, 3));
    assert_eq!((last.bytes_total, last.bytes_done), (total, total));
    assert_eq!((last.lines, last.malformed_lines), (1653, 0));
    // Progress only ever grows.
    assert!(seen.windows(2).all(|w| w[0].bytes_done <= w[1].bytes_done));

    // Another guild cannot start a backfill of this guild's server.
    let other = backfill(guild.0 + 1, &server_id);
    assert_eq!(
        client.start_backfill(other).await.err().map(|s| s.code()),
        Some(tonic::Code::NotFound)
    );
    assert!(ok(daemon.stop(Duration::from_secs(20)).await).success());
    ok(db.drop_database().await);
}

#[tokio::test]
async fn every_world_folder_is_read_and_a_new_one_is_found_without_a_restart() {
    let db = ok(TestDatabase::create("worlds").await);
    let home = Home::new("worlds");
    let key_text = ok(SecretKey::generate_base64());
    let key = ok(SecretKey::from_base64(&key_text));
    let guild = GuildId(555_555_555_555_555_555);
    let server_id = unique_server_id();
    let a = fixture("2025.05.01-00.00.00.csv");
    let b = fixture("2025.05.15-00.00.00.csv");
    // An empty world_0 beside a live world_1, as a host that moved the map leaves it.
    let world_0 = home.killfeed(&server_id);
    let world_1 = world_0.with_file_name("world_1");
    ok(std::fs::create_dir_all(&world_1));
    ok(std::fs::write(
        world_1.join("2025.05.01-00.00.00.csv"),
        lines(&a, 30),
    ));
    register(&db, &key, guild, &server_id).await;
    let (daemon, _) = worker(&db, &key_text, &[("TOWER_REDISCOVER_SECS", "1")]).await;
    let handle = ok(db.open().await);
    let stats = StatsStore::new(&handle);
    let recorded = || async {
        stats
            .lines_recorded(doc! { "guild_id": guild.0.to_string() })
            .await
            .unwrap_or(0)
    };
    eventually("world_1's lines counted", WAIT, || async {
        recorded().await == 30
    })
    .await;
    // world_1 grows; world_2 appears with lines of its own; world_0 starts too.
    ok(std::fs::write(world_1.join("2025.05.01-00.00.00.csv"), &a));
    let world_2 = world_0.with_file_name("world_2");
    ok(std::fs::create_dir_all(&world_2));
    ok(std::fs::write(
        world_2.join("2025.05.15-00.00.00.csv"),
        lines(&b, 20),
    ));
    ok(std::fs::write(
        world_0.join("2025.05.15-00.00.00.csv"),
        &b[lines(&b, 20).len()..lines(&b, 25).len()],
    ));
    let expected = tower_tests::support::expected_stats(guild.0, &server_id, &[&a, lines(&b, 25)]);
    // Lines are recorded before the statistics they change: wait for the statistics.
    eventually("every folder's lines in the statistics", WAIT, || async {
        stats
            .load(guild.0, &server_id)
            .await
            .is_ok_and(|s| s.totals == expected.totals)
    })
    .await;
    assert_eq!(recorded().await, 258 + 20 + 5);
    // Each folder has its own cursor: /csv_status shows all three. (A batch's cursor is
    // saved just after its statistics: wait for it.)
    let killfeed_slots = || async {
        let cursors = ok(CursorStore::new(&handle)
            .cursors(guild.0, &[server_id.as_str()])
            .await);
        cursors
            .get(&server_id)
            .map(|c| {
                c.iter()
                    .filter(|(slot, _)| slot.starts_with("killfeed"))
                    .count()
            })
            .unwrap_or_default()
    };
    eventually("a cursor for each of the three folders", WAIT, || async {
        killfeed_slots().await == 3
    })
    .await;
    assert!(ok(daemon.stop(Duration::from_secs(20)).await).success());
    ok(db.drop_database().await);
}

#[tokio::test]
async fn a_killfeed_file_rotated_while_the_worker_is_down_loses_and_doubles_nothing() {
    let db = ok(TestDatabase::create("rotated").await);
    let home = Home::new("rotated");
    let key_text = ok(SecretKey::generate_base64());
    let key = ok(SecretKey::from_base64(&key_text));
    let guild = GuildId(555_555_555_555_555_556);
    let server_id = unique_server_id();
    let a = fixture("2025.05.01-00.00.00.csv");
    let b = fixture("2025.05.15-00.00.00.csv");
    let dir = home.killfeed(&server_id);
    let today = dir.join("2025.05.01-00.00.00.csv");
    ok(std::fs::write(&today, lines(&a, 50)));
    register(&db, &key, guild, &server_id).await;
    let handle = ok(db.open().await);
    let stats = StatsStore::new(&handle);
    let totals_are = |files: Vec<Vec<u8>>| {
        let expected = tower_tests::support::expected_stats(
            guild.0,
            &server_id,
            &files.iter().map(Vec::as_slice).collect::<Vec<_>>(),
        );
        let stats = &stats;
        let server_id = server_id.clone();
        async move {
            stats
                .load(guild.0, &server_id)
                .await
                .is_ok_and(|s| s.totals == expected.totals)
        }
    };
    let (daemon, _) = worker(&db, &key_text, &[]).await;
    eventually("the first 50 lines counted", WAIT, || {
        totals_are(vec![lines(&a, 50).to_vec()])
    })
    .await;
    assert!(ok(daemon.stop(Duration::from_secs(20)).await).success());

    // While the worker is down the host rotates the log: today's file is rewritten from
    // scratch, shorter and with other lines first (what it held is kept in a dated copy
    // that sorts before it), and the next day's file starts.
    ok(std::fs::write(
        dir.join("2025.04.30-23.59.59.csv"),
        lines(&a, 50),
    ));
    let rewritten = [&b[lines(&b, 10).len()..lines(&b, 20).len()], lines(&a, 30)].concat();
    ok(std::fs::write(&today, &rewritten));
    ok(std::fs::write(
        dir.join("2025.05.02-00.00.00.csv"),
        lines(&b, 10),
    ));

    // Back up: every line counted once — the 50 already counted are not doubled by the
    // copy or the rewrite, and the 20 new ones are counted.
    let (daemon, _) = worker(&db, &key_text, &[]).await;
    eventually("the rotated files counted once", WAIT, || {
        totals_are(vec![lines(&a, 50).to_vec(), lines(&b, 20).to_vec()])
    })
    .await;
    assert_eq!(ok(stats.lines_recorded(doc! {}).await), 70);
    assert!(ok(daemon.stop(Duration::from_secs(20)).await).success());
    ok(db.drop_database().await);
}
