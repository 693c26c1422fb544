//! `towerctl verify`: a server's statistics counted again from its stored kill lines agree
//! with what ingest stored; a document changed behind the bot's back is found, reported
//! field by field, and repaired, after which the statistics equal an independent count of
//! the same CSV files.

use mongodb::bson::{Document, doc};
use serde_json::Value;
use tower_ingest::reader::{PollOutcome, poll_killfeed};
use tower_ingest::source::LocalSource;
use tower_store::cursor_store::{CursorStore, StoreSink};
use tower_store::stats_store::StatsStore;
use tower_tests::WAIT;
use tower_tests::backing::TestDatabase;
use tower_tests::daemon::binary_path;
use tower_tests::support::{expected_stats, fixture, ok};

const GUILD: u64 = 333_333_333_333_333_333;
const SERVER: &str = "9101";
const DIR: &str = "deathlogs/world_0";
const FILES: [&str; 3] = [
    "2025.03.27-00.00.00.csv",
    "2025.05.01-00.00.00.csv",
    "2025.05.15-00.00.00.csv",
];

/// `towerctl verify --json [extra]`: its report, and whether it exited 0.
async fn verify(db: &TestDatabase, extra: &[&str]) -> (Value, bool) {
    let mut command = tokio::process::Command::new(ok(binary_path("towerctl")));
    command
        .args(["verify", "--json"])
        .args(extra)
        .env_clear()
        .env("MONGODB_URI", &db.uri)
        .env("TOWER_MONGODB_DATABASE", &db.name);
    let out = ok(ok(tokio::time::timeout(WAIT, command.output()).await));
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "towerctl verify printed no JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (report, out.status.success())
}

#[tokio::test]
async fn verify_finds_repairs_and_then_agrees() {
    let test = ok(TestDatabase::create("verify").await);
    let db = ok(test.open().await);
    let (stats, cursors) = (StatsStore::new(&db), CursorStore::new(&db));
    let root = std::env::temp_dir().join(format!("tower-verify-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    ok(std::fs::create_dir_all(root.join(DIR)));
    let files: Vec<Vec<u8>> = FILES.iter().map(|f| fixture(f)).collect();
    for (name, bytes) in FILES.iter().zip(&files) {
        ok(std::fs::write(root.join(DIR).join(name), bytes));
    }
    // A batch per file, so streaks run across batches.
    let source = LocalSource::new(&root);
    let mut sink = ok(StoreSink::open(GUILD, SERVER, &stats, &cursors).await);
    let mut outcome = PollOutcome::default();
    ok(poll_killfeed(&source, DIR, 16 << 10, None, &mut sink, &mut outcome).await);
    assert!(outcome.batches >= 3, "{outcome:?}");
    let lines = sink.totals.counted;

    let (report, agreed) = verify(&test, &[]).await;
    assert!(agreed, "{report}");
    assert_eq!(report["servers"][0]["state"], "ok", "{report}");
    assert_eq!(report["servers"][0]["lines"], lines, "{report}");

    // Statistics changed behind the bot's back.
    let expected = expected_stats(
        GUILD,
        SERVER,
        &files.iter().map(Vec::as_slice).collect::<Vec<_>>(),
    );
    let (top, top_stats) = ok(expected
        .players
        .iter()
        .max_by_key(|(_, p)| p.kills)
        .ok_or("no player"));
    let victim = ok(top_stats.killed.keys().next().ok_or("no victim"));
    let weapon = ok(expected.weapons.keys().next().ok_or("no weapon"));
    let raw = db.raw();
    let at = |rest: &str| format!("{GUILD}:{SERVER}:{rest}");
    ok(raw
        .collection::<Document>("player_stats")
        .update_one(
            doc! { "_id": at(top) },
            doc! { "$inc": { "kills": 3, "suicides.fall": 1 } },
        )
        .await);
    ok(raw
        .collection::<Document>("matchups")
        .delete_one(doc! { "_id": at(&format!("{top}:{victim}")) })
        .await);
    ok(raw
        .collection::<Document>("weapon_stats")
        .update_one(
            doc! { "_id": at(weapon) },
            doc! { "$set": { "longest_m": 99_999_i64 } },
        )
        .await);
    ok(raw
        .collection::<Document>("server_stats")
        .update_one(
            doc! { "_id": format!("{GUILD}:{SERVER}") },
            doc! { "$inc": { "kills": 5 } },
        )
        .await);
    // A rivalry lost (as on a server read before rivalries were kept).
    let pair = if top.as_str() < victim.as_str() {
        format!("{top}:{victim}")
    } else {
        format!("{victim}:{top}")
    };
    let deleted = ok(raw
        .collection::<Document>("rivalries")
        .delete_one(doc! { "_id": at(&pair) })
        .await);
    assert_eq!(deleted.deleted_count, 1, "ingest kept the rivalry");
    // A player in no kill line at all.
    const GHOST: &str = "0000000000000000000000000000beef";
    ok(raw
        .collection::<Document>("player_stats")
        .insert_one(doc! {
            "_id": at(GHOST), "guild_id": GUILD.to_string(), "server_id": SERVER,
            "player_id": GHOST, "name": "Ghost", "kills": 7_i64, "last_batch": 1_i64,
        })
        .await);

    let (report, agreed) = verify(&test, &["--guild", &GUILD.to_string()]).await;
    assert!(!agreed, "a disagreement is a failure: {report}");
    let server = &report["servers"][0];
    assert_eq!(server["state"], "differs", "{report}");
    let found: Vec<String> = server["differences"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|d| format!("{} {} {}", d["what"], d["stored"], d["counted"]))
        .collect();
    let has = |what: &str| found.iter().any(|f| f.contains(what));
    assert!(has(&format!("player {top} kills")), "{found:?}");
    assert!(has(&format!("player {top} suicides.fall")), "{found:?}");
    assert!(has(&format!("player {top} killed {victim}")), "{found:?}");
    assert!(
        has(&format!("weapon {weapon} longest_m\" \"99999\"")),
        "{found:?}"
    );
    assert!(has("server kills"), "{found:?}");
    assert!(has(&format!("player {GHOST} kills")), "{found:?}");
    assert!(
        has(&format!("rivalry {}", pair.replace(':', " vs "))),
        "{found:?}"
    );
    assert_eq!(
        found
            .iter()
            .filter(|f| !f.contains(&format!("player {GHOST} ")))
            .count(),
        6,
        "nothing else: {found:?}"
    );

    let (report, repaired) = verify(&test, &["--repair"]).await;
    assert!(repaired, "{report}");
    assert_eq!(report["servers"][0]["state"], "repaired", "{report}");
    let (report, agreed) = verify(&test, &[]).await;
    assert!(agreed && report["servers"][0]["state"] == "ok", "{report}");
    let stored = ok(stats.load(GUILD, SERVER).await);
    assert_eq!(stored.totals.kills, expected.totals.kills);
    assert_eq!(stored.players[top].kills, top_stats.kills);
    assert_eq!(stored.players[top].killed, top_stats.killed);
    assert_eq!(
        stored.weapons[weapon].longest_m,
        expected.weapons[weapon].longest_m
    );
    assert!(
        !stored.players.contains_key(GHOST),
        "a player in no line is gone"
    );
    let rivalry = ok(ok(tower_store::rivalries::Rivalries::new(&db)
        .between(GUILD, SERVER, top, victim)
        .await)
    .ok_or("the rivalry, repaired"));
    let of = |a: &str, b: &str| expected.players[a].killed.get(b).copied().unwrap_or(0) as i64;
    assert_eq!(
        (rivalry.against(top).1, rivalry.against(top).2),
        (of(top, victim), of(victim, top))
    );
    assert!(rivalry.last.is_some(), "with its last kill");
    // The fields the leaderboards sort by moved with the counters.
    let top_doc = ok(ok(raw
        .collection::<Document>("player_stats")
        .find_one(doc! { "_id": at(top) })
        .await)
    .ok_or("the top player"));
    assert_eq!(
        top_doc.get_i64("suicides_total").unwrap_or(-1),
        top_stats.suicides.total() as i64
    );

    let _ = std::fs::remove_dir_all(&root);
    ok(test.drop_database().await);
}
