//! tower-bench-interactions: time from an INTERACTION_CREATE to the bot's first response
//! (p50/p99), at a steady rate of slash commands, while the worker backfills a large
//! killfeed; and the largest gap between heartbeats meanwhile. Uses the test command's
//! servers (the same `TOWER_TEST_*` variables as `tower-bench-polling`) and the daemons in
//! `TOWER_BIN_DIR`:
//!
//! ```text
//! tower-bench-interactions --rate 50 --seconds 20 --backfill-mib 64
//! ```
//!
//! Times are taken by the simulator: when it hands the interaction to the gateway
//! connection, and when the bot's callback reaches its REST side. An interaction without a
//! callback counts as the wait limit (30 s) in the percentiles.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clap::Parser;
use mongodb::bson::doc;
use tower_store::secret::SecretKey;
use tower_tests::backing::{TestDatabase, sshd_port};
use tower_tests::daemon::LogLine;
use tower_tests::discord_sim::interactions::{Member, Opt, Sent};
use tower_tests::discord_sim::{DiscordSimulator, OWNER_USER_ID, SimEvent};
use tower_tests::sftp_home::{Home, unique_server_id};
use tower_tests::stack::{Stack, StackOptions};
use tower_tests::support::percentile;
use tower_tests::support::{fixture, required_env};

#[derive(Debug, Parser)]
struct Args {
    /// Slash commands per second.
    #[arg(long, default_value_t = 50)]
    rate: u32,
    #[arg(long, default_value_t = 20)]
    seconds: u32,
    /// Size of the killfeed the worker backfills meanwhile.
    #[arg(long, default_value_t = 64)]
    backfill_mib: usize,
    /// Also write each daemon's log to `DIR/<daemon>.log`.
    #[arg(long)]
    logs: Option<std::path::PathBuf>,
}

/// How long an interaction may go unanswered before it counts as lost.
const LIMIT: Duration = Duration::from_secs(30);
/// The simulator's heartbeat interval for this bench.
const HEARTBEAT: Duration = Duration::from_secs(1);

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let db = TestDatabase::create("bench_interactions")
        .await
        .map_err(|e| e.to_string())?;
    let key = SecretKey::generate_base64().map_err(|e| e.to_string())?;
    let server_id = unique_server_id();
    let home = Home::new("bench_interactions");
    // Distinct lines (so each counts): the fixture repeated with a changing year.
    let fixture = fixture("2025.05.01-00.00.00.csv");
    let mut big = Vec::with_capacity(args.backfill_mib << 20);
    let mut year = 2000u32;
    while big.len() < args.backfill_mib << 20 {
        let text = String::from_utf8_lossy(&fixture).replace("2025.", &format!("{year}."));
        big.extend_from_slice(text.as_bytes());
        year += 1;
    }
    std::fs::write(
        home.killfeed(&server_id).join("2025.05.01-00.00.00.csv"),
        &big,
    )
    .map_err(|e| e.to_string())?;

    let sim = DiscordSimulator::start_with_heartbeat(HEARTBEAT.as_millis() as u64)
        .await
        .map_err(|e| e.to_string())?;
    let mut options = StackOptions::simulated(&db, &sim, Some(key)).with_loopback_sftp();
    if let Some(dir) = &args.logs {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        options.echo = tower_tests::daemon::Echo::File(dir.clone());
        options.log_filter = "info,sftp_worker=debug".to_owned();
    }
    let stack = Stack::start(&options).await.map_err(|e| e.to_string())?;
    let admin = Member::admin(1_000_000_000_000_001, 2_000_000_000_000_001);
    let add = sim.slash(
        0,
        &admin,
        "setup addserver",
        &[
            ("server_name", Opt::str("bench")),
            ("host", Opt::str("127.0.0.1")),
            (
                "port",
                Opt::Int(i64::from(sshd_port().map_err(|e| e.to_string())?)),
            ),
            ("username", Opt::str(required_env("TOWER_TEST_SFTP_USER"))),
            (
                "password",
                Opt::str(required_env("TOWER_TEST_SFTP_PASSWORD")),
            ),
            ("server_id", Opt::str(&server_id)),
        ],
    );
    let added = sim.answer(&add, LIMIT).await.map_err(|e| e.to_string())?;
    if added.title() != "Server added" {
        return Err(format!("the server was not added: {}", added.text()));
    }
    // Warlord, so that `/events list` (half the load) runs instead of being refused.
    let owner = Member::ordinary(admin.guild_id, OWNER_USER_ID);
    let grant = sim.slash(
        0,
        &owner,
        "admin premium",
        &[
            ("guild_id", Opt::str(admin.guild_id.to_string())),
            ("tier", Opt::Int(3)),
        ],
    );
    let granted = sim.answer(&grant, LIMIT).await.map_err(|e| e.to_string())?;
    if granted.title() != "Premium granted" {
        return Err(format!("the grant was answered: {}", granted.text()));
    }
    let recorded =
        tower_store::stats_store::StatsStore::new(&db.open().await.map_err(|e| e.to_string())?);
    // The backfill must be under way before the load starts, and still running after.
    let deadline = Instant::now() + LIMIT;
    while recorded.lines_recorded(doc! {}).await.unwrap_or(0) == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lines_before = recorded
        .lines_recorded(doc! {})
        .await
        .map_err(|e| e.to_string())?;
    if lines_before == 0 {
        // What the worker says of the server, to see why.
        let status = db
            .handle()
            .collection::<mongodb::bson::Document>("server_status")
            .find_one(doc! {})
            .await
            .map_err(|e| e.to_string())?;
        return Err(format!(
            "the backfill had not started {} s after the server was added (nothing to measure against); the server's status: {status:?}",
            LIMIT.as_secs()
        ));
    }
    println!(
        "killfeed of {} MiB being backfilled; {} commands/s for {} s",
        args.backfill_mib, args.rate, args.seconds
    );

    let total = args.rate * args.seconds;
    let gap = Duration::from_secs(1) / args.rate.max(1);
    let started = Instant::now();
    let mut sent: Vec<Sent> = Vec::with_capacity(total as usize);
    for i in 0..total {
        tokio::time::sleep_until((started + gap * i).into()).await;
        sent.push(if i % 2 == 0 {
            sim.slash(0, &admin, "killfeed status", &[])
        } else {
            sim.slash(
                0,
                &admin,
                "events list",
                &[("server_id", Opt::str(&server_id))],
            )
        });
    }
    let load_ended = Instant::now();
    let lines_after = recorded.lines_recorded(doc! {}).await.unwrap_or(0);
    // Wait (bounded) for the last answers.
    if let Some(last) = sent.last() {
        let _ = sim.first_answer(last, LIMIT).await;
    }

    let callbacks: HashMap<String, Instant> = sim
        .rest_calls()
        .into_iter()
        .filter(|c| !c.rate_limited && c.path.starts_with("/interactions/"))
        .map(|c| (c.path, c.at))
        .collect();
    let mut times: Vec<Duration> = Vec::with_capacity(sent.len());
    let mut unanswered = 0;
    for s in &sent {
        let path = format!("/interactions/{}/{}/callback", s.id, s.token);
        match callbacks.get(&path) {
            Some(at) => times.push(at.duration_since(s.at)),
            None => {
                unanswered += 1;
                times.push(LIMIT);
            }
        }
    }
    times.sort();

    // Heartbeats during the load, per connection: the largest gap between two.
    let mut beats: HashMap<u64, Vec<Instant>> = HashMap::new();
    let mut reconnects = 0;
    for e in sim.events() {
        match e {
            SimEvent::Heartbeat { connection, at } if at >= started && at <= load_ended => {
                beats.entry(connection).or_default().push(at);
            }
            SimEvent::Identified { .. } | SimEvent::Resumed { .. } => reconnects += 1,
            _ => {}
        }
    }
    let largest_gap = beats
        .values()
        .flat_map(|b| b.windows(2).map(|w| w[1].duration_since(w[0])))
        .max()
        .unwrap_or_default();
    let beat_count: usize = beats.values().map(Vec::len).sum();

    println!(
        "{} interactions in {:.1} s, {unanswered} unanswered (counted as {} s): first response p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        sent.len(),
        (load_ended - started).as_secs_f64(),
        LIMIT.as_secs(),
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99)),
        ms(times.last().copied().unwrap_or_default()),
    );
    // The load's commands as the gateway timed them, from its handler's start: to the first
    // response sent (the rest of the figure above is the way there and back: WebSocket,
    // scheduling, HTTP), and to the complete answer (after a defer, the edit).
    let logs = stack.gateway.logs();
    let load: Vec<&LogLine> = logs
        .iter()
        .filter(|l| l.message() == Some("command answered"))
        .filter(|l| {
            l.field("command")
                .and_then(|c| c.as_str())
                .is_some_and(|c| c == "killfeed status" || c == "events list")
        })
        .collect();
    let millis = |field: &str| {
        let mut v: Vec<Duration> = load
            .iter()
            .filter_map(|l| l.field(field)?.as_u64())
            .map(Duration::from_millis)
            .collect();
        v.sort();
        v
    };
    let (inside, complete) = (millis("first_ms"), millis("ms"));
    let deferred = load
        .iter()
        .filter(|l| l.field("deferred").and_then(|d| d.as_bool()) == Some(true))
        .count();
    println!(
        "of which inside the gateway (handler start to first response sent, {} commands): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        inside.len(),
        ms(percentile(&inside, 0.5)),
        ms(percentile(&inside, 0.99)),
        ms(inside.last().copied().unwrap_or_default()),
    );
    println!(
        "complete answers (handler start to the answer itself): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {deferred} of {} deferred first",
        ms(percentile(&complete, 0.5)),
        ms(percentile(&complete, 0.99)),
        ms(complete.last().copied().unwrap_or_default()),
        load.len(),
    );
    println!(
        "heartbeats during the load: {beat_count} at a {} s interval, largest gap {:.0} ms; connections identified or resumed in all: {reconnects}",
        HEARTBEAT.as_secs(),
        ms(largest_gap),
    );
    println!(
        "backfill during the load: {} lines counted ({lines_before} before, {lines_after} at the end)",
        lines_after.saturating_sub(lines_before)
    );
    let _ = stack.stop(Duration::from_secs(20)).await;
    drop(home);
    let _ = db.drop_database().await;
    Ok(())
}
