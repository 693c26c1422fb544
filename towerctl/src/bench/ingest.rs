//! Events/s into MongoDB: the worker's bulk store against per-line writes.

use std::time::{Duration, Instant};

use mongodb::bson::{Document, doc};
use tower_daemon::config::MongoConfig;
use tower_ingest::ingest::parse_killfeed_chunk;
use tower_ingest::killfeed::{KillfeedEvent, KillfeedLine};
use tower_ingest::reader::{BATCH_BYTES, PollOutcome, poll_killfeed};
use tower_ingest::source::LocalSource;
use tower_store::cursor_store::{CursorStore, StoreSink};
use tower_store::db::Database;
use tower_store::schema;
use tower_store::secret::Redacted;
use tower_store::stats_store::{BatchRef, StatsStore};

use super::parse::corpus;

/// `lines` events ingested as the worker does (daily files read from a folder, batches of
/// up to [`BATCH_BYTES`], cursors and pending batches recorded), against the same
/// statistics stored one line at a time (`single_lines` of them: it is slow), against the
/// earlier bot's writes, and against the least any per-line store could write.
pub async fn ingest(uri: &str, lines: usize, single_lines: usize) -> Result<(), String> {
    let all = corpus(lines * 400)?;
    let bytes = first_lines(&all, lines);
    // The lines after them: a server read for a while (players, accounts and links
    // stored) goes on with these.
    let next = first_lines(&all[bytes.len()..], lines);
    // Each way gets a fresh database of its own, so neither pays for the other's data.
    let open = |suffix: &str| {
        let config = MongoConfig {
            uri: Redacted::new(uri.to_owned()),
            database: format!("tower_bench_{}_{suffix}", std::process::id()),
            server_selection_timeout_secs: 10,
        };
        async move {
            let db = Database::connect(&config, "towerctl-bench")
                .await
                .map_err(|e| e.to_string())?;
            schema::migrate(&db, "bench")
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(db)
        }
    };

    // How often the corpus names the same players: the bulk store writes each player,
    // weapon per player and matchup once per batch, so this sets how much batching saves.
    let mut corpus_stats = tower_ingest::stats::ServerStats::default();
    corpus_stats.apply(&parse_killfeed_chunk("bench.csv", bytes, 0, true).events);
    let mut both_stats = corpus_stats.clone();
    both_stats.apply(&parse_killfeed_chunk("bench.csv", next, 0, true).events);
    let players = &corpus_stats.players;
    println!(
        "corpus: {lines} lines naming {} players, {} player-weapon pairs, {} killer-victim pairs",
        players.len(),
        players.values().map(|p| p.weapons.len()).sum::<usize>(),
        players.values().map(|p| p.killed.len()).sum::<usize>(),
    );

    let db = open("bulk").await?;
    let bulk = ingest_folder(&db, &[], bytes, Reading::History, BATCH_BYTES).await;
    let _ = db.raw().drop().await;
    let (bulk_events, bulk_batches, bulk_files, bulk, _) = bulk?;

    // Kill rewards' cost (issue #17): the same lines read live, without the economy and
    // with every killer linked to a user and paid, each way on a fresh database; in
    // batches as large as the worker reads, and in small ones (a live poll finds a few
    // lines: the rewards' round trips per batch weigh more there).
    // Runs alternate (live, paid, live, paid, …) on fresh databases and the medians are
    // compared: the database's own speed drifts by ±20% between runs. A first read pays
    // accounts that do not exist yet into a server of no players; a server read for a
    // while (`next`, after `bytes` were read the same way, untimed) has both, as a worker
    // mostly finds it.
    let mut rewards_rows = Vec::new();
    for (name, warm, timed, batch_bytes, rounds) in [
        ("worker-sized batches", &[][..], bytes, BATCH_BYTES, 7),
        ("small (2 KiB) batches", &[][..], bytes, 2 * 1024, 3),
        (
            "worker-sized batches after as many",
            bytes,
            next,
            BATCH_BYTES,
            7,
        ),
    ] {
        let mut live_runs = Vec::new();
        let mut paid_runs = Vec::new();
        let mut paid = Ok(0);
        let mut batches = 0;
        for _ in 0..rounds {
            let db = open("live").await?;
            let live = ingest_folder(&db, warm, timed, Reading::Live, batch_bytes).await;
            let _ = db.raw().drop().await;
            let (events, n, _, time, ops) = live?;
            batches = n;
            live_runs.push((events, time, ops));
            let db = open("rewards").await?;
            link_every_killer(&db, &both_stats).await?;
            // The corpus's lines are old: paid as late kills, as the guild may ask.
            tower_store::guilds::GuildStore::new(&db)
                .set_economy_setting(1, "pay_history", mongodb::bson::Bson::Boolean(true))
                .await
                .map_err(|e| e.to_string())?;
            let rewarded = ingest_folder(&db, warm, timed, Reading::LivePaid, batch_bytes).await;
            paid = tower_store::ledger::Ledger::new(&db)
                .richest(1, "1", i64::MAX)
                .await
                .map(|accounts| accounts.iter().map(|(_, a)| a.balance).sum::<i64>());
            let _ = db.raw().drop().await;
            let (events, _, _, time, ops) = rewarded?;
            paid_runs.push((events, time, ops));
        }
        rewards_rows.push((name, batches, live_runs, paid_runs, paid));
    }

    // The one-by-one way with the same results: every line its own batch, so each of its
    // documents (the line, both players, weapon, matchup, server) is one upsert.
    let db = open("per_line").await?;
    let (per_line_events, per_line) =
        store_line_by_line(&db, first_lines(bytes, single_lines)).await?;
    let _ = db.raw().drop().await;

    let chunk = parse_killfeed_chunk("bench.csv", first_lines(bytes, single_lines), 0, true);

    // The earlier bot's writes: the line into `kills`, then one upsert of each player's
    // document it names (kills, weapons and longest shot for the killer, deaths for the
    // victim). No line identity (a replay counts twice), streaks or matchups.
    let db = open("earlier").await?;
    let earlier = per_line_writes(&db, &chunk.events, true).await?;
    let _ = db.raw().drop().await;

    // The least a per-line store can do: one `$inc` on one player's document.
    let db = open("inc").await?;
    let inc = per_line_writes(&db, &chunk.events, false).await?;
    let _ = db.raw().drop().await;

    let rate = |(events, time): (usize, Duration)| events as f64 / time.as_secs_f64();
    let bulk_rate = rate((bulk_events, bulk));
    println!(
        "{:<70} {bulk_rate:>8.0} events/s  ({bulk_events} events, {:.2} s; {bulk_files} daily files in {bulk_batches} batches)",
        "the worker's reader and store (ids, 5 collections, streaks; no notices)",
        bulk.as_secs_f64()
    );
    for (name, batches, live, rewarded, paid) in rewards_rows {
        let (live_rate, live_ops) = median_run(&live);
        let (rewarded_rate, rewarded_ops) = median_run(&rewarded);
        println!(
            "{:<70} {live_rate:>8.0} events/s  (median of {} runs, {} events; {batches} batches; {live_ops} database operations)",
            format!("the same, read live in {name} (no economy)"),
            live.len(),
            live.first().map_or(0, |r| r.0),
        );
        println!(
            "{:<70} {rewarded_rate:>8.0} events/s  (median of {} runs; {rewarded_ops} database operations; {} credits held after)  {:.1}% slower than live",
            "  and every killer linked and paid (kill rewards, bounties)",
            rewarded.len(),
            paid.as_ref()
                .map_or_else(|e| format!("? ({e})"), |n| n.to_string()),
            (live_rate / rewarded_rate - 1.0) * 100.0
        );
        // Each round's paid run against the live run just before it: the database's drift
        // between rounds cancels out.
        let mut slower: Vec<f64> = live
            .iter()
            .zip(&rewarded)
            .map(|(l, r)| (r.1.as_secs_f64() / l.1.as_secs_f64() - 1.0) * 100.0)
            .collect();
        slower.sort_by(f64::total_cmp);
        if let (Some(first), Some(last)) = (slower.first(), slower.last()) {
            println!(
                "{:<70} {:>7.1}%  (median of {} rounds; from {first:.1}% to {last:.1}%)",
                "  slower than the live run of the same round",
                slower[slower.len() / 2],
                slower.len(),
            );
        }
    }
    for (name, events, time) in [
        (
            "same statistics, one line at a time (one upsert per document)",
            per_line_events,
            per_line,
        ),
        (
            "the earlier bot's writes (the line, then each player named)",
            earlier.0,
            earlier.1,
        ),
        ("one $inc per line (no ids, streaks, weapons)", inc.0, inc.1),
    ] {
        let r = rate((events, time));
        println!(
            "{name:<70} {r:>8.0} events/s  ({events} events, {:.2} s)  bulk is {:.1}x",
            time.as_secs_f64(),
            bulk_rate / r
        );
    }
    Ok(())
}

/// Writes each event one round trip at a time, as a per-line store does: with `full`,
/// the earlier bot's writes (the line, the killer's and the victim's documents), else a
/// single `$inc`. Returns the events written and the time taken.
async fn per_line_writes(
    db: &Database,
    events: &[KillfeedLine<'_>],
    full: bool,
) -> Result<(usize, Duration), String> {
    let kills = db.raw().collection::<Document>("kills");
    let players = db.raw().collection::<Document>("players");
    let upsert = async |id: &str, change: Document| {
        players
            .update_one(doc! { "_id": id }, change)
            .upsert(true)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    };
    let start = Instant::now();
    for event in events {
        if full {
            kills
                .insert_one(doc! { "at": event.at, "line": format!("{:?}", event.event) })
                .await
                .map_err(|e| e.to_string())?;
        }
        match &event.event {
            KillfeedEvent::Kill {
                killer,
                victim,
                weapon,
                distance_m,
                ..
            } => {
                if full {
                    let weapon_field = format!("weapons.{}", weapon.replace('.', "_"));
                    upsert(
                        killer.id,
                        doc! { "$inc": { "kills": 1, weapon_field: 1 }, "$max": { "longest_shot": i64::from(*distance_m) } },
                    )
                    .await?;
                    upsert(victim.id, doc! { "$inc": { "deaths": 1 } }).await?;
                } else {
                    upsert(killer.id, doc! { "$inc": { "kills": 1 } }).await?;
                }
            }
            KillfeedEvent::Suicide { player, .. } => {
                upsert(player.id, doc! { "$inc": { "suicides": 1 } }).await?;
            }
            KillfeedEvent::EnvironmentDeath { victim } => {
                upsert(victim.id, doc! { "$inc": { "environment_deaths": 1 } }).await?;
            }
        }
    }
    Ok((events.len(), start.elapsed()))
}

/// The bytes of the first `n` lines of `bytes`.
fn first_lines(bytes: &[u8], n: usize) -> &[u8] {
    let end = bytes
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == b'\n')
        .nth(n.saturating_sub(1))
        .map_or(bytes.len(), |(i, _)| i + 1);
    &bytes[..end]
}

/// Ingests `bytes` as a game server's killfeed folder, through the worker's reader and
/// store: the lines are written as one file per day (as Deadside writes them) and read
/// with cursors and the pending-batch protocol. When `warm` has lines, they are read
/// first, untimed, and `bytes` are then added to the folder (a day's file goes on
/// growing) and read by the next poll. Returns what reading `bytes` did: the events
/// counted, the batches, the files, the time taken and the database operations.
async fn ingest_folder(
    db: &Database,
    warm: &[u8],
    bytes: &[u8],
    reading: Reading,
    batch_bytes: usize,
) -> Result<(usize, u64, usize, Duration, i64), String> {
    let root = std::env::temp_dir().join(format!("tower-bench-ingest-{}", std::process::id()));
    let dir = "deathlogs/world_0";
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join(dir)).map_err(|e| e.to_string())?;
    // Lines start with their date (`2025.03.27-10.42.35;`): a file per date.
    let write_days = |bytes: &[u8]| -> Result<usize, String> {
        let days = days(bytes);
        for (date, day) in &days {
            let path = root.join(dir).join(format!("{date}-00.00.00.csv"));
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| e.to_string())?;
            std::io::Write::write_all(&mut file, day).map_err(|e| e.to_string())?;
        }
        Ok(days.len())
    };
    let (stats, cursors) = (StatsStore::new(db), CursorStore::new(db));
    let source = LocalSource::new(&root);
    let rewards = tower_store::kill_rewards::KillRewards::new(db);
    let mut sink = StoreSink::open(1, "1", &stats, &cursors)
        .await
        .map_err(|e| e.to_string())?;
    if reading != Reading::History {
        // As if the folder had been listed before: its lines are new, not history.
        sink.state.listed = true;
    }
    if reading == Reading::LivePaid {
        sink.rewards = Some(&rewards);
    }
    if !warm.is_empty() {
        write_days(warm)?;
        let mut outcome = PollOutcome::default();
        let read = poll_killfeed(&source, dir, batch_bytes, None, &mut sink, &mut outcome).await;
        read.map_err(|e| e.to_string())?;
    }
    let counted_before = sink.totals.counted;
    let files = write_days(bytes)?;
    let before = operations(db).await;
    let start = Instant::now();
    let mut outcome = PollOutcome::default();
    let read = poll_killfeed(&source, dir, batch_bytes, None, &mut sink, &mut outcome).await;
    let time = start.elapsed();
    let ops = operations(db).await - before;
    let _ = std::fs::remove_dir_all(&root);
    read.map_err(|e| e.to_string())?;
    Ok((
        usize::try_from(sink.totals.counted - counted_before).unwrap_or(usize::MAX),
        outcome.batches,
        files,
        time,
        ops,
    ))
}

/// The median rate (events/s) of some runs `(events, time, database operations)`, and
/// their median count of operations.
fn median_run(runs: &[(usize, Duration, i64)]) -> (f64, i64) {
    let mut rates: Vec<f64> = runs
        .iter()
        .map(|(events, time, _)| *events as f64 / time.as_secs_f64())
        .collect();
    rates.sort_by(f64::total_cmp);
    let mut ops: Vec<i64> = runs.iter().map(|r| r.2).collect();
    ops.sort_unstable();
    (
        rates.get(rates.len() / 2).copied().unwrap_or(0.0),
        ops.get(ops.len() / 2).copied().unwrap_or(0),
    )
}

/// Operations the database server has served so far (its `serverStatus` opcounters: a
/// count that does not depend on the machine); 0 where it does not say.
async fn operations(db: &Database) -> i64 {
    let Ok(status) = db
        .raw()
        .client()
        .database("admin")
        .run_command(doc! { "serverStatus": 1 })
        .await
    else {
        return 0;
    };
    let number = |v: &mongodb::bson::Bson| v.as_i64().or_else(|| v.as_i32().map(i64::from));
    status.get_document("opcounters").map_or(0, |ops| {
        ["insert", "query", "update", "delete", "getmore", "command"]
            .iter()
            .filter_map(|k| ops.get(*k).and_then(number))
            .sum()
    })
}

/// How [`ingest_folder`] reads: as a first read (history: counted, nothing paid), or as
/// new lines, without or with kill rewards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    History,
    Live,
    LivePaid,
}

/// Links every killer of the corpus to a Discord user of their own (guild 1, server 1).
async fn link_every_killer(
    db: &Database,
    corpus: &tower_ingest::stats::ServerStats,
) -> Result<(), String> {
    let links = tower_store::player_links::PlayerLinks::new(db);
    for (n, (id, p)) in corpus
        .players
        .iter()
        .filter(|(_, p)| p.kills > 0)
        .enumerate()
    {
        let link = tower_store::player_links::PlayerLink {
            server_id: "1".to_owned(),
            player_id: id.clone(),
            player_name: p.name.clone(),
        };
        links
            .link(1, 1_000 + n as u64, &link)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The lines of `bytes` by date (`2025.03.27`), in date order.
fn days(bytes: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::<String, Vec<u8>>::new();
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let date = String::from_utf8_lossy(line.get(..10).unwrap_or_default()).into_owned();
        out.entry(date).or_default().extend_from_slice(line);
    }
    out
}

/// Stores `bytes` through the bot's store one line per batch, so each document a line
/// touches is one upsert; returns the events counted and the time taken.
async fn store_line_by_line(db: &Database, bytes: &[u8]) -> Result<(usize, Duration), String> {
    let store = StatsStore::new(db);
    let start = Instant::now();
    let mut counted = 0;
    let mut base = 0u64;
    for (batch, line) in (1i64..).zip(bytes.split_inclusive(|&b| b == b'\n')) {
        let chunk = parse_killfeed_chunk("bench.csv", line, base, true);
        base += line.len() as u64;
        let at = BatchRef {
            guild_id: 1,
            server_id: "1",
            batch,
        };
        counted += store
            .apply_batch(at, std::slice::from_ref(&chunk))
            .await
            .map_err(|e| e.to_string())?
            .counted;
    }
    Ok((
        usize::try_from(counted).unwrap_or(usize::MAX),
        start.elapsed(),
    ))
}
