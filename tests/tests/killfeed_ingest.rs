//! A game server's killfeed folder read into MongoDB end to end (local folder as the byte
//! source, the real MongoDB-wire server): cursors persist, and a process that dies in the
//! middle of a batch leaves nothing lost or doubled for the next one to find.

use mongodb::bson::doc;
use tower_ingest::ingest::parse_killfeed_chunk;
use tower_ingest::reader::{BATCH_BYTES, PollOutcome, poll_killfeed};
use tower_ingest::source::LocalSource;
use tower_store::cursor_store::{CursorStore, StoreSink};
use tower_store::stats_store::StatsStore;
use tower_tests::backing::TestDatabase;
use tower_tests::support::{expected_stats, fixture, ok, store_lines_then_crash};

const GUILD: u64 = 222_222_222_222_222_222;
const SERVER: &str = "9001";
const DIR: &str = "deathlogs/world_0";

/// An empty killfeed folder (`DIR`) of this test's own under the temp folder, and a byte
/// source over it.
fn killfeed_folder(name: &str) -> (std::path::PathBuf, LocalSource) {
    let root = std::env::temp_dir().join(format!("tower-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    ok(std::fs::create_dir_all(root.join(DIR)));
    let source = LocalSource::new(&root);
    (root, source)
}

#[tokio::test]
async fn a_crash_mid_batch_loses_and_doubles_nothing() {
    let test = ok(TestDatabase::create("killfeed_ingest").await);
    let db = ok(test.open().await);
    let (stats, cursors) = (StatsStore::new(&db), CursorStore::new(&db));
    let (root, source) = killfeed_folder("ingest");
    let a = fixture("2025.05.01-00.00.00.csv");
    let b = fixture("2025.05.15-00.00.00.csv");
    // The first 100 lines of A.
    let a_path = root.join(DIR).join("2025.05.01-00.00.00.csv");
    let half = a
        .iter()
        .enumerate()
        .filter(|&(_, &byte)| byte == b'\n')
        .nth(99)
        .map_or(a.len(), |(i, _)| i + 1);
    ok(std::fs::write(&a_path, &a[..half]));

    // First worker: reads them.
    let mut sink = ok(StoreSink::open(GUILD, SERVER, &stats, &cursors).await);
    let mut outcome = PollOutcome::default();
    let cursor = ok(poll_killfeed(
        &source,
        DIR,
        BATCH_BYTES,
        sink.state.cursor.clone(),
        &mut sink,
        &mut outcome,
    )
    .await);
    assert_eq!(sink.totals.counted, 100);

    // The rest of A is written and B appears: one batch covers both files. The worker
    // records it as pending, stores a third of each file's lines, and dies before
    // updating any statistics or its cursor.
    ok(std::fs::write(&a_path, &a));
    ok(std::fs::write(
        root.join(DIR).join("2025.05.15-00.00.00.csv"),
        &b,
    ));
    let batch = [
        parse_killfeed_chunk(
            &format!("{DIR}/2025.05.01-00.00.00.csv"),
            &a[half..],
            half as u64,
            true,
        ),
        parse_killfeed_chunk(&format!("{DIR}/2025.05.15-00.00.00.csv"), &b, 0, false),
    ];
    let next = tower_ingest::cursor::FileCursor {
        file: "2025.05.15-00.00.00.csv".to_owned(),
        offset: batch[1].consumed as u64,
        size: b.len() as u64,
        ..Default::default()
    };
    let pending = ok(sink.begin(&batch, &next).await);
    assert_eq!(pending.ranges.len(), 2);
    for chunk in &batch {
        store_lines_then_crash(
            &db,
            GUILD,
            SERVER,
            pending.batch,
            chunk,
            chunk.raw.len() / 3,
        )
        .await;
    }
    drop(sink);
    // The crash came before the commit: the stored cursor has not moved.
    assert_eq!(ok(cursors.load(GUILD, SERVER).await).cursor, cursor);

    // Next worker: finds the pending batch, finishes it from the same bytes, carries on.
    let mut sink = ok(StoreSink::open(GUILD, SERVER, &stats, &cursors).await);
    assert_eq!(
        sink.state.pending.as_ref().map(|p| p.batch),
        Some(pending.batch)
    );
    ok(sink.recover(&source).await);
    assert!(sink.state.pending.is_none());
    ok(poll_killfeed(
        &source,
        DIR,
        BATCH_BYTES,
        sink.state.cursor.clone(),
        &mut sink,
        &mut outcome,
    )
    .await);

    let stored = ok(stats.load(GUILD, SERVER).await);
    let expected = expected_stats(GUILD, SERVER, &[&a, &b]);
    assert_eq!(stored.totals, expected.totals);
    assert_eq!(stored.players.len(), expected.players.len());
    for (id, e) in &expected.players {
        assert_eq!(
            (
                stored.players[id].kills,
                stored.players[id].deaths,
                stored.players[id].best_killstreak
            ),
            (e.kills, e.deaths, e.best_killstreak),
            "{id}"
        );
    }
    assert_eq!(ok(stats.lines_recorded(doc! {}).await), 258 + 283);
    // And the cursor persisted: a third worker reads nothing new.
    let mut sink = ok(StoreSink::open(GUILD, SERVER, &stats, &cursors).await);
    let mut idle = PollOutcome::default();
    ok(poll_killfeed(
        &source,
        DIR,
        BATCH_BYTES,
        sink.state.cursor.clone(),
        &mut sink,
        &mut idle,
    )
    .await);
    assert_eq!((idle.bytes, idle.batches), (0, 0));
    let _ = std::fs::remove_dir_all(&root);
    ok(test.drop_database().await);
}

/// The first `n` lines of `bytes`.
fn first_lines(bytes: &[u8], n: usize) -> &[u8] {
    tower_tests::sftp_home::lines(bytes, n)
}

async fn poll_once(source: &LocalSource, stats: &StatsStore, cursors: &CursorStore) -> (u64, u64) {
    let mut sink = ok(StoreSink::open(GUILD, SERVER, stats, cursors).await);
    ok(sink.recover(source).await);
    let mut outcome = PollOutcome::default();
    ok(poll_killfeed(
        source,
        DIR,
        BATCH_BYTES,
        sink.state.cursor.clone(),
        &mut sink,
        &mut outcome,
    )
    .await);
    (sink.totals.counted, sink.lost_bytes)
}

#[tokio::test]
async fn a_killfeed_file_replaced_by_a_shorter_or_different_one_is_read_from_its_start() {
    let test = ok(TestDatabase::create("killfeed_replaced").await);
    let db = ok(test.open().await);
    let (stats, cursors) = (StatsStore::new(&db), CursorStore::new(&db));
    let (root, source) = killfeed_folder("replaced");
    let path = root.join(DIR).join("2025.05.01-00.00.00.csv");
    let a = fixture("2025.05.01-00.00.00.csv");
    let b = fixture("2025.05.15-00.00.00.csv");

    ok(std::fs::write(&path, first_lines(&a, 40)));
    assert_eq!(poll_once(&source, &stats, &cursors).await.0, 40);
    // Replaced by a shorter file: 10 other lines. Read from its start.
    ok(std::fs::write(&path, first_lines(&b, 10)));
    assert_eq!(poll_once(&source, &stats, &cursors).await.0, 10);
    // Replaced by a longer file with other first bytes: 5 new lines, then the 40 lines
    // already counted. Read from its start, the 40 dropped by their identities.
    let mut longer = b[first_lines(&b, 10).len()..first_lines(&b, 15).len()].to_vec();
    longer.extend_from_slice(first_lines(&a, 40));
    ok(std::fs::write(&path, &longer));
    assert_eq!(poll_once(&source, &stats, &cursors).await.0, 5);
    let b15 = first_lines(&b, 15);
    let expected = expected_stats(GUILD, SERVER, &[first_lines(&a, 40), b15]);
    let stored = ok(stats.load(GUILD, SERVER).await);
    assert_eq!(stored.totals, expected.totals);
    assert_eq!(ok(stats.lines_recorded(doc! {}).await), 55);
    let _ = std::fs::remove_dir_all(&root);
    ok(test.drop_database().await);
}

#[tokio::test]
async fn an_interrupted_batch_whose_file_shrank_or_vanished_is_settled_not_retried_forever() {
    let test = ok(TestDatabase::create("killfeed_settled").await);
    let db = ok(test.open().await);
    let (stats, cursors) = (StatsStore::new(&db), CursorStore::new(&db));
    let (root, source) = killfeed_folder("settled");
    let a = fixture("2025.05.01-00.00.00.csv");
    let b = fixture("2025.05.15-00.00.00.csv");
    let a_path = root.join(DIR).join("2025.05.01-00.00.00.csv");
    let b_path = root.join(DIR).join("2025.05.15-00.00.00.csv");
    ok(std::fs::write(&a_path, &a));
    ok(std::fs::write(&b_path, &b));

    // A worker records a batch of both files as pending and dies before applying it.
    let mut sink = ok(StoreSink::open(GUILD, SERVER, &stats, &cursors).await);
    let batch = [
        parse_killfeed_chunk(&format!("{DIR}/2025.05.01-00.00.00.csv"), &a, 0, true),
        parse_killfeed_chunk(&format!("{DIR}/2025.05.15-00.00.00.csv"), &b, 0, false),
    ];
    let next = tower_ingest::cursor::FileCursor {
        file: "2025.05.15-00.00.00.csv".to_owned(),
        offset: batch[1].consumed as u64,
        size: b.len() as u64,
        ..Default::default()
    };
    ok(sink.begin(&batch, &next).await);
    drop(sink);
    // Meanwhile the first file vanished and the second shrank to 20 lines.
    ok(std::fs::remove_file(&a_path));
    let b20 = first_lines(&b, 20);
    ok(std::fs::write(&b_path, b20));

    // The next worker settles the batch: the 20 lines still there counted, the rest
    // recorded as lost; reading goes on.
    let (counted, lost) = poll_once(&source, &stats, &cursors).await;
    assert_eq!(counted, 20);
    assert_eq!(lost, (a.len() + b.len() - b20.len()) as u64);
    let state = ok(cursors.load(GUILD, SERVER).await);
    assert!(state.pending.is_none());
    assert_eq!(state.lost_bytes, lost);
    // New lines in the shrunk file are read as they come.
    let mut grown = b20.to_vec();
    grown.extend_from_slice(&a[..first_lines(&a, 3).len()]);
    ok(std::fs::write(&b_path, &grown));
    assert_eq!(poll_once(&source, &stats, &cursors).await.0, 3);
    assert_eq!(ok(stats.lines_recorded(doc! {}).await), 23);
    let _ = std::fs::remove_dir_all(&root);
    ok(test.drop_database().await);
}

/// Passes batches to the store until `left` runs out, then fails: a first read cut short
/// (an SFTP timeout, a lost lease) after some of its batches.
struct CutShort<'s, 'a> {
    inner: &'s mut StoreSink<'a>,
    left: usize,
}

impl tower_ingest::reader::KillfeedSink for CutShort<'_, '_> {
    type Error = String;

    fn listed(
        &mut self,
        files: &[tower_ingest::source::FileMeta],
        cursor: Option<&tower_ingest::cursor::FileCursor>,
    ) {
        self.inner.listed(files, cursor);
    }

    fn history_end(&self) -> Option<&tower_ingest::cursor::ReadPoint> {
        self.inner.history_end()
    }

    async fn apply(
        &mut self,
        batch: &[tower_ingest::ingest::Chunk<'_>],
        cursor: &tower_ingest::cursor::FileCursor,
    ) -> Result<(), String> {
        if self.left == 0 {
            return Err("cut short".to_owned());
        }
        self.left -= 1;
        self.inner
            .apply(batch, cursor)
            .await
            .map_err(|e| e.to_string())
    }
}

#[tokio::test]
async fn a_first_read_cut_short_stays_quiet_and_only_new_lines_are_announced() {
    use tower_ingest::reader::KillfeedSink;
    let test = ok(TestDatabase::create("killfeed_history").await);
    let db = ok(test.open().await);
    let (stats, cursors) = (StatsStore::new(&db), CursorStore::new(&db));
    let outbox = tower_store::outbox::Outbox::new(&db);
    let notifications = db
        .raw()
        .collection::<mongodb::bson::Document>("notifications");
    let (root, source) = killfeed_folder("history");
    let a = fixture("2025.05.01-00.00.00.csv");
    let b = fixture("2025.05.15-00.00.00.csv");
    // History: all of A and the first 100 lines of B.
    ok(std::fs::write(
        root.join(DIR).join("2025.05.01-00.00.00.csv"),
        &a,
    ));
    let b_path = root.join(DIR).join("2025.05.15-00.00.00.csv");
    ok(std::fs::write(&b_path, first_lines(&b, 100)));
    let open = || async {
        let mut sink = ok(StoreSink::open(GUILD, SERVER, &stats, &cursors).await);
        sink.outbox = Some(&outbox);
        sink
    };

    // The first read gets one small batch in, then is cut short.
    let mut sink = open().await;
    let mut outcome = PollOutcome::default();
    let cursor = sink.state.cursor.clone();
    let cut = poll_killfeed(
        &source,
        DIR,
        8 * 1024,
        cursor,
        &mut CutShort {
            inner: &mut sink,
            left: 1,
        },
        &mut outcome,
    )
    .await;
    assert!(cut.is_err());
    assert!(sink.history_end().is_some(), "history is marked");
    drop(sink);
    // B grows by 30 lines before the next poll: those are live.
    ok(std::fs::write(&b_path, first_lines(&b, 130)));
    let mut sink = open().await;
    let cursor = sink.state.cursor.clone();
    ok(poll_killfeed(&source, DIR, 8 * 1024, cursor, &mut sink, &mut outcome).await);
    assert_eq!(sink.history_end(), None, "history read to its end");

    let live = b[first_lines(&b, 100).len()..first_lines(&b, 130).len()].to_vec();
    let mut live_chunk = parse_killfeed_chunk("f.csv", &live, 0, true);
    live_chunk.dedupe(GUILD, SERVER, &mut std::collections::HashSet::new());
    assert_eq!(
        ok(notifications.count_documents(doc! {}).await),
        live_chunk.events.len() as u64,
        "only the 30 new lines are announced"
    );
    // Everything is counted.
    let expected = expected_stats(GUILD, SERVER, &[&a, first_lines(&b, 130)]);
    assert_eq!(ok(stats.load(GUILD, SERVER).await).totals, expected.totals);
    let _ = std::fs::remove_dir_all(&root);
    ok(test.drop_database().await);
}

/// A server imported from the earlier bot, with two killfeed folders: the earlier bot read
/// both by file name, so each folder's first read keeps quiet what it had read (every
/// older file, and the first records of the file it named) and counts everything.
#[tokio::test]
async fn every_folder_resumes_where_the_earlier_bot_stopped() {
    use tower_ingest::earlier_position::EarlierPosition;
    use tower_tests::guild_setup::kill;

    let test = ok(TestDatabase::create("killfeed_earlier").await);
    let db = ok(test.open().await);
    let (stats, cursors) = (StatsStore::new(&db), CursorStore::new(&db));
    let root = std::env::temp_dir().join(format!("tower-earlier-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let lines = |from: u32, n: u32| (from..from + n).map(kill).collect::<String>();
    for (dir, older, named) in [("world_0", 10, 6), ("world_1", 4, 5)] {
        let folder = root.join("deathlogs").join(dir);
        ok(std::fs::create_dir_all(&folder));
        let base = if dir == "world_0" { 0 } else { 30 };
        ok(std::fs::write(
            folder.join("2025.05.01-00.00.00.csv"),
            lines(base, older),
        ));
        ok(std::fs::write(
            folder.join("2025.05.02-00.00.00.csv"),
            lines(base + 15, named),
        ));
    }
    let position = EarlierPosition {
        file: "2025.05.02-00.00.00.csv".to_owned(),
        records: 3,
        recorded_unix: mongodb::bson::DateTime::now().timestamp_millis() / 1000,
    };
    assert!(ok(cursors
        .record_earlier_position(GUILD, SERVER, &position)
        .await));
    let dirs = vec![
        "deathlogs/world_0".to_owned(),
        "deathlogs/world_1".to_owned(),
    ];
    let loaded = ok(cursors.load_killfeed_slots(GUILD, SERVER).await);
    let sinks = ok(StoreSink::from_slots(
        GUILD, SERVER, &dirs, None, loaded, &stats, &cursors,
    ));
    let source = LocalSource::new(&root);
    let mut quiet = Vec::new();
    for (mut sink, dir) in sinks.into_iter().zip(&dirs) {
        let mut outcome = PollOutcome::default();
        ok(poll_killfeed(&source, dir, BATCH_BYTES, None, &mut sink, &mut outcome).await);
        quiet.push((sink.quiet_lines, sink.totals.counted));
    }
    assert_eq!(
        quiet,
        vec![(10 + 3, 16), (4 + 3, 9)],
        "(quiet, counted) per folder: the rest of the named file is announced"
    );
    let _ = std::fs::remove_dir_all(&root);
    ok(test.drop_database().await);
}

/// A batch cut short in a folder that is no longer listed (renamed, removed) is finished
/// from what is left of it before the listed folders read on, and their batches are
/// numbered after it: nothing waits for the folder forever, nothing is numbered twice.
#[tokio::test]
async fn a_batch_cut_short_in_a_folder_gone_since_is_finished_first() {
    use tower_ingest::cursor::FileCursor;
    use tower_tests::guild_setup::kill;

    let test = ok(TestDatabase::create("killfeed_unlisted").await);
    let db = ok(test.open().await);
    let (stats, cursors) = (StatsStore::new(&db), CursorStore::new(&db));
    let root = std::env::temp_dir().join(format!("tower-unlisted-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let file = "2025.05.01-00.00.00.csv";
    let world = |n: u32| format!("deathlogs/world_{n}");
    for (n, from) in [(0, 0), (1, 30)] {
        ok(std::fs::create_dir_all(root.join(world(n))));
        let lines: String = (from..from + 3).map(kill).collect();
        ok(std::fs::write(root.join(world(n)).join(file), lines));
    }
    let source = LocalSource::new(&root);
    // world_0's first batch recorded as pending, then the worker dies.
    let both = vec![world(0), world(1)];
    let loaded = ok(cursors.load_killfeed_slots(GUILD, SERVER).await);
    let mut sinks = ok(StoreSink::from_slots(
        GUILD, SERVER, &both, None, loaded, &stats, &cursors,
    ));
    let bytes = ok(std::fs::read(root.join(world(0)).join(file)));
    let path = format!("{}/{file}", world(0));
    let chunk = parse_killfeed_chunk(&path, &bytes, 0, false);
    let cursor = FileCursor {
        file: file.to_owned(),
        offset: bytes.len() as u64,
        size: bytes.len() as u64,
        ..Default::default()
    };
    let pending = ok(sinks[0].begin(&[chunk], &cursor).await);
    drop(sinks);
    // world_0 is listed no more.
    let only = vec![world(1)];
    let loaded = ok(cursors.load_killfeed_slots(GUILD, SERVER).await);
    let mut sinks = ok(StoreSink::from_slots(
        GUILD, SERVER, &only, None, loaded, &stats, &cursors,
    ));
    assert_eq!(
        sinks.len(),
        2,
        "world_1's, and one to finish world_0's batch"
    );
    for sink in &mut sinks {
        ok(sink.recover(&source).await);
    }
    let next = StoreSink::next_batch_of(&sinks);
    assert!(next > pending.batch, "numbered after the batch cut short");
    sinks[0].state.next_batch = next;
    let mut outcome = PollOutcome::default();
    ok(poll_killfeed(
        &source,
        &world(1),
        BATCH_BYTES,
        None,
        &mut sinks[0],
        &mut outcome,
    )
    .await);
    let totals = ok(stats.load(GUILD, SERVER).await).totals;
    assert_eq!(
        totals.kills, 6,
        "world_0's three kills and world_1's three, once each"
    );
    let _ = std::fs::remove_dir_all(&root);
    ok(test.drop_database().await);
}
