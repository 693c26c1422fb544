//! tower-bench-polling: how many game servers one sftp-worker keeps polled, measured
//! against what was asked of it. Uses the test command's servers (run after
//! `deploy/local/test` has set up sshd and its SFTP user, with the same `TOWER_TEST_*`
//! variables) and a release `sftp-worker` in `TOWER_BIN_DIR`:
//!
//! ```text
//! tower-bench-polling --servers 2000 --interval 30 --rounds 4 [--active-percent 10]
//! ```
//!
//! After every server has been read once, it measures a window of `interval × rounds`:
//! - polls due (every server once per interval) against polls done, and the servers still
//!   overdue at the end;
//! - lag for every due poll: each done poll's (from the worker's per-poll log line), and
//!   each overdue server's time past due at the end, so a worker that falls behind cannot
//!   look healthy;
//! - MongoDB commands per poll done (the server's `serverStatus` opcounters; the bench
//!   itself only reads them, at the start and the end);
//! - CPU of the worker and of the database, in % of one core; the worker's memory;
//! - a mix: each interval, `--active-percent` of the servers get 1 to 5 new kill lines
//!   (the rest find nothing new, as most polls of most servers do).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use mongodb::bson::{Document, doc};
use tower_store::game_servers::{Credential, GameServerStore, NewGameServer};
use tower_store::ids::{GuildId, ServerId};
use tower_store::secret::{Redacted, SecretKey};
use tower_tests::backing::{TestDatabase, server_operations, sshd_port};
use tower_tests::daemon::{Daemon, DaemonSpec, Echo};
use tower_tests::support::{Xorshift, cpu_seconds, cpu_seconds_named, rss_kib};

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value_t = 100)]
    servers: usize,
    /// Poll interval in seconds (every server).
    #[arg(long, default_value_t = 30)]
    interval: u64,
    /// Intervals measured after every server has been read once.
    #[arg(long, default_value_t = 4)]
    rounds: u64,
    /// Servers that get new lines each interval, in percent (1 to 5 lines each).
    #[arg(long, default_value_t = 10)]
    active_percent: u64,
    /// Also write the worker's log here (JSON lines), to see why it fell behind.
    #[arg(long)]
    worker_log: Option<PathBuf>,
    /// The worker's log filter (RUST_LOG) besides the per-poll lines the bench reads.
    #[arg(long, default_value = "warn")]
    worker_log_filter: String,
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set (see the bench's docs)"))
}

/// A kill line at `n` seconds after 2025-05-15: every appended line is a new kill.
fn kill_line(n: u64) -> String {
    let at = tower_ingest::timestamp::format_seconds(1_747_267_200 + i64::try_from(n).unwrap_or(0));
    format!(
        "{at};Fatalben0;0002548521ba4271a497e39d5bfe5611;Rogue731;00022ac42542497589f654e6ac2c0a6f;MR5;20;XSX;XSX;\n"
    )
}

/// Appends 1–5 new lines to `active_percent`% of the servers each interval, spread over
/// the interval, until `stop`.
async fn write_new_lines(
    files: Vec<PathBuf>,
    interval: Duration,
    active_percent: u64,
    stop: tokio::sync::watch::Receiver<bool>,
) -> u64 {
    let mut stop = stop;
    let mut picks = Xorshift(0x2545_f491_4f6c_dd1d);
    let per_second = files.len() as f64 * active_percent as f64 / 100.0 / interval.as_secs_f64();
    let (mut owed, mut n, mut written) = (0.0, 0u64, 0u64);
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => return written,
        }
        owed += per_second;
        while owed >= 1.0 {
            owed -= 1.0;
            let file = &files[usize::try_from(picks.next(files.len() as u64)).unwrap_or(0)];
            let lines: String = (0..=picks.next(5))
                .map(|_| {
                    n += 1;
                    kill_line(n)
                })
                .collect();
            if append(file, &lines).is_ok() {
                written += 1;
            }
        }
    }
}

fn append(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)?
        .write_all(text.as_bytes())
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let db = TestDatabase::create("bench_polling")
        .await
        .map_err(|e| e.to_string())?;
    let handle = db.open().await?;
    let client = mongodb::Client::with_uri_str(&db.uri)
        .await
        .map_err(|e| e.to_string())?;
    let key_text = SecretKey::generate_base64().map_err(|e| e.to_string())?;
    let key = SecretKey::from_base64(&key_text).map_err(|e| e.to_string())?;
    let home =
        PathBuf::from(env("TOWER_TEST_SFTP_HOME")?).join(format!("bench_{}", std::process::id()));
    let interval = Duration::from_secs(args.interval);

    let mut worker_env = vec![
        ("MONGODB_URI".to_owned(), db.uri.clone()),
        ("TOWER_MONGODB_DATABASE".to_owned(), db.name.clone()),
        (
            "TOWER_AUTH_TOKEN".to_owned(),
            "bench-token-0123456789abcdef".to_owned(),
        ),
        ("TOWER_SECRET_KEY".to_owned(), key_text.clone()),
        (
            "TOWER_COLLECTOR_URL".to_owned(),
            "http://127.0.0.1:1".to_owned(),
        ),
        ("TOWER_SFTP_ALLOW_LOOPBACK".to_owned(), "true".to_owned()),
        (
            "TOWER_POLL_INTERVAL_SECS".to_owned(),
            args.interval.to_string(),
        ),
        (
            "RUST_LOG".to_owned(),
            format!(
                "{},tower_daemon::grpc=info,sftp_worker::poller::poll=debug",
                args.worker_log_filter
            ),
        ),
    ];
    worker_env.sort();
    let mut spec = DaemonSpec::grpc("sftp-worker", worker_env);
    if let Some(path) = &args.worker_log {
        spec.echo = Echo::File(path.clone());
    }
    let worker = Daemon::spawn(spec).await.map_err(|e| e.to_string())?;
    let addr = worker
        .grpc_addr(Duration::from_secs(60))
        .await
        .map_err(|e| e.to_string())?;
    worker
        .wait_serving(addr, "", Duration::from_secs(60))
        .await
        .map_err(|e| e.to_string())?;
    let pid = worker.pid().unwrap_or(0);
    let baseline = rss_kib(pid);

    // Servers spread over guilds of the top tier (25 servers each).
    let store = GameServerStore::new(&handle);
    let guilds = handle.raw().collection::<Document>("guilds");
    let mut files = Vec::with_capacity(args.servers);
    for i in 0..args.servers {
        let guild = 900_000_000_000_000_000 + (i / 25) as u64;
        if i % 25 == 0 {
            guilds
                .insert_one(
                    doc! { "guild_id": guild.to_string(), "premium_tier": 4, "schema_version": 1 },
                )
                .await
                .map_err(|e| e.to_string())?;
        }
        let id = (100_000 + i).to_string();
        let dir = home.join(format!("127.0.0.1_{id}/actual1/deathlogs/world_0"));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let file = dir.join("2025.05.15-00.00.00.csv");
        std::fs::write(&file, kill_line(0).repeat(5)).map_err(|e| e.to_string())?;
        files.push(file);
        let new = NewGameServer {
            server: ServerId::parse(&id)?,
            name: format!("bench {i}"),
            host: "127.0.0.1".to_owned(),
            port: sshd_port().map_err(|e| e.to_string())?,
            username: env("TOWER_TEST_SFTP_USER")?,
            credential: Credential::Password(Redacted::new(env("TOWER_TEST_SFTP_PASSWORD")?)),
        };
        store
            .add(GuildId(guild), new, Some(&key))
            .await
            .map_err(|e| e.to_string())?;
    }
    let status = handle.raw().collection::<Document>("server_status");
    let warm = Instant::now();
    loop {
        let polled = status
            .count_documents(doc! { "polls": { "$gte": 1 }, "last_error": "" })
            .await
            .map_err(|e| e.to_string())?;
        if polled as usize >= args.servers {
            break;
        }
        if warm.elapsed() > Duration::from_secs(900) {
            return Err(format!(
                "only {polled} of {} servers polled after 15 minutes",
                args.servers
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    println!(
        "{} servers read once in {:.1} s",
        args.servers,
        warm.elapsed().as_secs_f64()
    );
    // A round to settle: every server has found its first read's history.
    tokio::time::sleep(interval).await;

    // The window: the bench touches the database only at its two ends.
    let (stop_writing, writing_stopped) = tokio::sync::watch::channel(false);
    let writer = tokio::spawn(write_new_lines(
        files,
        interval,
        args.active_percent,
        writing_stopped,
    ));
    let (ops_start, db_pid) = server_operations(&client)
        .await
        .map_err(|e| e.to_string())?;
    let db_pid = db_pid.unwrap_or(0);
    let (worker_cpu, db_cpu, sshd_cpu) = (
        cpu_seconds(pid),
        cpu_seconds(db_pid),
        cpu_seconds_named("sshd"),
    );
    let start = Instant::now();
    let window = interval * u32::try_from(args.rounds).unwrap_or(1);
    tokio::time::sleep(window).await;
    let end = Instant::now();
    let (worker_cpu, db_cpu, sshd_cpu) = (
        cpu_seconds(pid) - worker_cpu,
        cpu_seconds(db_pid) - db_cpu,
        cpu_seconds_named("sshd") - sshd_cpu,
    );
    let (ops_end, _) = server_operations(&client)
        .await
        .map_err(|e| e.to_string())?;
    let _ = stop_writing.send(true);
    let appended = writer.await.unwrap_or(0);

    // Every poll the worker logged (when it ended), by server: when the last one started.
    let mut last_poll: HashMap<String, Instant> = HashMap::new();
    let mut per_server: HashMap<String, u64> = HashMap::new();
    let mut lags: Vec<u64> = Vec::new();
    let (mut done, mut failed, mut lines) = (0u64, 0u64, 0u64);
    for line in worker.logs() {
        if line.message() != Some("polled") {
            continue;
        }
        let server = line
            .field("server")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        if line.at > end {
            continue;
        }
        let took = Duration::from_millis(
            line.field("duration_ms")
                .and_then(|v| v.as_u64())
                .unwrap_or(0),
        );
        last_poll.insert(server.clone(), line.at.checked_sub(took).unwrap_or(line.at));
        if line.at < start {
            continue;
        }
        done += 1;
        *per_server.entry(server).or_default() += 1;
        lags.push(line.field("lag_ms").and_then(|v| v.as_u64()).unwrap_or(0));
        lines += line.field("lines").and_then(|v| v.as_u64()).unwrap_or(0);
        if line.field("failed").and_then(|v| v.as_bool()) == Some(true) {
            failed += 1;
        }
    }
    // A server whose last poll started more than an interval before the end is overdue:
    // its due poll counts, with the time past due as its lag (a poll still running at the
    // end counts so too).
    let mut overdue = 0u64;
    for i in 0..args.servers {
        let id = (100_000 + i).to_string();
        let since = last_poll
            .get(&id)
            .map_or(window, |at| end.saturating_duration_since(*at));
        if since > interval {
            overdue += 1;
            lags.push(u64::try_from((since - interval).as_millis()).unwrap_or(u64::MAX));
        }
    }
    lags.sort_unstable();
    let most = per_server.values().copied().max().unwrap_or(0);
    let pct = |p: f64| {
        lags.get(((lags.len() as f64 * p) as usize).min(lags.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let seconds = end.duration_since(start).as_secs_f64();
    let due = (args.servers as u64) * args.rounds;
    let rss = rss_kib(pid);
    // The bench's own commands in the window: the second serverStatus.
    let commands = (ops_end - ops_start - 1).max(0) as f64;
    println!(
        "window: {seconds:.0} s, {} servers every {} s, {}% of them with new lines each interval ({appended} appends, {lines} lines read)",
        args.servers, args.interval, args.active_percent
    );
    println!(
        "polls due: {due}, done: {done} ({:.2}%), failed: {failed}, overdue at the end: {overdue}; at most {most} polls of one server (due {})",
        done as f64 * 100.0 / due.max(1) as f64,
        args.rounds
    );
    println!(
        "lag over every due poll (done and overdue): p50 {} ms, p99 {} ms, p99.9 {} ms, max {} ms",
        pct(0.50),
        pct(0.99),
        pct(0.999),
        lags.last().copied().unwrap_or(0)
    );
    println!(
        "database commands: {commands:.0} in the window, {:.2} per poll done, {:.0} per second",
        commands / done.max(1) as f64,
        commands / seconds
    );
    println!(
        "CPU: worker {:.1}% of a core, database {:.1}% of a core, the game servers' sshd (every session, on these same cores) {:.1}%",
        worker_cpu * 100.0 / seconds,
        db_cpu * 100.0 / seconds,
        sshd_cpu * 100.0 / seconds
    );
    println!(
        "worker RSS: {:.1} MiB at rest, {:.1} MiB with {} servers: {:.1} KiB per server",
        baseline as f64 / 1024.0,
        rss as f64 / 1024.0,
        args.servers,
        (rss.saturating_sub(baseline)) as f64 / args.servers as f64
    );
    let _ = worker.stop(Duration::from_secs(60)).await;
    let _ = std::fs::remove_dir_all(&home);
    db.drop_database().await.map_err(|e| e.to_string())?;
    Ok(())
}
