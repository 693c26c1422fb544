//! Small helpers every system test uses: unwrap-with-message, the test command's settings,
//! the real killfeed fixtures, and the statistics a set of files should give.

use std::collections::HashSet;

use mongodb::bson::{DateTime, Document, doc};
use tower_ingest::ingest::{Chunk, parse_killfeed_chunk};
use tower_ingest::killfeed::line_id;
use tower_ingest::stats::ServerStats;
use tower_store::db::Database;

/// The value, or a panic with the error's own message (what a failing test should show).
pub fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// A setting the test command exports (`TOWER_TEST_*`).
pub fn required_env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run the tests with deploy/local/test"))
}

/// A real killfeed file from `tests/fixtures/deadside/killfeed/`, by file name.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/deadside/killfeed")
        .join(name);
    ok(std::fs::read(path))
}

/// The statistics of reading `files` once each, in order, through the in-memory engine
/// (each line counted once per server, as the store counts it).
pub fn expected_stats(guild_id: u64, server_id: &str, files: &[&[u8]]) -> ServerStats {
    let mut stats = ServerStats::default();
    let mut seen = HashSet::new();
    for bytes in files {
        let mut chunk = parse_killfeed_chunk("expected.csv", bytes, 0, true);
        chunk.dedupe(guild_id, server_id, &mut seen);
        stats.apply(&chunk.events);
    }
    stats
}

/// Waits (bounded) until `check` holds, looking again every 100 ms: for state in MongoDB
/// written by another process, where there is no event to await.
pub async fn eventually<F, Fut>(what: &str, limit: std::time::Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let found = tokio::time::timeout(limit, async {
        while !check().await {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        found.is_ok(),
        "timed out after {limit:?} waiting for {what}"
    );
}

/// What a worker that died in the middle of `batch` leaves behind: the first `n` lines of
/// `chunk` stored in `kills` (as the store stores them), and no statistics.
pub async fn store_lines_then_crash(
    db: &Database,
    guild_id: u64,
    server_id: &str,
    batch: i64,
    chunk: &Chunk<'_>,
    n: usize,
) {
    let lines: Vec<(String, i64)> = chunk
        .raw
        .iter()
        .zip(&chunk.events)
        .take(n)
        .map(|(raw, e)| (line_id(guild_id, server_id, raw), e.at))
        .collect();
    let (Some(first), Some(last)) = (
        lines.iter().map(|l| l.1).min(),
        lines.iter().map(|l| l.1).max(),
    ) else {
        return;
    };
    let at = |s: i64| DateTime::from_millis(s * 1000);
    let stored: Vec<Document> = lines
        .iter()
        .map(|(id, t)| doc! { "id": id, "at": at(*t) })
        .collect();
    let kills = db.raw().collection::<Document>("kills");
    ok(kills
        .insert_one(doc! {
            "_id": format!("crashed:{server_id}:{batch}:{}", lines[0].0),
            "guild_id": guild_id.to_string(), "server_id": server_id, "batch": batch,
            "from": at(first), "at": at(last), "lines": stored,
        })
        .await);
}

/// Waits (bounded) until a worker has read `server_id` of `guild` once without an error.
/// What its files hold then is history: counted, never announced. Tests that want lines
/// announced write them after this.
pub async fn first_read_done(db: &mongodb::Database, guild: u64, server_id: &str) {
    let status = db.collection::<Document>("server_status");
    let id = format!("{guild}:{server_id}");
    eventually("the server's first read", crate::WAIT, || async {
        status
            .find_one(doc! { "_id": &id, "polls": { "$gte": 1 }, "last_error": "" })
            .await
            .ok()
            .flatten()
            .is_some()
    })
    .await;
}

/// Waits (bounded) until the worker has counted `kills` PvP kills on `server_id` of
/// `guild`: the server's totals, which a batch writes last.
pub async fn kills_counted(db: &mongodb::Database, guild: u64, server_id: &str, kills: i64) {
    let totals = db.collection::<Document>("server_stats");
    let id = format!("{guild}:{server_id}");
    eventually("the kills counted", crate::WAIT, || async {
        totals
            .find_one(doc! { "_id": &id })
            .await
            .ok()
            .flatten()
            .and_then(|d| {
                d.get_i64("kills")
                    .ok()
                    .or_else(|| d.get_i32("kills").ok().map(i64::from))
            })
            == Some(kills)
    })
    .await;
}

/// Messages a gateway has claimed and not yet marked sent (`deliveries` in `claiming` or
/// `sending`); a failed read counts as one, so a wait on it goes on.
pub async fn messages_in_flight(db: &mongodb::Database) -> u64 {
    db.collection::<Document>("deliveries")
        .count_documents(doc! { "state": { "$in": ["claiming", "sending"] } })
        .await
        .unwrap_or(1)
}

/// Waits (bounded) until at least `at_least` notifications are stored, the furthest
/// gateway subscriber has acknowledged every one and looks for none it read past, and no
/// message is claimed and unsent: everything the worker produced so far has been posted
/// (or deliberately not), so counts of posts are final.
pub async fn posting_caught_up(db: &mongodb::Database, at_least: i64) {
    let notifications = db.collection::<Document>("notifications");
    let acks = db.collection::<Document>("notification_acks");
    eventually("every notification acknowledged", crate::WAIT, || async {
        if messages_in_flight(db).await > 0 {
            return false;
        }
        let seq = |d: Option<Document>| d.and_then(|d| d.get_i64("seq").ok());
        let newest = seq(notifications
            .find_one(doc! {})
            .sort(doc! { "seq": -1 })
            .await
            .ok()
            .flatten());
        // The furthest subscriber: after re-sharding the old layout's stays behind.
        let furthest = acks
            .find_one(doc! {})
            .sort(doc! { "seq": -1 })
            .await
            .ok()
            .flatten();
        let looking = furthest
            .as_ref()
            .and_then(|d| d.get_array("open").ok())
            .is_some_and(|open| !open.is_empty());
        let acked = seq(furthest);
        !looking && matches!((newest, acked), (Some(n), Some(a)) if n >= at_least && a >= n)
    })
    .await;
}

/// `towerctl health ADDR`, as a container healthcheck runs it (bounded by [`crate::WAIT`]).
pub async fn towerctl_health(addr: &str) -> std::process::Output {
    let towerctl = ok(crate::daemon::binary_path("towerctl"));
    ok(ok(tokio::time::timeout(
        crate::WAIT,
        tokio::process::Command::new(towerctl)
            .args(["health", addr, "--timeout-secs", "3"])
            .output(),
    )
    .await))
}

/// A small deterministic generator (xorshift): benches pick servers and moments with it,
/// the same ones on every run.
pub struct Xorshift(pub u64);

impl Xorshift {
    /// The next number below `below` (at least 1).
    pub fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below.max(1)
    }
}

/// A process's resident memory, in KiB (0 when it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time a process has used, user and system, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces) in parentheses.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    ticks as f64 / rustix::param::clock_ticks_per_second() as f64
}

/// CPU time used so far by every live process named `name` (as in `/proc/PID/comm`), in
/// seconds: sshd's one process per session, for instance.
pub fn cpu_seconds_named(name: &str) -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == name)
        })
        .map(cpu_seconds)
        .sum()
}

/// The `p` quantile (0 to 1) of `sorted` durations, the nearest rank by rounding; zero for
/// none (the benches' p50 and p99).
pub fn percentile(sorted: &[std::time::Duration], p: f64) -> std::time::Duration {
    if sorted.is_empty() {
        return std::time::Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
