//! Killfeed statistics in the real MongoDB-wire server: the same numbers as the in-memory
//! engine (itself checked against independent golden numbers), each line counted exactly
//! once across replays, overlapping files and a batch retried after a crash.

use mongodb::bson::doc;
use tower_ingest::ingest::{Chunk, parse_killfeed_chunk};
use tower_ingest::stats::ServerStats;
use tower_store::db::Database;
use tower_store::stats_store::{BatchRef, StatsStore};
use tower_tests::backing::TestDatabase;
use tower_tests::support::{expected_stats, fixture, ok, store_lines_then_crash};

const GUILD: u64 = 111_111_111_111_111_111;
const SERVER: &str = "7020";

async fn store(test: &TestDatabase) -> (StatsStore, Database) {
    let db = ok(test.open().await);
    (StatsStore::new(&db), db)
}

/// Splits `bytes` at line boundaries into chunks of about `lines` lines.
fn batches(bytes: &[u8], lines: usize) -> Vec<(u64, &[u8])> {
    let mut out = Vec::new();
    let (mut start, mut count) = (0, 0);
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\n' {
            count += 1;
            if count == lines {
                out.push((start as u64, &bytes[start..=i]));
                start = i + 1;
                count = 0;
            }
        }
    }
    if start < bytes.len() {
        out.push((start as u64, &bytes[start..]));
    }
    out
}

fn assert_same(stored: &ServerStats, expected: &ServerStats) {
    assert_eq!(stored.players.len(), expected.players.len(), "players");
    for (id, e) in &expected.players {
        let s = &stored.players[id];
        let mut e = e.clone();
        let mut s = s.clone();
        e.names.sort();
        s.names.sort();
        assert_eq!(s, e, "player {id}");
    }
    assert_eq!(stored.weapons, expected.weapons);
    assert_eq!(stored.totals, expected.totals);
}

async fn apply_all(store: &StatsStore, chunks: &[Chunk<'_>], first_batch: i64) -> (u64, u64) {
    let (mut counted, mut duplicates) = (0, 0);
    for (i, chunk) in chunks.iter().enumerate() {
        let at = BatchRef {
            guild_id: GUILD,
            server_id: SERVER,
            batch: first_batch + i as i64,
        };
        let outcome = ok(store.apply_batch(at, std::slice::from_ref(chunk)).await);
        counted += outcome.counted;
        duplicates += outcome.duplicates;
    }
    (counted, duplicates)
}

#[tokio::test]
async fn batches_in_mongodb_give_the_in_memory_numbers_and_replays_change_nothing() {
    let test = ok(TestDatabase::create("stats_store").await);
    let (store, _db) = store(&test).await;
    let files = [
        fixture("2025.03.27-00.00.00.csv"),
        fixture("2025.05.01-00.00.00.csv"),
        fixture("2025.05.15-00.00.00.csv"),
    ];
    let chunks: Vec<Chunk<'_>> = files
        .iter()
        .flat_map(|f| batches(f, 97))
        .map(|(offset, bytes)| parse_killfeed_chunk("f.csv", bytes, offset, true))
        .collect();

    let (counted, duplicates) = apply_all(&store, &chunks, 1).await;
    assert_eq!((counted, duplicates), (1653, 0));
    let expected = expected_stats(GUILD, SERVER, &[&files[0], &files[1], &files[2]]);
    let stored = ok(store.load(GUILD, SERVER).await);
    assert_same(&stored, &expected);
    // Numbers written down from the independent golden run (tests/golden/all.json).
    assert_eq!(stored.totals.kills, 1210);
    assert_eq!(
        stored.players["0002e69a65204b669c20238266782d7b"].best_killstreak,
        42
    );

    // A replay of everything, as new batches (a file read again): nothing changes.
    let (counted, duplicates) = apply_all(&store, &chunks, 1000).await;
    assert_eq!((counted, duplicates), (0, 1653));
    assert_same(&ok(store.load(GUILD, SERVER).await), &expected);

    // Another guild's server with the same id is another server.
    let other = ok(store.load(GUILD + 1, SERVER).await);
    assert!(other.players.is_empty());
    ok(test.drop_database().await);
}

#[tokio::test]
async fn a_batch_retried_after_a_crash_counts_each_line_once() {
    let test = ok(TestDatabase::create("stats_retry").await);
    let (store, db) = store(&test).await;
    let bytes = fixture("2025.05.15-00.00.00.csv");
    let parts = batches(&bytes, 50);
    let chunks: Vec<Chunk<'_>> = parts
        .iter()
        .map(|(o, b)| parse_killfeed_chunk("f.csv", b, *o, true))
        .collect();

    // Batches 1 and 2 apply; batch 3 "crashes" after storing half its lines, before any
    // statistics: its lines are in `kills` with batch 3.
    apply_all(&store, &chunks[..2], 1).await;
    let half = chunks[2].raw.len() / 2;
    store_lines_then_crash(&db, GUILD, SERVER, 3, &chunks[2], half).await;
    // The retry of batch 3 counts all of it, then batch 3 is retried once more (the cursor
    // commit was lost too): still counted once. Then the rest.
    let first = ok(store
        .apply_batch(
            BatchRef {
                guild_id: GUILD,
                server_id: SERVER,
                batch: 3,
            },
            std::slice::from_ref(&chunks[2]),
        )
        .await);
    assert_eq!(first.counted as usize, chunks[2].events.len());
    ok(store
        .apply_batch(
            BatchRef {
                guild_id: GUILD,
                server_id: SERVER,
                batch: 3,
            },
            std::slice::from_ref(&chunks[2]),
        )
        .await);
    apply_all(&store, &chunks[3..], 4).await;

    let expected = expected_stats(GUILD, SERVER, &[&bytes]);
    assert_same(&ok(store.load(GUILD, SERVER).await), &expected);
    assert_eq!(ok(store.lines_recorded(doc! {}).await), 283);
    ok(test.drop_database().await);
}

#[tokio::test]
async fn names_that_look_like_mongodb_expressions_are_kept_as_names() {
    let test = ok(TestDatabase::create("stats_names").await);
    let (store, _db) = store(&test).await;
    let text = "2025.03.27-10.42.35;$$Cash$$;0002ca35475e48e28fdf97e052dc130f;$nake;00024afed387453195c040bb85708405;$weapon.x;5;$PS5;XSX;\n";
    let chunk = parse_killfeed_chunk("f.csv", text.as_bytes(), 0, true);
    ok(store
        .apply_batch(
            BatchRef {
                guild_id: GUILD,
                server_id: SERVER,
                batch: 1,
            },
            std::slice::from_ref(&chunk),
        )
        .await);
    let stored = ok(store.load(GUILD, SERVER).await);
    let killer = &stored.players["0002ca35475e48e28fdf97e052dc130f"];
    assert_eq!(
        (killer.name.as_str(), killer.names.clone()),
        ("$$Cash$$", vec!["$$Cash$$".to_owned()])
    );
    assert_eq!(killer.platform.as_deref(), Some("$PS5"));
    assert_eq!(
        stored.players["00024afed387453195c040bb85708405"].name,
        "$nake"
    );
    assert_eq!(
        stored.totals.longest_kill.map(|l| l.weapon),
        Some("$weapon.x".to_owned())
    );
    ok(test.drop_database().await);
}

#[tokio::test]
async fn a_malformed_line_read_twice_is_counted_once() {
    let test = ok(TestDatabase::create("stats_malformed").await);
    let (store, _db) = store(&test).await;
    let text = "garbage one\n2025.03.27-10.42.35;K;0002ca35475e48e28fdf97e052dc130f;V;00024afed387453195c040bb85708405;AK;5;\nnot;a;line;\n";
    let chunk = parse_killfeed_chunk("f.csv", text.as_bytes(), 0, true);
    assert_eq!(chunk.malformed.len(), 2);
    for batch in [1, 2] {
        ok(store
            .apply_batch(
                BatchRef {
                    guild_id: GUILD,
                    server_id: SERVER,
                    batch,
                },
                std::slice::from_ref(&chunk),
            )
            .await);
    }
    let stored = ok(store.load(GUILD, SERVER).await);
    assert_eq!((stored.totals.kills, stored.totals.malformed_lines), (1, 2));
    ok(test.drop_database().await);
}

#[tokio::test]
async fn a_file_of_garbage_costs_one_document_per_batch_with_a_few_examples() {
    let test = ok(TestDatabase::create("stats_garbage").await);
    let (store, db) = store(&test).await;
    let text: String = (0..5_000).map(|i| format!("garbage line {i}\n")).collect();
    let chunk = parse_killfeed_chunk("f.csv", text.as_bytes(), 0, true);
    assert_eq!(chunk.malformed.len(), 5_000);
    // Read twice (an overlapping file): counted once.
    for batch in [1, 2] {
        ok(store
            .apply_batch(
                BatchRef {
                    guild_id: GUILD,
                    server_id: SERVER,
                    batch,
                },
                std::slice::from_ref(&chunk),
            )
            .await);
    }
    let stored = ok(store.load(GUILD, SERVER).await);
    assert_eq!(stored.totals.malformed_lines, 5_000);
    let kills = db.raw().collection::<mongodb::bson::Document>("kills");
    assert_eq!(
        ok(kills.count_documents(doc! {}).await),
        2,
        "one document for the batch, one remembering the lines"
    );
    let Some(recorded) = ok(kills.find_one(doc! { "kind": "malformed" }).await) else {
        panic!("the batch's malformed lines are recorded");
    };
    assert_eq!(recorded.get_i64("count").ok(), Some(5_000));
    assert_eq!(recorded.get_array("sample").map(Vec::len).ok(), Some(5));
    ok(test.drop_database().await);
}

#[tokio::test]
async fn lines_far_apart_in_time_and_lines_stored_by_an_earlier_build_count_once() {
    let test = ok(TestDatabase::create("stats_spans").await);
    let (store, db) = store(&test).await;
    // A stray date among ordinary ones, two days apart, and a line of a day after.
    let line = |date: &str, weapon: &str| {
        format!(
            "{date};K;0002ca35475e48e28fdf97e052dc130f;V;00024afed387453195c040bb85708405;{weapon};5;\n"
        )
    };
    let old = line("2025.03.27-10.00.00", "SKS");
    let text = [
        line("1971.01.01-00.00.00", "AK"),
        line("2025.03.27-10.42.35", "AK"),
        line("2025.03.29-10.42.35", "AK"),
        old.clone(),
    ]
    .concat();
    // `old` was stored by an earlier build, one document per line, in batch 1.
    let stored_old = parse_killfeed_chunk("f.csv", old.as_bytes(), 0, true);
    let kills = db.raw().collection::<mongodb::bson::Document>("kills");
    ok(kills
        .insert_one(doc! {
            "_id": tower_ingest::killfeed::line_id(GUILD, SERVER, stored_old.raw[0]),
            "guild_id": GUILD.to_string(), "server_id": SERVER, "batch": 1i64, "kind": "kill",
            "at": mongodb::bson::DateTime::from_millis(stored_old.events[0].at * 1000),
        })
        .await);

    let chunk = parse_killfeed_chunk("f.csv", text.as_bytes(), 0, true);
    let mut counted = Vec::new();
    for batch in [2, 3] {
        let at = BatchRef {
            guild_id: GUILD,
            server_id: SERVER,
            batch,
        };
        let outcome = ok(store.apply_batch(at, std::slice::from_ref(&chunk)).await);
        counted.push((outcome.counted, outcome.duplicates));
    }
    // Batch 2 counts the three new lines, not the stored one; batch 3 (a replay) nothing.
    assert_eq!(counted, vec![(3, 1), (0, 4)]);
    assert_eq!(ok(store.load(GUILD, SERVER).await).totals.kills, 3);
    // Three days (and the stray date) apart: one document each, plus the old one.
    assert_eq!(ok(kills.count_documents(doc! {}).await), 4);
    ok(test.drop_database().await);
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_build_is_refused() {
    let test = ok(TestDatabase::create("stats_newer_schema").await);
    let db = ok(test.open().await);
    let records = db
        .raw()
        .collection::<mongodb::bson::Document>("schema_migrations");
    ok(records
        .insert_one(doc! { "_id": "9999_from_the_future", "state": "done" })
        .await);
    match tower_store::schema::migrate(&db, "an older build").await {
        Err(e) => assert!(
            e.to_string().contains("9999_from_the_future"),
            "the refusal names the migration: {e}"
        ),
        Ok(report) => panic!("an older build migrated a newer database: {report:?}"),
    }
    ok(test.drop_database().await);
}

#[tokio::test]
async fn a_players_encounters_are_read_back_from_the_kill_lines_in_order() {
    use tower_store::stats_query::{Encounter, StatsQuery};
    let test = ok(TestDatabase::create("stats_encounters").await);
    let (store, db) = store(&test).await;
    const A: &str = "0002e69a65204b669c20238266782d7b";
    const B: &str = "00024afed387453195c040bb85708405";
    const C: &str = "0002ffffd387453195c040bb85708405";
    let lines = format!(
        "2025.05.03-02.20.00;Alpha;{A};Bravo;{B};AK-SU;120;\n\
         2025.05.03-02.21.00;Bravo;{B};Alpha;{A};MR5;300;\n\
         2025.05.03-02.22.00;Charlie;{C};Bravo;{B};MR5;10;\n\
         2025.05.04-10.00.00;Alpha;{A};Alpha;{A};falling;0;\n\
         2025.05.04-11.00.00;Alpha;{A};Charlie;{C};IZH-43;5;\n"
    );
    let chunk = parse_killfeed_chunk("a.csv", lines.as_bytes(), 0, true);
    apply_all(&store, std::slice::from_ref(&chunk), 1).await;
    let query = StatsQuery::new(&db);
    // 2025-05-03 00:00 UTC.
    let since = 1_746_230_400;
    let found = ok(query.encounters(GUILD, SERVER, A, since).await);
    let e = |at: i64, won: bool, opponent: &str| Encounter {
        at,
        won,
        opponent: opponent.to_owned(),
    };
    assert_eq!(
        found,
        vec![
            e(since + 2 * 3600 + 20 * 60, true, B),
            e(since + 2 * 3600 + 21 * 60, false, B),
            e(since + 86_400 + 11 * 3600, true, C),
        ],
        "kills and deaths only, oldest first; not the fall, not others' fights"
    );
    let later = ok(query.encounters(GUILD, SERVER, A, since + 86_400).await);
    assert_eq!(later.len(), 1, "{later:?}");
    ok(test.drop_database().await);
}

/// Lines of history that arrive after newer ones (a file that appeared late under an
/// older name, read by `/historical_parse days`) are counted, but did not happen after
/// the player's current streak: it stays as it was, and their own runs count toward the
/// best; `towerctl verify` counts them the same way. A live batch is never taken for late.
#[tokio::test]
async fn a_late_batch_of_older_lines_leaves_the_current_streaks_alone() {
    let test = ok(TestDatabase::create("stats_late").await);
    let (store, db) = store(&test).await;
    const A: &str = "0002ca35475e48e28fdf97e052dc130f";
    const B: &str = "00024afed387453195c040bb85708405";
    let kills = |day: u32, n: usize, weapon: &str| {
        (0..n)
            .map(|i| format!("2025.03.{day:02}-10.{i:02}.00;A;{A};B;{B};{weapon};5;\n"))
            .collect::<String>()
    };
    // Live: A kills B twice on the 20th, is killed once, then kills 3 times.
    let live = [
        kills(20, 2, "AK"),
        format!("2025.03.20-11.00.00;B;{B};A;{A};AK;5;\n"),
        kills(21, 3, "AK"),
    ]
    .concat();
    // Late: 4 kills of the 10th, read after all of that.
    let late = kills(10, 4, "SKS");
    let at = |batch| BatchRef {
        guild_id: GUILD,
        server_id: SERVER,
        batch,
    };
    let chunk = parse_killfeed_chunk("f.csv", live.as_bytes(), 0, true);
    ok(store.apply_batch(at(1), std::slice::from_ref(&chunk)).await);
    let chunk = parse_killfeed_chunk("f.csv", late.as_bytes(), 0, true);
    ok(store
        .apply_history_batch(at(2), std::slice::from_ref(&chunk))
        .await);
    let stats = ok(store.load(GUILD, SERVER).await);
    let a = &stats.players[A];
    assert_eq!(a.kills, 9);
    // Still the 3 of the 21st (not 7); the late run of 4 is the best.
    assert_eq!((a.current_killstreak, a.best_killstreak), (3, 4));
    let b = &stats.players[B];
    assert_eq!((b.current_deathstreak, b.worst_deathstreak), (3, 4));
    // Counted again from the stored lines, batch by batch: the same.
    let (counted, _) = ok(tower_store::recount::recount(&db, GUILD, SERVER).await);
    let differences = tower_store::recount::differences(&stats, &counted);
    assert!(differences.is_empty(), "{differences:?}");

    // Live lines older by the game's clock (its clock set back an hour) follow on.
    let set_back = kills(21, 2, "AK").replace("-10.", "-09.");
    let chunk = parse_killfeed_chunk("f.csv", set_back.as_bytes(), 0, true);
    ok(store.apply_batch(at(3), std::slice::from_ref(&chunk)).await);
    let a = &ok(store.load(GUILD, SERVER).await).players[A];
    assert_eq!((a.current_killstreak, a.best_killstreak), (5, 5));
    ok(test.drop_database().await);
}
