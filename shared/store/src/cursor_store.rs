//! Where each game server's reading stopped, in MongoDB (`ingest_cursors`), and the
//! protocol that makes a crash mid-batch harmless.
//!
//! Before a batch is applied its exact byte range is recorded as `pending` with its batch
//! number; after it is applied the cursor moves past it and `pending` is cleared. A process
//! that finds a `pending` batch (the last one crashed) re-reads exactly that range and
//! applies it again under the same number: lines and documents the crashed attempt already
//! wrote are recognised (see `stats_store`), the rest are added, nothing twice.

use mongodb::bson::{Document, doc};
use serde::{Deserialize, Serialize};

use crate::db::{Database, collections};
use crate::kill_rewards::KillRewards;
use crate::schema::SCHEMA_VERSION;
use crate::stats_store::{BatchOutcome, BatchRef, StatsStore};
use tower_ingest::cursor::{FileCursor, ReadPoint, head_hash};
use tower_ingest::earlier_position::EarlierPosition;
use tower_ingest::ingest::{Chunk, parse_killfeed_chunk};
use tower_ingest::reader::KillfeedSink;
use tower_ingest::source::{ByteSource, FileMeta};

/// A batch whose ranges were recorded but whose application was not confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StoredPending")]
pub struct PendingBatch {
    pub batch: i64,
    /// What to read again: one range per file, in reading order.
    pub ranges: Vec<PendingRange>,
    /// The cursor to commit once applied; none for kills recorded by hand, which move no
    /// cursor.
    pub cursor: Option<FileCursor>,
    /// What the batch's kill rewards are computed from, read before it was applied (none
    /// when it pays nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewards: Option<crate::kill_rewards::Prepared>,
}

/// One file's part of a pending batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRange {
    pub path: String,
    pub from: u64,
    pub to: u64,
    /// Whether the range ends the (final) file: its last line counts without a newline.
    pub at_eof: bool,
    /// A kill recorded by hand: its line is kept here, not read from the game server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<RecordedKill>,
}

/// A kill an admin recorded by hand (`/rivalry record_kill`), kept with its pending batch
/// so a batch finished after a crash counts the very same line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedKill {
    /// The killfeed line ([`tower_ingest::killfeed::recorded_kill_line`]).
    pub line: String,
    /// The admin's Discord user id (text: BSON has no unsigned 64-bit integer); empty
    /// for a kill imported from the earlier bot.
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Taken from the earlier bot's kill records by `towerctl import-legacy`, where the
    /// CSV file it was read from is gone: counted as the game's own lines are, with no
    /// mark of a hand.
    #[serde(default, skip_serializing_if = "is_false")]
    pub imported: bool,
}

impl RecordedKill {
    /// A line of the earlier bot's kill records ([`RecordedKill::imported`]).
    pub fn imported(line: String) -> Self {
        Self {
            line,
            by: String::new(),
            location: None,
            imported: true,
        }
    }

    /// Who recorded it by hand; none for an imported line.
    fn recorded(&self) -> Option<tower_ingest::ingest::Recorded> {
        (!self.imported).then(|| tower_ingest::ingest::Recorded {
            by: self.by.parse().unwrap_or(0),
            location: self.location.clone(),
        })
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A pending batch as stored: batches of one file were stored with their range inline
/// before batches could span files.
#[derive(Deserialize)]
struct StoredPending {
    batch: i64,
    #[serde(default)]
    ranges: Vec<PendingRange>,
    #[serde(flatten)]
    inline: Option<PendingRange>,
    #[serde(default)]
    cursor: Option<FileCursor>,
    #[serde(default)]
    rewards: Option<crate::kill_rewards::Prepared>,
}

impl TryFrom<StoredPending> for PendingBatch {
    type Error = String;

    /// A record with no range it can read is refused: finishing it as empty would commit
    /// its cursor past lines never counted.
    fn try_from(p: StoredPending) -> Result<Self, String> {
        let mut ranges = p.ranges;
        if ranges.is_empty() {
            ranges.extend(p.inline);
        }
        if ranges.is_empty() {
            return Err(format!(
                "pending batch {} has no readable byte range",
                p.batch
            ));
        }
        Ok(Self {
            batch: p.batch,
            ranges,
            cursor: p.cursor,
            rewards: p.rewards,
        })
    }
}

/// One server's killfeed reading state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KillfeedState {
    /// The killfeed folder this state reads (`…/deathlogs/world_N`). States saved by
    /// earlier builds have none: they read the server's first folder.
    pub folder: Option<String>,
    pub cursor: Option<FileCursor>,
    pub next_batch: i64,
    pub pending: Option<PendingBatch>,
    /// The folder has been listed once: what was there then is history.
    pub listed: bool,
    /// Bytes of interrupted batches that could no longer be re-read (their file shrank,
    /// was replaced or vanished before the batch was finished): never counted.
    pub lost_bytes: u64,
    /// History ends here (the end of the newest file when the folder was first listed, or
    /// when a backfill was asked for): lines up to it are counted but not announced.
    /// Kept with the cursor, so a read interrupted part-way stays quiet when it resumes.
    pub quiet_until: Option<ReadPoint>,
    /// Where the earlier bot stopped reading this folder (`towerctl import-legacy`), until
    /// the first read finds it in bytes: history then ends there instead of at the end of
    /// the newest file, so what the earlier bot had not posted yet is posted.
    pub earlier_bot: Option<EarlierPosition>,
    /// How far the game server's clock runs ahead of UTC (seconds; negative: behind), as
    /// last measured: a batch read to a file's end ends with the line written at the
    /// file's mtime. Kill rewards tell late kills from fresh ones with it.
    pub clock_ahead: Option<i64>,
}

/// A server's killfeed slots as stored.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KillfeedSlots {
    /// slot → state.
    pub states: std::collections::HashMap<String, KillfeedState>,
    /// The lease token fencing the server's first slot.
    pub lease_token: Option<i64>,
}

impl KillfeedSlots {
    /// Whether the first slot holds an interrupted batch of kills recorded by hand: it
    /// needs no folder read to be finished ([`StoreSink::finish_recorded`]).
    pub fn recorded_pending(&self) -> bool {
        self.states
            .get(PRIMARY_KILLFEED)
            .and_then(|s| s.pending.as_ref())
            .is_some_and(PendingBatch::is_recorded)
    }
}

impl PendingBatch {
    /// A batch of kills recorded by hand only (no range to read from the game server).
    pub fn is_recorded(&self) -> bool {
        self.ranges.iter().all(|r| r.recorded.is_some())
    }
}

/// Why a server's killfeed folders cannot be read now.
#[derive(Debug, thiserror::Error)]
pub enum OpenFoldersError {
    #[error("another worker now holds this server")]
    Fenced,
    #[error(
        "the killfeed folder of slot {0} has an interrupted batch but was not listed; it is finished first"
    )]
    PendingElsewhere(String),
    #[error("database: {0}")]
    Db(#[from] mongodb::error::Error),
}

/// The slot of a killfeed folder other than a server's first.
pub fn folder_slot(dir: &str) -> String {
    format!("{PRIMARY_KILLFEED}:{dir}")
}

#[derive(Clone)]
pub struct CursorStore {
    cursors: mongodb::Collection<Document>,
    recorded: mongodb::Collection<Document>,
}

fn key(guild_id: u64, server_id: &str, slot: &str) -> String {
    format!("{guild_id}:{server_id}:{slot}")
}

fn to_bson<T: Serialize>(value: &T) -> Result<mongodb::bson::Bson, mongodb::error::Error> {
    mongodb::bson::serialize_to_bson(value)
        .map_err(|e| mongodb::error::Error::custom(e.to_string()))
}

/// One server's server-log reading state: the cursor and who is online and queued.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogState {
    pub cursor: Option<FileCursor>,
    pub online: Vec<String>,
    pub queued: Vec<String>,
    /// The name and platform of each player from their join request until they leave:
    /// what the connection posts show (the join and leave lines name only the id).
    pub joining: std::collections::BTreeMap<String, JoiningPlayer>,
    /// History ends at this offset of the log: its size when the bot first read it. Lines
    /// before it count for who is online but are not announced. Kept with the cursor, so
    /// a first read cut short stays quiet when it resumes.
    pub quiet_until: Option<u64>,
}

/// A player's name and platform, from their join request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JoiningPlayer {
    pub name: String,
    pub platform: String,
    /// When their join request was logged (Unix ms): the oldest goes first when the
    /// bound is reached.
    pub requested_at_ms: i64,
}

/// A write refused because another worker now holds the server (a higher lease token).
pub fn is_fenced(e: &mongodb::error::Error) -> bool {
    crate::db::is_duplicate_key(e)
}

impl CursorStore {
    pub fn new(db: &Database) -> Self {
        Self {
            cursors: db.raw().collection(collections::INGEST_CURSORS),
            recorded: db.raw().collection(collections::RECORDED_KILLS),
        }
    }

    pub async fn load(
        &self,
        guild_id: u64,
        server_id: &str,
    ) -> Result<KillfeedState, mongodb::error::Error> {
        let state: KillfeedState = self.load_slot(guild_id, server_id, "killfeed").await?;
        Ok(KillfeedState {
            next_batch: state.next_batch.max(1),
            ..state
        })
    }

    /// Every killfeed slot state of one server (`killfeed`, `killfeed:<folder>`), and the
    /// lease token on its first slot, in one round trip.
    pub async fn load_killfeed_slots(
        &self,
        guild_id: u64,
        server_id: &str,
    ) -> Result<KillfeedSlots, mongodb::error::Error> {
        use futures_util::TryStreamExt;
        let prefix = key(guild_id, server_id, "");
        let docs: Vec<Document> = self
            .cursors
            .find(doc! { "guild_id": guild_id.to_string(), "server_id": server_id })
            .await?
            .try_collect()
            .await?;
        let mut out = KillfeedSlots::default();
        for d in docs {
            let Some(slot) = d
                .get_str("_id")
                .ok()
                .and_then(|id| id.strip_prefix(&prefix))
            else {
                continue;
            };
            if slot != PRIMARY_KILLFEED && !slot.starts_with(&format!("{PRIMARY_KILLFEED}:")) {
                continue;
            }
            if slot == PRIMARY_KILLFEED {
                out.lease_token = d.get_i64("lease_token").ok();
            }
            let Ok(state) = d.get_document("state") else {
                continue;
            };
            let state: KillfeedState = mongodb::bson::deserialize_from_document(state.clone())
                .map_err(|e| mongodb::error::Error::custom(e.to_string()))?;
            out.states.insert(slot.to_owned(), state);
        }
        Ok(out)
    }

    pub async fn load_log(
        &self,
        guild_id: u64,
        server_id: &str,
    ) -> Result<LogState, mongodb::error::Error> {
        self.load_slot(guild_id, server_id, "log").await
    }

    /// The file cursors of many servers of one guild in one query: per server id, the
    /// `(slot, cursor)` of each slot (`killfeed`, `log`) that has one.
    pub async fn cursors(
        &self,
        guild_id: u64,
        server_ids: &[&str],
    ) -> Result<std::collections::HashMap<String, Vec<(String, FileCursor)>>, mongodb::error::Error>
    {
        use futures_util::TryStreamExt;
        let docs: Vec<Document> = self
            .cursors
            .find(doc! { "guild_id": guild_id.to_string(), "server_id": { "$in": server_ids } })
            .projection(doc! { "server_id": 1, "state.cursor": 1 })
            .await?
            .try_collect()
            .await?;
        let mut out: std::collections::HashMap<String, Vec<(String, FileCursor)>> =
            std::collections::HashMap::new();
        for d in &docs {
            let (Ok(id), Ok(server)) = (d.get_str("_id"), d.get_str("server_id")) else {
                continue;
            };
            let Some(slot) = id.strip_prefix(&key(guild_id, server, "")) else {
                continue;
            };
            let Some(cursor) = d
                .get_document("state")
                .and_then(|s| s.get_document("cursor"))
                .ok()
                .and_then(|c| mongodb::bson::deserialize_from_document(c.clone()).ok())
            else {
                continue;
            };
            out.entry(server.to_owned())
                .or_default()
                .push((slot.to_owned(), cursor));
        }
        Ok(out)
    }

    async fn load_slot<T: serde::de::DeserializeOwned + Default>(
        &self,
        guild_id: u64,
        server_id: &str,
        slot: &str,
    ) -> Result<T, mongodb::error::Error> {
        let Some(d) = self
            .cursors
            .find_one(doc! { "_id": key(guild_id, server_id, slot) })
            .await?
        else {
            return Ok(T::default());
        };
        mongodb::bson::deserialize_from_document(
            d.get_document("state").cloned().unwrap_or_default(),
        )
        .map_err(|e| mongodb::error::Error::custom(e.to_string()))
    }

    /// Raises the lease token on the server's cursors to `token` before anything is read,
    /// so a worker that held the server before can no longer write them. Fails with a
    /// fenced error ([`is_fenced`]) when a newer holder has already done so.
    pub async fn fence(
        &self,
        guild_id: u64,
        server_id: &str,
        token: i64,
    ) -> Result<(), mongodb::error::Error> {
        for slot in [PRIMARY_KILLFEED, "log"] {
            self.cursors
                .update_one(
                    doc! {
                        "_id": key(guild_id, server_id, slot),
                        "$or": [{ "lease_token": { "$exists": false } }, { "lease_token": { "$lte": token } }],
                    },
                    doc! { "$set": { "lease_token": token, "guild_id": guild_id.to_string(), "server_id": server_id, "schema_version": SCHEMA_VERSION } },
                )
                .upsert(true)
                .await?;
        }
        // The other killfeed folders' slots, where they exist (a newer holder's token on
        // the two above has already refused this call).
        self.cursors
            .update_many(
                doc! {
                    "guild_id": guild_id.to_string(),
                    "server_id": server_id,
                    "$or": [{ "lease_token": { "$exists": false } }, { "lease_token": { "$lte": token } }],
                },
                doc! { "$set": { "lease_token": token } },
            )
            .await?;
        Ok(())
    }

    /// Saves a state. With a `fence` (the caller's lease token) the write only lands while
    /// no worker with a higher token has written: a worker that lost its lease cannot
    /// move a cursor back ([`is_fenced`] tells that error apart).
    /// Records where the earlier bot stopped reading a server's killfeed, for its first
    /// read here ([`KillfeedState::earlier_bot`]). Only for a server never read here (no
    /// state, or one with no cursor that was never listed): whether it was recorded.
    pub async fn record_earlier_position(
        &self,
        guild_id: u64,
        server_id: &str,
        position: &EarlierPosition,
    ) -> Result<bool, mongodb::error::Error> {
        let recorded = self
            .cursors
            .update_one(
                doc! {
                    "_id": key(guild_id, server_id, PRIMARY_KILLFEED),
                    "state.cursor": null,
                    "state.listed": { "$ne": true },
                },
                doc! {
                    "$set": { "state.earlier_bot": to_bson(position)? },
                    "$setOnInsert": {
                        "guild_id": guild_id.to_string(),
                        "server_id": server_id,
                        "schema_version": SCHEMA_VERSION,
                    },
                },
            )
            .upsert(true)
            .await;
        match recorded {
            Ok(_) => Ok(true),
            // A state that has read: the upsert's insert met its id.
            Err(e) if crate::db::is_duplicate_key(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Forgets an earlier bot's read position of a server never read here (its import
    /// did not add the server after all). A slot that numbered batches (the earlier bot's
    /// kill records were counted) keeps its numbers: statistics accept only batches
    /// numbered after those.
    pub async fn forget_earlier_position(
        &self,
        guild_id: u64,
        server_id: &str,
    ) -> Result<(), mongodb::error::Error> {
        let never_read = doc! {
            "_id": key(guild_id, server_id, PRIMARY_KILLFEED),
            "state.cursor": null,
            "state.listed": { "$ne": true },
            "state.pending": null,
        };
        let mut numbered = never_read.clone();
        numbered.insert("state.next_batch", doc! { "$gt": 1 });
        self.cursors
            .update_one(numbered, doc! { "$unset": { "state.earlier_bot": "" } })
            .await?;
        let mut unnumbered = never_read;
        unnumbered.insert(
            "$or",
            vec![
                doc! { "state.next_batch": null },
                doc! { "state.next_batch": { "$lte": 1 } },
            ],
        );
        self.cursors.delete_one(unnumbered).await?;
        Ok(())
    }

    /// Records the kill rewards fixed for a slot's pending batch number `batch`, changing
    /// nothing else of its state (what the batch has changed so far in memory is saved
    /// only when it is committed).
    pub async fn save_pending_rewards(
        &self,
        guild_id: u64,
        server_id: &str,
        slot: &str,
        batch: i64,
        rewards: &crate::kill_rewards::Prepared,
        fence: Option<i64>,
    ) -> Result<(), mongodb::error::Error> {
        let mut filter = doc! {
            "_id": key(guild_id, server_id, slot),
            "state.pending.batch": batch,
        };
        fenced(&mut filter, fence);
        self.cursors
            .update_one(
                filter,
                doc! { "$set": { "state.pending.rewards": to_bson(rewards)? } },
            )
            .await?;
        Ok(())
    }

    pub async fn save_slot<T: Serialize>(
        &self,
        guild_id: u64,
        server_id: &str,
        slot: &str,
        state: &T,
        fence: Option<i64>,
    ) -> Result<(), mongodb::error::Error> {
        let mut filter = doc! { "_id": key(guild_id, server_id, slot) };
        let mut set = doc! {
            "guild_id": guild_id.to_string(),
            "server_id": server_id,
            "state": to_bson(state)?,
            "schema_version": SCHEMA_VERSION,
        };
        fenced(&mut filter, fence);
        if let Some(token) = fence {
            set.insert("lease_token", token);
        }
        self.cursors
            .update_one(filter, doc! { "$set": set })
            .upsert(true)
            .await?;
        Ok(())
    }
}

/// Only a writer whose lease token is the slot's or newer may change it (a worker that
/// lost its lease never writes again).
fn fenced(filter: &mut Document, fence: Option<i64>) {
    if let Some(token) = fence {
        filter.insert(
            "$or",
            vec![
                doc! { "lease_token": { "$exists": false } },
                doc! { "lease_token": { "$lte": token } },
            ],
        );
    }
}

/// How long after its import an earlier bot's read position is used: a server first read
/// later than that starts as any new server does (history quiet, new lines posted), rather
/// than announcing everything written since the earlier bot stopped.
pub const EARLIER_POSITION_FOR_SECS: i64 = 3 * 24 * 3600;

/// The slot of a server's first killfeed folder (and of the only one, for earlier
/// builds); every other folder has a slot of its own, `killfeed:<folder>`.
pub const PRIMARY_KILLFEED: &str = "killfeed";

/// Applies killfeed batches to the statistics with the pending/commit protocol.
pub struct StoreSink<'a> {
    pub guild_id: u64,
    pub server_id: &'a str,
    /// Where this folder's state is kept ([`PRIMARY_KILLFEED`] or `killfeed:<folder>`).
    pub slot: String,
    pub stats: &'a StatsStore,
    pub cursors: &'a CursorStore,
    /// Where the lines a batch counted are announced (none for offline use).
    pub outbox: Option<&'a crate::outbox::Outbox>,
    /// Pays live kills to the killers' linked users (none without the economy's tier).
    pub rewards: Option<&'a crate::kill_rewards::KillRewards>,
    /// This worker's lease token for the server, fencing every cursor write.
    pub fence: Option<i64>,
    /// A backfill was asked for: what the folder holds now is history (counted, not
    /// announced), as is everything on a server's first read.
    pub backfill: bool,
    /// Files written since then (Unix seconds) are read again this poll
    /// (`/historical_parse days`): quietly, and the lines already counted are dropped by
    /// their identities, so only what was missed is counted.
    pub read_again_since: Option<i64>,
    /// The guild's tier has the delayed killfeed: the server's delay, if it set one,
    /// holds what a batch announces ([`crate::delayed_killfeed`]).
    pub delays_posts: bool,
    pub state: KillfeedState,
    pub totals: BatchOutcome,
    /// Lines counted but not announced (history), this poll.
    pub quiet_lines: u64,
    /// Bytes of an interrupted batch found unreadable, this poll.
    pub lost_bytes: u64,
    /// `state` changed without a batch to save it with.
    unsaved: bool,
    /// This poll placed history's end where the earlier bot stopped reading.
    earlier_found: bool,
    /// The newest file of the folder as this poll listed it: the one being written, whose
    /// mtime tells the game server's clock.
    newest: Option<String>,
}

impl<'a> StoreSink<'a> {
    pub async fn open(
        guild_id: u64,
        server_id: &'a str,
        stats: &'a StatsStore,
        cursors: &'a CursorStore,
    ) -> Result<Self, mongodb::error::Error> {
        let state = cursors.load(guild_id, server_id).await?;
        Ok(Self::with_state(
            guild_id,
            server_id,
            PRIMARY_KILLFEED.to_owned(),
            state,
            stats,
            cursors,
        ))
    }

    /// One sink per killfeed folder of a server, in the order of `dirs` (then one per slot
    /// of a folder not listed now that holds an interrupted batch, to finish it only),
    /// each with its own cursor and all drawing batch numbers from one sequence (statistics accept only
    /// a higher batch than the last that changed them). The first folder keeps the slot
    /// earlier builds used for their only folder. Every interrupted batch must be
    /// recovered ([`StoreSink::recover`]) before any folder reads new lines, and each sink
    /// continues the numbers of the one before ([`StoreSink::continue_after`]).
    pub async fn open_folders(
        guild_id: u64,
        server_id: &'a str,
        dirs: &[String],
        fence: Option<i64>,
        stats: &'a StatsStore,
        cursors: &'a CursorStore,
    ) -> Result<Vec<Self>, OpenFoldersError> {
        // Every killfeed slot of the server, listed this time or not: batch numbers go on
        // from the highest of them all.
        let loaded = cursors.load_killfeed_slots(guild_id, server_id).await?;
        Self::from_slots(guild_id, server_id, dirs, fence, loaded, stats, cursors)
    }

    /// [`StoreSink::open_folders`] from slots already loaded (a lease holder keeps them
    /// between polls: every change it makes is also written, fenced by its token).
    pub fn from_slots(
        guild_id: u64,
        server_id: &'a str,
        dirs: &[String],
        fence: Option<i64>,
        loaded: KillfeedSlots,
        stats: &'a StatsStore,
        cursors: &'a CursorStore,
    ) -> Result<Vec<Self>, OpenFoldersError> {
        if let (Some(mine), Some(theirs)) = (fence, loaded.lease_token)
            && theirs > mine
        {
            // A newer holder fenced the server: this worker must not create folder slots
            // or number batches any more.
            return Err(OpenFoldersError::Fenced);
        }
        let mut states = loaded.states;
        let primary = states.remove(PRIMARY_KILLFEED).unwrap_or_default();
        let primary_dir = primary.folder.clone().or_else(|| dirs.first().cloned());
        // A folder that appears on a server this build has already read holds live lines.
        // States of earlier builds (no folder recorded) read only the first folder: the
        // others' lines are history to this build.
        let server_read = primary.folder.is_some() && (primary.listed || primary.cursor.is_some())
            || states
                .values()
                .any(|s| s.folder.is_some() && (s.listed || s.cursor.is_some()));
        // Where the earlier bot stopped applies to every folder (it read them all by file
        // name): each finds it in its own files on its first read.
        let earlier = primary.earlier_bot.clone().filter(|_| !server_read);
        let mut primary = Some(primary);
        let floor = next_batch_floor(states.values().chain(primary.iter()));
        let mut sinks = Vec::with_capacity(dirs.len());
        for dir in dirs {
            let (slot, mut state) = match primary_dir.as_ref() == Some(dir) {
                true => (
                    PRIMARY_KILLFEED.to_owned(),
                    primary.take().unwrap_or_default(),
                ),
                false => {
                    let slot = folder_slot(dir);
                    let state = states.remove(&slot).unwrap_or_default();
                    (slot, state)
                }
            };
            let before = state.clone();
            state.folder = Some(dir.clone());
            state.next_batch = state.next_batch.max(floor);
            state.listed |= server_read;
            if !state.listed && state.cursor.is_none() && state.earlier_bot.is_none() {
                state.earlier_bot = earlier.clone();
            }
            let mut sink = Self::with_state(guild_id, server_id, slot, state, stats, cursors);
            // What was worked out here is written too (by `settle`, if no batch does), so
            // a holder that keeps these states and a later reader of MongoDB agree.
            sink.unsaved = sink.state != before;
            sinks.push(sink);
        }
        // A slot whose folder is not listed now (gone, renamed, unreadable) but holds an
        // interrupted batch: a sink of its own, after the folders', to finish that batch
        // (what is left of its ranges; the rest counted as lost) and never to read. Left
        // waiting, its batch number would be drawn again by a listed folder.
        let unlisted = primary
            .take()
            .map(|p| (PRIMARY_KILLFEED.to_owned(), p))
            .into_iter()
            .chain(states)
            .filter(|(_, s)| s.pending.is_some());
        for (slot, state) in unlisted {
            sinks.push(Self::with_state(
                guild_id, server_id, slot, state, stats, cursors,
            ));
        }
        Ok(sinks)
    }

    /// The sink kills recorded by hand are counted through ([`StoreSink::record_kills`]):
    /// the server's first killfeed slot, numbering after every slot's batches. Refused
    /// while a slot has an interrupted batch read from the game server (it is finished
    /// first, by the next poll); an interrupted batch of recorded kills in the first slot
    /// is finished by [`StoreSink::finish_recorded`].
    pub fn for_recording(
        guild_id: u64,
        server_id: &'a str,
        fence: i64,
        loaded: KillfeedSlots,
        stats: &'a StatsStore,
        cursors: &'a CursorStore,
    ) -> Result<Self, OpenFoldersError> {
        if loaded.lease_token.is_some_and(|theirs| theirs > fence) {
            return Err(OpenFoldersError::Fenced);
        }
        if let Some((slot, _)) = loaded.states.iter().find(|(slot, s)| {
            s.pending
                .as_ref()
                .is_some_and(|p| slot.as_str() != PRIMARY_KILLFEED || !p.is_recorded())
        }) {
            return Err(OpenFoldersError::PendingElsewhere(slot.clone()));
        }
        let floor = next_batch_floor(loaded.states.values());
        let mut states = loaded.states;
        let mut state = states.remove(PRIMARY_KILLFEED).unwrap_or_default();
        state.next_batch = state.next_batch.max(floor);
        let mut sink = Self::with_state(
            guild_id,
            server_id,
            PRIMARY_KILLFEED.to_owned(),
            state,
            stats,
            cursors,
        );
        sink.fence = Some(fence);
        Ok(sink)
    }

    /// The next batch number after every sink's: where reading goes on once interrupted
    /// batches are finished.
    pub fn next_batch_of(sinks: &[StoreSink<'_>]) -> i64 {
        sinks.iter().map(|s| s.state.next_batch).max().unwrap_or(1)
    }

    fn with_state(
        guild_id: u64,
        server_id: &'a str,
        slot: String,
        state: KillfeedState,
        stats: &'a StatsStore,
        cursors: &'a CursorStore,
    ) -> Self {
        Self {
            guild_id,
            server_id,
            slot,
            stats,
            cursors,
            outbox: None,
            rewards: None,
            fence: None,
            backfill: false,
            read_again_since: None,
            delays_posts: false,
            state,
            totals: BatchOutcome::default(),
            quiet_lines: 0,
            lost_bytes: 0,
            unsaved: false,
            earlier_found: false,
            newest: None,
        }
    }

    /// Saves what [`KillfeedSink::listed`] learnt when no batch saved it (a first listing
    /// that found nothing to read).
    pub async fn settle(&mut self) -> Result<(), mongodb::error::Error> {
        if self.unsaved {
            self.save().await?;
            self.unsaved = false;
        }
        Ok(())
    }

    /// Finishes a batch a crash interrupted, re-reading exactly its ranges. A range that
    /// can no longer be read whole (its file shrank, was replaced or is gone) is settled:
    /// its complete lines still there are applied, the rest is counted in `lost_bytes`
    /// (shown by `/csv_status`), and reading goes on. Waiting for the bytes to come back
    /// would block the server for good.
    pub async fn recover<S: ByteSource>(&mut self, source: &S) -> Result<(), RecoverError> {
        let Some(p) = self.state.pending.clone() else {
            return Ok(());
        };
        // Rewards fixed before the crash are paid first, whether or not the game server
        // can be read now: the accounts may already hold part of them, and remember the
        // batch's key only for so many later changes.
        if let (Some(r), Some(prepared)) = (self.rewards, &p.rewards) {
            r.pay_fixed(self.guild_id, self.server_id, p.batch, prepared)
                .await?;
        }
        let mut p = p;
        let mut reads = Vec::with_capacity(p.ranges.len());
        let mut short = Vec::new();
        // The batch's last file may have been replaced by one as long or longer: its first
        // bytes tell (when the cursor knows them). Its old lines can then not be re-read.
        let last = p.ranges.len().saturating_sub(1);
        let replaced = match (p.ranges.last(), &p.cursor) {
            (Some(r), Some(cursor)) if cursor.head_len > 0 && r.recorded.is_none() => {
                let len = usize::try_from(cursor.head_len).unwrap_or(usize::MAX);
                match source.read_at(&r.path, 0, len).await {
                    Ok(head) => head.len() != len || head_hash(&head) != cursor.head_hash,
                    Err(e) if e.kind == tower_ingest::source::SourceErrorKind::NotFound => true,
                    Err(e) => return Err(e.into()),
                }
            }
            _ => false,
        };
        for (i, r) in p.ranges.iter().enumerate() {
            // A stored range is data from outside this process: never trust its order.
            let Some(range) = r.to.checked_sub(r.from) else {
                return Err(RecoverError::BadRange {
                    path: r.path.clone(),
                });
            };
            let len = usize::try_from(range).unwrap_or(usize::MAX);
            if let Some(kill) = &r.recorded {
                reads.push(kill.line.clone().into_bytes());
                continue;
            }
            let bytes = match source.read_at(&r.path, r.from, len).await {
                Ok(_) if replaced && i == last => Vec::new(),
                Ok(bytes) => bytes,
                Err(e) if e.kind == tower_ingest::source::SourceErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(e.into()),
            };
            if (bytes.len() as u64) < range {
                short.push(reads.len());
            }
            reads.push(bytes);
        }
        let batch: Vec<Chunk<'_>> = p
            .ranges
            .iter()
            .zip(&reads)
            .enumerate()
            .map(|(i, (r, bytes))| {
                // What is left of a short range ends wherever its last complete line does.
                let at_eof = r.at_eof && !short.contains(&i);
                let mut chunk = parse_killfeed_chunk(&r.path, bytes, r.from, at_eof);
                chunk.recorded = r.recorded.as_ref().and_then(RecordedKill::recorded);
                chunk
            })
            .collect();
        let lost: u64 = p
            .ranges
            .iter()
            .zip(&batch)
            .map(|(r, c)| (r.to - r.from).saturating_sub(c.consumed as u64))
            .fold(0, u64::saturating_add);
        if lost > 0 {
            self.state.lost_bytes = self.state.lost_bytes.saturating_add(lost);
            self.lost_bytes = lost;
        }
        // Settled short: reading goes on from what was really read of the last file (its
        // start, when it was replaced), not from where the batch meant to end.
        if let (true, Some(r), Some(c), Some(cursor)) = (
            short.contains(&last),
            p.ranges.last(),
            batch.last(),
            p.cursor.as_mut(),
        ) {
            cursor.offset = if replaced {
                0
            } else {
                r.from + c.consumed as u64
            };
        }
        self.finish(&batch, p).await?;
        Ok(())
    }

    /// Step 2: applies the batch and commits the cursor past it.
    pub async fn finish(
        &mut self,
        batch: &[Chunk<'_>],
        pending: PendingBatch,
    ) -> Result<(), mongodb::error::Error> {
        let at = BatchRef {
            guild_id: self.guild_id,
            server_id: self.server_id,
            batch: pending.batch,
        };
        let quiet = self.state.quiet_until.as_ref();
        // Kills recorded by hand move no cursor and are always announced; the earlier
        // bot's records imported are history, whoever finishes their batch.
        let imported = pending
            .ranges
            .iter()
            .any(|r| r.recorded.as_ref().is_some_and(|k| k.imported));
        let history = imported
            || quiet
                .zip(pending.cursor.as_ref())
                .is_some_and(|(q, c)| q.covers(c));
        // Kills pay their killers as read before the batch was applied (live kills, and
        // history where the guild pays it); read now only for a batch recorded without.
        // A kill recorded by hand pays nothing: money comes from the game's own lines.
        let recorded = pending.ranges.iter().any(|r| r.recorded.is_some());
        let rewards = match (self.rewards, pending.rewards) {
            _ if recorded => None,
            (Some(r), Some(prepared)) => Some((r, prepared)),
            (Some(r), None) if !history => r
                .prepare(self.guild_id, self.server_id, batch, false)
                .await?
                .map(|prepared| (r, prepared)),
            _ => None,
        };
        let outcome = match history {
            true => self.stats.apply_history_batch(at, batch).await?,
            false => self.stats.apply_batch(at, batch).await?,
        };
        if quiet
            .zip(pending.cursor.as_ref())
            .is_some_and(|(q, c)| q.reached_by(c))
        {
            self.state.quiet_until = None;
        }
        // Paid before the notices are stored, so a kill post shows what it paid; a batch
        // finished after a crash pays again under the same line ids: once.
        let payouts = match rewards {
            Some((r, mut prepared)) => {
                if prepared.credits.is_none() {
                    let credits =
                        KillRewards::credits(batch, &outcome.kept, &prepared, pending.batch);
                    let paying = !credits.is_empty();
                    prepared.credits = Some(credits);
                    // Kept with the pending batch before any account changes: a batch
                    // finished again pays these, whatever it reads again. Only they are
                    // written: the rest of the state is committed with the batch.
                    if paying && let Some(p) = self.state.pending.as_mut() {
                        p.rewards = Some(prepared.clone());
                        self.cursors
                            .save_pending_rewards(
                                self.guild_id,
                                self.server_id,
                                &self.slot,
                                pending.batch,
                                &prepared,
                                self.fence,
                            )
                            .await?;
                    }
                }
                r.pay(
                    self.guild_id,
                    self.server_id,
                    pending.batch,
                    batch,
                    &outcome.kept,
                    &prepared,
                )
                .await?
            }
            None => crate::kill_rewards::Payouts::default(),
        };
        if !history && let Some(outbox) = self.outbox {
            let mut notices = crate::outbox::Outbox::kill_notices(
                self.guild_id,
                self.server_id,
                batch,
                &outcome.kept,
                &payouts.paid,
            );
            // Faction tags and friendly kills, as the factions stand when it is read.
            crate::factions::Factions::new(self.stats.database())
                .mark_kills(self.guild_id, self.server_id, &mut notices)
                .await?;
            notices.extend(payouts.bounties);
            let rivalry_posts = crate::rivalry_posts::RivalryPosts::new(self.stats.database());
            let rivalries = rivalry_posts
                .notices(
                    self.guild_id,
                    self.server_id,
                    pending.batch,
                    batch,
                    &outcome.kept,
                )
                .await?;
            let announced = crate::rivalry_posts::RivalryPosts::announcing(&rivalries);
            notices.extend(rivalries);
            notices.extend(
                crate::highlights::Highlights::new(self.stats.database())
                    .notices(
                        self.guild_id,
                        self.server_id,
                        pending.batch,
                        batch,
                        &outcome.kept,
                    )
                    .await?,
            );
            // A server with a killfeed delay has its posts held until they are due.
            let held = crate::delayed_killfeed::HeldPosts::new(self.stats.database());
            let delay = match self.delays_posts && !notices.is_empty() {
                false => 0,
                true => held.delay_of(self.guild_id, self.server_id).await?,
            };
            if delay > 0 {
                held.hold(notices, delay).await?;
            } else {
                outbox.add(notices).await?;
            }
            rivalry_posts.remember_announced(&announced).await?;
        }
        self.totals.counted += outcome.counted;
        self.totals.duplicates += outcome.duplicates;
        self.totals.documents += outcome.documents;
        if let Some(cursor) = pending.cursor {
            self.state.cursor = Some(cursor);
        }
        self.state.next_batch = pending.batch + 1;
        self.state.pending = None;
        self.save().await?;
        // Counted once the batch is committed: a retried batch is not counted twice.
        if history {
            self.quiet_lines += outcome.kept.len() as u64;
        }
        Ok(())
    }
}

impl KillfeedSink for StoreSink<'_> {
    type Error = mongodb::error::Error;

    fn history_end(&self) -> Option<&ReadPoint> {
        self.state.quiet_until.as_ref()
    }

    fn earlier_position(&self) -> Option<&EarlierPosition> {
        let now = mongodb::bson::DateTime::now().timestamp_millis() / 1000;
        self.state.earlier_bot.as_ref().filter(|p| {
            !self.state.listed
                && self.state.cursor.is_none()
                && now.saturating_sub(p.recorded_unix) <= EARLIER_POSITION_FOR_SECS
        })
    }

    fn earlier_position_found(&mut self, point: ReadPoint) {
        self.state.earlier_bot = None;
        self.state.quiet_until = Some(point);
        self.earlier_found = true;
        self.unsaved = true;
    }

    /// A first listing marks what the folder holds as history; a backfill, the files
    /// before the newest (whole days gone by: the newest file's new lines are live).
    fn listed(&mut self, files: &[FileMeta], cursor: Option<&FileCursor>) {
        self.newest = files.last().map(|f| f.name.clone());
        // History that ends in a file named after every file there is (one named in the
        // future, since deleted) would never end: it ends with what the folder holds.
        if let (Some(q), Some(last)) = (&self.state.quiet_until, files.last())
            && q.file > last.name
        {
            self.state.quiet_until = Some(ReadPoint {
                file: last.name.clone(),
                offset: last.size,
            });
            self.unsaved = true;
        }
        let first = !self.state.listed && self.state.cursor.is_none();
        // History ends where the earlier bot stopped, found just before.
        let earlier = first && self.earlier_found;
        if !earlier && (first || self.backfill) {
            let end = match first {
                true => files.last().map(|f| ReadPoint {
                    file: f.name.clone(),
                    offset: f.size,
                }),
                false => files.last().map(|f| ReadPoint {
                    file: f.name.clone(),
                    offset: 0,
                }),
            };
            let unread = end
                .as_ref()
                .is_some_and(|e| cursor.is_none_or(|c| !e.reached_by(c)));
            // History only grows: lines it already holds (a first read's, the earlier
            // bot's, a re-read's) stay unannounced.
            if unread && self.state.quiet_until < end {
                self.state.quiet_until = end;
                self.unsaved = true;
            }
        }
        if !self.state.listed {
            self.state.listed = true;
            self.unsaved = true;
        }
    }

    /// A re-read goes back to the first file written since it asks, when that file was
    /// read already; what was read before is history again: counted where missed, never
    /// announced, paid only where the guild pays history.
    fn read_again_from(
        &mut self,
        files: &[FileMeta],
        cursor: Option<&FileCursor>,
    ) -> Option<FileCursor> {
        let since = self.read_again_since?;
        // Nothing read yet, or every recent file still unread: this poll reads them anyway.
        let cursor = cursor?;
        let first = tower_ingest::cursor::first_written_since(files, since)?;
        if first.name > cursor.file {
            return None;
        }
        let read = Some(ReadPoint {
            file: cursor.file.clone(),
            offset: cursor.offset,
        });
        if self.state.quiet_until < read {
            self.state.quiet_until = read;
            self.unsaved = true;
        }
        Some(FileCursor {
            file: first.name.clone(),
            ..FileCursor::default()
        })
    }

    async fn apply(&mut self, batch: &[Chunk<'_>], cursor: &FileCursor) -> Result<(), Self::Error> {
        let pending = self.begin(batch, cursor).await?;
        self.finish(batch, pending).await
    }
}

impl StoreSink<'_> {
    /// Writes the killfeed state, fenced by this worker's lease token.
    async fn save(&self) -> Result<(), mongodb::error::Error> {
        self.cursors
            .save_slot(
                self.guild_id,
                self.server_id,
                &self.slot,
                &self.state,
                self.fence,
            )
            .await
    }

    /// Step 1: records the batch's exact ranges as pending, durably, with what its kill
    /// rewards are computed from (read before the batch changes the killers' streaks).
    pub async fn begin(
        &mut self,
        batch: &[Chunk<'_>],
        cursor: &FileCursor,
    ) -> Result<PendingBatch, mongodb::error::Error> {
        let history = self
            .state
            .quiet_until
            .as_ref()
            .is_some_and(|q| q.covers(cursor));
        // The file the cursor is in is the batch's last: its newest line was written at its
        // mtime (when the batch read it to its end), if it is the file being written (an
        // older one may have been copied in late, with a new mtime).
        let newest = batch
            .last()
            .and_then(|c| c.events.iter().map(|line| line.at).max());
        if let Some(newest) = newest
            && cursor.offset >= cursor.size
            && cursor.mtime > 0
            && self.newest.as_ref().is_none_or(|f| *f == cursor.file)
        {
            self.state.clock_ahead = Some(newest - cursor.mtime);
        }
        let rewards = match self.rewards {
            Some(r) => r
                .prepare(self.guild_id, self.server_id, batch, history)
                .await?
                .map(|mut prepared| {
                    prepared.read_at = mongodb::bson::DateTime::now().timestamp_millis() / 1000;
                    prepared.clock_ahead = self.state.clock_ahead.unwrap_or(0);
                    prepared
                }),
            None => None,
        };
        let pending = PendingBatch {
            batch: self.state.next_batch,
            ranges: batch
                .iter()
                .map(|c| PendingRange {
                    path: c.path.clone(),
                    from: c.from,
                    to: c.from + c.consumed as u64,
                    at_eof: c.at_eof,
                    recorded: None,
                })
                .collect(),
            cursor: Some(cursor.clone()),
            rewards,
        };
        self.state.pending = Some(pending.clone());
        self.save().await?;
        Ok(pending)
    }
}

impl StoreSink<'_> {
    /// Counts kills an admin recorded by hand as one batch of their own, numbered after
    /// every batch read so far, with the same pending/commit protocol as a batch read from
    /// the game server: the lines are kept in the pending record, so a crash mid-way
    /// finishes them once ([`StoreSink::recover`]). Returns how many lines were new (a
    /// line already counted, say a retried request, counts 0).
    pub async fn record_kills(
        &mut self,
        kills: Vec<RecordedKill>,
    ) -> Result<u64, mongodb::error::Error> {
        // Recorded kills cut short before are finished first, under their own number.
        self.finish_recorded().await?;
        let pending = PendingBatch {
            batch: self.state.next_batch,
            ranges: kills
                .into_iter()
                .map(|kill| PendingRange {
                    path: match kill.imported {
                        true => IMPORTED_PATH,
                        false => RECORDED_PATH,
                    }
                    .to_owned(),
                    from: 0,
                    to: kill.line.len() as u64,
                    at_eof: true,
                    recorded: Some(kill),
                })
                .collect(),
            cursor: None,
            rewards: None,
        };
        self.state.pending = Some(pending);
        self.save().await?;
        let before = self.totals.counted;
        self.finish_recorded().await?;
        Ok(self.totals.counted - before)
    }

    /// Finishes an interrupted batch of kills recorded by hand, from the lines its
    /// pending record keeps (no folder is read); nothing when there is none.
    pub async fn finish_recorded(&mut self) -> Result<(), mongodb::error::Error> {
        let Some(pending) = self.state.pending.clone().filter(PendingBatch::is_recorded) else {
            return Ok(());
        };
        let batch: Vec<Chunk<'_>> = pending
            .ranges
            .iter()
            .filter_map(|r| {
                let kill = r.recorded.as_ref()?;
                let mut chunk = parse_killfeed_chunk(&r.path, kill.line.as_bytes(), 0, true);
                chunk.recorded = kill.recorded();
                Some(chunk)
            })
            .collect();
        self.finish(&batch, pending.clone()).await
    }
}

/// The lowest batch number every slot of a server may still use: batch numbers go on
/// from the highest of them all.
fn next_batch_floor<'s>(states: impl Iterator<Item = &'s KillfeedState>) -> i64 {
    states.map(|s| s.next_batch).max().unwrap_or(1).max(1)
}

/// The path kills recorded by hand are shown under where a line's file is named.
pub const RECORDED_PATH: &str = "recorded by hand";

/// The path lines imported from the earlier bot's kill records are shown under.
pub const IMPORTED_PATH: &str = "the earlier bot's records";

impl CursorStore {
    /// The killfeed line of a `/rivalry record_kill` request: `line` the first time it is
    /// asked, what that first attempt stored every time after. A request retried on
    /// another worker (its reply lost) is the same line, so it counts once, whatever clock
    /// the second worker reads.
    pub async fn recorded_line(
        &self,
        guild_id: u64,
        server_id: &str,
        request_id: &str,
        line: &str,
    ) -> Result<String, mongodb::error::Error> {
        let stored = self
            .recorded
            .find_one_and_update(
                doc! { "_id": format!("{guild_id}:{server_id}:{request_id}") },
                doc! { "$setOnInsert": {
                    "line": line,
                    "at": mongodb::bson::DateTime::now(),
                    "schema_version": SCHEMA_VERSION,
                } },
            )
            .upsert(true)
            .return_document(mongodb::options::ReturnDocument::After)
            .await?;
        Ok(stored
            .as_ref()
            .and_then(|d| d.get_str("line").ok())
            .unwrap_or(line)
            .to_owned())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error("reading the interrupted batch again: {0}")]
    Source(#[from] tower_ingest::source::SourceError),
    #[error("the interrupted batch's record for {path} ends before it starts; it is refused")]
    BadRange { path: String },
    #[error("database: {0}")]
    Db(#[from] mongodb::error::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_batch_of_one_file_stored_inline_is_still_read() {
        let cursor = doc! { "file": "b.csv", "offset": 90i64, "size": 90i64, "mtime": 0i64, "head_hash": "", "head_len": 0i64 };
        let inline = doc! { "batch": 7i64, "path": "k/b.csv", "from": 10i64, "to": 90i64, "at_eof": false, "cursor": cursor.clone() };
        let read: PendingBatch = match mongodb::bson::deserialize_from_document(inline) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        let range = PendingRange {
            path: "k/b.csv".to_owned(),
            from: 10,
            to: 90,
            at_eof: false,
            recorded: None,
        };
        assert_eq!((read.batch, read.ranges.clone()), (7, vec![range]));

        // And a batch of several files round-trips.
        let mut read = read;
        read.ranges.insert(
            0,
            PendingRange {
                path: "k/a.csv".to_owned(),
                from: 500,
                to: 800,
                at_eof: true,
                recorded: None,
            },
        );
        let stored = match to_bson(&read) {
            Ok(mongodb::bson::Bson::Document(d)) => d,
            other => panic!("{other:?}"),
        };
        let again: PendingBatch = match mongodb::bson::deserialize_from_document(stored) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(again, read);

        // A kill recorded by hand keeps its line and moves no cursor.
        let recorded = PendingBatch {
            batch: 9,
            ranges: vec![PendingRange {
                path: RECORDED_PATH.to_owned(),
                from: 0,
                to: 3,
                at_eof: true,
                recorded: Some(RecordedKill {
                    line: "a;b".to_owned(),
                    by: "1".to_owned(),
                    location: None,
                    imported: false,
                }),
            }],
            cursor: None,
            rewards: None,
        };
        let stored = match to_bson(&recorded) {
            Ok(mongodb::bson::Bson::Document(d)) => d,
            other => panic!("{other:?}"),
        };
        match mongodb::bson::deserialize_from_document::<PendingBatch>(stored) {
            Ok(again) => assert_eq!(again, recorded),
            Err(e) => panic!("{e}"),
        }

        // A record with no readable range is an error, not an empty batch.
        let broken = doc! { "batch": 8i64, "path": "k/b.csv", "from": "ten", "cursor": cursor };
        assert!(mongodb::bson::deserialize_from_document::<PendingBatch>(broken).is_err());
    }
}
