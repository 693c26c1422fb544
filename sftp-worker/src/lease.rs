//! Leases: which worker polls which game server (`server_leases`).
//!
//! A worker holds a server's lease for `lease_secs` and renews it every lease round (all
//! its leases in two round trips); a
//! worker that dies stops renewing and the others take its servers when the lease runs
//! out. Each takeover increments the lease's token; the new holder writes its cursors with
//! that token and MongoDB refuses writes with an older one, so a worker that was only
//! paused cannot move a cursor after losing the server. Workers take at most a fair share
//! (servers ÷ live workers, rounded up) and give back what is over it.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::TryStreamExt;
use mongodb::bson::{DateTime, Document, doc};
use mongodb::options::{FindOneAndUpdateOptions, ReturnDocument};
use tower_store::db::{Database, collections, is_duplicate_key};
use tower_store::schema::SCHEMA_VERSION;

use crate::pool::{ServerKey, key_id};

pub struct Leases {
    leases: mongodb::Collection<Document>,
    processes: mongodb::Collection<Document>,
    me: String,
    lease: Duration,
}

impl Leases {
    pub fn new(db: &Database, me: &str, lease: Duration) -> Self {
        Self {
            leases: db.raw().collection(collections::SERVER_LEASES),
            processes: db.raw().collection(collections::PROCESSES),
            me: me.to_owned(),
            lease,
        }
    }

    fn expiry(&self) -> DateTime {
        tower_store::db::from_now(self.lease)
    }

    /// Takes or renews the lease; its token when this worker holds it now.
    pub async fn claim(&self, key: &ServerKey) -> Result<Option<i64>, mongodb::error::Error> {
        let now = DateTime::now();
        let me = self.me.as_str();
        let update = vec![doc! { "$set": {
            // A new token unless this worker holds it still (a lease it gave back or let run
            // out gets a new one: a poll still running under the old token is fenced off).
            "token": { "$cond": [
                { "$and": [{ "$eq": ["$owner", me] }, { "$gte": ["$expires_at", now] }] },
                "$token",
                { "$add": [{ "$ifNull": ["$token", 0i64] }, 1i64] },
            ] },
            "owner": me,
            "expires_at": self.expiry(),
            "schema_version": SCHEMA_VERSION,
        } }];
        let result = self
            .leases
            .find_one_and_update(
                doc! { "_id": key_id(key), "$or": [{ "owner": me }, { "expires_at": { "$lt": now } }] },
                update,
            )
            .with_options(
                FindOneAndUpdateOptions::builder()
                    .upsert(true)
                    .return_document(ReturnDocument::After)
                    .build(),
            )
            .await;
        match result {
            Ok(doc) => Ok(doc.and_then(|d| d.get_i64("token").ok())),
            // Held by another live worker: the upsert met the existing lease.
            Err(e) if is_duplicate_key(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Renews the leases of `keys` that this worker still holds, in two round trips
    /// whatever their number; their tokens, which renewal does not change. A key missing
    /// from the answer was lost or ran out, and must be claimed again ([`Leases::claim`]).
    pub async fn renew(
        &self,
        keys: &[ServerKey],
    ) -> Result<HashMap<ServerKey, i64>, mongodb::error::Error> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let by_id: HashMap<String, &ServerKey> = keys.iter().map(|k| (key_id(k), k)).collect();
        let ids: Vec<&String> = by_id.keys().collect();
        let now = DateTime::now();
        let ours =
            doc! { "_id": { "$in": &ids }, "owner": &self.me, "expires_at": { "$gte": now } };
        self.leases
            .update_many(
                ours.clone(),
                doc! { "$set": { "expires_at": self.expiry() } },
            )
            .await?;
        // Still ours at `now` and renewed since: nobody else could take them meanwhile.
        let renewed: Vec<Document> = self
            .leases
            .find(ours)
            .projection(doc! { "token": 1 })
            .await?
            .try_collect()
            .await?;
        Ok(renewed
            .iter()
            .filter_map(|d| {
                let key = by_id.get(d.get_str("_id").ok()?)?;
                Some(((*key).clone(), d.get_i64("token").ok()?))
            })
            .collect())
    }

    /// Gives leases back at once (over fair share, or shutting down), in one command
    /// whatever their number: a worker stopping with a thousand servers must not make a
    /// thousand round trips, each up to the server selection timeout when MongoDB is away.
    pub async fn release(&self, keys: &[ServerKey]) -> Result<(), mongodb::error::Error> {
        if keys.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = keys.iter().map(key_id).collect();
        self.leases
            .update_many(
                doc! { "_id": { "$in": ids }, "owner": &self.me },
                doc! { "$set": { "expires_at": DateTime::from_millis(0) } },
            )
            .await?;
        Ok(())
    }

    /// Gives back every lease this worker holds (stopping), including any a lease round
    /// took just before it was given up, in one command.
    pub async fn release_all(&self) -> Result<(), mongodb::error::Error> {
        self.leases
            .update_many(
                doc! { "owner": &self.me },
                doc! { "$set": { "expires_at": DateTime::from_millis(0) } },
            )
            .await?;
        Ok(())
    }

    /// Who holds which lease now (unexpired).
    pub async fn holders(&self) -> Result<HashMap<String, String>, mongodb::error::Error> {
        let docs: Vec<Document> = self
            .leases
            .find(doc! { "expires_at": { "$gte": DateTime::now() } })
            .await?
            .try_collect()
            .await?;
        Ok(docs
            .iter()
            .filter_map(|d| {
                Some((
                    d.get_str("_id").ok()?.to_owned(),
                    d.get_str("owner").ok()?.to_owned(),
                ))
            })
            .collect())
    }

    /// Says this worker is alive for one more lease time (each round).
    pub async fn announce(&self) -> Result<(), mongodb::error::Error> {
        self.processes
            .update_one(
                doc! { "_id": &self.me },
                doc! { "$set": { "lease_expires_at": self.expiry() } },
            )
            .await?;
        Ok(())
    }

    /// Workers alive now (announced within the lease time, not stopped), at least 1.
    pub async fn live_workers(&self) -> Result<usize, mongodb::error::Error> {
        let n = self
            .processes
            .count_documents(doc! {
                "kind": "sftp-worker",
                "lease_expires_at": { "$gte": DateTime::now() },
                "stopped_at": { "$exists": false },
            })
            .await?;
        Ok(usize::try_from(n).unwrap_or(1).max(1))
    }
}

/// The most servers one worker should hold.
pub fn fair_share(servers: usize, workers: usize) -> usize {
    servers.div_ceil(workers.max(1))
}

#[cfg(test)]
mod tests {
    use super::fair_share;

    #[test]
    fn shares_round_up() {
        assert_eq!(fair_share(50, 2), 25);
        assert_eq!(fair_share(51, 2), 26);
        assert_eq!(fair_share(3, 5), 1);
        assert_eq!(fair_share(0, 3), 0);
        assert_eq!(fair_share(7, 0), 7);
    }
}
