//! Retention against the real MongoDB-wire server: what is older than its collection's
//! limit is deleted, the rest kept, and a limit of 0 keeps everything.

use std::time::Duration;

use mongodb::bson::{DateTime, Document, doc};
use tower_store::retention::{Rule, sweep};
use tower_tests::backing::TestDatabase;
use tower_tests::support::ok;

fn days_ago(days: i64) -> DateTime {
    DateTime::from_millis(DateTime::now().timestamp_millis() - days * 24 * 3600 * 1000)
}

#[tokio::test]
async fn old_notifications_and_audit_records_are_deleted_and_recent_ones_kept() {
    let test = ok(TestDatabase::create("retention").await);
    let db = ok(test.open().await);
    let notifications = db.raw().collection::<Document>("notifications");
    let audit = db.raw().collection::<Document>("audit_log");
    for (i, age) in [0, 13, 15, 400].into_iter().enumerate() {
        ok(notifications
            .insert_one(
                doc! { "_id": format!("n{i}"), "seq": i as i64, "created_at": days_ago(age) },
            )
            .await);
        ok(audit
            .insert_one(doc! { "_id": format!("a{i}"), "at": days_ago(age) })
            .await);
    }
    let rules: Vec<Rule> = [
        Rule::days("notifications", "created_at", 14),
        Rule::days("audit_log", "at", 365),
        // 0: kept forever.
        Rule::days("telemetry_events", "received_at", 0),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].max_age, Duration::from_secs(14 * 24 * 3600));
    assert_eq!(ok(sweep(&db, &rules).await), vec![2, 1]);
    let left = |c: &mongodb::Collection<Document>| {
        let c = c.clone();
        async move {
            let mut ids: Vec<String> = ok(
                futures_util::TryStreamExt::try_collect::<Vec<Document>>(ok(c.find(doc! {}).await))
                    .await,
            )
            .iter()
            .filter_map(|d| d.get_str("_id").ok().map(str::to_owned))
            .collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(left(&notifications).await, ["n0", "n1"]);
    assert_eq!(left(&audit).await, ["a0", "a1", "a2"]);
    ok(test.drop_database().await);
}
