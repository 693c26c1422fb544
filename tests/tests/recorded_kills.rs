//! Kills recorded by hand (`/rivalry record_kill`) in the real MongoDB-wire server, through
//! the worker's own store: counted once like any killfeed line (a retried request and a
//! crash mid-way included), marked as recorded by hand on the stored line, the rivalry and
//! the kill post, and the killfeed read afterwards loses nothing to their batch numbers.

use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};

use tower_ingest::ingest::{Recorded, parse_killfeed_chunk};
use tower_ingest::killfeed::recorded_kill_line;
use tower_ingest::reader::{BATCH_BYTES, PollOutcome, poll_killfeed};
use tower_ingest::source::LocalSource;
use tower_store::cursor_store::{
    CursorStore, PendingBatch, PendingRange, RECORDED_PATH, RecordedKill, StoreSink,
};
use tower_store::outbox::Outbox;
use tower_store::rivalries::{RecordedBy, Rivalries};
use tower_store::stats_query::StatsQuery;
use tower_store::stats_store::{BatchRef, StatsStore};
use tower_tests::backing::TestDatabase;
use tower_tests::support::{fixture, ok};

const GUILD: u64 = 454_545_454_545_454_545;
const SERVER: &str = "8031";
const DIR: &str = "deathlogs/world_0";
const FILES: [&str; 2] = ["2025.05.01-00.00.00.csv", "2025.05.15-00.00.00.csv"];
const ADMIN: u64 = 777_000_000_000_000_001;

/// The fixture files put in a folder read live, `upto` of them, into the store.
async fn read_files(
    source: &LocalSource,
    root: &std::path::Path,
    upto: usize,
    (stats, cursors, outbox): (&StatsStore, &CursorStore, &Outbox),
) {
    for file in &FILES[..upto] {
        let target = root.join(DIR).join(file);
        if !target.exists() {
            ok(std::fs::write(&target, fixture(file)));
        }
    }
    let mut sink = ok(StoreSink::open(GUILD, SERVER, stats, cursors).await);
    sink.state.listed = true;
    sink.outbox = Some(outbox);
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
}

fn players_of_the_first_kill() -> ((String, String), (String, String)) {
    let bytes = fixture(FILES[0]);
    let chunk = parse_killfeed_chunk(FILES[0], &bytes, 0, true);
    chunk
        .events
        .iter()
        .find_map(|line| match &line.event {
            tower_ingest::killfeed::KillfeedEvent::Kill { killer, victim, .. } => Some((
                (killer.name.to_string(), killer.id.to_owned()),
                (victim.name.to_string(), victim.id.to_owned()),
            )),
            _ => None,
        })
        .unwrap_or_else(|| panic!("the fixture has a kill"))
}

/// A server's PvP kills and a player's kills and deaths, as `/stats` reads them.
async fn counts(query: &StatsQuery, killer: &str, victim: &str) -> (u64, u64, u64) {
    let total = ok(query.server(GUILD, SERVER).await).map_or(0, |t| t.kills);
    let kills = ok(query.player(GUILD, SERVER, killer).await).map_or(0, |p| p.stats.kills);
    let deaths = ok(query.player(GUILD, SERVER, victim).await).map_or(0, |p| p.stats.deaths);
    (total, kills, deaths)
}

#[tokio::test]
async fn a_kill_recorded_by_hand_counts_once_and_says_so() {
    let ((killer_name, killer_id), (victim_name, victim_id)) = players_of_the_first_kill();
    let line = |at: i64| {
        ok(recorded_kill_line(
            at,
            (&killer_name, &killer_id),
            (&victim_name, &victim_id),
            "Crossbow",
        ))
    };
    let kill = |at: i64| RecordedKill {
        line: line(at),
        by: ADMIN.to_string(),
        location: Some("Airfield".to_owned()),
        imported: false,
    };

    // The control: the same files read with no kill recorded.
    let control = ok(TestDatabase::create("recorded_kills_control").await);
    let control_db = ok(control.open().await);
    let root = std::env::temp_dir().join(format!("tower-recorded-control-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    ok(std::fs::create_dir_all(root.join(DIR)));
    let source = LocalSource::new(&root);
    let stores = (
        StatsStore::new(&control_db),
        CursorStore::new(&control_db),
        Outbox::new(&control_db),
    );
    read_files(&source, &root, 2, (&stores.0, &stores.1, &stores.2)).await;
    let (control_total, control_kills, control_deaths) =
        counts(&StatsQuery::new(&control_db), &killer_id, &victim_id).await;
    let _ = std::fs::remove_dir_all(&root);
    ok(control.drop_database().await);

    let test = ok(TestDatabase::create("recorded_kills").await);
    let db = ok(test.open().await);
    let (stats, cursors, outbox) = (
        StatsStore::new(&db),
        CursorStore::new(&db),
        Outbox::new(&db),
    );
    let query = StatsQuery::new(&db);
    let root = std::env::temp_dir().join(format!("tower-recorded-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    ok(std::fs::create_dir_all(root.join(DIR)));
    let source = LocalSource::new(&root);
    read_files(&source, &root, 1, (&stats, &cursors, &outbox)).await;
    let before = counts(&query, &killer_id, &victim_id).await;

    // Recorded: counted once; the same request again (the same line) counts nothing.
    let at = 1_780_000_000;
    for (attempt, want) in [(1, 1), (2, 0)] {
        let slots = ok(cursors.load_killfeed_slots(GUILD, SERVER).await);
        let mut sink = ok(StoreSink::for_recording(
            GUILD, SERVER, 1, slots, &stats, &cursors,
        ));
        sink.outbox = Some(&outbox);
        let counted = ok(sink.record_kills(vec![kill(at)]).await);
        assert_eq!(counted, want, "attempt {attempt}");
    }
    // A request asked again (its reply lost, another worker's clock) is its first line.
    assert_eq!(
        ok(cursors.recorded_line(GUILD, SERVER, "r1", &line(at)).await),
        line(at)
    );
    assert_eq!(
        ok(cursors
            .recorded_line(GUILD, SERVER, "r1", &line(at + 7))
            .await),
        line(at),
        "the first attempt's line"
    );
    let after = counts(&query, &killer_id, &victim_id).await;
    assert_eq!(
        after,
        (before.0 + 1, before.1 + 1, before.2 + 1),
        "one kill more for the server, the killer and the victim"
    );

    // Marked as recorded by hand: the stored line, the rivalry's last kill, the kill post.
    let stored: Vec<Document> = ok(ok(db
        .raw()
        .collection::<Document>("kills")
        .find(doc! { "lines.recorded.by": ADMIN.to_string() })
        .await)
    .try_collect()
    .await);
    assert_eq!(stored.len(), 1, "one stored kill document holds the line");
    let (first, second) = if killer_id < victim_id {
        (&killer_id, &victim_id)
    } else {
        (&victim_id, &killer_id)
    };
    let rivalry = ok(Rivalries::new(&db)
        .between(GUILD, SERVER, first, second)
        .await)
    .unwrap_or_else(|| panic!("the rivalry is there"));
    let last = rivalry
        .last
        .unwrap_or_else(|| panic!("the rivalry has a last kill"));
    assert_eq!(last.weapon, "Crossbow");
    assert_eq!(
        last.recorded,
        Some(RecordedBy {
            user_id: ADMIN,
            location: Some("Airfield".to_owned())
        })
    );
    let posts: Vec<Document> = ok(ok(db
        .raw()
        .collection::<Document>("notifications")
        .find(doc! { "kind": "kill", "data.recorded.by": ADMIN.to_string() })
        .await)
    .try_collect()
    .await);
    assert_eq!(posts.len(), 1, "posted once");

    // A second kill, cut short after its statistics were written and before its batch was
    // committed: the next reader finishes it, once, and then reads the second file.
    let slots = ok(cursors.load_killfeed_slots(GUILD, SERVER).await);
    let sink = ok(StoreSink::for_recording(
        GUILD, SERVER, 1, slots, &stats, &cursors,
    ));
    let second_kill = kill(at + 60);
    let pending = PendingBatch {
        batch: sink.state.next_batch,
        ranges: vec![PendingRange {
            path: RECORDED_PATH.to_owned(),
            from: 0,
            to: second_kill.line.len() as u64,
            at_eof: true,
            recorded: Some(second_kill.clone()),
        }],
        cursor: None,
        rewards: None,
    };
    let mut state = sink.state.clone();
    state.pending = Some(pending.clone());
    ok(cursors
        .save_slot(GUILD, SERVER, &sink.slot, &state, Some(1))
        .await);
    let mut chunk = parse_killfeed_chunk(RECORDED_PATH, second_kill.line.as_bytes(), 0, true);
    chunk.recorded = Some(Recorded {
        by: ADMIN,
        location: Some("Airfield".to_owned()),
    });
    let at_batch = BatchRef {
        guild_id: GUILD,
        server_id: SERVER,
        batch: pending.batch,
    };
    ok(stats.apply_batch(at_batch, &[chunk]).await);
    drop(sink);
    read_files(&source, &root, 2, (&stats, &cursors, &outbox)).await;
    let end = counts(&query, &killer_id, &victim_id).await;
    assert_eq!(
        end,
        (control_total + 2, control_kills + 2, control_deaths + 2),
        "the second file counted whole after the recorded kills, and each recorded kill once"
    );
    let posts: Vec<Document> = ok(ok(db
        .raw()
        .collection::<Document>("notifications")
        .find(doc! { "kind": "kill", "data.recorded.by": ADMIN.to_string() })
        .await)
    .try_collect()
    .await);
    assert_eq!(posts.len(), 2, "each recorded kill posted once");
    let _ = std::fs::remove_dir_all(&root);
    ok(test.drop_database().await);
}

/// The earlier bot's records imported by `towerctl import-legacy` are history, whoever
/// finishes their batch (a worker finishing a batch an import left behind has an outbox):
/// counted, never posted, with no mark of a hand.
#[tokio::test]
async fn imported_records_count_and_are_never_posted() {
    let ((killer_name, killer_id), (victim_name, victim_id)) = players_of_the_first_kill();
    let test = ok(TestDatabase::create("recorded_kills_imported").await);
    let db = ok(test.open().await);
    let (stats, cursors, outbox) = (
        StatsStore::new(&db),
        CursorStore::new(&db),
        Outbox::new(&db),
    );
    let line = |at: i64, distance: u32| {
        ok(tower_ingest::killfeed::earlier_bot_line(
            at,
            (&killer_name, &killer_id),
            (&victim_name, &victim_id),
            "AK-74",
            distance,
        ))
    };
    let slots = ok(cursors.load_killfeed_slots(GUILD, SERVER).await);
    let mut sink = ok(StoreSink::for_recording(
        GUILD, SERVER, 0, slots, &stats, &cursors,
    ));
    sink.outbox = Some(&outbox);
    let lines = vec![
        RecordedKill::imported(line(1_700_000_000, 40)),
        RecordedKill::imported(line(1_700_000_060, 41)),
    ];
    assert_eq!(ok(sink.record_kills(lines).await), 2);

    let query = StatsQuery::new(&db);
    assert_eq!(counts(&query, &killer_id, &victim_id).await, (2, 2, 2));
    let notifications = db.raw().collection::<Document>("notifications");
    assert_eq!(ok(notifications.count_documents(doc! {}).await), 0);
    let marked = db.raw().collection::<Document>("kills");
    assert_eq!(
        ok(marked
            .count_documents(doc! { "lines.recorded": { "$exists": true } })
            .await),
        0
    );
    ok(test.drop_database().await);
}

/// An import that counted the earlier bot's records but did not add the server forgets
/// the earlier bot's read position and keeps the batch numbers: statistics accept only
/// batches numbered after those, so a server added by hand later must not number from 1.
#[tokio::test]
async fn a_forgotten_read_position_keeps_the_batch_numbers() {
    let ((killer_name, killer_id), (victim_name, victim_id)) = players_of_the_first_kill();
    let test = ok(TestDatabase::create("recorded_kills_forget").await);
    let db = ok(test.open().await);
    let (stats, cursors) = (StatsStore::new(&db), CursorStore::new(&db));
    let position = tower_ingest::earlier_position::EarlierPosition {
        file: FILES[0].to_owned(),
        records: 3,
        recorded_unix: 1_780_000_000,
    };
    assert!(ok(cursors
        .record_earlier_position(GUILD, SERVER, &position)
        .await));
    let slots = ok(cursors.load_killfeed_slots(GUILD, SERVER).await);
    let mut sink = ok(StoreSink::for_recording(
        GUILD, SERVER, 0, slots, &stats, &cursors,
    ));
    let line = ok(tower_ingest::killfeed::earlier_bot_line(
        1_700_000_000,
        (&killer_name, &killer_id),
        (&victim_name, &victim_id),
        "AK-74",
        40,
    ));
    assert_eq!(
        ok(sink.record_kills(vec![RecordedKill::imported(line)]).await),
        1
    );

    ok(cursors.forget_earlier_position(GUILD, SERVER).await);
    let slots = ok(cursors.load_killfeed_slots(GUILD, SERVER).await);
    let state = slots
        .states
        .get("killfeed")
        .unwrap_or_else(|| panic!("the slot is kept"));
    assert_eq!(state.next_batch, 2);
    assert_eq!(state.earlier_bot, None);

    // A slot that never numbered a batch is removed whole.
    ok(cursors
        .record_earlier_position(GUILD, "8032", &position)
        .await);
    ok(cursors.forget_earlier_position(GUILD, "8032").await);
    let slots = ok(cursors.load_killfeed_slots(GUILD, "8032").await);
    assert!(slots.states.is_empty(), "{:?}", slots.states);
    ok(test.drop_database().await);
}
