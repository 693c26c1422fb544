//! Killfeed statistics in MongoDB, written exactly once per line.
//!
//! A batch (the lines between two cursor positions) is applied in two steps:
//! 1. its lines go into `kills`, each with its identity, in time order and up to
//!    [`LINES_PER_DOCUMENT`] within a day to a document that records its time span and
//!    batch. The documents whose span can hold the batch's times are read first: a line already stored by an
//!    *earlier* batch is a replay or an overlap and is dropped; one stored by an earlier
//!    attempt of the *same* batch (a crash mid-batch) is kept. A line always has the same
//!    time, so it can only be stored in a document whose span holds that time. Malformed
//!    lines (no time) are counted per batch in one document, with a few as examples.
//! 2. one server-side update per document touched (player, weapon per player, matchup,
//!    rivalry, weapon, pair of platforms, server, and the hour and day of
//!    [`crate::windows`]) adds the batch's [`BatchDelta`]. Each update only matches while
//!    the document's `last_batch` is below this batch's number, so retrying a batch after
//!    a crash skips the documents it already changed and completes the rest.
//!
//! Nothing is read-modified-written by the client: counts, streaks and maxima are computed
//! by MongoDB from the stored values (the same formulas as [`tower_ingest::stats`]). The caller
//! numbers batches per server and commits its cursor after [`StatsStore::apply_batch`].
//! A batch's updates go as one `update` command per collection (eight round trips
//! whatever the batch size).
//! Document ids are strings (`guild:server:…`; guild and server ids are digits and EOS ids
//! fixed-width hex, so they cannot run into each other): compact, and fast on every
//! MongoDB-wire server (compound-document `_id`s were 35x slower on SecantusDB).

use std::collections::{BTreeMap, HashMap, HashSet};

use futures_util::TryStreamExt;
use mongodb::Collection;
use mongodb::bson::{Bson, DateTime, Document, doc};
use mongodb::error::Error as MongoError;
use mongodb::options::InsertManyOptions;

use crate::db::{Database, already_stored, collections};
use crate::schema::SCHEMA_VERSION;
use tower_ingest::ingest::{Chunk, Recorded, batch_events, batch_recorded};
use tower_ingest::killfeed::{KillfeedEvent, KillfeedLine, line_id};
use tower_ingest::stats::{
    BatchDelta, LongestKill, PlayerDelta, PlayerStats, Runs, ServerStats, Suicides, WeaponTotals,
};

/// Malformed lines kept as examples per batch.
const MALFORMED_SAMPLE: usize = 5;
/// Characters of a malformed line kept in an example.
const SAMPLE_CHARS: usize = 200;
/// Malformed lines per server whose identities are kept, so a line read again counts once.
const MALFORMED_REMEMBERED: usize = 10_000;

/// A game server's statistics in MongoDB.
#[derive(Clone)]
pub struct StatsStore {
    db: Database,
    kills: Collection<Document>,
    players: Collection<Document>,
    player_weapons: Collection<Document>,
    matchups: Collection<Document>,
    weapons: Collection<Document>,
    servers: Collection<Document>,
}

/// What applying a batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Malformed lines this batch counted (each once, like kills).
    pub malformed: u64,
    /// The lines this batch counted, as (index in [`batch_events`] order, line id): what
    /// to notify, with the id already computed.
    pub kept: Vec<(usize, String)>,
    /// Lines counted by this batch.
    pub counted: u64,
    /// Lines dropped because an earlier batch had counted them.
    pub duplicates: u64,
    /// Documents updated (or created).
    pub documents: u64,
}

/// Which server, and which batch of its lines.
#[derive(Debug, Clone, Copy)]
pub struct BatchRef<'a> {
    pub guild_id: u64,
    pub server_id: &'a str,
    /// Per server, strictly increasing from 1.
    pub batch: i64,
}

impl StatsStore {
    /// The database the statistics are kept in.
    pub fn database(&self) -> &Database {
        &self.db
    }

    pub fn new(db: &Database) -> Self {
        let raw = db.raw();
        Self {
            db: db.clone(),
            kills: raw.collection(collections::KILLS),
            players: raw.collection(collections::PLAYER_STATS),
            player_weapons: raw.collection(collections::PLAYER_WEAPONS),
            matchups: raw.collection(collections::MATCHUPS),
            weapons: raw.collection(collections::WEAPON_STATS),
            servers: raw.collection(collections::SERVER_STATS),
        }
    }

    /// Records a batch's lines (its chunks, in reading order) and adds them to the
    /// statistics; safe to call again with the same batch after any failure.
    pub async fn apply_batch(
        &self,
        at: BatchRef<'_>,
        batch: &[Chunk<'_>],
    ) -> Result<BatchOutcome, MongoError> {
        self.apply(at, batch, Order::Live).await
    }

    /// [`StatsStore::apply_batch`] for a batch of history (a first read, a backfill, a
    /// re-read of recent days): for a player it names only in lines older than their
    /// newest counted one (a file that appeared late), it leaves the current streaks and
    /// platform alone, and its own runs count toward the best. Only history: a live
    /// batch older by the game's clock (the clock set back) still follows on.
    pub async fn apply_history_batch(
        &self,
        at: BatchRef<'_>,
        batch: &[Chunk<'_>],
    ) -> Result<BatchOutcome, MongoError> {
        self.apply(at, batch, Order::History).await
    }

    async fn apply(
        &self,
        at: BatchRef<'_>,
        batch: &[Chunk<'_>],
        order: Order,
    ) -> Result<BatchOutcome, MongoError> {
        let guild = at.guild_id.to_string();
        let mut outcome = BatchOutcome::default();
        let kept = self.record_lines(at, &guild, batch, &mut outcome).await?;
        let mut delta = BatchDelta::from_events(kept.iter().map(|(_, _, e)| *e));
        delta.totals.malformed_lines = outcome.malformed;
        let periods = crate::windows::statements(
            &guild,
            at.server_id,
            at.batch,
            kept.iter().map(|(_, _, e)| *e),
        );
        outcome.kept = kept.into_iter().map(|(i, id, _)| (i, id)).collect();
        if delta.is_empty() {
            return Ok(outcome);
        }
        // A batch of a kill recorded by hand: its pairs' last kill says so.
        let by_hand = match batch {
            [chunk] => chunk.recorded.as_ref(),
            _ => None,
        };
        let mut updates = self.updates(at, &guild, &delta, (by_hand, order));
        // Before the server's totals, which stay the batch's last write.
        updates.insert(
            updates.len().saturating_sub(1),
            (collections::PERIOD_TOTALS, periods),
        );
        for (collection, statements) in updates {
            outcome.documents += statements.len() as u64;
            for part in statements.chunks(UPDATES_PER_COMMAND) {
                self.run_updates(collection, part).await?;
            }
        }
        Ok(outcome)
    }

    /// Step 1: store the lines; returns the events this batch counts, with their index
    /// and id.
    async fn record_lines<'c, 'a>(
        &self,
        at: BatchRef<'_>,
        guild: &str,
        batch: &'c [Chunk<'a>],
        outcome: &mut BatchOutcome,
    ) -> Result<Vec<(usize, String, &'c KillfeedLine<'a>)>, MongoError> {
        let mut lines = Vec::with_capacity(batch.iter().map(|c| c.events.len()).sum());
        let mut in_batch = HashSet::with_capacity(lines.capacity());
        for (i, (event, raw)) in batch_events(batch).enumerate() {
            let id = line_id(at.guild_id, at.server_id, raw);
            // The same line twice within one batch counts once, too.
            if !in_batch.insert(id.clone()) {
                outcome.duplicates += 1;
                continue;
            }
            lines.push((i, id, event));
        }
        let stored = self.stored_batches(at, guild, &lines, &in_batch).await?;
        let mut kept = Vec::with_capacity(lines.len());
        let mut new = Vec::new();
        for (i, id, event) in lines {
            match stored.get(&id) {
                // Stored by an earlier batch: a replay or an overlap.
                Some(b) if *b != at.batch => outcome.duplicates += 1,
                // Stored by an earlier attempt of this batch: counted by this one.
                Some(_) => kept.push((i, id, event)),
                None => {
                    new.push((id.clone(), event));
                    kept.push((i, id, event));
                }
            }
        }
        // Lines recorded by hand are stored saying so, by whom and where.
        let by_hand = batch_recorded(batch);
        let recorded: HashMap<&str, &Recorded> = kept
            .iter()
            .filter_map(|(i, id, _)| Some((id.as_str(), (*by_hand.get(*i)?)?)))
            .collect();
        self.store_lines(at, guild, new, &recorded).await?;
        outcome.malformed = self.record_malformed(at, guild, batch).await?;
        outcome.counted = kept.len() as u64;
        Ok(kept)
    }

    /// Which of `lines` are stored already, and by which batch. A line is stored in a
    /// `kills` document whose span (at most a day) holds the line's time, so only the
    /// documents ending within a day after each cluster of the batch's times are read
    /// (for a batch read in order, the newest).
    async fn stored_batches(
        &self,
        at: BatchRef<'_>,
        guild: &str,
        lines: &[(usize, String, &KillfeedLine<'_>)],
        in_batch: &HashSet<String>,
    ) -> Result<HashMap<String, i64>, MongoError> {
        let mut stored: HashMap<String, i64> = HashMap::new();
        // A document holding a line of time t has from <= t <= at <= from + MAX_SPAN, so
        // for the times of one cluster, its `at` lies in [first, last + MAX_SPAN]: a
        // bounded range of the server_at index, even for a batch with a stray date.
        let ranges: Vec<Document> = time_clusters(lines.iter().map(|(_, _, e)| e.at))
            .into_iter()
            .map(|(first, last)| {
                doc! { "at": { "$gte": seconds(first), "$lte": seconds(last.saturating_add(MAX_SPAN_SECS)) } }
            })
            .collect();
        for part in ranges.chunks(RANGES_PER_QUERY) {
            self.read_stored(at, guild, part, in_batch, &mut stored)
                .await?;
        }
        Ok(stored)
    }

    /// One query of [`Self::stored_batches`]: the documents in `ranges`.
    async fn read_stored(
        &self,
        at: BatchRef<'_>,
        guild: &str,
        ranges: &[Document],
        in_batch: &HashSet<String>,
        stored: &mut HashMap<String, i64>,
    ) -> Result<(), MongoError> {
        let mut cursor = self
            .kills
            .find(doc! { "guild_id": guild, "server_id": at.server_id, "$or": ranges })
            .projection(doc! { "batch": 1, "lines.id": 1 })
            .await?;
        while let Some(d) = cursor.try_next().await? {
            // A batch number that cannot be read counts as an earlier batch's: its lines
            // are not counted again.
            let batch = get_i64(&d, "batch").unwrap_or(i64::MIN);
            let ids: Vec<&str> = match d.get_array("lines") {
                Ok(lines) => lines
                    .iter()
                    .filter_map(|l| l.as_document()?.get_str("id").ok())
                    .collect(),
                Err(_) => d.get_str("_id").into_iter().collect(),
            };
            for id in ids {
                if in_batch.contains(id) {
                    let first = stored.entry(id.to_owned()).or_insert(batch);
                    *first = (*first).min(batch);
                }
            }
        }
        Ok(())
    }

    /// Stores a batch's new lines in time order, up to [`LINES_PER_DOCUMENT`] within
    /// [`MAX_SPAN_SECS`] to a `kills` document: a few large inserts instead of one per line.
    async fn store_lines(
        &self,
        at: BatchRef<'_>,
        guild: &str,
        mut new: Vec<(String, &KillfeedLine<'_>)>,
        recorded: &HashMap<&str, &Recorded>,
    ) -> Result<(), MongoError> {
        if new.is_empty() {
            return Ok(());
        }
        new.sort_by_key(|(_, e)| e.at);
        // Consecutive lines, at most LINES_PER_DOCUMENT of them within MAX_SPAN_SECS.
        let mut parts: Vec<&[(String, &KillfeedLine<'_>)]> = Vec::new();
        let mut rest = new.as_slice();
        while let Some((head, _)) = rest.split_first() {
            let end = rest
                .iter()
                .take(LINES_PER_DOCUMENT)
                .take_while(|(_, e)| e.at.saturating_sub(head.1.at) <= MAX_SPAN_SECS)
                .count()
                .max(1);
            let (part, tail) = rest.split_at(end);
            parts.push(part);
            rest = tail;
        }
        let docs: Vec<Document> = parts
            .into_iter()
            .map(|part| {
                let (first, last) = (part[0].1.at, part[part.len() - 1].1.at);
                doc! {
                    // A retry of the batch stores only lines not stored yet, so its first
                    // line (and this id) is new too.
                    "_id": format!("{}:{}", part[0].0, at.batch),
                    "guild_id": guild,
                    "server_id": at.server_id,
                    "batch": at.batch,
                    "from": seconds(first),
                    // The newest line's time (`at`, as the `server_at` index orders kills).
                    "at": seconds(last),
                    "lines": part.iter().map(|(id, e)| Bson::Document(line_document(id, e, recorded.get(id.as_str()).copied()))).collect::<Vec<_>>(),
                    "schema_version": SCHEMA_VERSION,
                }
            })
            .collect();
        let inserted = self
            .kills
            .insert_many(docs)
            .with_options(InsertManyOptions::builder().ordered(false).build())
            .await;
        match inserted {
            // Already there: the same batch, stored by an attempt that raced this one.
            Err(e) => already_stored(&e).map(drop).ok_or(e),
            Ok(_) => Ok(()),
        }
    }

    /// Records a batch's malformed lines as one document (`guild:server:malformed:<batch>`):
    /// how many, how many of each reason, and the first [`MALFORMED_SAMPLE`] as examples —
    /// a file of garbage costs one document per batch, not one per line. A line counts
    /// once: the identities of the server's last [`MALFORMED_REMEMBERED`] malformed lines
    /// are kept (`guild:server:malformed_ids`, 8 bytes each), so a line read again (an
    /// overlapping or replaced file) is not counted again. A batch retried after a crash
    /// finds its document and counts the same. Returns how many this batch counts.
    async fn record_malformed(
        &self,
        at: BatchRef<'_>,
        guild: &str,
        batch: &[Chunk<'_>],
    ) -> Result<u64, MongoError> {
        let mut seen = HashSet::new();
        let lines: Vec<(i64, &[u8], &tower_ingest::ingest::MalformedLine)> = batch
            .iter()
            .flat_map(|c| c.malformed_raw.iter().zip(&c.malformed))
            .map(|(raw, m)| {
                let id = tower_ingest::killfeed::line_identity(at.guild_id, at.server_id, raw);
                let mut short = [0u8; 8];
                short.copy_from_slice(&id[..8]);
                (i64::from_be_bytes(short), *raw, m)
            })
            .filter(|(id, _, _)| seen.insert(*id))
            .collect();
        if lines.is_empty() {
            return Ok(0);
        }
        let batch_id = format!("{guild}:{}:malformed:{}", at.server_id, at.batch);
        let ids_id = format!("{guild}:{}:malformed_ids", at.server_id);
        let all_ids: Vec<i64> = lines.iter().map(|(id, _, _)| *id).collect();
        if let Some(earlier) = self.kills.find_one(doc! { "_id": &batch_id }).await? {
            // An earlier attempt of this batch: its count stands; its lines are remembered
            // (again, if it stopped before that).
            self.remember_malformed(&ids_id, &all_ids).await?;
            return Ok(u64::try_from(earlier.get_i64("count").unwrap_or(0)).unwrap_or(0));
        }
        let known: HashSet<i64> = self
            .kills
            .find_one(doc! { "_id": &ids_id })
            .await?
            .and_then(|d| d.get_array("ids").ok().cloned())
            .map(|ids| ids.iter().filter_map(Bson::as_i64).collect())
            .unwrap_or_default();
        let fresh: Vec<_> = lines
            .into_iter()
            .filter(|(id, _, _)| !known.contains(id))
            .collect();
        if fresh.is_empty() {
            return Ok(0);
        }
        let mut reasons: BTreeMap<String, i64> = BTreeMap::new();
        for (_, _, m) in &fresh {
            *reasons.entry(m.reason.to_string()).or_default() += 1;
        }
        let sample: Vec<Document> = fresh
            .iter()
            .take(MALFORMED_SAMPLE)
            .map(|(_, raw, m)| {
                let text = String::from_utf8_lossy(raw);
                doc! {
                    "file": &m.file,
                    "offset": i64::try_from(m.offset).unwrap_or(i64::MAX),
                    "reason": m.reason.to_string(),
                    "text": text.chars().take(SAMPLE_CHARS).collect::<String>(),
                }
            })
            .collect();
        let count = fresh.len() as u64;
        // The count first: a crash before the identities are remembered is a retry that
        // finds this document.
        self.kills
            .update_one(
                doc! { "_id": &batch_id },
                doc! { "$setOnInsert": {
                    "guild_id": guild, "server_id": at.server_id, "batch": at.batch,
                    "kind": "malformed",
                    "count": i64::try_from(count).unwrap_or(i64::MAX),
                    // When it was read (the lines carry no time of their own): a status
                    // shows today's ([`crate::stats_query::StatsQuery::unreadable_since`]).
                    "read_at": DateTime::now(),
                    "reasons": reasons.into_iter().map(|(r, n)| (r, Bson::Int64(n))).collect::<Document>(),
                    "sample": sample,
                    "schema_version": SCHEMA_VERSION,
                } },
            )
            .upsert(true)
            .await?;
        let fresh_ids: Vec<i64> = fresh.iter().map(|(id, _, _)| *id).collect();
        self.remember_malformed(&ids_id, &fresh_ids).await?;
        Ok(count)
    }

    /// Adds malformed lines' identities to the server's remembered ones (the newest
    /// [`MALFORMED_REMEMBERED`] kept).
    async fn remember_malformed(&self, ids_id: &str, ids: &[i64]) -> Result<(), MongoError> {
        let max = i32::try_from(MALFORMED_REMEMBERED).unwrap_or(i32::MAX);
        self.kills
            .update_one(
                doc! { "_id": ids_id },
                doc! {
                    "$push": { "ids": { "$each": ids, "$slice": -max } },
                    "$setOnInsert": { "kind": "malformed_ids", "schema_version": SCHEMA_VERSION },
                },
            )
            .upsert(true)
            .await?;
        Ok(())
    }

    /// Lines recorded (counted or malformed) in the `kills` documents `filter` matches
    /// (`guild_id`, `server_id`, `batch`), for checks and tests.
    pub async fn lines_recorded(&self, filter: Document) -> Result<u64, MongoError> {
        let mut cursor = self
            .kills
            .aggregate(vec![
                doc! { "$match": filter },
                // The remembered identities of malformed lines are not lines.
                doc! { "$match": { "kind": { "$ne": "malformed_ids" } } },
                doc! { "$group": { "_id": null, "n": { "$sum": { "$cond": [
                    { "$isArray": "$lines" },
                    { "$size": "$lines" },
                    // A batch's malformed lines (`count`), or one malformed line of an
                    // earlier build.
                    { "$ifNull": ["$count", 1i64] },
                ] } } } },
            ])
            .await?;
        let n = match cursor.try_next().await? {
            Some(d) => get_u64(&d, "n"),
            None => 0,
        };
        Ok(n)
    }

    /// Step 2: one guarded update per document the batch touches.
    /// Update statements per collection, in the order they are sent.
    fn updates(
        &self,
        at: BatchRef<'_>,
        guild: &str,
        delta: &BatchDelta,
        (by_hand, order): (Option<&Recorded>, Order),
    ) -> Vec<(&'static str, Vec<Document>)> {
        let b = at.batch;
        let statement = |id: Bson, update: UpdateMods| -> Document {
            let u = match update {
                UpdateMods::Pipeline(p) => Bson::Array(p.into_iter().map(Bson::Document).collect()),
                UpdateMods::Doc(d) => Bson::Document(d),
            };
            doc! { "q": { "_id": id, "last_batch": { "$lt": b } }, "u": u, "upsert": true }
        };
        let (mut players, mut player_weapons, mut matchups, mut weapons) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let scope = doc! { "guild_id": guild, "server_id": at.server_id };
        for (player, d) in &delta.players {
            let id = Bson::String(player_doc_id(guild, at.server_id, player));
            players.push(statement(
                id,
                UpdateMods::Pipeline(player_pipeline(&scope, player, d, (b, order))),
            ));
            for (weapon, n) in &d.weapons {
                let id = Bson::String(format!("{guild}:{}:{player}:{weapon}", at.server_id));
                let fields = doc! { "player_id": player, "weapon": weapon };
                player_weapons.push(statement(
                    id,
                    counter(&scope, fields, b, doc! { "$inc": { "kills": to_i64(*n) } }),
                ));
            }
        }
        for ((killer, victim), n) in &delta.matchups {
            let id = Bson::String(format!("{guild}:{}:{killer}:{victim}", at.server_id));
            let fields = doc! { "killer_id": killer, "victim_id": victim };
            matchups.push(statement(
                id,
                counter(&scope, fields, b, doc! { "$inc": { "kills": to_i64(*n) } }),
            ));
        }
        let rivalries = delta
            .rivalries
            .iter()
            .map(|((first, second), r)| {
                let id = Bson::String(format!("{guild}:{}:{first}:{second}", at.server_id));
                statement(
                    id,
                    UpdateMods::Pipeline(rivalry_pipeline(&scope, first, second, r, b, by_hand)),
                )
            })
            .collect();
        for (weapon, t) in &delta.weapons {
            let id = Bson::String(format!("{guild}:{}:{weapon}", at.server_id));
            // `distance_kills` counts the kills in `distance_sum_m`: documents written
            // before distances were summed average only the kills since.
            let mut change = doc! {
                "$inc": {
                    "kills": to_i64(t.kills),
                    "distance_sum_m": to_i64(t.distance_sum_m),
                    "distance_kills": to_i64(t.kills),
                },
                "$max": { "longest_m": i64::from(t.longest_m) },
            };
            if let Some(shortest) = t.shortest_m {
                change.insert("$min", doc! { "shortest_m": i64::from(shortest) });
            }
            weapons.push(statement(
                id,
                counter(&scope, doc! { "weapon": weapon }, b, change),
            ));
        }
        let platforms = delta
            .platform_kills
            .iter()
            .map(|((killer, victim), n)| {
                // Platforms are short words (`PS5`, `XSX`), but any text the log holds:
                // `:` escaped (and `%`, the escape) so two pairs cannot share an id.
                let part = |p: &str| p.replace('%', "%25").replace(':', "%3A");
                let id = Bson::String(format!(
                    "{guild}:{}:{}:{}",
                    at.server_id,
                    part(killer),
                    part(victim)
                ));
                let fields = doc! { "killer_platform": killer, "victim_platform": victim };
                statement(
                    id,
                    counter(&scope, fields, b, doc! { "$inc": { "kills": to_i64(*n) } }),
                )
            })
            .collect();
        let id = Bson::String(format!("{guild}:{}", at.server_id));
        let server = vec![statement(
            id,
            UpdateMods::Pipeline(server_pipeline(&scope, delta, b)),
        )];
        vec![
            (collections::PLAYER_STATS, players),
            (collections::PLAYER_WEAPONS, player_weapons),
            (collections::MATCHUPS, matchups),
            (collections::RIVALRIES, rivalries),
            (collections::WEAPON_STATS, weapons),
            (collections::PLATFORM_KILLS, platforms),
            (collections::SERVER_STATS, server),
        ]
    }

    /// One `update` command for many statements ([`Database::update_statements`]). A
    /// duplicate key from an upsert whose guard did not match means the document already
    /// has this batch: not an error.
    async fn run_updates(
        &self,
        collection: &str,
        statements: &[Document],
    ) -> Result<(), MongoError> {
        let refused = self.db.update_statements(collection, statements).await?;
        let real: Vec<&String> = refused
            .iter()
            .filter(|(_, code, _)| *code != 11000)
            .map(|(_, _, message)| message)
            .collect();
        match real.first() {
            Some(first) => Err(MongoError::custom(format!(
                "{} of {} updates to {collection} failed; first: {first}",
                real.len(),
                statements.len()
            ))),
            None => Ok(()),
        }
    }

    /// Reads a server's statistics back (for `/stats`, checks and tests).
    pub async fn load(&self, guild_id: u64, server_id: &str) -> Result<ServerStats, MongoError> {
        let guild = guild_id.to_string();
        let scope = doc! { "guild_id": &guild, "server_id": server_id };
        let mut stats = ServerStats::default();
        let mut cursor = self.players.find(scope.clone()).await?;
        while let Some(d) = cursor.try_next().await? {
            let Ok(id) = d.get_str("player_id") else {
                continue;
            };
            stats.players.insert(id.to_owned(), player_from(&d));
        }
        let mut cursor = self.player_weapons.find(scope.clone()).await?;
        while let Some(d) = cursor.try_next().await? {
            if let (Ok(p), Ok(w)) = (d.get_str("player_id"), d.get_str("weapon"))
                && let Some(player) = stats.players.get_mut(p)
            {
                player.weapons.insert(w.to_owned(), get_u64(&d, "kills"));
            }
        }
        let mut cursor = self.matchups.find(scope.clone()).await?;
        while let Some(d) = cursor.try_next().await? {
            let (Ok(k), Ok(v)) = (d.get_str("killer_id"), d.get_str("victim_id")) else {
                continue;
            };
            let n = get_u64(&d, "kills");
            if let Some(p) = stats.players.get_mut(k) {
                p.killed.insert(v.to_owned(), n);
            }
            if let Some(p) = stats.players.get_mut(v) {
                p.killed_by.insert(k.to_owned(), n);
            }
        }
        let mut cursor = self.weapons.find(scope.clone()).await?;
        while let Some(d) = cursor.try_next().await? {
            if let Ok(w) = d.get_str("weapon") {
                stats.weapons.insert(
                    w.to_owned(),
                    WeaponTotals {
                        kills: get_u64(&d, "kills"),
                        longest_m: get_u64(&d, "longest_m") as u32,
                        distance_sum_m: get_u64(&d, "distance_sum_m"),
                        shortest_m: d
                            .get("shortest_m")
                            .map(|_| get_u64(&d, "shortest_m") as u32),
                    },
                );
            }
        }
        if let Some(d) = self.servers.find_one(scope).await? {
            let t = &mut stats.totals;
            t.kills = get_u64(&d, "kills");
            t.roadkills = get_u64(&d, "roadkills");
            t.suicides = suicides_from(&d);
            t.environment_deaths = get_u64(&d, "environment_deaths");
            t.malformed_lines = get_u64(&d, "malformed_lines");
            t.longest_kill = d.get_document("longest_kill").ok().map(|l| LongestKill {
                distance_m: get_u64(l, "distance_m") as u32,
                killer_id: l.get_str("killer_id").unwrap_or_default().to_owned(),
                weapon: l.get_str("weapon").unwrap_or_default().to_owned(),
            });
        }
        Ok(stats)
    }
}

/// Statements per `update` command (MongoDB accepts up to 100,000 and 48 MB).
const UPDATES_PER_COMMAND: usize = 10_000;

/// Lines per `kills` document (about 250 KB): large enough that storing a batch's lines
/// takes a few inserts.
const LINES_PER_DOCUMENT: usize = 1_000;

/// The most game time one `kills` document spans (a day: a Deadside killfeed file), so
/// that the documents that may hold a given time are a bounded range.
const MAX_SPAN_SECS: i64 = 24 * 3600;

/// Time ranges per query for stored lines (a batch of many days has many).
const RANGES_PER_QUERY: usize = 100;

/// The times as clusters `(first, last)`: sorted, split where two are more than
/// [`MAX_SPAN_SECS`] apart.
fn time_clusters(times: impl Iterator<Item = i64>) -> Vec<(i64, i64)> {
    let mut times: Vec<i64> = times.collect();
    times.sort_unstable();
    let mut clusters: Vec<(i64, i64)> = Vec::new();
    for t in times {
        match clusters.last_mut() {
            Some((_, last)) if t.saturating_sub(*last) <= MAX_SPAN_SECS => *last = t,
            _ => clusters.push((t, t)),
        }
    }
    clusters
}

/// A counter document's update: `change` (`$inc`, `$max`) plus its scope, identifying
/// `fields`, the batch and the schema version.
fn counter(scope: &Document, fields: Document, batch: i64, mut change: Document) -> UpdateMods {
    let mut set = scope.clone();
    set.extend(fields);
    set.extend(doc! { "last_batch": batch, "schema_version": SCHEMA_VERSION });
    change.insert("$set", set);
    UpdateMods::Doc(change)
}

enum UpdateMods {
    Pipeline(Vec<Document>),
    Doc(Document),
}

/// One line in a `kills` document.
fn line_document(id: &str, line: &KillfeedLine<'_>, recorded: Option<&Recorded>) -> Document {
    let mut d = doc! { "id": id, "at": seconds(line.at) };
    if let Some(r) = recorded {
        d.insert(
            "recorded",
            doc! { "by": r.by.to_string(), "location": r.location.as_deref() },
        );
    }
    match &line.event {
        KillfeedEvent::Kill {
            killer,
            victim,
            weapon,
            distance_m,
            roadkill,
        } => d.extend(doc! {
            "kind": "kill",
            "killer_id": killer.id, "killer_name": killer.name.as_ref(),
            "victim_id": victim.id, "victim_name": victim.name.as_ref(),
            "weapon": weapon.as_ref(), "distance_m": i64::from(*distance_m), "roadkill": *roadkill,
        }),
        KillfeedEvent::Suicide {
            player,
            kind,
            cause,
        } => d.extend(doc! {
            "kind": "suicide",
            "victim_id": player.id, "victim_name": player.name.as_ref(),
            "weapon": cause.as_ref(), "suicide_kind": kind.as_str(),
        }),
        KillfeedEvent::EnvironmentDeath { victim } => d.extend(doc! {
            "kind": "environment",
            "victim_id": victim.id, "victim_name": victim.name.as_ref(),
        }),
    }
    d
}

/// A rivalry's update: both players' kills of each other added, the last kill kept when
/// this batch's is as late or later, and the total and lead the indexes sort by.
fn rivalry_pipeline(
    scope: &Document,
    first: &str,
    second: &str,
    r: &tower_ingest::stats::PairDelta,
    batch: i64,
    by_hand: Option<&Recorded>,
) -> Vec<Document> {
    let last = seconds(r.last_at);
    let newer = doc! { "$gte": [last, stored("last_at", DateTime::from_millis(0))] };
    let keep = |name: &str, value: Bson| -> Bson {
        Bson::Document(doc! { "$cond": [newer.clone(), value, field(name)] })
    };
    let mut set = scope.clone();
    set.extend(doc! {
        "first_id": first,
        "second_id": second,
        "first_kills": add("first_kills", r.first_kills),
        "second_kills": add("second_kills", r.second_kills),
        "last_at": keep("last_at", Bson::DateTime(last)),
        "last_weapon": keep("last_weapon", literal(&r.last_weapon)),
        "last_by_first": keep("last_by_first", Bson::Boolean(r.last_by_first)),
        // Who made the pair's last kill before this batch, and when (null: none), for
        // revenge posts.
        "last_by_first_before": stored("last_by_first", Bson::Null),
        "last_at_before": stored("last_at", Bson::Null),
        // Who recorded the last kill by hand, where: null when the game logged it.
        "last_recorded": keep("last_recorded", by_hand.map_or(Bson::Null, |h| {
            // `$literal`: a location like `$where` is text, not a field.
            let h = doc! { "by": h.by.to_string(), "location": h.location.as_deref() };
            Bson::Document(doc! { "$literal": h })
        })),
        "last_batch": batch,
        "schema_version": SCHEMA_VERSION,
    });
    let mut stages = vec![doc! { "$set": set }];
    stages.extend(crate::rivalries::sort_keys());
    stages
}

/// The `_id` of a player's statistics on a server (`guild:server:player`): read by it,
/// a player is found through the `_id` index, not among all of the server's players.
pub(crate) fn player_doc_id(guild: &str, server_id: &str, player: &str) -> String {
    format!("{guild}:{server_id}:{player}")
}

/// A game time (seconds) as a BSON date.
fn seconds(at: i64) -> DateTime {
    DateTime::from_millis(at.saturating_mul(1000))
}

/// A value from outside (a player name, a weapon) inside a pipeline: `$literal`, so a name
/// like `$$Cash$$` is a name and not a field reference.
fn literal(value: &str) -> Bson {
    Bson::Document(doc! { "$literal": value })
}

fn field(name: &str) -> Bson {
    Bson::String(format!("${name}"))
}

/// `$name`, or `default` when the document has no such field yet.
fn stored(name: &str, default: impl Into<Bson>) -> Bson {
    Bson::Document(doc! { "$ifNull": [field(name), default.into()] })
}

fn add(name: &str, n: u64) -> Bson {
    Bson::Document(doc! { "$add": [stored(name, 0i64), to_i64(n)] })
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Whether a batch's lines follow what is stored ([`StatsStore::apply_batch`]) or may
/// come late ([`StatsStore::apply_history_batch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Live,
    History,
}

/// [`Runs::apply`] as a MongoDB expression: `(current, best)` from the stored fields. When
/// `late` holds (a history batch whose lines are all older than what the document has
/// seen: a file that appeared late, read again by `/historical_parse days`), the batch did
/// not happen after the stored streak: it leaves the current one alone and its own runs
/// count toward the best. A live batch (`None`) always follows on.
fn runs(current: &str, best: &str, r: &Runs, late: Option<&Bson>) -> (Bson, Bson) {
    let extended = Bson::Document(doc! { "$add": [stored(current, 0i64), to_i64(r.lead)] });
    let in_order_best = Bson::Document(
        doc! { "$max": [stored(best, 0i64), extended.clone(), to_i64(r.longest_after_break)] },
    );
    let late_best = Bson::Document(
        doc! { "$max": [stored(best, 0i64), to_i64(r.lead), to_i64(r.longest_after_break)] },
    );
    let in_order_current = if r.broken {
        Bson::Int64(to_i64(r.trail))
    } else {
        extended
    };
    match late {
        None => (in_order_current, in_order_best),
        Some(late) => (
            Bson::Document(doc! { "$cond": [late, stored(current, 0i64), in_order_current] }),
            Bson::Document(doc! { "$cond": [late, late_best, in_order_best] }),
        ),
    }
}

fn player_pipeline(
    scope: &Document,
    player: &str,
    d: &PlayerDelta,
    (batch, order): (i64, Order),
) -> Vec<Document> {
    let (first, last) = (seconds(d.first_seen), seconds(d.last_seen));
    let late = match order {
        Order::Live => None,
        Order::History => Some(Bson::Document(
            doc! { "$lt": [last, stored("last_seen", DateTime::from_millis(0))] },
        )),
    };
    let (cur_k, best_k) = runs(
        "current_killstreak",
        "best_killstreak",
        &d.kill_runs,
        late.as_ref(),
    );
    let (cur_d, worst_d) = runs(
        "current_deathstreak",
        "worst_deathstreak",
        &d.death_runs,
        late.as_ref(),
    );
    let mut set = scope.clone();
    set.extend(doc! {
        "player_id": player,
        // The newest batch's name is the current one.
        "name": { "$cond": [{ "$gte": [last, stored("last_seen", DateTime::from_millis(0))] }, literal(&d.name), field("name")] },
        "names": { "$setUnion": [stored("names", Bson::Array(vec![])), { "$literal": &d.names }] },
        "kills": add("kills", d.kills),
        "deaths": add("deaths", d.deaths),
        "suicides": {
            "menu": add("suicides.menu", d.suicides.menu),
            "fall": add("suicides.fall", d.suicides.fall),
            "vehicle": add("suicides.vehicle", d.suicides.vehicle),
            "other": add("suicides.other", d.suicides.other),
        },
        "suicides_total": add("suicides_total", d.suicides.total()),
        "environment_deaths": add("environment_deaths", d.environment_deaths),
        "current_killstreak": cur_k,
        // The streak this batch started from (only the batch that applies writes it): its
        // streak posts are worked out from it, also when it is finished after a crash.
        "killstreak_before": stored("current_killstreak", 0i64),
        "best_killstreak": best_k,
        "current_deathstreak": cur_d,
        "worst_deathstreak": worst_d,
        "first_seen": { "$min": [stored("first_seen", first), first] },
        "last_seen": { "$max": [stored("last_seen", last), last] },
        "last_batch": batch,
        "schema_version": SCHEMA_VERSION,
    });
    if let Some(longest) = d.longest_kill_m {
        set.insert(
            "longest_kill_m",
            doc! { "$max": [stored("longest_kill_m", 0i64), i64::from(longest)] },
        );
    }
    if let Some(platform) = &d.platform {
        // The newest batch's platform is the current one, as its name is.
        let platform = literal(platform);
        set.insert(
            "platform",
            match late {
                None => platform,
                Some(late) => Bson::Document(doc! { "$cond": [late, field("platform"), platform] }),
            },
        );
    }
    // KDR for the leaderboard index: kills / deaths rounded half up, or kills.
    let kdr = doc! { "$cond": [
        { "$eq": ["$deaths", 0i64] },
        "$kills",
        { "$divide": [{ "$floor": { "$add": [{ "$multiply": [{ "$divide": ["$kills", "$deaths"] }, 100i64] }, 0.5] } }, 100i64] },
    ] };
    vec![doc! { "$set": set }, doc! { "$set": { "kdr": kdr } }]
}

fn server_pipeline(scope: &Document, delta: &BatchDelta, batch: i64) -> Vec<Document> {
    let t = &delta.totals;
    let mut set = scope.clone();
    set.extend(doc! {
        "kills": add("kills", t.kills),
        "roadkills": add("roadkills", t.roadkills),
        "suicides": {
            "menu": add("suicides.menu", t.suicides.menu),
            "fall": add("suicides.fall", t.suicides.fall),
            "vehicle": add("suicides.vehicle", t.suicides.vehicle),
            "other": add("suicides.other", t.suicides.other),
        },
        "environment_deaths": add("environment_deaths", t.environment_deaths),
        "malformed_lines": add("malformed_lines", t.malformed_lines),
        "last_batch": batch,
        "schema_version": SCHEMA_VERSION,
    });
    if let Some(l) = &t.longest_kill {
        let candidate = doc! { "distance_m": i64::from(l.distance_m), "killer_id": &l.killer_id, "weapon": literal(&l.weapon) };
        // Strictly longer replaces: the first of equal shots stays the record.
        set.insert(
            "longest_kill",
            doc! { "$cond": [
                { "$gt": [i64::from(l.distance_m), stored("longest_kill.distance_m", -1i64)] },
                candidate,
                field("longest_kill"),
            ] },
        );
    }
    vec![doc! { "$set": set }]
}

/// An integer field as stored (32- or 64-bit); `None` when absent or not an integer.
pub(crate) fn get_i64(d: &Document, key: &str) -> Option<i64> {
    match d.get(key) {
        Some(Bson::Int64(n)) => Some(*n),
        Some(Bson::Int32(n)) => Some(i64::from(*n)),
        _ => None,
    }
}

pub(crate) fn get_u64(d: &Document, key: &str) -> u64 {
    match d.get(key) {
        Some(Bson::Int64(n)) => u64::try_from(*n).unwrap_or(0),
        Some(Bson::Int32(n)) => u64::try_from(*n).unwrap_or(0),
        Some(Bson::Double(f)) if *f >= 0.0 => *f as u64,
        _ => 0,
    }
}

pub(crate) fn suicides_from(d: &Document) -> Suicides {
    let s = d.get_document("suicides").ok();
    let n = |k: &str| s.map(|s| get_u64(s, k)).unwrap_or(0);
    Suicides {
        menu: n("menu"),
        fall: n("fall"),
        vehicle: n("vehicle"),
        other: n("other"),
    }
}

fn secs(d: &Document, key: &str) -> i64 {
    d.get_datetime(key)
        .map(|t| t.timestamp_millis() / 1000)
        .unwrap_or(0)
}

pub(crate) fn player_from(d: &Document) -> PlayerStats {
    PlayerStats {
        name: d.get_str("name").unwrap_or_default().to_owned(),
        names: d
            .get_array("names")
            .map(|a| {
                a.iter()
                    .filter_map(|n| n.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        platform: d.get_str("platform").ok().map(str::to_owned),
        kills: get_u64(d, "kills"),
        deaths: get_u64(d, "deaths"),
        suicides: suicides_from(d),
        environment_deaths: get_u64(d, "environment_deaths"),
        longest_kill_m: d
            .get("longest_kill_m")
            .map(|_| get_u64(d, "longest_kill_m") as u32),
        current_killstreak: get_u64(d, "current_killstreak"),
        best_killstreak: get_u64(d, "best_killstreak"),
        current_deathstreak: get_u64(d, "current_deathstreak"),
        worst_deathstreak: get_u64(d, "worst_deathstreak"),
        weapons: BTreeMap::new(),
        killed: BTreeMap::new(),
        killed_by: BTreeMap::new(),
        first_seen: secs(d, "first_seen"),
        last_seen: secs(d, "last_seen"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_more_than_a_span_apart_are_separate_clusters() {
        let day = MAX_SPAN_SECS;
        assert_eq!(time_clusters(std::iter::empty()), vec![]);
        assert_eq!(
            time_clusters([5 * day, 0, 10, 5 * day + day, 3 * day].into_iter()),
            vec![(0, 10), (3 * day, 3 * day), (5 * day, 6 * day)]
        );
    }
}
