//! tower-bench-windows: how long `/stats leaderboard` and `/stats player` take for today,
//! this week and this month on a server with a million kill lines.
//!
//! ```text
//! tower-bench-windows [--lines 1000000] [--days 35] [--players 3000] [--queries 300]
//! ```
//!
//! The lines (a kill each, killers and victims drawn so that a few players kill most, as
//! on a live server) are spread evenly over the last `--days` (at most 35: a window reaches
//! back a month at most, and hour documents expire after 40 days) and written to the
//! per-hour and per-day totals by the same statements a killfeed batch sends, one batch
//! per hour of lines. Then `--queries` of each kind are asked, one after another, now, for
//! a guild an hour west of UTC (its windows start at 01:00 UTC: 23 hour documents and the
//! whole days after), and their latency is printed with the number asked and answered,
//! and the database commands each took.
//!
//! Run it through `deploy/local/bench windows` (MongoDB started for it; release build).

use std::time::{Duration, Instant};

use clap::Parser;
use tower_ingest::ingest::parse_killfeed_chunk;
use tower_ingest::stats::Leaderboard;
use tower_store::db::collections;
use tower_store::windows::{Window, Windows, statements};
use tower_tests::backing::{TestDatabase, server_operations};
use tower_tests::support::Xorshift;

#[derive(Debug, Parser)]
struct Args {
    /// Kill lines on the server.
    #[arg(long, default_value_t = 1_000_000)]
    lines: u64,
    /// Days they are spread over.
    #[arg(long, default_value_t = 35)]
    days: u64,
    /// Players on the server.
    #[arg(long, default_value_t = 3_000)]
    players: u64,
    /// Queries of each kind.
    #[arg(long, default_value_t = 300)]
    queries: usize,
}

const GUILD: u64 = 1;
const SERVER: &str = "bench";
const HOUR: i64 = 3600;
/// The guild's time zone: an hour west of UTC, so a window starts at 01:00 UTC and reads
/// the most hour documents a window can (23) besides its days.
const UTC_OFFSET: i64 = -HOUR;

fn player(n: u64) -> String {
    format!("0002{n:028x}")
}

/// A killfeed line at `at`.
fn line(at: i64, killer: u64, victim: u64, metres: u64) -> String {
    let stamp = tower_ingest::timestamp::format_seconds(at);
    format!(
        "{stamp};P{killer};{};P{victim};{};AK-74;{metres};PS5;PS5;\n",
        player(killer),
        player(victim),
    )
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    if args.days == 0 || args.days > 35 || args.players < 2 {
        // Hour documents expire after 40 days.
        return Err("--days runs from 1 to 35, --players from 2".to_owned());
    }
    let test = TestDatabase::create("bench_windows")
        .await
        .map_err(|e| e.to_string())?;
    let db = test.open().await?;
    let client = mongodb::Client::with_uri_str(&test.uri)
        .await
        .map_err(|e| e.to_string())?;

    // Writing: one batch per hour of lines, the last hour ending now.
    let hours = args.days * 24;
    let now = mongodb::bson::DateTime::now().timestamp_millis() / 1000;
    let first_hour = now.div_euclid(HOUR) * HOUR + HOUR - hours as i64 * HOUR;
    let mut rng = Xorshift(7);
    let started = Instant::now();
    let mut written = 0u64;
    let mut statements_sent = 0usize;
    for h in 0..hours {
        let count = args.lines * (h + 1) / hours - args.lines * h / hours;
        let start = first_hour + h as i64 * HOUR;
        let mut text = String::new();
        for i in 0..count {
            // Squared draws: low numbers (the server's regulars) kill and die most.
            let draw = |rng: &mut Xorshift| {
                let r = rng.next(args.players);
                r * r / args.players
            };
            let killer = draw(&mut rng);
            let mut victim = draw(&mut rng);
            if victim == killer {
                victim = (killer + 1) % args.players;
            }
            let at = (start + (i * 3600 / count.max(1)) as i64).min(now);
            text.push_str(&line(at, killer, victim, rng.next(400)));
        }
        let chunk = parse_killfeed_chunk("bench.csv", text.as_bytes(), 0, true);
        written += chunk.events.len() as u64;
        let batch = statements(
            &GUILD.to_string(),
            SERVER,
            i64::try_from(h + 1).unwrap_or(i64::MAX),
            &chunk.events,
        );
        statements_sent += batch.len();
        let refused = db
            .update_statements(collections::PERIOD_TOTALS, &batch)
            .await
            .map_err(|e| e.to_string())?;
        if let Some((_, code, message)) = refused.first() {
            return Err(format!("writing the periods failed ({code}): {message}"));
        }
    }
    println!(
        "server: {written} kill lines of {} players over {} days, written as {hours} hourly batches ({statements_sent} period updates) in {:.1} s",
        args.players,
        args.days,
        started.elapsed().as_secs_f64()
    );

    // Reading, now.
    let windows = Windows::new(&db);
    println!(
        "{:<28} {:>6} {:>6} {:>8} {:>8} {:>8} {:>10}",
        "query", "asked", "done", "p50 ms", "p99 ms", "max ms", "db cmds/q"
    );
    for window in [Window::Today, Window::Week, Window::Month] {
        let from = window.start(now, UTC_OFFSET).unwrap_or(0);
        for (what, board) in [
            ("leaderboard kills", Some(Leaderboard::Kills)),
            ("leaderboard K/D", Some(Leaderboard::Kdr)),
            ("player", None),
        ] {
            let mut times = Vec::with_capacity(args.queries);
            let (ops_before, _) = server_operations(&client)
                .await
                .map_err(|e| e.to_string())?;
            for q in 0..args.queries {
                let t = Instant::now();
                let done = match board {
                    None => {
                        let id = player(q as u64 % args.players);
                        windows
                            .totals(GUILD, SERVER, from, Some(&id))
                            .await
                            .map(|t| t.len())
                    }
                    Some(stat) => windows
                        .leaderboard(GUILD, SERVER, (stat, None), from, 10)
                        .await
                        .map(|r| r.len()),
                };
                if done.is_ok() {
                    times.push(t.elapsed());
                }
            }
            let (ops_after, _) = server_operations(&client)
                .await
                .map_err(|e| e.to_string())?;
            times.sort_unstable();
            println!(
                "{:<28} {:>6} {:>6} {:>8} {:>8} {:>8} {:>10.1}",
                format!("{what} ({})", window.label()),
                args.queries,
                times.len(),
                ms(percentile(&times, 0.5)),
                ms(percentile(&times, 0.99)),
                ms(times.last().copied().unwrap_or_default()),
                (ops_after - ops_before - 1) as f64 / args.queries.max(1) as f64,
            );
        }
    }
    test.drop_database().await.map_err(|e| e.to_string())?;
    Ok(())
}
