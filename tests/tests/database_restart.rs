//! MongoDB stopped for 20 s and started again while a worker polls and a gateway posts:
//! both report NOT_SERVING while it is gone, SERVING again without a restart once it is
//! back, and every kill written meanwhile is counted and posted exactly once.
//!
//! This test runs its own MongoDB-wire server (the project's `deploy/local/mongodb`, an
//! instance of its own on a port of its own): stopping the suite's would stop every test.

use std::time::Duration;

use mongodb::bson::{Document, doc};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tower_tests::WAIT;
use tower_tests::backing::{PrivateMongo, TestDatabase};
use tower_tests::guild_setup::{ALPHA, KillfeedSetup, kills};
use tower_tests::support::{eventually, ok, posting_caught_up};

const GUILD: u64 = 890_000_000_000_000_001;
const ADMIN: u64 = 990_000_000_000_000_001;
const CHANNEL: u64 = 690_000_000_000_000_001;

async fn status(addr: std::net::SocketAddr) -> ServingStatus {
    let Ok(endpoint) = tonic::transport::Endpoint::from_shared(format!("http://{addr}")) else {
        return ServingStatus::Unknown;
    };
    let Ok(channel) = endpoint.connect().await else {
        return ServingStatus::Unknown;
    };
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .ok()
        .and_then(|r| ServingStatus::try_from(r.into_inner().status).ok())
        .unwrap_or(ServingStatus::Unknown)
}

#[tokio::test]
async fn mongodb_stopped_for_20_s_loses_and_doubles_nothing() {
    let mongo = ok(PrivateMongo::start("restart"));
    let KillfeedSetup {
        db,
        home: _home,
        sim,
        stack,
        server,
        csv,
        ..
    } = KillfeedSetup::start(
        ok(TestDatabase::create_on(&mongo.uri, "database_restart").await),
        "database_restart",
        (GUILD, ADMIN),
        CHANNEL,
    )
    .await;
    ok(std::fs::write(&csv, kills(3)));
    eventually("the first kills posted", WAIT, || async {
        sim.embeds_posted(CHANNEL).len() == 3
    })
    .await;

    // MongoDB goes away: both daemons say so, and kills keep coming.
    ok(mongo.stop());
    for (what, addr) in [
        ("worker", stack.worker_addr),
        ("gateway", stack.gateway_addr),
    ] {
        eventually(&format!("the {what} NOT_SERVING"), WAIT, || async {
            status(addr).await == ServingStatus::NotServing
        })
        .await;
    }
    ok(std::fs::write(&csv, kills(6)));
    // The fault lasts 20 s whatever the daemons do: there is nothing to await but time.
    tokio::time::sleep(Duration::from_secs(20)).await;
    ok(mongo.restart());

    // Back without a restart: SERVING, the kills of the outage counted and posted once.
    for (what, addr) in [
        ("worker", stack.worker_addr),
        ("gateway", stack.gateway_addr),
    ] {
        eventually(&format!("the {what} SERVING again"), WAIT, || async {
            status(addr).await == ServingStatus::Serving
        })
        .await;
    }
    ok(std::fs::write(&csv, kills(8)));
    eventually("every kill posted", WAIT, || async {
        sim.embeds_posted(CHANNEL).len() >= 8
    })
    .await;
    posting_caught_up(&db.handle(), 8).await;
    assert_eq!(sim.embeds_posted(CHANNEL).len(), 8, "each kill posted once");
    let stats = db.handle().collection::<Document>("player_stats");
    let alpha = ok(stats
        .find_one(doc! { "guild_id": GUILD.to_string(), "server_id": &server, "player_id": ALPHA })
        .await)
    .unwrap_or_default();
    let kills_counted = alpha
        .get_i64("kills")
        .or_else(|_| alpha.get_i32("kills").map(i64::from))
        .unwrap_or(0);
    assert_eq!(kills_counted, 8, "each kill counted once");
    ok(stack.stop_cleanly(WAIT).await);
}
