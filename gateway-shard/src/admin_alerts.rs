//! Telling a guild's admins when one of their game servers stopped being read for a reason
//! only they can fix (a wrong password, a changed host key, no SFTP for the user, an
//! address the bot may not use): once per problem, privately, to the next admin who runs
//! a command, and not again until the problem changes. The worker records each poll's
//! failure kind in `server_status`; which problem each server's admins were last told of is
//! in `admin_alerts` (`_id`: guild:server).

use futures_util::TryStreamExt;
use mongodb::Collection;
use mongodb::bson::{DateTime, Document, doc};
use tower_store::db::{Database, collections, is_duplicate_key};
use tower_store::schema::SCHEMA_VERSION;

/// The failure kinds an admin fixes, and how.
const FIXABLE: &[(&str, &str)] = &[
    (
        "sftp.authfailed",
        "the user name or password was refused: copy them again from your game host's panel \
         and add the server again (/setup removeserver, /setup addserver; statistics are kept)",
    ),
    (
        "sftp.hostkeychanged",
        "the server's host key changed: if your host moved it to a new machine, remove and \
         add the server again to trust the new key",
    ),
    (
        "sftp.sftp",
        "the host gives this user no SFTP: ask your game host to enable it",
    ),
    (
        "sftp.addressrefused",
        "the host is an address the bot may not connect to (a private network): use the \
         public host name from your game host's panel",
    ),
];

pub struct AdminAlerts {
    status: Collection<Document>,
    told: Collection<Document>,
    servers: Collection<Document>,
}

impl AdminAlerts {
    pub fn new(db: &Database) -> Self {
        let raw = db.raw();
        Self {
            status: raw.collection(collections::SERVER_STATUS),
            told: raw.collection(collections::ADMIN_ALERTS),
            servers: raw.collection(collections::GAME_SERVERS),
        }
    }

    /// The guild's admin-fixable reading problems no admin has been told of, each now
    /// marked told (claimed one by one, so two admins at once are not both told).
    pub async fn tell(&self, guild: u64) -> Result<Vec<String>, mongodb::error::Error> {
        // Read once for both: a removed or switched-off server's last status is no news.
        let read = self.servers_read(guild).await?;
        self.forget_solved(guild, &read).await?;
        self.untold(guild, &read).await
    }

    async fn untold(
        &self,
        guild: u64,
        read: &[String],
    ) -> Result<Vec<String>, mongodb::error::Error> {
        let kinds: Vec<&str> = FIXABLE.iter().map(|(k, _)| *k).collect();
        let mut cursor = self
            .status
            .find(doc! { "guild_id": guild.to_string(), "last_error_kind": { "$in": kinds } })
            .await?;
        let mut notes = Vec::new();
        while let Some(s) = cursor.try_next().await? {
            let (Ok(server), Ok(kind)) = (s.get_str("server_id"), s.get_str("last_error_kind"))
            else {
                continue;
            };
            let Some((_, fix)) = FIXABLE.iter().find(|(k, _)| *k == kind) else {
                continue;
            };
            if !read.iter().any(|id| id == server) {
                continue;
            }
            let id = format!("{guild}:{server}");
            let told = self
                .told
                .find_one(doc! { "_id": &id })
                .await?
                .and_then(|d| d.get_str("kind").ok().map(str::to_owned));
            if told.as_deref() == Some(kind) {
                continue;
            }
            let set = doc! {
                "guild_id": guild.to_string(),
                "kind": kind,
                "told_at": DateTime::now(),
                "schema_version": SCHEMA_VERSION,
            };
            let claimed = match told {
                Some(old) => {
                    self.told
                        .update_one(doc! { "_id": &id, "kind": old }, doc! { "$set": set })
                        .await?
                        .modified_count
                        == 1
                }
                None => {
                    let mut new = set;
                    new.insert("_id", &id);
                    match self.told.insert_one(new).await {
                        Ok(_) => true,
                        // Another admin's command claimed it first.
                        Err(e) if is_duplicate_key(&e) => false,
                        Err(e) => return Err(e),
                    }
                }
            };
            if claimed {
                notes.push(format!(
                    "**{server}** is not being read: {fix}. `/setup check server_id:{server}` \
                     checks everything."
                ));
            }
        }
        Ok(notes)
    }

    /// The guild's servers that are read (added and not switched off).
    async fn servers_read(&self, guild: u64) -> Result<Vec<String>, mongodb::error::Error> {
        Ok(self
            .servers
            .find(doc! { "guild_id": guild.to_string(), "enabled": { "$ne": false } })
            .await?
            .try_collect::<Vec<Document>>()
            .await?
            .iter()
            .filter_map(|s| s.get_str("server_id").ok().map(str::to_owned))
            .collect())
    }

    /// A server read successfully since, or removed: its next problem is told afresh. A
    /// failure of another kind meanwhile (the worker's own, a timeout) forgets nothing.
    async fn forget_solved(
        &self,
        guild: u64,
        read: &[String],
    ) -> Result<(), mongodb::error::Error> {
        let read_again: Vec<String> = self
            .status
            .find(doc! { "guild_id": guild.to_string(), "last_error_kind": "" })
            .await?
            .try_collect::<Vec<Document>>()
            .await?
            .iter()
            .filter_map(|s| {
                s.get_str("server_id")
                    .ok()
                    .map(|id| format!("{guild}:{id}"))
            })
            .collect();
        let servers: Vec<String> = read.iter().map(|id| format!("{guild}:{id}")).collect();
        self.told
            .delete_many(doc! {
                "guild_id": guild.to_string(),
                "$or": [ { "_id": { "$in": read_again } }, { "_id": { "$nin": servers } } ],
            })
            .await?;
        Ok(())
    }
}
