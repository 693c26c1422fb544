//! The delayed killfeed through the real worker and gateway on the simulated Discord: an
//! admin sets a delay with `/killfeed delay`; the server's kills are held, not posted;
//! the whole stack stops while they are held, and once they are due a fresh start posts
//! each exactly once. A guild below tier 2 is refused.

use mongodb::bson::{Document, doc};

use tower_tests::WAIT;
use tower_tests::backing::TestDatabase;
use tower_tests::discord_sim::interactions::{Member, Opt};
use tower_tests::guild_setup::{KillfeedSetup, kill};
use tower_tests::support::{eventually, ok, posting_caught_up};

const GUILD: u64 = 577_000_000_000_000_001;
const ADMIN: u64 = 977_000_000_000_000_001;
const CHANNEL: u64 = 677_000_000_000_000_001;

#[tokio::test]
async fn delayed_kills_are_held_across_a_restart_and_posted_once_when_due() {
    let db = ok(TestDatabase::create("delayed_killfeed").await);
    let guilds = db.handle().collection::<Document>("guilds");
    ok(guilds
        .insert_one(doc! { "guild_id": GUILD.to_string(), "premium_tier": 2, "schema_version": 1 })
        .await);
    let KillfeedSetup {
        db,
        home: _home,
        sim,
        options,
        stack,
        admin,
        server,
        csv,
    } = KillfeedSetup::start(db, "delayed_killfeed", (GUILD, ADMIN), CHANNEL).await;
    let handle = db.handle();

    // A tier-1 guild is refused; this one sets a minute, then asks.
    let low = Member::admin(GUILD + 1, ADMIN);
    ok(guilds
        .insert_one(
            doc! { "guild_id": (GUILD + 1).to_string(), "premium_tier": 1, "schema_version": 1 },
        )
        .await);
    let sent = sim.slash(
        0,
        &low,
        "killfeed delay",
        &[("server_id", Opt::str(&server)), ("minutes", Opt::Int(5))],
    );
    let refused = ok(sim.answer(&sent, WAIT).await);
    assert!(refused.text().contains("tier 2"), "{}", refused.text());
    let sent = sim.slash(
        0,
        &admin,
        "killfeed delay",
        &[("server_id", Opt::str(&server)), ("minutes", Opt::Int(1))],
    );
    let saved = ok(sim.answer(&sent, WAIT).await);
    assert_eq!(saved.title(), "Killfeed delay saved", "{}", saved.text());
    assert!(saved.text().contains("1 minute after"), "{}", saved.text());
    let sent = sim.slash(0, &admin, "killfeed status", &[]);
    let status = ok(sim.answer(&sent, WAIT).await);
    assert!(status.text().contains("1 min delay"), "{}", status.text());
    let stored = ok(handle
        .collection::<Document>("game_servers")
        .find_one(doc! { "guild_id": GUILD.to_string(), "server_id": &server })
        .await)
    .and_then(|d| d.get_i64("killfeed_delay_secs").ok());
    assert_eq!(stored, Some(60));

    // Two kills: held, with nothing of them in the outbox.
    ok(std::fs::write(&csv, format!("{}{}", kill(1), kill(2))));
    let held = handle.collection::<Document>("held_notices");
    let notifications = handle.collection::<Document>("notifications");
    eventually("the two kills held", WAIT, || async {
        held.count_documents(doc! { "kind": "kill" }).await.ok() == Some(2)
    })
    .await;
    assert_eq!(
        ok(notifications.count_documents(doc! { "kind": "kill" }).await),
        0,
        "a held kill is not in the outbox"
    );
    let docs: Vec<Document> = {
        use futures_util::TryStreamExt;
        ok(ok(held.find(doc! {}).await).try_collect().await)
    };
    for d in &docs {
        let held_at = d
            .get_datetime("held_at")
            .map_or(0, |t| t.timestamp_millis());
        let due_at = d.get_datetime("due_at").map_or(0, |t| t.timestamp_millis());
        assert_eq!(due_at - held_at, 60_000, "held for the minute set: {d}");
    }
    assert_eq!(sim.embeds_posted(CHANNEL).len(), 0, "nothing posted yet");

    // Everything stops while they are held; they fall due while nothing runs (the
    // minute is moved into the past rather than waited for).
    ok(stack.stop_cleanly(WAIT).await);
    assert_eq!(ok(held.count_documents(doc! {}).await), 2, "still held");
    let past = mongodb::bson::DateTime::from_millis(
        mongodb::bson::DateTime::now().timestamp_millis() - 1000,
    );
    ok(held
        .update_many(doc! {}, doc! { "$set": { "due_at": past } })
        .await);

    // A fresh start posts each once.
    let _stack = ok(tower_tests::stack::Stack::start(&options).await);
    eventually("the held kills released", WAIT, || async {
        held.count_documents(doc! {}).await.ok() == Some(0)
    })
    .await;
    let newest = ok(notifications
        .find_one(doc! {})
        .sort(doc! { "seq": -1 })
        .await)
    .and_then(|d| d.get_i64("seq").ok())
    .unwrap_or(0);
    posting_caught_up(&handle, newest).await;
    let posted: Vec<String> = sim
        .embeds_posted(CHANNEL)
        .iter()
        .map(|e| e["title"].as_str().unwrap_or_default().to_owned())
        .filter(|t| t.contains(" killed "))
        .collect();
    assert_eq!(posted.len(), 2, "each kill posted once: {posted:?}");
    assert_eq!(
        ok(notifications.count_documents(doc! { "kind": "kill" }).await),
        2
    );
}

/// `n` kill notices of one server, as a batch would announce them.
fn notices(n: usize) -> Vec<tower_store::outbox::Notice> {
    (0..n)
        .map(|i| tower_store::outbox::Notice {
            key: format!("k:1:7:line{i}"),
            guild_id: 1,
            server_id: "7".to_owned(),
            kind: "kill",
            at_ms: 1_767_225_600_000 + i as i64,
            data: doc! { "n": i as i64 },
        })
        .collect()
}

#[tokio::test]
async fn held_posts_reach_the_outbox_once_whoever_releases_them() {
    use tower_store::delayed_killfeed::HeldPosts;
    let test = ok(TestDatabase::create("held_posts").await);
    let db = ok(test.open().await);
    let (held, notifications) = (
        test.handle().collection::<Document>("held_notices"),
        test.handle().collection::<Document>("notifications"),
    );
    let (a, b) = (HeldPosts::new(&db), HeldPosts::new(&db));
    // Held, then held again (a batch finished again after a crash): one copy each.
    ok(a.hold(notices(120), 60).await);
    ok(a.hold(notices(120), 60).await);
    assert_eq!(ok(held.count_documents(doc! {}).await), 120);
    assert_eq!(ok(a.release_due().await), 0, "not due yet");
    // The delay set longer changes nothing held; set to none, all is due now.
    assert_eq!(ok(a.shorten(1, "7", 3600).await), 0);
    assert_eq!(ok(a.release_due().await), 0, "still not due");
    assert_eq!(ok(a.shorten(1, "7", 0).await), 120);
    // A release cut short after storing some (before deleting them): they are there.
    ok(tower_store::outbox::Outbox::new(&db).add(notices(30)).await);
    // Two workers release at once: each notice goes to one of them.
    let (ra, rb) = tokio::join!(a.release_due(), b.release_due());
    let released = ok(ra) + ok(rb);
    assert_eq!(released, 120, "every held notice released once");
    assert_eq!(ok(held.count_documents(doc! {}).await), 0);
    assert_eq!(
        ok(notifications.count_documents(doc! { "kind": "kill" }).await),
        120,
        "each stored once"
    );
    // The outbox's numbers: one per notice, none reserved twice for the same one (a
    // reservation wasted on a notice another release stored leaves a gap subscribers wait at).
    let seqs: Vec<i64> = {
        use futures_util::TryStreamExt;
        let docs: Vec<Document> = ok(ok(notifications.find(doc! {}).await).try_collect().await);
        let mut s: Vec<i64> = docs.iter().filter_map(|d| d.get_i64("seq").ok()).collect();
        s.sort_unstable();
        s
    };
    assert_eq!(seqs.len(), 120);
    assert!(
        seqs.last().copied().unwrap_or(0) - seqs.first().copied().unwrap_or(0) < 120 + 10,
        "released without wasting numbers: {seqs:?}"
    );
    ok(test.drop_database().await);
}
