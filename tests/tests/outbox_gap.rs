//! A writer that reserves notification numbers and stalls before storing them: readers go
//! on delivering what came after, and deliver the stalled writer's notifications when they
//! arrive — in order, once, even across a reader's restart.

use std::time::Duration;

use mongodb::bson::{DateTime, doc};
use tower_store::outbox::{Notice, Outbox};
use tower_store::subscription::{self, Subscription};
use tower_tests::WAIT;
use tower_tests::backing::TestDatabase;
use tower_tests::guild_setup::{ALPHA, BRAVO, KillfeedSetup, kills};
use tower_tests::support::{eventually, ok, posting_caught_up};

const GUILD: u64 = 896_000_000_000_000_001;
const ADMIN: u64 = 996_000_000_000_000_001;
const CHANNEL: u64 = 696_000_000_000_000_001;

/// A kill notice whose weapon names it, recorded now.
fn kill_notice(server: &str, weapon: &str) -> Notice {
    Notice {
        key: format!("k:test-{weapon}"),
        guild_id: GUILD,
        server_id: server.to_owned(),
        kind: "kill",
        at_ms: DateTime::now().timestamp_millis(),
        data: doc! {
            "killer": { "id": ALPHA, "name": "Alpha One", "platform": "PC" },
            "victim": { "id": BRAVO, "name": "Bravo Two", "platform": "PC" },
            "weapon": weapon, "distance_m": 10i64, "roadkill": false,
        },
    }
}

/// The weapons of the test's notices in the order their embeds were posted.
fn posted_weapons(sim: &tower_tests::discord_sim::DiscordSimulator) -> Vec<String> {
    sim.embeds_posted(CHANNEL)
        .iter()
        .map(ToString::to_string)
        .filter_map(|e| {
            ["slow-1", "slow-2", "slow-3"]
                .into_iter()
                .find(|w| e.contains(w))
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn a_writer_stalled_15_s_loses_nothing_and_holds_up_no_one() {
    let KillfeedSetup {
        db,
        home: _home,
        sim,
        stack,
        server,
        csv,
        ..
    } = KillfeedSetup::start(
        ok(TestDatabase::create("outbox_gap").await),
        "outbox_gap",
        (GUILD, ADMIN),
        CHANNEL,
    )
    .await;
    let store = ok(db.open().await);
    let outbox = Outbox::new(&store);
    // The slow writer takes its numbers, then stalls before storing.
    let notices = ["slow-1", "slow-2", "slow-3"].map(|w| kill_notice(&server, w));
    let Some(reserved) = ok(outbox.reserve(notices.to_vec()).await) else {
        panic!("fresh notices get numbers");
    };
    let stalled = tokio::time::Instant::now();

    // A live kill written meanwhile gets a higher number: it is posted, not held up.
    ok(std::fs::write(&csv, kills(1)));
    eventually(
        "the live kill posted while the writer stalls",
        WAIT,
        || async { !sim.embeds_posted(CHANNEL).is_empty() },
    )
    .await;
    assert!(
        stalled.elapsed() < Duration::from_secs(15),
        "the live kill came through before the stalled writer went on"
    );

    // The stall lasts 15 s whatever the readers do: nothing to await but time.
    tokio::time::sleep_until(stalled + Duration::from_secs(15)).await;
    ok(reserved.store().await);
    eventually("the stalled writer's notices posted", WAIT, || async {
        posted_weapons(&sim).len() >= 3
    })
    .await;
    posting_caught_up(&db.handle(), 4).await;
    assert_eq!(
        posted_weapons(&sim),
        ["slow-1", "slow-2", "slow-3"],
        "each posted once, in order"
    );
    assert_eq!(sim.embeds_posted(CHANNEL).len(), 4, "nothing else posted");
    ok(stack.stop_cleanly(WAIT).await);
}

/// What the reader reads once it has waited at a missing number and read past it.
async fn read_past_gap(reader: &mut Subscription) -> Vec<mongodb::bson::Document> {
    ok(tokio::time::timeout(WAIT, async {
        loop {
            let read = ok(reader.next().await);
            if !read.is_empty() {
                break read;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await)
}

#[tokio::test]
async fn a_reader_restarted_past_a_missing_number_still_delivers_it() {
    let test = ok(TestDatabase::create("outbox_gap_resume").await);
    let db = ok(test.open().await);
    let outbox = Outbox::new(&db);
    let mut reader = ok(Subscription::resume(&db, "gateway:0-0/1", None).await);

    let Some(slow) = ok(outbox.reserve(vec![kill_notice("7020", "slow-1")]).await) else {
        panic!("a fresh notice gets a number");
    };
    ok(outbox.add(vec![kill_notice("7020", "after")]).await);
    // The reader waits a moment at the missing number, then reads past it.
    let read = read_past_gap(&mut reader).await;
    assert_eq!(read.len(), 1, "only the stored notice is read");
    let after = ok(read[0].get_i64("seq"));
    let missing: Vec<i64> = reader.open().collect();
    assert_eq!(missing, [after - 1], "the missing number is looked for");

    // The subscriber acknowledges the later one; its reader goes away (a reconnect).
    ok(subscription::acknowledge(&db, "gateway:0-0/1", &[after]).await);
    drop(reader);
    let mut reader = ok(Subscription::resume(&db, "gateway:0-0/1", None).await);
    assert_eq!(
        reader.open().collect::<Vec<_>>(),
        [after - 1],
        "still looked for after the restart"
    );
    assert!(ok(reader.next().await).is_empty(), "nothing new yet");

    ok(slow.store().await);
    let late = ok(reader.next().await);
    assert_eq!(late.len(), 1, "the late notice is delivered");
    assert_eq!(ok(late[0].get_i64("seq")), after - 1);
    assert_eq!(reader.open().count(), 0, "no longer looked for");
    assert!(ok(reader.next().await).is_empty(), "and delivered once");

    // Delivered is not posted: until the subscriber acknowledges it, a restart still
    // looks for it, even after the reader has passed another gap meanwhile.
    let Some(_second) = ok(outbox.reserve(vec![kill_notice("7020", "slow-2")]).await) else {
        panic!("a fresh notice gets a number");
    };
    ok(outbox.add(vec![kill_notice("7020", "after-2")]).await);
    let read = read_past_gap(&mut reader).await;
    assert_eq!(read.len(), 1, "the second gap read past");
    drop(reader);
    let reader = ok(Subscription::resume(&db, "gateway:0-0/1", None).await);
    assert!(
        reader.open().any(|seq| seq == after - 1),
        "the late notice, not yet acknowledged, is still looked for"
    );
    ok(subscription::acknowledge(&db, "gateway:0-0/1", &[after - 1]).await);
    drop(reader);
    let reader = ok(Subscription::resume(&db, "gateway:0-0/1", None).await);
    assert!(
        !reader.open().any(|seq| seq == after - 1),
        "acknowledged: no longer looked for"
    );
}
