//! Retention: what is older than its collection's limit is deleted, in the background, by
//! the process that owns the collection (the worker its notifications, the collector its
//! error occurrences, the gateway its audit log), so nothing grows without end. Limits are
//! in `[retention]` and `collector.retention_days`; 0 keeps a collection forever.
//!
//! A periodic delete rather than a TTL index: its limit follows the config at every start,
//! where changing a TTL index needs an index rebuild (`collMod`) not every MongoDB-wire
//! server has.

use std::time::Duration;

use mongodb::bson::{DateTime, Document, doc};

use crate::db::Database;

/// How often a process sweeps its collections.
pub const EVERY: Duration = Duration::from_secs(3600);

/// Documents of `collection` whose date `field` is older than `max_age` are deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub collection: &'static str,
    pub field: &'static str,
    pub max_age: Duration,
}

impl Rule {
    /// A rule from a limit in days; `None` for 0 (kept forever).
    pub fn days(collection: &'static str, field: &'static str, days: u32) -> Option<Self> {
        (days > 0).then(|| Self {
            collection,
            field,
            max_age: Duration::from_secs(u64::from(days) * 24 * 3600),
        })
    }
}

/// Deletes what the rules let go of now; returns how many documents went, per rule.
pub async fn sweep(db: &Database, rules: &[Rule]) -> Result<Vec<u64>, mongodb::error::Error> {
    let now = DateTime::now().timestamp_millis();
    let mut deleted = Vec::with_capacity(rules.len());
    for rule in rules {
        let age = i64::try_from(rule.max_age.as_millis()).unwrap_or(i64::MAX);
        let before = DateTime::from_millis(now.saturating_sub(age));
        let result = db
            .raw()
            .collection::<Document>(rule.collection)
            .delete_many(doc! { rule.field: { "$lt": before } })
            .await?;
        deleted.push(result.deleted_count);
    }
    Ok(deleted)
}

/// Sweeps every [`EVERY`] (the first time a minute after start) until `stop` resolves
/// (the process's shutdown); `rules` may be one [`Rule::days`] as it comes (none for a
/// limit of 0).
pub async fn run(
    db: Database,
    rules: impl IntoIterator<Item = Rule>,
    stop: impl Future<Output = ()>,
) {
    let rules: Vec<Rule> = rules.into_iter().collect();
    if rules.is_empty() {
        return;
    }
    let mut wait = Duration::from_secs(60);
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = &mut stop => return,
        }
        wait = EVERY;
        match sweep(&db, &rules).await {
            Ok(deleted) => {
                for (rule, n) in rules.iter().zip(deleted).filter(|(_, n)| *n > 0) {
                    tracing::info!(
                        collection = rule.collection,
                        deleted = n,
                        "retention: old documents deleted"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "retention sweep failed; trying again later"),
        }
    }
}
