//! Re-sharding: the bot comes back with another shard layout (a new subscriber name for
//! the notification stream). It resumes where the old layout stopped for the guilds it
//! now serves: kills that happened in between are posted, and none is posted twice.

use mongodb::bson::{Document, doc};
use tower_tests::WAIT;
use tower_tests::backing::TestDatabase;
use tower_tests::guild_setup::{KillfeedSetup, kills};
use tower_tests::support::{eventually, ok, posting_caught_up};

const GUILD: u64 = 880_000_000_000_000_001;
const ADMIN: u64 = 980_000_000_000_000_001;
const CHANNEL: u64 = 680_000_000_000_000_001;

#[tokio::test]
async fn a_new_shard_layout_resumes_where_the_old_one_stopped() {
    let KillfeedSetup {
        db,
        home: _home,
        sim,
        options,
        stack,
        csv,
        ..
    } = KillfeedSetup::start(
        ok(TestDatabase::create("resharding").await),
        "resharding",
        (GUILD, ADMIN),
        CHANNEL,
    )
    .await;
    ok(std::fs::write(&csv, kills(1)));
    eventually("the first kill posted", WAIT, || async {
        sim.embeds_posted(CHANNEL).len() == 1
    })
    .await;

    // The bot is redeployed with two shards in one process: a new subscriber. Two kills
    // happen while no gateway runs.
    let mut resharded = options.clone();
    resharded.gateway_args = ["--shards", "0..2", "--total-shards", "2"]
        .map(str::to_owned)
        .to_vec();
    let notifications = db.handle().collection::<Document>("notifications");
    let (stack, _, ()) = ok(stack
        .restart_gateway(&resharded, WAIT, async {
            ok(std::fs::write(&csv, kills(3)));
            eventually("the two kills recorded", WAIT, || async {
                notifications
                    .count_documents(doc! {})
                    .await
                    .is_ok_and(|n| n == 3)
            })
            .await;
        })
        .await);
    eventually("the kills of the downtime posted", WAIT, || async {
        sim.embeds_posted(CHANNEL).len() >= 3
    })
    .await;
    // Caught up: the new layout has acknowledged everything, and nothing came twice.
    posting_caught_up(&db.handle(), 3).await;
    assert_eq!(sim.embeds_posted(CHANNEL).len(), 3, "each kill posted once");
    ok(stack.stop_cleanly(WAIT).await);
}
