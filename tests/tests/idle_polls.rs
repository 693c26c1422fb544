//! Most polls of most servers find nothing new; such a poll must cost the database nothing.
//! A worker polls 20 servers every second on a MongoDB of this test's own, whose operation
//! counters then tell what the polls cost: with nothing new, far less than one command per
//! poll (what is left is the worker's batched status writes and its lease and slot rounds,
//! whatever the number of polls); with new lines, the kills are still read and counted.

use std::time::Duration;

use mongodb::bson::{Document, doc};
use tower_store::secret::SecretKey;
use tower_tests::WAIT;
use tower_tests::backing::{PrivateMongo, TestDatabase};
use tower_tests::guild_setup::{kills, stored_servers};
use tower_tests::sftp_home::Home;
use tower_tests::stack::standalone_worker;
use tower_tests::support::{eventually, ok};

const GUILD: u64 = 870_000_000_000_000_001;
const SERVERS: usize = 20;
/// Polls counted once every server is past its first reads.
const POLLS: usize = 200;

#[tokio::test]
async fn a_poll_that_finds_nothing_new_makes_no_database_round_trip() {
    let mongo = ok(PrivateMongo::start("idle-polls"));
    let db = ok(TestDatabase::create_on(&mongo.uri, "idle_polls").await);
    let handle = ok(db.open().await);
    let home = Home::new("idle_polls");
    let key_text = ok(SecretKey::generate_base64());
    let key = ok(SecretKey::from_base64(&key_text));
    let files = stored_servers(&handle, &home, &key, GUILD, (SERVERS, 3)).await;
    let (worker, _) = ok(standalone_worker(
        &db,
        &key_text,
        &[
            ("TOWER_SFTP_ALLOW_LOOPBACK", "true"),
            ("TOWER_POLL_INTERVAL_SECS", "1"),
            ("RUST_LOG", "info,sftp_worker::poller::poll=debug"),
        ],
    )
    .await);
    let polls = || {
        worker
            .logs()
            .iter()
            .filter(|l| l.message() == Some("polled"))
            .count()
    };
    // Every server read and settled: its history counted, then polled again since.
    let status = db.handle().collection::<Document>("server_status");
    eventually("every server polled twice", WAIT, || async {
        status
            .count_documents(doc! { "polls": { "$gte": 2 }, "last_error": "" })
            .await
            .is_ok_and(|n| n as usize == SERVERS)
    })
    .await;

    // Nothing new anywhere: count what POLLS polls cost.
    let (before, from) = (ok(mongo.operations().await), polls());
    eventually("the idle polls made", 2 * WAIT, || async {
        polls() >= from + POLLS
    })
    .await;
    let (after, to) = (ok(mongo.operations().await), polls());
    let commands = after - before - 1;
    let made = to - from;
    assert!(
        (commands as f64) < 0.25 * made as f64,
        "{made} polls that found nothing new made {commands} database commands"
    );

    // New lines are still found and counted, from the cursors the worker kept.
    for csv in &files {
        ok(std::fs::write(csv, kills(5)));
    }
    let kills_stored = db.handle().collection::<Document>("server_stats");
    eventually("every server's two new kills counted", WAIT, || async {
        kills_stored
            .count_documents(doc! { "kills": 5 })
            .await
            .is_ok_and(|n| n as usize == SERVERS)
    })
    .await;
    assert!(ok(worker.stop(Duration::from_secs(30)).await).success());
    ok(db.drop_database().await);
}
