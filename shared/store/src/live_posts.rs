//! Live posts (issue #19): messages the bot keeps current by editing them in place —
//! auto-posted leaderboards (`/leaderboard_channel`), a server's live status
//! (`/status_channel`), and event posts edited once with the fights that followed them
//! (`/events fights`).
//!
//! One document per post in `live_posts`: where it goes, what it shows, when it is next
//! due, and the Discord message it is shown in. The gateway-shard whose shards hold the
//! guild claims a due post ([`LivePosts::claim`], one claim at a time, lapsing after
//! [`CLAIM_SECS`] so a gateway that died mid-refresh is taken over), edits the message,
//! or posts it where there is none yet or it was deleted, and records the outcome with the
//! claim ([`LivePosts::shown`]). A new message goes out with a nonce made of the post's
//! id and its count of posts ([`LivePost::nonce`]): a refresh cut short after Discord took
//! the message and before it was recorded posts again under the same nonce, and Discord
//! answers with the message it already has instead of a second one.

use futures_util::TryStreamExt;
use mongodb::bson::{DateTime, Document, doc};
use mongodb::error::Error as MongoError;
use tower_ingest::stats::Leaderboard;

use crate::db::{Database, collections};
use crate::schema::SCHEMA_VERSION;
use crate::windows::Window;

/// How long a refresh's claim lasts: one cut short is taken over after.
pub const CLAIM_SECS: i64 = 60;
/// A board's refresh interval when the admin names none.
pub const DEFAULT_BOARD_EVERY_SECS: i64 = 15 * 60;
/// The longest interval an admin can set (a day).
pub const MAX_BOARD_EVERY_SECS: i64 = 24 * 3600;
/// How often a status post is edited: at most once a minute (issue #19).
pub const STATUS_EVERY_SECS: i64 = 60;
/// Rows per board when the admin names none, and at most.
pub const DEFAULT_BOARD_ROWS: u32 = 10;
pub const MAX_BOARD_ROWS: u32 = 25;
/// Boards a guild may have (over all its servers).
pub const MAX_BOARDS_PER_GUILD: u64 = 25;
/// Kills a player needs to be ranked on a board's K/D, so a 1–0 player does not top it.
pub const DEFAULT_KDR_FLOOR: u64 = crate::windows::KDR_MIN_KILLS;
/// The shortest refresh interval of a board at `tier`: the higher the tier, the fresher.
pub fn min_board_every_secs(tier: crate::tier::Tier) -> i64 {
    match tier.get() {
        0 | 1 => 15 * 60,
        2 => 10 * 60,
        _ => 5 * 60,
    }
}

/// Due posts one look takes at most (the rest at the next look).
pub const DUE_MAX: usize = 100;

/// One ranking on a board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoardStat {
    /// A player statistic, ranked as `/stats leaderboard` ranks it.
    Players(Leaderboard),
    /// The server's weapons by kills (all time).
    Weapons,
}

impl BoardStat {
    /// Every stat a board can show, in the order a board shows them.
    pub const ALL: [BoardStat; 7] = [
        Self::Players(Leaderboard::Kills),
        Self::Players(Leaderboard::Deaths),
        Self::Players(Leaderboard::Kdr),
        Self::Players(Leaderboard::LongestShot),
        Self::Players(Leaderboard::HighestKillstreak),
        Self::Players(Leaderboard::Suicides),
        Self::Weapons,
    ];

    /// The name admins pick it by: `/stats leaderboard`'s, and `weapons`.
    pub fn key(self) -> &'static str {
        match self {
            Self::Players(l) => l.key(),
            Self::Weapons => "weapons",
        }
    }

    /// Also takes the names users are likely to type (`kd`, `streak`, `longest_kill`).
    pub fn parse(key: &str) -> Option<Self> {
        let key = key.trim().to_ascii_lowercase();
        let key = match key.as_str() {
            "kd" | "k/d" => "kdr",
            "longest" | "longest_kill" => "longest_shot",
            "streak" | "killstreak" | "best_streak" => "highest_killstreak",
            "weapon" => "weapons",
            other => other,
        };
        Self::ALL.into_iter().find(|s| s.key() == key)
    }

    /// Kept for all time only (not per hour and day): no time window for it.
    pub fn all_time_only(self) -> bool {
        matches!(
            self,
            Self::Players(Leaderboard::HighestKillstreak) | Self::Weapons
        )
    }
}

/// What an auto-posted leaderboard shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Board {
    /// One ranking each, in this order (at least one).
    pub stats: Vec<BoardStat>,
    pub window: Window,
    /// The top three shown apart, with medals.
    pub podium: bool,
    pub rows: u32,
    /// Kills needed to be ranked by K/D.
    pub kdr_floor: u64,
}

impl Default for Board {
    fn default() -> Self {
        Self {
            stats: vec![
                BoardStat::Players(Leaderboard::Kills),
                BoardStat::Players(Leaderboard::Kdr),
                BoardStat::Players(Leaderboard::LongestShot),
            ],
            window: Window::All,
            podium: false,
            rows: DEFAULT_BOARD_ROWS,
            kdr_floor: DEFAULT_KDR_FLOOR,
        }
    }
}

/// The longest wait after an event before its post shows the fights that followed.
pub const MAX_FIGHTS_AFTER_SECS: i64 = 3600;

/// An event post (airdrop, mission, convoy) to be edited once with the kills that
/// followed it: the message's embeds as posted (JSON), and which of them are such events.
#[derive(Debug, Clone, PartialEq)]
pub struct Fights {
    pub embeds_json: String,
    pub events: Vec<FollowedEvent>,
}

/// One event of a message: its embed's index, its server (a channel may take several
/// servers' events: `None`, the post's own), and the game-clock span whose kills follow
/// it (from the event to its server's `fights_after_secs` later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowedEvent {
    pub index: usize,
    pub server_id: Option<String>,
    pub from_ms: i64,
    pub until_ms: i64,
}

/// What a live post shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Shows {
    Leaderboard(Board),
    /// The server's live status: players, last kills, restart, ingestion health.
    Status,
    /// Event posts edited once with the fights that followed (then forgotten).
    Fights(Fights),
}

impl Shows {
    fn kind(&self) -> &'static str {
        match self {
            Self::Leaderboard(_) => "leaderboard",
            Self::Status => "status",
            Self::Fights(_) => "fights",
        }
    }
}

/// A live post as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct LivePost {
    pub id: String,
    pub guild_id: u64,
    pub server_id: String,
    pub channel_id: u64,
    pub shows: Shows,
    pub every_secs: i64,
    /// The message it is shown in; `None` before the first post, or after it was deleted.
    pub message_id: Option<u64>,
    /// How many messages it has been posted as (the nonce of the next one).
    pub posts: i64,
    /// Set when the post was first stored: part of every nonce of its messages.
    pub seed: String,
    /// How many times it was set: a refresh drew the settings of this one.
    pub rev: i64,
    /// The claim of the refresh that holds it ([`LivePosts::claim`]).
    pub claim: Option<String>,
}

impl LivePost {
    /// The nonce of this post's next new message: the same until one is recorded, so a
    /// repeat of a post cut short is the message Discord already has. At most 25
    /// characters, as Discord wants.
    pub fn nonce(&self) -> String {
        // SHA-256, not the std hasher: the same in every build and process.
        let d = ring::digest::digest(
            &ring::digest::SHA256,
            format!("live|{}|{}|{}", self.id, self.seed, self.posts).as_bytes(),
        );
        let mut b = [0u8; 8];
        b.copy_from_slice(&d.as_ref()[..8]);
        // Any u64 is at most 20 digits.
        u64::from_le_bytes(b).to_string()
    }
}

/// Why a live post was not stored.
#[derive(Debug, thiserror::Error)]
pub enum LivePostError {
    #[error("this Discord server has {MAX_BOARDS_PER_GUILD} auto-posted leaderboards already")]
    TooMany,
    #[error(transparent)]
    Db(#[from] MongoError),
}

/// The `live_posts` collection.
#[derive(Clone)]
pub struct LivePosts {
    posts: mongodb::Collection<Document>,
}

impl LivePosts {
    pub fn new(db: &Database) -> Self {
        Self {
            posts: db.raw().collection(collections::LIVE_POSTS),
        }
    }

    /// The id of a server's board in `channel`, or (`None`) of its status post (one per
    /// server). Fights are kept per message: [`LivePosts::follow_fights`].
    fn id_of(guild_id: u64, server_id: &str, channel: Option<u64>) -> String {
        match channel {
            Some(c) => format!("{guild_id}:{server_id}:leaderboard:{c}"),
            None => format!("{guild_id}:{server_id}:status"),
        }
    }

    /// Remembers a message with event posts, to be edited `after_secs` from now with the
    /// kills that followed them. Remembering it again (a batch posted again) keeps the
    /// first.
    pub async fn follow_fights(
        &self,
        (guild_id, server_id): (u64, &str),
        (channel_id, message_id): (u64, u64),
        fights: Fights,
        after_secs: i64,
    ) -> Result<(), MongoError> {
        let events: Vec<Document> = fights
            .events
            .iter()
            .map(|e| {
                let mut event = doc! {
                    "index": i64::try_from(e.index).unwrap_or(0),
                    "from_ms": e.from_ms,
                    "until_ms": e.until_ms,
                };
                if let Some(server) = e.server_id.as_deref().filter(|s| *s != server_id) {
                    event.insert("server_id", server);
                }
                event
            })
            .collect();
        let id = format!("{guild_id}:{server_id}:fights:{message_id}");
        crate::db::insert_once(
            &self.posts,
            vec![doc! {
                "_id": id,
                "guild_id": guild_id.to_string(),
                "server_id": server_id,
                "channel_id": channel_id.to_string(),
                "kind": "fights",
                "message_id": message_id.to_string(),
                "fights": { "embeds": fights.embeds_json, "events": events },
                "every_secs": after_secs,
                "posts": 1_i64,
                "rev": 0_i64,
                "due_at": crate::db::from_now(std::time::Duration::from_secs(
                    u64::try_from(after_secs).unwrap_or(0),
                )),
                "schema_version": SCHEMA_VERSION,
            }],
        )
        .await
    }

    /// Stores a live post (a board in that channel, or the server's status post, set
    /// again keeps its message where the channel is the same) and makes it due now.
    /// Returns it, and the message of an earlier status post in another channel.
    pub async fn set(
        &self,
        guild_id: u64,
        server_id: &str,
        channel_id: u64,
        shows: Shows,
        every_secs: i64,
    ) -> Result<(LivePost, Option<(u64, u64)>), LivePostError> {
        let board = matches!(shows, Shows::Leaderboard(_));
        let id = Self::id_of(guild_id, server_id, board.then_some(channel_id));
        let earlier = self.posts.find_one(doc! { "_id": &id }).await?;
        if earlier.is_none() && matches!(shows, Shows::Leaderboard(_)) {
            let boards = self
                .posts
                .count_documents(doc! { "guild_id": guild_id.to_string(), "kind": "leaderboard" })
                .await?;
            if boards >= MAX_BOARDS_PER_GUILD {
                return Err(LivePostError::TooMany);
            }
        }
        // A status post moved to another channel starts a new message there.
        let moved = earlier
            .as_ref()
            .and_then(post_of)
            .filter(|p| p.channel_id != channel_id)
            .and_then(|p| Some((p.channel_id, p.message_id?)));
        let mut set = doc! {
            "guild_id": guild_id.to_string(),
            "server_id": server_id,
            "channel_id": channel_id.to_string(),
            "kind": shows.kind(),
            "every_secs": every_secs,
            "due_at": DateTime::now(),
            "schema_version": SCHEMA_VERSION,
        };
        if let Shows::Leaderboard(board) = &shows {
            set.insert("board", board_doc(board));
        }
        // `rev` tells a refresh under way that it drew the old settings; `seed` makes the
        // nonces of a post set again after a removal differ from the removed one's.
        let mut update = doc! {
            "$set": set,
            "$inc": { "rev": 1_i64 },
            "$setOnInsert": {
                "posts": 0_i64,
                "seed": mongodb::bson::oid::ObjectId::new().to_hex(),
            },
        };
        if moved.is_some() {
            update.insert("$unset", doc! { "message_id": "" });
        }
        let stored = self
            .posts
            .find_one_and_update(doc! { "_id": &id }, update)
            .upsert(true)
            .return_document(mongodb::options::ReturnDocument::After)
            .await?
            .and_then(|d| post_of(&d));
        let post = stored.unwrap_or(LivePost {
            id,
            guild_id,
            server_id: server_id.to_owned(),
            channel_id,
            shows,
            every_secs,
            message_id: None,
            posts: 0,
            seed: String::new(),
            rev: 1,
            claim: None,
        });
        Ok((post, moved))
    }

    /// Removes a board (`channel_id`) or the server's status post (`None`); the removed
    /// post, whose message the caller may delete.
    pub async fn remove(
        &self,
        guild_id: u64,
        server_id: &str,
        channel_id: Option<u64>,
    ) -> Result<Option<LivePost>, MongoError> {
        let id = Self::id_of(guild_id, server_id, channel_id);
        Ok(self
            .posts
            .find_one_and_delete(doc! { "_id": id })
            .await?
            .and_then(|d| post_of(&d)))
    }

    /// Forgets a post without touching its message (its server or channel is gone).
    pub async fn forget(&self, id: &str) -> Result<(), MongoError> {
        self.posts.delete_one(doc! { "_id": id }).await?;
        Ok(())
    }

    /// A guild's live posts, by server and channel.
    pub async fn of_guild(&self, guild_id: u64) -> Result<Vec<LivePost>, MongoError> {
        let docs: Vec<Document> = self
            .posts
            .find(doc! { "guild_id": guild_id.to_string() })
            .sort(doc! { "_id": 1 })
            .await?
            .try_collect()
            .await?;
        Ok(docs.iter().filter_map(post_of).collect())
    }

    /// The posts due now of the guilds `ours` accepts (a gateway's shards), oldest due
    /// first, at most [`DUE_MAX`]: other gateways' posts and claimed ones are passed over,
    /// not counted. Each is claimed with [`LivePosts::claim`] just before its refresh.
    pub async fn due(&self, ours: impl Fn(u64) -> bool) -> Result<Vec<LivePost>, MongoError> {
        let now = DateTime::now();
        let mut cursor = self
            .posts
            .find(doc! {
                "due_at": { "$lte": now },
                "$or": [
                    { "claimed_until": { "$exists": false } },
                    { "claimed_until": { "$lt": now } },
                ],
            })
            .sort(doc! { "due_at": 1 })
            .await?;
        let mut due = Vec::new();
        while let Some(d) = cursor.try_next().await? {
            match post_of(&d) {
                Some(post) if ours(post.guild_id) => due.push(post),
                Some(_) => {}
                // A kind of a newer build: out of the way for a day, left for that build.
                None => {
                    if let Ok(id) = d.get_str("_id") {
                        self.posts
                            .update_one(
                                doc! { "_id": id },
                                doc! { "$set": { "due_at": crate::db::from_now(
                                    std::time::Duration::from_secs(24 * 3600),
                                ) } },
                            )
                            .await?;
                    }
                }
            }
            if due.len() >= DUE_MAX {
                break;
            }
        }
        Ok(due)
    }

    /// Claims a due post for one refresh, for [`CLAIM_SECS`]; `None` when another refresh
    /// holds it, or it is no longer due (set again meanwhile, or removed).
    pub async fn claim(&self, post: &LivePost) -> Result<Option<LivePost>, MongoError> {
        let now = DateTime::now();
        let until = DateTime::from_millis(now.timestamp_millis() + CLAIM_SECS * 1000);
        let claim = mongodb::bson::oid::ObjectId::new().to_hex();
        let taken = self
            .posts
            .find_one_and_update(
                doc! {
                    "_id": &post.id,
                    "due_at": { "$lte": now },
                    "$or": [
                        { "claimed_until": { "$exists": false } },
                        { "claimed_until": { "$lt": now } },
                    ],
                },
                doc! { "$set": { "claim": &claim, "claimed_until": until } },
            )
            .return_document(mongodb::options::ReturnDocument::After)
            .await?;
        Ok(taken.as_ref().and_then(post_of))
    }

    /// Whether a message this refresh posted but could not record may still be the
    /// post's: it holds it, or the post is as this refresh saw it (same channel, seed and
    /// count of posts), so whoever holds it now posts under the same nonce and is handed
    /// this very message by Discord. Otherwise nobody will ever edit or remove it.
    pub async fn may_hold(&self, post: &LivePost, message_id: u64) -> Result<bool, MongoError> {
        let held = self
            .posts
            .find_one(doc! { "_id": &post.id, "$or": [
                { "message_id": message_id.to_string() },
                {
                    "channel_id": post.channel_id.to_string(),
                    "seed": &post.seed,
                    "posts": post.posts,
                    "message_id": { "$exists": false },
                },
            ] })
            .await?;
        Ok(held.is_some())
    }

    /// A claimed post was shown in `message_id` (edited, or posted anew: `posted`); it is
    /// next due `next_in_secs` from now, or at once where it was set again meanwhile (the
    /// refresh drew the old settings). False when the claim had lapsed and another
    /// refresh took the post over, or it was removed or moved to another channel.
    pub async fn shown(
        &self,
        post: &LivePost,
        message_id: u64,
        posted: bool,
        next_in_secs: i64,
    ) -> Result<bool, MongoError> {
        let Some(claim) = &post.claim else {
            return Ok(false);
        };
        let mine = doc! {
            "_id": &post.id,
            "claim": claim,
            "channel_id": post.channel_id.to_string(),
        };
        let mut set = doc! {
            "message_id": message_id.to_string(),
            "shown_at": DateTime::now(),
        };
        let mut unchanged = mine.clone();
        // A post stored before `rev` was kept has none: read as 0, matched as missing.
        unchanged.insert("rev", doc! { "$in": [post.rev, mongodb::bson::Bson::Null] });
        let mut next = set.clone();
        next.insert(
            "due_at",
            crate::db::from_now(std::time::Duration::from_secs(
                u64::try_from(next_in_secs).unwrap_or(60),
            )),
        );
        let update = |set: Document| {
            let mut u = doc! { "$set": set, "$unset": { "claim": "", "claimed_until": "" } };
            if posted {
                u.insert("$inc", doc! { "posts": 1_i64 });
            }
            u
        };
        if self
            .posts
            .update_one(unchanged, update(next))
            .await?
            .matched_count
            == 1
        {
            return Ok(true);
        }
        // Set again while this refresh ran: the message is kept, and due as `set` made it.
        set.insert("shown_at", DateTime::now());
        let done = self.posts.update_one(mine, update(set)).await?;
        Ok(done.matched_count == 1)
    }

    /// A claimed post's message is gone (deleted by someone): the next refresh posts a
    /// new one, under a new nonce.
    /// False when this refresh no longer holds the post (its claim lapsed, or the post
    /// was removed or moved): it must not post a new message.
    pub async fn message_gone(&self, post: &LivePost) -> Result<bool, MongoError> {
        let Some(claim) = &post.claim else {
            return Ok(false);
        };
        let done = self
            .posts
            .update_one(
                doc! { "_id": &post.id, "claim": claim, "channel_id": post.channel_id.to_string() },
                doc! { "$unset": { "message_id": "" }, "$inc": { "posts": 1_i64 } },
            )
            .await?;
        Ok(done.matched_count == 1)
    }

    /// A refresh that could not be shown: the claim is given back and the post is due
    /// again after `retry_secs`.
    pub async fn retry_later(&self, post: &LivePost, retry_secs: i64) -> Result<(), MongoError> {
        let Some(claim) = &post.claim else {
            return Ok(());
        };
        self.posts
            .update_one(
                doc! { "_id": &post.id, "claim": claim },
                doc! {
                    "$set": { "due_at": crate::db::from_now(std::time::Duration::from_secs(
                        u64::try_from(retry_secs).unwrap_or(60),
                    )) },
                    "$unset": { "claim": "", "claimed_until": "" },
                },
            )
            .await?;
        Ok(())
    }
}

fn board_doc(board: &Board) -> Document {
    doc! {
        "stats": board.stats.iter().map(|s| s.key()).collect::<Vec<_>>(),
        "window": board.window.key(),
        "podium": board.podium,
        "rows": i64::from(board.rows),
        "kdr_floor": i64::try_from(board.kdr_floor).unwrap_or(i64::MAX),
    }
}

/// A stored live post; `None` for a document this build cannot read (a kind of a newer
/// build: left for it).
fn post_of(d: &Document) -> Option<LivePost> {
    let get_i64 = |d: &Document, k: &str| crate::stats_store::get_i64(d, k);
    let shows = match d.get_str("kind").ok()? {
        "status" => Shows::Status,
        "fights" => {
            let f = d.get_document("fights").ok()?;
            let events = f
                .get_array("events")
                .ok()?
                .iter()
                .filter_map(|e| {
                    let e = e.as_document()?;
                    Some(FollowedEvent {
                        index: usize::try_from(get_i64(e, "index")?).ok()?,
                        server_id: e.get_str("server_id").ok().map(str::to_owned),
                        from_ms: get_i64(e, "from_ms")?,
                        until_ms: get_i64(e, "until_ms")?,
                    })
                })
                .collect();
            Shows::Fights(Fights {
                embeds_json: f.get_str("embeds").ok()?.to_owned(),
                events,
            })
        }
        "leaderboard" => {
            let b = d.get_document("board").ok()?;
            let stats: Vec<BoardStat> = b
                .get_array("stats")
                .ok()?
                .iter()
                .filter_map(|s| BoardStat::parse(s.as_str()?))
                .collect();
            if stats.is_empty() {
                return None;
            }
            Shows::Leaderboard(Board {
                stats,
                window: Window::parse(b.get_str("window").unwrap_or("all")).unwrap_or(Window::All),
                podium: b.get_bool("podium").unwrap_or(false),
                rows: get_i64(b, "rows")
                    .and_then(|r| u32::try_from(r).ok())
                    .unwrap_or(DEFAULT_BOARD_ROWS)
                    .clamp(1, MAX_BOARD_ROWS),
                kdr_floor: get_i64(b, "kdr_floor")
                    .and_then(|r| u64::try_from(r).ok())
                    .unwrap_or(DEFAULT_KDR_FLOOR),
            })
        }
        _ => return None,
    };
    Some(LivePost {
        id: d.get_str("_id").ok()?.to_owned(),
        guild_id: d.get_str("guild_id").ok()?.parse().ok()?,
        server_id: d.get_str("server_id").ok()?.to_owned(),
        channel_id: d.get_str("channel_id").ok()?.parse().ok()?,
        shows,
        every_secs: get_i64(d, "every_secs").unwrap_or(DEFAULT_BOARD_EVERY_SECS),
        message_id: d.get_str("message_id").ok().and_then(|m| m.parse().ok()),
        posts: get_i64(d, "posts").unwrap_or(0),
        seed: d.get_str("seed").unwrap_or_default().to_owned(),
        rev: get_i64(d, "rev").unwrap_or(0),
        claim: d.get_str("claim").ok().map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_are_picked_by_their_names_and_the_usual_other_names() {
        for s in BoardStat::ALL {
            assert_eq!(BoardStat::parse(s.key()), Some(s));
        }
        assert_eq!(
            BoardStat::parse(" KD "),
            Some(BoardStat::Players(Leaderboard::Kdr))
        );
        assert_eq!(
            BoardStat::parse("streak"),
            Some(BoardStat::Players(Leaderboard::HighestKillstreak))
        );
        assert_eq!(BoardStat::parse("headshots"), None);
    }

    #[test]
    fn a_board_reads_back_as_stored() {
        let board = Board {
            stats: vec![BoardStat::Weapons, BoardStat::Players(Leaderboard::Deaths)],
            window: Window::Week,
            podium: true,
            rows: 7,
            kdr_floor: 3,
        };
        let d = doc! {
            "_id": "1:s:leaderboard:2", "guild_id": "1", "server_id": "s", "channel_id": "2",
            "kind": "leaderboard", "board": board_doc(&board), "every_secs": 300_i64,
            "posts": 2_i64, "message_id": "99",
        };
        let Some(post) = post_of(&d) else {
            panic!("not read back: {d:?}");
        };
        assert_eq!(post.shows, Shows::Leaderboard(board));
        assert_eq!(
            (post.message_id, post.posts, post.every_secs),
            (Some(99), 2, 300)
        );
        // The next message's nonce changes only with the count of posts.
        let again = LivePost {
            posts: 3,
            ..post.clone()
        };
        assert_ne!(post.nonce(), again.nonce());
        assert_eq!(post.nonce(), post.clone().nonce());
        assert!(post.nonce().len() <= 25);
    }
}
