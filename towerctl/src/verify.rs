//! `towerctl verify [--guild G] [--repair] [--json]`: every server's statistics counted
//! again from its stored kill lines ([`tower_store::recount`]) and compared with what is
//! stored; each difference reported, and with `--repair` written right. Exits non-zero
//! when a server disagrees and was not repaired.
//!
//! A server whose worker is applying a batch is read again until it is between batches
//! (its cursor the same before and after the reads, with no batch pending), so a batch
//! landing during the reads is never taken for a difference.

use std::path::Path;
use std::time::Duration;

use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};
use serde_json::{Value, json};
use tower_daemon::config::Config;
use tower_store::cursor_store::CursorStore;
use tower_store::db::{Database, collections};
use tower_store::recount::{Difference, differences, recount_all, repair};
use tower_store::rivalries::{Pairs, Rivalries};
use tower_store::stats_store::StatsStore;
use tower_store::windows::{Periods, WindowStats, Windows};

/// How often a busy server is read again, and how long apart.
const ATTEMPTS: u32 = 10;
const AGAIN_AFTER: Duration = Duration::from_millis(500);
/// Differences printed per server (all are counted).
const SHOWN: usize = 20;

/// What `towerctl verify` was asked.
pub struct VerifyRequest<'a> {
    pub guild: Option<u64>,
    pub repair: bool,
    pub json: bool,
    pub config: Option<&'a Path>,
}

/// One server's outcome.
struct Outcome {
    guild: String,
    server: String,
    lines: u64,
    differences: Vec<Difference>,
    repaired: Option<u64>,
    busy: bool,
}

pub fn verify(request: &VerifyRequest<'_>) -> Result<(), String> {
    let config = Config::load(request.config).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let outcomes = runtime.block_on(async {
        let db = Database::connect(&config.mongodb, "towerctl")
            .await
            .map_err(|e| format!("MongoDB: {e}"))?;
        let mut out = Vec::new();
        for (guild, server) in servers(&db, request.guild)
            .await
            .map_err(|e| format!("MongoDB: {e}"))?
        {
            out.push(
                verify_server(&db, &guild, &server, request.repair)
                    .await
                    .map_err(|e| format!("MongoDB: {e}"))?,
            );
        }
        Ok::<_, String>(out)
    })?;
    print(&outcomes, request.json);
    let wrong = outcomes
        .iter()
        .filter(|o| o.busy || (!o.differences.is_empty() && o.repaired.is_none()))
        .count();
    match wrong {
        0 => Ok(()),
        n => Err(format!(
            "{n} server(s) disagree with their kill lines or could not be read between batches"
        )),
    }
}

/// Every (guild, server) with statistics, one guild's when asked.
async fn servers(
    db: &Database,
    guild: Option<u64>,
) -> Result<Vec<(String, String)>, mongodb::error::Error> {
    let mut filter = Document::new();
    if let Some(g) = guild {
        filter.insert("guild_id", g.to_string());
    }
    let docs: Vec<Document> = db
        .raw()
        .collection::<Document>(collections::SERVER_STATS)
        .find(filter)
        .projection(doc! { "guild_id": 1, "server_id": 1 })
        .sort(doc! { "guild_id": 1, "server_id": 1 })
        .await?
        .try_collect()
        .await?;
    Ok(docs
        .iter()
        .filter_map(|d| {
            Some((
                d.get_str("guild_id").ok()?.to_owned(),
                d.get_str("server_id").ok()?.to_owned(),
            ))
        })
        .collect())
}

/// Where a server's reading stands: the highest next batch of its folders, and whether
/// one has a batch pending.
async fn batches(
    cursors: &CursorStore,
    guild: u64,
    server: &str,
) -> Result<(i64, bool), mongodb::error::Error> {
    let slots = cursors.load_killfeed_slots(guild, server).await?;
    let next = slots
        .states
        .values()
        .map(|s| s.next_batch)
        .max()
        .unwrap_or(0);
    let pending = slots.states.values().any(|s| s.pending.is_some());
    Ok((next, pending))
}

async fn verify_server(
    db: &Database,
    guild: &str,
    server: &str,
    fix: bool,
) -> Result<Outcome, mongodb::error::Error> {
    let guild_id: u64 = guild.parse().unwrap_or(0);
    let cursors = CursorStore::new(db);
    let stats = StatsStore::new(db);
    let rivalries = Rivalries::new(db);
    let windows = Windows::new(db);
    for _ in 0..ATTEMPTS {
        let before = batches(&cursors, guild_id, server).await?;
        let now = mongodb::bson::DateTime::now().timestamp_millis() / 1000;
        let stored = stats.load(guild_id, server).await?;
        let stored_pairs = rivalries.load(guild_id, server).await?;
        let stored_periods = windows.load(guild_id, server, now).await?;
        let counted = recount_all(db, guild_id, server).await?;
        let after = batches(&cursors, guild_id, server).await?;
        if before != after || before.1 {
            tokio::time::sleep(AGAIN_AFTER).await;
            continue;
        }
        let mut found = differences(&stored, &counted.stats);
        found.extend(rivalry_differences(&stored_pairs, &counted.pairs));
        found.extend(period_differences(&stored_periods, &counted.periods));
        let repaired = match (fix, found.is_empty()) {
            (true, false) => Some(
                repair(db, guild_id, server, &stored, &counted.stats).await?
                    + rivalries
                        .repair(guild_id, server, &stored_pairs, &counted.pairs)
                        .await?
                    + windows
                        .repair(guild_id, server, &stored_periods, &counted.periods)
                        .await?,
            ),
            _ => None,
        };
        return Ok(Outcome {
            guild: guild.to_owned(),
            server: server.to_owned(),
            lines: counted.lines,
            differences: found,
            repaired,
            busy: false,
        });
    }
    Ok(Outcome {
        guild: guild.to_owned(),
        server: server.to_owned(),
        lines: 0,
        differences: Vec::new(),
        repaired: None,
        busy: true,
    })
}

/// Time-window periods stored otherwise than the kill lines make them: one difference per
/// period and player.
fn period_differences(stored: &Periods, counted: &Periods) -> Vec<Difference> {
    let shown = |s: Option<&WindowStats>| {
        s.map_or_else(
            || "none".to_owned(),
            |s| {
                format!(
                    "{} kills, {} deaths, {} suicides, longest {}",
                    s.kills,
                    s.deaths,
                    s.suicides,
                    s.longest_kill_m
                        .map_or("none".to_owned(), |m| format!("{m} m"))
                )
            },
        )
    };
    let none = std::collections::BTreeMap::new();
    let mut keys: Vec<&(String, i64)> = stored.keys().chain(counted.keys()).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut found = Vec::new();
    for key in keys {
        let (have, want) = (
            stored.get(key).unwrap_or(&none),
            counted.get(key).unwrap_or(&none),
        );
        let mut players: Vec<&String> = have.keys().chain(want.keys()).collect();
        players.sort_unstable();
        players.dedup();
        for id in players {
            if have.get(id) != want.get(id) {
                found.push(Difference {
                    what: format!("{} from {} player {id}", key.0, key.1),
                    stored: shown(have.get(id)),
                    counted: shown(want.get(id)),
                });
            }
        }
    }
    found
}

/// Rivalries stored otherwise than the kill lines make them, or missing, or left over.
fn rivalry_differences(stored: &Pairs, counted: &Pairs) -> Vec<Difference> {
    let shown = |p: Option<&tower_ingest::stats::PairDelta>| {
        p.map_or_else(
            || "none".to_owned(),
            |p| {
                format!(
                    "{}-{} (last at {})",
                    p.first_kills, p.second_kills, p.last_at
                )
            },
        )
    };
    let mut pairs: Vec<&(String, String)> = stored.keys().chain(counted.keys()).collect();
    pairs.sort_unstable();
    pairs.dedup();
    pairs
        .into_iter()
        .filter(|p| stored.get(*p) != counted.get(*p))
        .map(|p| Difference {
            what: format!("rivalry {} vs {}", p.0, p.1),
            stored: shown(stored.get(p)),
            counted: shown(counted.get(p)),
        })
        .collect()
}

fn print(outcomes: &[Outcome], json: bool) {
    if json {
        let servers: Vec<Value> = outcomes
            .iter()
            .map(|o| {
                json!({
                    "guild_id": o.guild,
                    "server_id": o.server,
                    "lines": o.lines,
                    "state": match (o.busy, o.differences.is_empty(), o.repaired) {
                        (true, _, _) => "busy",
                        (false, true, _) => "ok",
                        (false, false, Some(_)) => "repaired",
                        (false, false, None) => "differs",
                    },
                    "differences": o.differences.iter().map(|d| json!({
                        "what": d.what, "stored": d.stored, "counted": d.counted,
                    })).collect::<Vec<_>>(),
                    "documents_repaired": o.repaired,
                })
            })
            .collect();
        println!("{}", json!({ "servers": servers }));
        return;
    }
    for o in outcomes {
        let head = format!("guild {} server {}", o.guild, o.server);
        if o.busy {
            println!("{head}: its worker kept applying batches; run verify again");
            continue;
        }
        if o.differences.is_empty() {
            println!("{head}: ok ({} kill lines)", o.lines);
            continue;
        }
        println!(
            "{head}: {} difference(s) with its {} kill lines{}",
            o.differences.len(),
            o.lines,
            match o.repaired {
                Some(n) => format!(", repaired ({n} documents)"),
                None => String::new(),
            }
        );
        for d in o.differences.iter().take(SHOWN) {
            println!("  {}: stored {}, counted {}", d.what, d.stored, d.counted);
        }
        if o.differences.len() > SHOWN {
            println!("  … and {} more", o.differences.len() - SHOWN);
        }
    }
}
