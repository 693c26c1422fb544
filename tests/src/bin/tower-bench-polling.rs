//! tower-bench-polling: how many game servers one sftp-worker keeps polled, with what poll
//! lag and memory per server. Uses the test command's servers (run after
//! `deploy/local/test` has set up sshd and its SFTP user, with the same `TOWER_TEST_*`
//! variables), a release `sftp-worker` in `TOWER_BIN_DIR`:
//!
//! ```text
//! tower-bench-polling --servers 500 --interval 30 --rounds 4
//! ```

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};
use tower_store::game_servers::{Credential, GameServerStore, NewGameServer};
use tower_store::ids::{GuildId, ServerId};
use tower_store::secret::{Redacted, SecretKey};
use tower_tests::backing::{TestDatabase, sshd_port};
use tower_tests::daemon::{Daemon, DaemonSpec};

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value_t = 100)]
    servers: usize,
    /// Poll interval in seconds (every server).
    #[arg(long, default_value_t = 30)]
    interval: u64,
    /// Poll rounds measured after every server has been read once.
    #[arg(long, default_value_t = 4)]
    rounds: u64,
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set (see the bench's docs)"))
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let db = TestDatabase::create("bench_polling")
        .await
        .map_err(|e| e.to_string())?;
    let handle = db.open().await?;
    let key_text = SecretKey::generate_base64().map_err(|e| e.to_string())?;
    let key = SecretKey::from_base64(&key_text).map_err(|e| e.to_string())?;
    let home =
        PathBuf::from(env("TOWER_TEST_SFTP_HOME")?).join(format!("bench_{}", std::process::id()));
    let line = "2025.05.15-00.11.07;Fatalben0;0002548521ba4271a497e39d5bfe5611;Rogue731;00022ac42542497589f654e6ac2c0a6f;MR5;20;XSX;XSX;\n";

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
            "warn,tower_daemon::grpc=info".to_owned(),
        ),
    ];
    worker_env.sort();
    let worker = Daemon::spawn(DaemonSpec::grpc("sftp-worker", worker_env))
        .await
        .map_err(|e| e.to_string())?;
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
        std::fs::write(dir.join("2025.05.15-00.00.00.csv"), line.repeat(5))
            .map_err(|e| e.to_string())?;
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
        if warm.elapsed() > Duration::from_secs(600) {
            return Err(format!(
                "only {polled} of {} servers polled after 10 minutes",
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

    // Steady state: sample every poll's lag.
    let mut seen: HashMap<String, i64> = HashMap::new();
    let mut lags: Vec<i64> = Vec::new();
    let mut failed = 0u64;
    let end = Instant::now() + Duration::from_secs(args.interval * args.rounds);
    while Instant::now() < end {
        let docs: Vec<Document> = status
            .find(doc! {})
            .await
            .map_err(|e| e.to_string())?
            .try_collect()
            .await
            .map_err(|e| e.to_string())?;
        for d in docs {
            let (Ok(id), Ok(polls)) = (d.get_str("_id"), d.get_i64("polls")) else {
                continue;
            };
            if seen
                .insert(id.to_owned(), polls)
                .is_some_and(|before| before < polls)
            {
                lags.push(d.get_i64("lag_ms").unwrap_or(0));
                if !d.get_str("last_error").unwrap_or_default().is_empty() {
                    failed += 1;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    lags.sort_unstable();
    let pct = |p: f64| {
        lags.get(((lags.len() as f64 * p) as usize).min(lags.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let rss = rss_kib(pid);
    let connections: i64 = status
        .find(doc! {})
        .await
        .map_err(|e| e.to_string())?
        .try_collect::<Vec<Document>>()
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .map(|d| d.get_i64("connections_opened").unwrap_or(0))
        .sum();
    println!(
        "polls measured: {} over {} s ({} failed)",
        lags.len(),
        args.interval * args.rounds,
        failed
    );
    println!(
        "poll lag: p50 {} ms, p99 {} ms, max {} ms",
        pct(0.50),
        pct(0.99),
        lags.last().copied().unwrap_or(0)
    );
    println!(
        "worker RSS: {:.1} MiB at rest, {:.1} MiB with {} servers: {:.1} KiB per server",
        baseline as f64 / 1024.0,
        rss as f64 / 1024.0,
        args.servers,
        (rss.saturating_sub(baseline)) as f64 / args.servers as f64
    );
    println!(
        "SSH connections opened in all: {connections} (one per server = {})",
        args.servers
    );
    let _ = worker.stop(Duration::from_secs(60)).await;
    let _ = std::fs::remove_dir_all(&home);
    db.drop_database().await.map_err(|e| e.to_string())?;
    Ok(())
}
