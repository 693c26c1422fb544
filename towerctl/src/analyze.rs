//! `towerctl analyze`: killfeed statistics from local files, through the bot's own engine
//! (`tower_ingest::ingest` and `tower_ingest::stats`), without MongoDB.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tower_ingest::ingest::{MalformedLine, parse_killfeed_chunk};
use tower_ingest::stats::{BatchDelta, Leaderboard, PlayerStats, ServerStats};

use crate::progress::Progress;

#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no .csv files found in {0}")]
    NoCsv(String),
}

/// What the files held.
#[derive(Debug, Default)]
pub struct Analysis {
    pub stats: ServerStats,
    pub lines: u64,
    /// Lines already counted from an earlier file or earlier in the same one.
    pub duplicates: u64,
    pub files: usize,
    pub malformed: Vec<MalformedLine>,
}

/// Malformed lines listed one by one (the count is always complete).
const MALFORMED_LISTED: usize = 100;

pub fn run(paths: &[PathBuf], as_json: bool, top: usize) -> Result<(), AnalyzeError> {
    let files = killfeed_files(paths)?;
    let analysis = analyze(&files)?;
    if as_json {
        println!("{:#}", to_json(&analysis));
    } else {
        print_tables(&analysis, top);
    }
    for m in analysis.malformed.iter().take(MALFORMED_LISTED) {
        eprintln!(
            "{}:{}: malformed line skipped: {}",
            m.file, m.offset, m.reason
        );
    }
    if analysis.malformed.len() > MALFORMED_LISTED {
        eprintln!(
            "… and {} more malformed lines",
            analysis.malformed.len() - MALFORMED_LISTED
        );
    }
    Ok(())
}

/// CSV files named directly, and `*.csv` under named folders; in file-name order (the
/// names are timestamps), as the bot reads a server's folders.
pub fn killfeed_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, AnalyzeError> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| AnalyzeError::Read {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            collect_csv(path, &mut files)?;
        } else {
            files.push(path.clone());
        }
    }
    if files.is_empty() {
        let named: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(AnalyzeError::NoCsv(named.join(", ")));
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()).then_with(|| a.cmp(b)));
    Ok(files)
}

fn collect_csv(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), AnalyzeError> {
    let read = |source| AnalyzeError::Read {
        path: dir.to_owned(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(read)? {
        let path = entry.map_err(read)?.path();
        if path.is_dir() {
            collect_csv(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads every file (one batch per file, in order) into statistics.
pub fn analyze(files: &[PathBuf]) -> Result<Analysis, AnalyzeError> {
    let total: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let mut progress = Progress::new(total);
    let mut seen = std::collections::HashSet::new();
    let mut analysis = Analysis {
        files: files.len(),
        ..Analysis::default()
    };
    for (i, file) in files.iter().enumerate() {
        let bytes = std::fs::read(file).map_err(|source| AnalyzeError::Read {
            path: file.clone(),
            source,
        })?;
        let name = file.display().to_string();
        let mut chunk = parse_killfeed_chunk(&name, &bytes, 0, true);
        // Overlapping files and repeated lines count once, as in the bot.
        analysis.duplicates += chunk.dedupe(0, "local", &mut seen) as u64;
        let mut delta = BatchDelta::from_events(&chunk.events);
        delta.totals.malformed_lines = chunk.malformed.len() as u64;
        analysis.stats.merge(&delta);
        analysis.lines += chunk.lines;
        analysis.malformed.extend(chunk.malformed);
        progress.advance(bytes.len() as u64, i + 1, files.len());
    }
    progress.finish();
    Ok(analysis)
}

fn player_json(p: &PlayerStats) -> Value {
    json!({
        "name": p.name,
        "names": p.names,
        "kills": p.kills,
        "deaths": p.deaths,
        "suicides": {
            "menu": p.suicides.menu,
            "fall": p.suicides.fall,
            "vehicle": p.suicides.vehicle,
            "other": p.suicides.other,
        },
        "environment_deaths": p.environment_deaths,
        "kdr": p.kdr(),
        "longest_kill_m": p.longest_kill_m,
        "best_killstreak": p.best_killstreak,
        "current_killstreak": p.current_killstreak,
        "worst_deathstreak": p.worst_deathstreak,
        "current_deathstreak": p.current_deathstreak,
        "weapons": p.weapons,
        "nemesis": p.nemesis().map(|(id, _)| id),
        "prey": p.prey().map(|(id, _)| id),
        "first_seen": tower_ingest::timestamp::format_seconds(p.first_seen),
        "last_seen": tower_ingest::timestamp::format_seconds(p.last_seen),
    })
}

pub fn to_json(a: &Analysis) -> Value {
    let s = &a.stats;
    let players: serde_json::Map<String, Value> = s
        .players
        .iter()
        .map(|(id, p)| (id.clone(), player_json(p)))
        .collect();
    let weapons: serde_json::Map<String, Value> = s
        .weapons
        .iter()
        .map(|(w, t)| {
            (
                w.clone(),
                json!({ "kills": t.kills, "longest_m": t.longest_m }),
            )
        })
        .collect();
    let t = &s.totals;
    json!({
        "players": players,
        "weapons": weapons,
        "totals": {
            "files": a.files,
            "lines": a.lines,
            "duplicate_lines": a.duplicates,
            "players": s.players.len(),
            "kills": t.kills,
            "roadkills": t.roadkills,
            "suicides": t.suicides.total(),
            "suicides_by_type": {
                "menu": t.suicides.menu,
                "fall": t.suicides.fall,
                "vehicle": t.suicides.vehicle,
                "other": t.suicides.other,
            },
            "environment_deaths": t.environment_deaths,
            "malformed_lines": t.malformed_lines,
            "longest_kill": t.longest_kill.as_ref().map(|l| json!({
                "distance_m": l.distance_m, "killer_id": l.killer_id, "weapon": l.weapon,
            })),
        },
        "malformed": a.malformed.iter().take(MALFORMED_LISTED).map(|m| json!({
            "file": m.file, "offset": m.offset, "reason": m.reason.to_string(),
        })).collect::<Vec<_>>(),
    })
}

fn print_tables(a: &Analysis, top: usize) {
    let s = &a.stats;
    let t = &s.totals;
    println!(
        "{} files, {} lines: {} kills ({} roadkills), {} suicides (menu {}, fall {}, vehicle {}, other {}), {} environment deaths, {} malformed lines, {} players",
        a.files,
        a.lines,
        t.kills,
        t.roadkills,
        t.suicides.total(),
        t.suicides.menu,
        t.suicides.fall,
        t.suicides.vehicle,
        t.suicides.other,
        t.environment_deaths,
        t.malformed_lines,
        s.players.len()
    );
    if let Some(l) = &t.longest_kill {
        let name = s.players.get(&l.killer_id).map_or("?", |p| p.name.as_str());
        println!(
            "Longest kill: {} m by {name} with {}",
            l.distance_m, l.weapon
        );
    }
    for (title, board) in [
        ("Kills", Leaderboard::Kills),
        ("KDR", Leaderboard::Kdr),
        ("Longest shot (m)", Leaderboard::LongestShot),
        ("Best kill streak", Leaderboard::HighestKillstreak),
        ("Deaths", Leaderboard::Deaths),
        ("Suicides", Leaderboard::Suicides),
    ] {
        println!("\n{title}");
        for (rank, (_, p)) in s.leaderboard(board, top).iter().enumerate() {
            println!("{:>3}. {:<32} {}", rank + 1, p.name, board.shown(p));
        }
    }
    println!(
        "\n{:<32} {:>6} {:>6} {:>6} {:>8} {:>5} {:>8} {:>7}",
        "Player", "Kills", "Deaths", "KDR", "Suicides", "Env", "Longest", "Streak"
    );
    let mut players: Vec<&PlayerStats> = s.players.values().collect();
    players.sort_by(|a, b| {
        b.kills
            .cmp(&a.kills)
            .then_with(|| a.deaths.cmp(&b.deaths))
            .then_with(|| a.name.cmp(&b.name))
    });
    for p in players {
        println!(
            "{:<32} {:>6} {:>6} {:>6.2} {:>8} {:>5} {:>8} {:>7}",
            p.name,
            p.kills,
            p.deaths,
            p.kdr(),
            p.suicides.total(),
            p.environment_deaths,
            p.longest_kill_m.map_or("-".to_owned(), |m| m.to_string()),
            p.best_killstreak
        );
    }
}
