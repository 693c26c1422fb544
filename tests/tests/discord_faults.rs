//! Discord failing under the bot: its REST API answers 500s, then stops answering
//! (timeouts), for 30 s while kills keep coming; then a burst of kills is posted while
//! the gateway's WebSocket is dropped. Every kill is posted once, none lost or doubled.

use std::collections::HashSet;
use std::time::Duration;

use tower_tests::WAIT;
use tower_tests::backing::TestDatabase;
use tower_tests::discord_sim::rest::PostFailure;
use tower_tests::guild_setup::{KillfeedSetup, kills};
use tower_tests::support::{eventually, ok, posting_caught_up};

const GUILD: u64 = 895_000_000_000_000_001;
const ADMIN: u64 = 995_000_000_000_000_001;
const CHANNEL: u64 = 695_000_000_000_000_001;

#[tokio::test]
async fn discord_failing_for_30_s_and_a_dropped_gateway_lose_and_double_nothing() {
    let KillfeedSetup {
        db,
        home: _home,
        sim,
        stack,
        csv,
        ..
    } = KillfeedSetup::start(
        ok(TestDatabase::create("discord_faults").await),
        "discord_faults",
        (GUILD, ADMIN),
        CHANNEL,
    )
    .await;
    // Discord's REST side fails: 500s first, then no answer at all.
    sim.fail_posts(Some(PostFailure::ServerError));
    let outage = tokio::time::Instant::now();
    ok(std::fs::write(&csv, kills(2)));
    eventually("posts tried and refused", WAIT, || async {
        sim.post_attempts(CHANNEL) >= 2
    })
    .await;
    sim.fail_posts(Some(PostFailure::Timeout));
    ok(std::fs::write(&csv, kills(3)));
    // The outage lasts 30 s whatever the bot does: nothing to await but time.
    tokio::time::sleep_until(outage + Duration::from_secs(30)).await;
    assert!(
        sim.embed_times(CHANNEL).is_empty(),
        "nothing is posted while Discord fails"
    );
    sim.fail_posts(None);

    // Back: a burst of kills, and the gateway's connection dropped in the middle of it.
    ok(std::fs::write(&csv, kills(23)));
    eventually("the burst begun", 2 * WAIT, || async {
        !sim.embed_times(CHANNEL).is_empty()
    })
    .await;
    sim.drop_connections();
    eventually("every kill posted", 2 * WAIT, || async {
        sim.embed_times(CHANNEL).len() >= 23
    })
    .await;
    posting_caught_up(&db.handle(), 23).await;
    let times = sim.embed_times(CHANNEL);
    assert_eq!(times.len(), 23, "each kill posted once");
    assert_eq!(
        times.iter().collect::<HashSet<_>>().len(),
        23,
        "no kill posted twice"
    );
    ok(stack.stop_cleanly(WAIT).await);
}
