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
/// The delay the test runs with: the command sets whole minutes; the test shortens it in
/// the stored setting so it need not wait a minute.
const DELAY_SECS: i64 = 6;

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
    ok(handle
        .collection::<Document>("game_servers")
        .update_one(
            doc! { "guild_id": GUILD.to_string(), "server_id": &server },
            doc! { "$set": { "killfeed_delay_secs": DELAY_SECS } },
        )
        .await);

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
    let due = docs
        .iter()
        .filter_map(|d| {
            let held_at = d.get_datetime("held_at").ok()?.timestamp_millis();
            let due_at = d.get_datetime("due_at").ok()?.timestamp_millis();
            assert_eq!(due_at - held_at, DELAY_SECS * 1000, "{d}");
            Some(due_at)
        })
        .max()
        .unwrap_or(0);
    assert_eq!(sim.embeds_posted(CHANNEL).len(), 0, "nothing posted yet");

    // Everything stops while they are held; they fall due while nothing runs.
    ok(stack.stop_cleanly(WAIT).await);
    assert_eq!(ok(held.count_documents(doc! {}).await), 2, "still held");
    let wait_ms = due - mongodb::bson::DateTime::now().timestamp_millis() + 500;
    if wait_ms > 0 {
        // The passing of the delay itself is what is awaited here.
        tokio::time::sleep(std::time::Duration::from_millis(
            u64::try_from(wait_ms).unwrap_or(0),
        ))
        .await;
    }
    assert_eq!(
        sim.embeds_posted(CHANNEL).len(),
        0,
        "nothing posted while down"
    );

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
