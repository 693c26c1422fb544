//! tower-bench-killfeed: killfeed latency, from a line written to a served killfeed file to
//! its message posted in the simulator, at each tier's own poll interval (no override).
//! The whole stack runs: worker, gateway, collector, simulated Discord, the test sshd.
//! Lines are written at random moments of the interval, as kills happen; the goal is p99 ≤
//! the tier's interval + 1 s. Run through `deploy/local/bench killfeed`:
//!
//! ```text
//! tower-bench-killfeed --tiers 4,3 --lines 10
//! ```

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clap::Parser;
use mongodb::bson::doc;
use tower_store::secret::SecretKey;
use tower_store::tier::{Tier, TierTable};
use tower_tests::backing::TestDatabase;
use tower_tests::discord_sim::interactions::Member;
use tower_tests::discord_sim::{DiscordSimulator, SimEvent};
use tower_tests::guild_setup::{add_server_with_killfeed, kill};
use tower_tests::sftp_home::{Home, unique_server_id};
use tower_tests::stack::{Stack, StackOptions};
use tower_tests::support::Xorshift;
use tower_tests::support::percentile;

#[derive(Debug, Parser)]
struct Args {
    /// Tiers to measure (0 to 4), each at its own poll interval.
    #[arg(long, value_delimiter = ',', default_value = "4,3")]
    tiers: Vec<u8>,
    /// Kill lines written per tier (at most 60).
    #[arg(long, default_value_t = 10)]
    lines: u32,
}

const CHANNEL: u64 = 660_000_000_000_000_001;
const ADMIN: u64 = 960_000_000_000_000_001;

/// The minute of a kill embed's time (`2026-01-01T00:MM:00…`): which line it is.
fn minute_of(timestamp: &str) -> Option<u32> {
    timestamp.get(14..16)?.parse().ok()
}

/// A tier's killfeed poll interval (PRODUCT.md §5).
fn poll_interval(tier: u8) -> Result<Duration, String> {
    let tier = Tier::new(tier).ok_or_else(|| format!("tier {tier} does not exist (0 to 4)"))?;
    Ok(Duration::from_secs(u64::from(
        TierTable::default().limits(tier).killfeed_poll_secs,
    )))
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let lines = args.lines.clamp(1, 60);
    for tier in &args.tiers {
        let interval = poll_interval(*tier)?;
        let (posted, latencies) = measure(*tier, lines).await?;
        let mut sorted = latencies.clone();
        sorted.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "tier {tier} (poll every {} s): {posted} of {lines} kills posted; line written → message posted p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (goal: p99 ≤ {} ms)",
            interval.as_secs(),
            ms(percentile(&sorted, 0.5)),
            ms(percentile(&sorted, 0.99)),
            ms(sorted.last().copied().unwrap_or_default()),
            interval.as_millis() + 1000
        );
    }
    Ok(())
}

/// One tier: a guild at that tier, its server's killfeed live; `lines` kills written at
/// random moments; how many were posted, and each one's latency.
async fn measure(tier: u8, lines: u32) -> Result<(usize, Vec<Duration>), String> {
    let db = TestDatabase::create(&format!("bench_killfeed_{tier}"))
        .await
        .map_err(|e| e.to_string())?;
    let home = Home::new(&format!("bench_killfeed_{tier}"));
    let server = unique_server_id();
    let csv = home.killfeed(&server).join("2026.01.01-00.00.00.csv");
    std::fs::write(&csv, "").map_err(|e| e.to_string())?;
    let guild = 880_000_000_000_001_000 + u64::from(tier);
    db.handle()
        .collection::<mongodb::bson::Document>("guilds")
        .insert_one(doc! { "guild_id": guild.to_string(), "premium_tier": i32::from(tier), "schema_version": 1 })
        .await
        .map_err(|e| e.to_string())?;
    let sim = DiscordSimulator::start().await.map_err(|e| e.to_string())?;
    let key = SecretKey::generate_base64().map_err(|e| e.to_string())?;
    let mut options = StackOptions::simulated(&db, &sim, Some(key));
    // Loopback allowed; each tier polls at its own interval (no TOWER_POLL_INTERVAL_SECS).
    options
        .extra_env
        .push(("TOWER_SFTP_ALLOW_LOOPBACK".to_owned(), "true".to_owned()));
    let stack = Stack::start(&options).await.map_err(|e| e.to_string())?;
    let admin = Member::admin(guild, ADMIN);
    add_server_with_killfeed(&sim, &db.handle(), &admin, &server, CHANNEL).await;
    let interval = poll_interval(tier)?;

    // Posts are watched from before the first line is written.
    let mut events = sim.subscribe();
    let written: std::sync::Arc<std::sync::Mutex<HashMap<u32, Instant>>> = Default::default();
    let writer = {
        let written = std::sync::Arc::clone(&written);
        let csv = csv.clone();
        tokio::spawn(async move {
            let mut moments = Xorshift(0x9e37_79b9_7f4a_7c15 ^ u64::from(tier));
            let mut text = String::new();
            for minute in 0..lines {
                // A random moment of the interval.
                let within = moments.next(10_000) as f64 / 10_000.0;
                tokio::time::sleep(interval.mul_f64(within)).await;
                text.push_str(&kill(minute));
                if std::fs::write(&csv, &text).is_ok()
                    && let Ok(mut w) = written.lock()
                {
                    w.insert(minute, Instant::now());
                }
            }
        })
    };
    let mut latencies = Vec::new();
    let deadline = Instant::now() + interval * (lines + 2) + Duration::from_secs(30);
    while latencies.len() < lines as usize && Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Ok(event)) = tokio::time::timeout(left, events.recv()).await else {
            break;
        };
        let SimEvent::Posted { channel, body, .. } = event else {
            continue;
        };
        if channel != CHANNEL {
            continue;
        }
        let now = Instant::now();
        for embed in body["embeds"].as_array().into_iter().flatten() {
            let at = embed["timestamp"]
                .as_str()
                .and_then(minute_of)
                .and_then(|m| written.lock().ok()?.get(&m).copied());
            if let Some(at) = at {
                latencies.push(now.saturating_duration_since(at));
            }
        }
    }
    let _ = writer.await;
    let posted = latencies.len();
    let _ = stack.stop(Duration::from_secs(30)).await;
    db.drop_database().await.map_err(|e| e.to_string())?;
    Ok((posted, latencies))
}
