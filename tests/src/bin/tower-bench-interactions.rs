//! tower-bench-interactions: time from an INTERACTION_CREATE to the bot's first response
//! (p50/p99), at a steady rate of slash commands, while the worker backfills a large
//! killfeed; and whether heartbeats were ACKed on time throughout. Uses the test command's
//! servers (the same `TOWER_TEST_*` variables as `tower-bench-polling`) and the daemons in
//! `TOWER_BIN_DIR`:
//!
//! ```text
//! tower-bench-interactions --rate 50 --seconds 20 --backfill-mib 64
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use tower_shared::secret::SecretKey;
use tower_tests::backing::{TestDatabase, sshd_port};
use tower_tests::discord_sim::interactions::{Member, Opt};
use tower_tests::discord_sim::{DiscordSimulator, SimEvent};
use tower_tests::stack::{DiscordTarget, Stack, StackOptions};

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
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set (see the bench's docs)"))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let db = TestDatabase::create("bench_interactions")
        .await
        .map_err(|e| e.to_string())?;
    let key = SecretKey::generate_base64().map_err(|e| e.to_string())?;
    let server_id = format!("{}", 9000 + std::process::id() % 1000);
    let home =
        PathBuf::from(env("TOWER_TEST_SFTP_HOME")?).join(format!("bench_i_{}", std::process::id()));
    let dir = home.join(format!("127.0.0.1_{server_id}/actual1/deathlogs/world_0"));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let fixture = tower_tests::support::fixture("2025.05.01-00.00.00.csv");
    let mut big = Vec::with_capacity(args.backfill_mib << 20);
    // Distinct lines (so each counts): the fixture repeated with a changing year.
    let mut year = 2000u32;
    while big.len() < args.backfill_mib << 20 {
        let text = String::from_utf8_lossy(&fixture).replace("2025.", &format!("{year}."));
        big.extend_from_slice(text.as_bytes());
        year += 1;
    }
    std::fs::write(dir.join("2025.05.01-00.00.00.csv"), &big).map_err(|e| e.to_string())?;

    let sim = Arc::new(
        DiscordSimulator::start_with_heartbeat(1000)
            .await
            .map_err(|e| e.to_string())?,
    );
    let options = StackOptions {
        mongodb_uri: db.uri.clone(),
        database: db.name.clone(),
        auth_token: "bench-token-0123456789abcdef".to_owned(),
        secret_key: Some(key),
        discord: DiscordTarget::Simulator {
            gateway_url: sim.gateway_url(),
            api_proxy: sim.api_proxy(),
        },
        echo: false,
        log_filter: "info".to_owned(),
        extra_env: vec![
            ("TOWER_SFTP_ALLOW_LOOPBACK".to_owned(), "true".to_owned()),
            ("TOWER_POLL_INTERVAL_SECS".to_owned(), "1".to_owned()),
        ],
    };
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
            ("username", Opt::str(env("TOWER_TEST_SFTP_USER")?)),
            ("password", Opt::str(env("TOWER_TEST_SFTP_PASSWORD")?)),
            ("server_id", Opt::str(&server_id)),
        ],
    );
    sim.answer(&add, Duration::from_secs(30))
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "killfeed of {} MiB being backfilled; {} commands/s for {} s",
        args.backfill_mib, args.rate, args.seconds
    );

    let heartbeats_before = sim
        .events()
        .iter()
        .filter(|e| matches!(e, SimEvent::Heartbeat { .. }))
        .count();
    let total = args.rate * args.seconds;
    let gap = Duration::from_secs(1) / args.rate.max(1);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..total {
        tokio::time::sleep_until((started + gap * i).into()).await;
        let sim = Arc::clone(&sim);
        let admin = admin.clone();
        let server_id = server_id.clone();
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let sent = if i % 2 == 0 {
                sim.slash(0, &admin, "killfeed status", &[])
            } else {
                sim.slash(
                    0,
                    &admin,
                    "events list",
                    &[("server_id", Opt::str(&server_id))],
                )
            };
            sim.first_answer(&sent, Duration::from_secs(30))
                .await
                .map(|_| t.elapsed())
        }));
    }
    let mut times = Vec::new();
    let mut failed = 0;
    for t in tasks {
        match t.await {
            Ok(Ok(d)) => times.push(d),
            _ => failed += 1,
        }
    }
    times.sort();
    let elapsed = started.elapsed();
    let heartbeats = sim
        .events()
        .iter()
        .filter(|e| matches!(e, SimEvent::Heartbeat { .. }))
        .count()
        - heartbeats_before;
    println!(
        "{} interactions in {:.1} s ({failed} unanswered): first response p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        times.len(),
        elapsed.as_secs_f64(),
        percentile(&times, 0.5).as_secs_f64() * 1000.0,
        percentile(&times, 0.99).as_secs_f64() * 1000.0,
        times.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
    );
    println!(
        "heartbeats meanwhile: {heartbeats} in {:.1} s at a 1 s interval (each ACKed by the simulator; a late one would show as fewer)",
        elapsed.as_secs_f64()
    );
    let _ = stack.stop(Duration::from_secs(20)).await;
    let _ = std::fs::remove_dir_all(&home);
    let _ = db.drop_database().await;
    Ok(())
}
