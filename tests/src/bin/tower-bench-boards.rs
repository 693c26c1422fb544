//! tower-bench-boards: how fast one gateway keeps auto-posted leaderboards current.
//!
//! ```text
//! tower-bench-boards [--boards 500] [--players 300] [--seconds 120]
//! ```
//!
//! `--boards` guilds each have one game server with `--players` players' statistics and
//! one board (kills, K/D and longest shot, 10 rows each: three rankings read per refresh).
//! All are due when the stack starts: the first round posts each board; then all are made
//! due again at once and the second round edits each in place. For each round the bench
//! prints the boards due against those shown within `--seconds`, the time from due to
//! shown (p50, p99, max; a board not shown counts as the whole window), the boards shown
//! per second, and the database commands per board. Times are taken as the simulator
//! receives each post or edit.
//!
//! Run it through `deploy/local/bench boards` (MongoDB started for it; release build).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clap::Parser;
use mongodb::bson::{Document, doc};
use tower_store::game_servers::{Credential, GameServerStore, NewGameServer};
use tower_store::ids::{GuildId, ServerId};
use tower_store::live_posts::{Board, LivePosts, Shows};
use tower_store::secret::{Redacted, SecretKey};
use tower_tests::backing::{TestDatabase, server_operations};
use tower_tests::discord_sim::{DiscordSimulator, SimEvent};
use tower_tests::stack::{Stack, StackOptions};
use tower_tests::support::percentile;

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value_t = 500)]
    boards: u64,
    /// Players with statistics on each board's server.
    #[arg(long, default_value_t = 300)]
    players: u64,
    /// How long each round may take.
    #[arg(long, default_value_t = 120)]
    seconds: u64,
}

const FIRST_GUILD: u64 = 700_000_000_000_000_000;
const FIRST_CHANNEL: u64 = 800_000_000_000_000_000;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let test_db = TestDatabase::create("bench_boards")
        .await
        .map_err(|e| err(&e))?;
    let db = test_db.open().await.map_err(|e| err(&e))?;
    let key_text = SecretKey::generate_base64().map_err(|e| err(&e))?;
    let key = SecretKey::from_base64(&key_text).map_err(|e| err(&e))?;
    let servers = GameServerStore::new(&db);
    let boards = LivePosts::new(&db);
    let raw = db.raw();
    println!(
        "setting up {} boards of {} players each…",
        args.boards, args.players
    );
    for b in 0..args.boards {
        let guild = FIRST_GUILD + b;
        raw.collection::<Document>("guilds")
            .insert_one(
                doc! { "guild_id": guild.to_string(), "premium_tier": 3, "schema_version": 1 },
            )
            .await
            .map_err(|e| err(&e))?;
        let id = ServerId::parse("7020").map_err(|e| err(&e))?;
        servers
            .add(
                GuildId(guild),
                NewGameServer {
                    server: id.clone(),
                    name: format!("Bench {b}"),
                    host: "127.0.0.1".to_owned(),
                    port: 1,
                    username: "bench".to_owned(),
                    credential: Credential::Password(Redacted::new("bench".to_owned())),
                },
                Some(&key),
            )
            .await
            .map_err(|e| err(&e))?;
        // Not polled: the bench measures the gateway, not the worker.
        raw.collection::<Document>("game_servers")
            .update_one(
                doc! { "guild_id": guild.to_string(), "server_id": "7020" },
                doc! { "$set": { "enabled": false } },
            )
            .await
            .map_err(|e| err(&e))?;
        let players: Vec<Document> = (0..args.players)
            .map(|p| {
                let kills = (p * 7919 + b) % 500;
                let deaths = (p * 104_729 + b) % 300 + 1;
                doc! {
                    "guild_id": guild.to_string(), "server_id": "7020",
                    "player_id": format!("0002{p:028x}"), "name": format!("Player {p}"),
                    "kills": kills as i64, "deaths": deaths as i64,
                    "kdr": kills as f64 / deaths as f64,
                    "longest_kill_m": ((p * 31 + b) % 900) as i64,
                    "schema_version": 3,
                }
            })
            .collect();
        raw.collection::<Document>("player_stats")
            .insert_many(players)
            .await
            .map_err(|e| err(&e))?;
        boards
            .set(
                guild,
                "7020",
                FIRST_CHANNEL + b,
                Shows::Leaderboard(Board::default()),
                300,
            )
            .await
            .map_err(|e| err(&e))?;
    }

    let sim = DiscordSimulator::start().await.map_err(|e| err(&e))?;
    let mut events = sim.subscribe();
    let (shown_tx, mut shown_rx) = tokio::sync::mpsc::unbounded_channel();
    // Stamped as the simulator receives them.
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(SimEvent::Posted { channel, .. }) => {
                    let _ = shown_tx.send((channel, false, Instant::now()));
                }
                Ok(SimEvent::Edited { channel, .. }) => {
                    let _ = shown_tx.send((channel, true, Instant::now()));
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    eprintln!("the bench fell behind the simulator by {n} events");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    let client = mongodb::Client::with_uri_str(&test_db.uri)
        .await
        .map_err(|e| err(&e))?;
    let options = StackOptions::simulated(&test_db, &sim, Some(key_text));
    let ops_before = server_operations(&client).await.map_err(|e| err(&e))?.0;
    let due = Instant::now();
    let _stack = Stack::start(&options).await.map_err(|e| err(&e))?;
    let window = Duration::from_secs(args.seconds);
    let first = round(&mut shown_rx, args.boards, false, due, window).await;
    let ops_after = server_operations(&client).await.map_err(|e| err(&e))?.0;
    report("round 1 (posted)", args.boards, &first, window, None);

    // Every board due again at once: edited in place.
    let ops_before_edit = server_operations(&client).await.map_err(|e| err(&e))?.0;
    raw.collection::<Document>("live_posts")
        .update_many(
            doc! {},
            doc! { "$set": { "due_at": mongodb::bson::DateTime::now() } },
        )
        .await
        .map_err(|e| err(&e))?;
    let due = Instant::now();
    let second = round(&mut shown_rx, args.boards, true, due, window).await;
    let ops_after_edit = server_operations(&client).await.map_err(|e| err(&e))?.0;
    report(
        "round 2 (edited in place)",
        args.boards,
        &second,
        window,
        Some((ops_after_edit - ops_before_edit) as f64 / second.len().max(1) as f64),
    );
    println!(
        "  (round 1 ran the stack's start too: {:.1} database commands per board with it)",
        (ops_after - ops_before) as f64 / first.len().max(1) as f64
    );
    let posts = sim
        .events()
        .iter()
        .filter(|e| matches!(e, SimEvent::Posted { .. }))
        .count();
    println!(
        "messages posted in all: {posts} for {} boards (a board is posted once, then edited)",
        args.boards
    );
    Ok(())
}

/// Waits until every board is shown (posted, or edited when `edits`) or the window ends;
/// each board's time from `due` to shown.
async fn round(
    shown: &mut tokio::sync::mpsc::UnboundedReceiver<(u64, bool, Instant)>,
    boards: u64,
    edits: bool,
    due: Instant,
    window: Duration,
) -> HashMap<u64, Duration> {
    let mut times = HashMap::new();
    let deadline = due + window;
    while (times.len() as u64) < boards {
        match tokio::time::timeout_at(deadline.into(), shown.recv()).await {
            Ok(Some((channel, edited, at))) if edited == edits => {
                times
                    .entry(channel)
                    .or_insert(at.saturating_duration_since(due));
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    times
}

fn report(
    name: &str,
    boards: u64,
    times: &HashMap<u64, Duration>,
    window: Duration,
    ops_per_board: Option<f64>,
) {
    let mut all: Vec<Duration> = times.values().copied().collect();
    // A board not shown counts as the whole window.
    all.extend(std::iter::repeat_n(
        window,
        (boards as usize).saturating_sub(times.len()),
    ));
    all.sort();
    let last = times.values().max().copied().unwrap_or_default();
    println!(
        "{name}: {} of {boards} boards shown within {:?} · due → shown p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms · {:.1} boards/s{}",
        times.len(),
        window,
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.99)),
        ms(all.last().copied().unwrap_or_default()),
        times.len() as f64 / last.as_secs_f64().max(0.001),
        ops_per_board
            .map(|o| format!(" · {o:.1} database commands per board"))
            .unwrap_or_default()
    );
}
