//! A worker told to stop while MongoDB is away still stops within the grace period a
//! Kubernetes pod gets (30 s from SIGTERM to SIGKILL): giving its leases back, its last
//! status reports and recording its stop are each bounded, not one wait per server.

use std::time::Duration;

use mongodb::bson::{Document, doc};
use tower_store::secret::SecretKey;
use tower_tests::WAIT;
use tower_tests::backing::{PrivateMongo, TestDatabase};
use tower_tests::guild_setup::stored_servers;
use tower_tests::sftp_home::Home;
use tower_tests::stack::standalone_worker;
use tower_tests::support::{eventually, ok};

const GUILD: u64 = 870_000_000_000_000_002;
/// Enough servers that one wait per lease (the server selection timeout, 10 s) would
/// take far longer than the grace period.
const SERVERS: usize = 6;
/// The grace period less a margin for the harness.
const GRACE: Duration = Duration::from_secs(25);

#[tokio::test]
async fn a_worker_stops_within_its_grace_period_while_mongodb_is_away() {
    let mongo = ok(PrivateMongo::start("worker-stop"));
    let db = ok(TestDatabase::create_on(&mongo.uri, "worker_stop").await);
    let handle = ok(db.open().await);
    let home = Home::new("worker_stop");
    let key_text = ok(SecretKey::generate_base64());
    let key = ok(SecretKey::from_base64(&key_text));
    stored_servers(&handle, &home, &key, GUILD, (SERVERS, 2)).await;
    let (worker, _) = ok(standalone_worker(
        &db,
        &key_text,
        &[
            ("TOWER_SFTP_ALLOW_LOOPBACK", "true"),
            ("TOWER_POLL_INTERVAL_SECS", "1"),
        ],
    )
    .await);
    let status = db.handle().collection::<Document>("server_status");
    eventually("every server polled", WAIT, || async {
        status
            .count_documents(doc! { "polls": { "$gte": 1 }, "last_error": "" })
            .await
            .is_ok_and(|n| n as usize == SERVERS)
    })
    .await;

    ok(mongo.stop());
    let stopped = worker.stop(GRACE).await;
    assert!(
        stopped.as_ref().is_ok_and(|s| s.success()),
        "the worker did not stop cleanly within {GRACE:?} of SIGTERM with MongoDB away: {stopped:?}"
    );
}
