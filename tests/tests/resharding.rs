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

/// Kubernetes runs the gateways as a StatefulSet: each pod is told only its index, and the
/// shard count and shards per pod are shared. Pod 0 runs shards 0–1 of 4, pod 1 shards 2–3:
/// every shard connected once, by the pod whose range holds it.
#[tokio::test]
async fn each_gateway_pod_runs_the_shards_its_index_picks() {
    use tower_tests::discord_sim::{DiscordSimulator, SimEvent};
    use tower_tests::stack::{Stack, StackOptions};

    let db = ok(TestDatabase::create("shards_by_index").await);
    let sim = ok(DiscordSimulator::start().await);
    let pod = |index: &str| {
        let mut options = StackOptions::simulated(&db, &sim, None);
        options.extra_env.extend(
            [
                ("TOWER_TOTAL_SHARDS", "4"),
                ("TOWER_SHARDS_PER_PROCESS", "2"),
                ("TOWER_GATEWAY_INDEX", index),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        options
    };
    let stack = ok(Stack::start(&pod("0")).await);
    let second = ok(stack.spawn_gateway(&pod("1"), &[]).await);
    for shard in 0..4 {
        let what = format!("shard {shard} of 4 identified");
        ok(sim
            .wait_for(
                &what,
                WAIT,
                |e| matches!(e, SimEvent::Identified { shard: s, .. } if *s == [shard, 4]),
            )
            .await);
    }
    let connected: Vec<[u32; 2]> = sim
        .events()
        .into_iter()
        .filter_map(|e| match e {
            SimEvent::Identified { shard, .. } => Some(shard),
            _ => None,
        })
        .collect();
    let mut sorted = connected.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [[0, 4], [1, 4], [2, 4], [3, 4]], "{connected:?}");
    assert!(ok(second.stop(WAIT).await).success());
    ok(stack.stop_cleanly(WAIT).await);
}
