//! The incremental reader over a real folder that grows like a game server's: partial
//! lines wait, only new bytes are read, new files are picked up in order, a replaced or
//! truncated log is read from the start.

use std::collections::HashSet;
use std::convert::Infallible;

use tower_ingest::cursor::{FileCursor, LogRestart};
use tower_ingest::ingest::Chunk;
use tower_ingest::reader::{
    BATCH_BYTES, KillfeedSink, LogSink, MAX_READ, PollOutcome, poll_killfeed, poll_log,
};
use tower_ingest::server_log::{LogRecord, PlayerCounts};
use tower_ingest::source::LocalSource;
use tower_ingest::stats::{BatchDelta, ServerStats};

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn fixture(stem: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../tests/fixtures/deadside/killfeed/{stem}.csv"));
    ok(std::fs::read(path))
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tower-reader-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    ok(std::fs::create_dir_all(dir.join("deathlogs/world_0")));
    dir
}

#[derive(Default)]
struct StatsSink {
    stats: ServerStats,
    seen: HashSet<[u8; 16]>,
    malformed: usize,
    /// Files per batch, in order.
    batches: Vec<usize>,
}

impl KillfeedSink for StatsSink {
    type Error = Infallible;
    async fn apply(&mut self, batch: &[Chunk<'_>], _cursor: &FileCursor) -> Result<(), Infallible> {
        self.batches.push(batch.len());
        let mut events = Chunk::default();
        for chunk in batch {
            events.events.extend(chunk.events.iter().cloned());
            events.raw.extend(&chunk.raw);
            self.malformed += chunk.malformed.len();
        }
        events.dedupe(1, "7020", &mut self.seen);
        self.stats.merge(&BatchDelta::from_events(&events.events));
        Ok(())
    }
}

fn one_read(files: &[&[u8]]) -> ServerStats {
    let mut stats = ServerStats::default();
    for bytes in files {
        let chunk = tower_ingest::ingest::parse_killfeed_chunk("f", bytes, 0, true);
        stats.apply(&chunk.events);
    }
    stats
}

#[tokio::test]
async fn a_growing_killfeed_folder_is_read_exactly_once() {
    let root = temp_dir("killfeed");
    let dir = "deathlogs/world_0";
    let source = LocalSource::new(&root);
    let a = fixture("2025.05.01-00.00.00");
    let b = fixture("2025.05.15-00.00.00");
    let a_path = root.join(dir).join("2025.05.01-00.00.00.csv");
    let mut sink = StatsSink::default();
    let mut outcome = PollOutcome::default();

    // The first half of file A, cut in the middle of a line.
    let cut = a.len() / 2;
    ok(std::fs::write(&a_path, &a[..cut]));
    let cursor = ok(poll_killfeed(&source, dir, BATCH_BYTES, None, &mut sink, &mut outcome).await);
    let held = cursor.as_ref().map_or(0, |c| c.offset);
    assert!(
        held < cut as u64 && a[held as usize - 1] == b'\n',
        "the partial line waits"
    );

    // Nothing new: nothing read.
    let mut idle = PollOutcome::default();
    let same = ok(poll_killfeed(
        &source,
        dir,
        BATCH_BYTES,
        cursor.clone(),
        &mut sink,
        &mut idle,
    )
    .await);
    assert_eq!((same, idle.bytes), (cursor.clone(), 0));

    // The rest of A arrives, then a newer file B.
    ok(std::fs::write(&a_path, &a));
    let mut second = PollOutcome::default();
    let cursor = ok(poll_killfeed(&source, dir, BATCH_BYTES, cursor, &mut sink, &mut second).await);
    assert_eq!(
        second.bytes,
        a.len() as u64 - held,
        "only new bytes are read"
    );
    ok(std::fs::write(
        root.join(dir).join("2025.05.15-00.00.00.csv"),
        &b,
    ));
    let cursor =
        ok(poll_killfeed(&source, dir, BATCH_BYTES, cursor, &mut sink, &mut outcome).await);
    assert_eq!(
        cursor.map(|c| (c.file, c.offset)),
        Some(("2025.05.15-00.00.00.csv".to_owned(), b.len() as u64))
    );

    assert_eq!(sink.malformed, 0);
    assert_eq!(sink.stats, one_read(&[&a, &b]));

    // Reading the whole folder again from scratch (a lost cursor) counts nothing twice.
    let before = sink.stats.clone();
    ok(poll_killfeed(&source, dir, BATCH_BYTES, None, &mut sink, &mut outcome).await);
    assert_eq!(sink.stats, before);
    let _ = std::fs::remove_dir_all(&root);
}

/// An empty file that is not the newest (no death between two rotations) is read past,
/// first in the folder or after the cursor; an empty newest file waits for its lines.
#[tokio::test]
async fn empty_files_between_others_do_not_stop_the_reading() {
    let root = temp_dir("empty");
    let dir = "deathlogs/world_0";
    let source = LocalSource::new(&root);
    let a = fixture("2025.05.01-00.00.00");
    let b = fixture("2025.05.15-00.00.00");
    let write = |name: &str, bytes: &[u8]| ok(std::fs::write(root.join(dir).join(name), bytes));
    write("2025.04.30-00.00.00.csv", b"");
    write("2025.05.01-00.00.00.csv", &a);
    write("2025.05.02-00.00.00.csv", b"");
    let mut sink = StatsSink::default();
    let mut outcome = PollOutcome::default();
    let cursor = ok(poll_killfeed(&source, dir, BATCH_BYTES, None, &mut sink, &mut outcome).await);
    assert_eq!(
        sink.stats,
        one_read(&[&a]),
        "read past the first, empty file"
    );
    assert_eq!(
        cursor.as_ref().map(|c| (c.file.as_str(), c.offset)),
        Some(("2025.05.01-00.00.00.csv", a.len() as u64)),
        "the empty newest file waits"
    );
    write("2025.05.15-00.00.00.csv", &b);
    let cursor =
        ok(poll_killfeed(&source, dir, BATCH_BYTES, cursor, &mut sink, &mut outcome).await);
    assert_eq!(
        sink.stats,
        one_read(&[&a, &b]),
        "read past the empty one between"
    );
    assert_eq!(
        cursor.map(|c| (c.file, c.offset)),
        Some(("2025.05.15-00.00.00.csv".to_owned(), b.len() as u64))
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[tokio::test]
async fn small_files_share_a_batch_and_a_large_one_takes_several() {
    let root = temp_dir("batches");
    let dir = "deathlogs/world_0";
    let source = LocalSource::new(&root);
    let a = fixture("2025.05.01-00.00.00");
    let b = fixture("2025.05.15-00.00.00");
    // A day bigger than one read: B's lines over and over.
    let big: Vec<u8> = b.repeat(MAX_READ / b.len() + 8);
    for (name, bytes) in [
        ("2025.05.01-00.00.00", &a),
        ("2025.05.15-00.00.00", &b),
        ("2025.05.16-00.00.00", &big),
    ] {
        ok(std::fs::write(
            root.join(dir).join(format!("{name}.csv")),
            bytes,
        ));
    }
    let mut sink = StatsSink::default();
    let mut outcome = PollOutcome::default();
    let cursor = ok(poll_killfeed(&source, dir, BATCH_BYTES, None, &mut sink, &mut outcome).await);

    // A, B and the start of the big file in the first batch (at most MAX_READ bytes), the
    // rest of it in the second.
    assert_eq!(sink.batches, vec![3, 1]);
    assert_eq!(outcome.batches, 2);
    assert_eq!(outcome.bytes, (a.len() + b.len() + big.len()) as u64);
    assert_eq!(
        cursor.map(|c| (c.file, c.offset)),
        Some(("2025.05.16-00.00.00.csv".to_owned(), big.len() as u64))
    );
    assert_eq!(sink.stats, one_read(&[&a, &b]));
    let _ = std::fs::remove_dir_all(&root);
}

#[derive(Default)]
struct CountsSink {
    counts: PlayerCounts,
    restarts: Vec<LogRestart>,
    announced: Vec<String>,
}

impl LogSink for CountsSink {
    type Error = Infallible;
    async fn apply(
        &mut self,
        restart: Option<LogRestart>,
        records: &[(u64, LogRecord<'_>)],
        _c: &FileCursor,
    ) -> Result<(), Infallible> {
        if let Some(r) = restart {
            self.restarts.push(r);
        }
        for (_, r) in records {
            self.counts.apply(&r.event);
            if r.event.is_announced() {
                self.announced.push(format!("{:?}", r.event));
            }
        }
        Ok(())
    }
}

const P1: &str = "0002e69a65204b669c20238266782d7b";
const P2: &str = "00022ba2df89427c8a252ab6be1df3f3";

fn join(id: &str, name: &str) -> String {
    format!(
        "[2025.05.03-02.01.50:297][ 42]LogNet: Join request: /Game/Maps/world_0/World_0?logintype=eos&login={name}&Name={name}&eosid=|{id}\n\
         [2025.05.03-02.01.52:004][ 43]LogOnline: Warning: Player |{id} successfully registered!\n"
    )
}

#[tokio::test]
async fn the_server_log_tracks_players_and_restarts() {
    let root = temp_dir("log");
    let path = "Logs/Deadside.log";
    ok(std::fs::create_dir_all(root.join("Logs")));
    let source = LocalSource::new(&root);
    let mut sink = CountsSink::default();
    let mut outcome = PollOutcome::default();

    let first = format!(
        "Log file open, 05/03/25 02:00:00\n{}{}[2025.05.03-02.10.00:000][  1]LogSFPS: Mission GA_Military_02_mis1 switched to READY\n",
        join(P1, "One"),
        join(P2, "Two")
    );
    ok(std::fs::write(root.join(path), &first));
    let cursor = ok(poll_log(&source, path, None, &mut sink, &mut outcome).await);
    assert_eq!((sink.counts.online(), sink.counts.queued()), (2, 0));
    assert_eq!(sink.restarts, vec![LogRestart::New]);
    assert_eq!(
        sink.announced.len(),
        2,
        "the restart and the level-4 mission"
    );

    let left = format!(
        "{first}[2025.05.03-02.31.07:511][912]UChannel::Close: Sending CloseBunch. ChIndex == 0. UniqueId: EOS:|{P2}\n[2025.05.03-02.31.08"
    );
    ok(std::fs::write(root.join(path), &left));
    let cursor = ok(poll_log(&source, path, cursor, &mut sink, &mut outcome).await);
    assert_eq!(sink.counts.online(), 1);

    // The server restarts: a new, shorter log.
    let restarted = format!("Log file open, 05/03/25 03:00:00\n{}", join(P2, "Two"));
    ok(std::fs::write(root.join(path), &restarted));
    let cursor = ok(poll_log(&source, path, cursor, &mut sink, &mut outcome).await);
    assert_eq!(sink.restarts, vec![LogRestart::New, LogRestart::Truncated]);
    assert_eq!(sink.counts.online(), 1);

    // Replaced by a longer log with other first bytes.
    let replaced = format!(
        "Log file open, 05/03/25 04:00:00\n{}{}{}",
        join(P1, "One"),
        join(P2, "Two"),
        "x".repeat(500) + "\n"
    );
    ok(std::fs::write(root.join(path), &replaced));
    let cursor = ok(poll_log(&source, path, cursor, &mut sink, &mut outcome).await);
    assert_eq!(sink.restarts.last(), Some(&LogRestart::Replaced));
    assert_eq!(sink.counts.online(), 2);
    assert_eq!(cursor.map(|c| c.offset), Some(replaced.len() as u64));
    let _ = std::fs::remove_dir_all(&root);
}

#[tokio::test]
async fn a_log_first_seen_empty_is_still_told_apart_from_its_replacement() {
    let root = temp_dir("log-empty");
    let path = "Logs/Deadside.log";
    ok(std::fs::create_dir_all(root.join("Logs")));
    let source = LocalSource::new(&root);
    let mut sink = CountsSink::default();
    let mut outcome = PollOutcome::default();
    ok(std::fs::write(root.join(path), ""));
    let cursor = ok(poll_log(&source, path, None, &mut sink, &mut outcome).await);
    // It grows: same log, identity completed.
    let first = format!("Log file open, 05/03/25 02:00:00\n{}", join(P1, "One"));
    ok(std::fs::write(root.join(path), &first));
    let cursor = ok(poll_log(&source, path, cursor, &mut sink, &mut outcome).await);
    assert_eq!(sink.restarts, vec![LogRestart::New]);
    assert_eq!(sink.counts.online(), 1);
    // Replaced by a longer, different log: noticed, read from its start.
    let other = format!(
        "Log file open, 05/03/25 09:00:00\n{}{}",
        join(P2, "Two"),
        "y".repeat(400) + "\n"
    );
    ok(std::fs::write(root.join(path), &other));
    ok(poll_log(&source, path, cursor, &mut sink, &mut outcome).await);
    assert_eq!(sink.restarts.last(), Some(&LogRestart::Replaced));
    assert_eq!(
        sink.counts.online(),
        1,
        "P1 left with the old log; P2 joined the new one"
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// Notes the key each record's notice would get (`log id`, offset), and fails its first
/// apply after noting them, as a worker that stored notices and died before its cursor.
#[derive(Default)]
struct KeysSink {
    keys: Vec<(String, u64)>,
    failed_once: bool,
}

impl LogSink for KeysSink {
    type Error = String;
    async fn apply(
        &mut self,
        _restart: Option<LogRestart>,
        records: &[(u64, LogRecord<'_>)],
        c: &FileCursor,
    ) -> Result<(), String> {
        for (offset, _) in records {
            self.keys.push((c.log_id.clone(), *offset));
        }
        if !self.failed_once {
            self.failed_once = true;
            return Err("died before the cursor was saved".to_owned());
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_short_logs_lines_keep_their_keys_when_read_again_after_it_grew() {
    let root = temp_dir("log-keys");
    let path = "Logs/Deadside.log";
    ok(std::fs::create_dir_all(root.join("Logs")));
    let source = LocalSource::new(&root);
    let mut sink = KeysSink::default();
    let mut outcome = PollOutcome::default();
    // Under HEAD_LEN bytes: a join, a mission.
    let short = "Log file open, 05/03/25 02:00:00\n[2025.05.03-02.10.00:000][  1]LogSFPS: Mission GA_Military_02_mis1 switched to READY\n";
    assert!(short.len() < 256);
    ok(std::fs::write(root.join(path), short));
    assert!(
        poll_log(&source, path, None, &mut sink, &mut outcome)
            .await
            .is_err()
    );
    let first_try = sink.keys.clone();
    assert!(!first_try.is_empty());
    // The log grows past HEAD_LEN before the retry: the same lines get the same keys.
    let grown = format!("{short}{}", join(P1, "One").repeat(3));
    assert!(grown.len() > 256);
    ok(std::fs::write(root.join(path), &grown));
    sink.keys.clear();
    ok(poll_log(&source, path, None, &mut sink, &mut outcome).await);
    assert_eq!(
        &sink.keys[..first_try.len()],
        &first_try[..],
        "each line keeps its key"
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[tokio::test]
async fn a_new_log_with_the_same_first_line_gets_new_keys() {
    let root = temp_dir("log-same-first-line");
    let path = "Logs/Deadside.log";
    ok(std::fs::create_dir_all(root.join("Logs")));
    let source = LocalSource::new(&root);
    let mut sink = CountsSink::default();
    let mut outcome = PollOutcome::default();
    let first = format!("Log file open, 05/03/25 02:00:00\n{}", join(P1, "One"));
    ok(std::fs::write(root.join(path), &first));
    let cursor = ok(poll_log(&source, path, None, &mut sink, &mut outcome).await);
    let before = cursor.as_ref().map(|c| c.log_id.clone());
    // Restarted within the same second: a shorter log with the same first line.
    ok(std::fs::write(
        root.join(path),
        "Log file open, 05/03/25 02:00:00\n",
    ));
    let cursor = ok(poll_log(&source, path, cursor, &mut sink, &mut outcome).await);
    assert_eq!(sink.restarts.last(), Some(&LogRestart::Truncated));
    let after = cursor.as_ref().map(|c| c.log_id.clone());
    assert_ne!(after, before, "its lines must not reuse the old log's keys");
    assert_eq!(after, before.map(|b| format!("{b}.1")));
    let _ = std::fs::remove_dir_all(&root);
}
