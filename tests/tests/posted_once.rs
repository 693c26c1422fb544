//! "Posted once" without leaning on Discord's nonce memory, which lasts minutes: a message
//! interrupted by a crash and finished after Discord forgot its nonce, and two gateway
//! processes serving the same shards (a rolling deploy) with slow posts, each post every
//! kill once.

use std::collections::HashSet;
use std::time::Duration;

use tower_tests::WAIT;
use tower_tests::backing::TestDatabase;
use tower_tests::discord_sim::rest::PostFailure;
use tower_tests::guild_setup::{KillfeedSetup, kills};
use tower_tests::support::{eventually, messages_in_flight, ok, posting_caught_up};

const GUILD: u64 = 897_000_000_000_000_001;
const ADMIN: u64 = 997_000_000_000_000_001;
const CHANNEL: u64 = 697_000_000_000_000_001;

#[tokio::test]
async fn a_post_interrupted_by_a_crash_is_not_doubled_after_discord_forgot_its_nonce() {
    let KillfeedSetup {
        db,
        home: _home,
        sim,
        options,
        stack,
        csv,
        ..
    } = KillfeedSetup::start(
        ok(TestDatabase::create("posted_once_crash").await),
        "posted_once_crash",
        (GUILD, ADMIN),
        CHANNEL,
    )
    .await;
    sim.remember_nonces_for(Duration::from_secs(1));
    // Discord posts the message, but its answer never reaches the bot…
    sim.fail_posts(Some(PostFailure::LostAnswer));
    ok(std::fs::write(&csv, kills(1)));
    eventually("the kill posted, its answer lost", WAIT, || async {
        sim.embed_times(CHANNEL).len() == 1
    })
    .await;
    // …which crashes before it learns the post went out.
    let (stack, ()) = ok(stack
        .restart_gateway_after_crash(&options, async {
            sim.fail_posts(None);
            // Down longer than Discord remembers the nonce: nothing to await but time.
            tokio::time::sleep(Duration::from_secs(2)).await;
        })
        .await);
    // The interrupted message is settled (once its process is surely gone) without a
    // second post.
    eventually("the interrupted message settled", 2 * WAIT, || async {
        messages_in_flight(&db.handle()).await == 0
    })
    .await;
    assert_eq!(
        sim.embed_times(CHANNEL).len(),
        1,
        "the kill is in the channel once"
    );
    // Later kills still flow.
    ok(std::fs::write(&csv, kills(2)));
    posting_caught_up(&db.handle(), 2).await;
    assert_eq!(
        sim.embed_times(CHANNEL).len(),
        2,
        "the next kill posted once"
    );
    ok(stack.stop_cleanly(WAIT).await);
}

#[tokio::test]
async fn two_gateways_serving_the_same_shards_post_each_kill_once() {
    let KillfeedSetup {
        db,
        home: _home,
        sim,
        options,
        stack,
        csv,
        ..
    } = KillfeedSetup::start(
        ok(TestDatabase::create("posted_once_twins").await),
        "posted_once_twins",
        (GUILD, ADMIN),
        CHANNEL,
    )
    .await;
    // Discord's nonce memory would hide a message posted twice with one nonce: off.
    sim.remember_nonces_for(Duration::ZERO);
    // Posts that take a while, so both gateways meet each message while it is in flight.
    sim.slow_posts(Some(Duration::from_millis(1500)));
    let twin = ok(stack.spawn_gateway(&options, &options.gateway_args).await);
    // Kills in bursts, each posted before the next is written.
    for n in [3, 4, 9, 10, 17, 25] {
        ok(std::fs::write(&csv, kills(n)));
        eventually("the burst posted", WAIT, || async {
            sim.embed_times(CHANNEL).len() >= n as usize
        })
        .await;
    }
    posting_caught_up(&db.handle(), 25).await;
    let times = sim.embed_times(CHANNEL);
    assert_eq!(
        times.iter().collect::<HashSet<_>>().len(),
        25,
        "every kill posted"
    );
    assert_eq!(times.len(), 25, "no kill posted twice");
    ok(twin.stop(WAIT).await);
    ok(stack.stop_cleanly(WAIT).await);
}
