//! Telling a guild's admins of problems only they can fix, once per problem and not again
//! until it changes:
//! - a game server not read for a reason of theirs (a wrong password, a changed host key,
//!   no SFTP for the user, an address the bot may not use, no killfeed folder): the worker
//!   records each poll's failure kind in `server_status`;
//! - a backfill that failed (`server_status.backfill_failed_at`);
//! - a channel the bot can no longer post in ([`crate::channel_blocks`]).
//!
//! Where: the guild's admin channel (`/setup channels admin_channel`), looked at every
//! `gateway.admin_alerts_every_secs` by the gateway whose shards hold the guild; without
//! one (or when the bot cannot post there either), privately to the next admin who runs a
//! command. Which problem each subject's admins were last told of is in `admin_alerts`
//! (`_id`: guild:server, guild:server:backfill), claimed one by one, so two gateways or two
//! admins at once never tell it twice; a note that could not be posted is given back.

use std::collections::HashSet;
use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use mongodb::Collection;
use mongodb::bson::{DateTime, Document, doc};
use twilight_model::channel::message::Embed;
use twilight_model::id::Id;
use twilight_util::builder::embed::EmbedBuilder;

use tower_daemon::shutdown::Shutdown;
use tower_store::db::{Database, collections, is_duplicate_key};
use tower_store::schema::SCHEMA_VERSION;

use crate::bot::Bot;
use crate::channel_blocks::{self, ChannelBlocks};
use crate::embeds::{clip, colour};
use crate::error_fixes::{ADMIN_FIXABLE, fix_for};

/// A failed backfill older than this is not news any more.
const BACKFILL_NEWS_FOR: Duration = Duration::from_secs(24 * 3600);

/// What kind of problem a note is about: one embed per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Heading {
    RefusedChannels,
    UnreadServers,
    FailedBackfills,
}

impl Heading {
    pub fn title(self) -> &'static str {
        match self {
            Self::RefusedChannels => "The bot cannot post in some channels",
            Self::UnreadServers => "Some game servers are not being read",
            Self::FailedBackfills => "A backfill failed",
        }
    }
}

/// One problem, claimed as told.
#[derive(Debug, Clone)]
pub struct Alert {
    pub heading: Heading,
    pub text: String,
    claim: Claim,
}

/// How a claim is given back when the note was not posted.
#[derive(Debug, Clone)]
enum Claim {
    /// `admin_alerts` `_id`, and the problem claimed (a newer one is never given back).
    Told {
        id: String,
        kind: String,
    },
    Block(u64),
}

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

    /// The guild's problems no admin has been told of, each now claimed as told. On a
    /// failure midway, what was claimed is given back.
    pub async fn due(
        &self,
        blocks: &ChannelBlocks,
        guild: u64,
    ) -> Result<Vec<Alert>, mongodb::error::Error> {
        let mut alerts = Vec::new();
        match self.claim_all(blocks, guild, &mut alerts).await {
            Ok(()) => Ok(alerts),
            Err(e) => {
                self.release(blocks, &alerts).await;
                Err(e)
            }
        }
    }

    async fn claim_all(
        &self,
        blocks: &ChannelBlocks,
        guild: u64,
        alerts: &mut Vec<Alert>,
    ) -> Result<(), mongodb::error::Error> {
        alerts.extend(blocks.tell(guild).await?.iter().map(|b| Alert {
            heading: Heading::RefusedChannels,
            text: channel_blocks::describe(b),
            claim: Claim::Block(b.channel),
        }));
        // Read once for both: a removed or switched-off server's last status is no news.
        let read = self.servers_read(guild).await?;
        self.forget_solved(guild, &read).await?;
        self.unread_servers(guild, &read, alerts).await?;
        self.failed_backfills(guild, &read, alerts).await
    }

    /// The notes were not posted: the next chance tells them.
    pub async fn release(&self, blocks: &ChannelBlocks, alerts: &[Alert]) {
        for alert in alerts {
            let given_back = match &alert.claim {
                Claim::Told { id, kind } => self
                    .told
                    .delete_one(doc! { "_id": id, "kind": kind })
                    .await
                    .map(|_| ()),
                Claim::Block(channel) => blocks.untell(*channel).await,
            };
            if let Err(e) = given_back {
                tracing::warn!(error = %e, "an admin note not posted stays marked told");
            }
        }
    }

    /// The guilds that may have news: a fixable failure, a failed backfill or a channel
    /// block not told yet (told problems too: whether told is [`Self::due`]'s to decide),
    /// and the guilds with a told problem that may be solved now.
    pub async fn guilds_with_news(
        &self,
        blocks: &ChannelBlocks,
    ) -> Result<HashSet<u64>, mongodb::error::Error> {
        let mut guilds: HashSet<u64> = blocks.untold_guilds().await?.into_iter().collect();
        // A told problem's claim goes once it is solved, so that it is told again if it
        // comes back: those guilds are looked at too.
        let told: Vec<Document> = self
            .told
            .find(doc! { "subject": { "$ne": "backfill" } })
            .projection(doc! { "guild_id": 1 })
            .await?
            .try_collect()
            .await?;
        guilds.extend(told.iter().filter_map(guild_of));
        let since = tower_store::db::ago(BACKFILL_NEWS_FOR);
        let docs: Vec<Document> = self
            .status
            .find(doc! { "$or": [
                { "last_error_kind": { "$in": fixable_kinds() } },
                { "backfill_failed_at": { "$gte": since } },
            ] })
            .projection(doc! { "guild_id": 1 })
            .await?
            .try_collect()
            .await?;
        guilds.extend(docs.iter().filter_map(guild_of));
        Ok(guilds)
    }

    async fn unread_servers(
        &self,
        guild: u64,
        read: &[String],
        alerts: &mut Vec<Alert>,
    ) -> Result<(), mongodb::error::Error> {
        let mut cursor = self
            .status
            .find(doc! { "guild_id": guild.to_string(), "last_error_kind": { "$in": fixable_kinds() } })
            .await?;
        while let Some(s) = cursor.try_next().await? {
            let (Ok(server), Ok(kind)) = (s.get_str("server_id"), s.get_str("last_error_kind"))
            else {
                continue;
            };
            if !ADMIN_FIXABLE.contains(&kind) || !read.iter().any(|id| id == server) {
                continue;
            }
            let id = format!("{guild}:{server}");
            if self.claim(&id, guild, "server", kind).await? {
                alerts.push(Alert {
                    heading: Heading::UnreadServers,
                    text: format!(
                        "**{server}** is not being read. {} \
                         `/setup check server_id:{server}` checks everything.",
                        fix_for(kind)
                    ),
                    claim: Claim::Told {
                        id,
                        kind: kind.to_owned(),
                    },
                });
            }
        }
        Ok(())
    }

    async fn failed_backfills(
        &self,
        guild: u64,
        read: &[String],
        alerts: &mut Vec<Alert>,
    ) -> Result<(), mongodb::error::Error> {
        let since = tower_store::db::ago(BACKFILL_NEWS_FOR);
        let mut cursor = self
            .status
            .find(doc! { "guild_id": guild.to_string(), "backfill_failed_at": { "$gte": since } })
            .await?;
        while let Some(s) = cursor.try_next().await? {
            let (Ok(server), Ok(at)) =
                (s.get_str("server_id"), s.get_datetime("backfill_failed_at"))
            else {
                continue;
            };
            if !read.iter().any(|id| id == server) {
                continue;
            }
            // Each failure is its own problem: told by its time.
            let id = format!("{guild}:{server}:backfill");
            let when = at.timestamp_millis();
            let kind = when.to_string();
            if !self.claim(&id, guild, "backfill", &kind).await? {
                continue;
            }
            let error = s.get_str("backfill_error").unwrap_or_default();
            // What the admin does depends on whose failure it was.
            let then = if s
                .get_str("backfill_error_kind")
                .is_ok_and(|k| k.starts_with("sftp."))
            {
                format!(
                    "Fix what it says (`/setup check server_id:{server}`), then run \
                     `/historical_parse server_id:{server}` again"
                )
            } else {
                format!(
                    "It failed on the bot's side: run `/historical_parse server_id:{server}` \
                     again"
                )
            };
            alerts.push(Alert {
                heading: Heading::FailedBackfills,
                text: format!(
                    "The backfill of **{server}** failed <t:{}:R>: {}. {then}; what was read \
                     is kept.",
                    when / 1000,
                    clip(error, 300)
                ),
                claim: Claim::Told { id, kind },
            });
        }
        Ok(())
    }

    /// Marks `id` told of `kind`; false when it already was, or another process claimed
    /// it first.
    async fn claim(
        &self,
        id: &str,
        guild: u64,
        subject: &str,
        kind: &str,
    ) -> Result<bool, mongodb::error::Error> {
        let told = self
            .told
            .find_one(doc! { "_id": id })
            .await?
            .and_then(|d| d.get_str("kind").ok().map(str::to_owned));
        if told.as_deref() == Some(kind) {
            return Ok(false);
        }
        let set = doc! {
            "guild_id": guild.to_string(),
            "subject": subject,
            "kind": kind,
            "told_at": DateTime::now(),
            "schema_version": SCHEMA_VERSION,
        };
        match told {
            Some(old) => Ok(self
                .told
                .update_one(doc! { "_id": id, "kind": old }, doc! { "$set": set })
                .await?
                .modified_count
                == 1),
            None => {
                let mut new = set;
                new.insert("_id", id);
                match self.told.insert_one(new).await {
                    Ok(_) => Ok(true),
                    Err(e) if is_duplicate_key(&e) => Ok(false),
                    Err(e) => Err(e),
                }
            }
        }
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
                // A backfill's failure is told by its time: nothing to forget.
                "subject": { "$ne": "backfill" },
                "$or": [ { "_id": { "$in": read_again } }, { "_id": { "$nin": servers } } ],
            })
            .await?;
        Ok(())
    }
}

/// The guild a stored document belongs to (`guild_id`, a decimal string).
fn guild_of(d: &Document) -> Option<u64> {
    d.get_str("guild_id").ok()?.parse().ok()
}

fn fixable_kinds() -> Vec<&'static str> {
    ADMIN_FIXABLE.to_vec()
}

/// The notes as messages: one embed per heading (one message each, as a message's embeds
/// share 6,000 characters), with the notes each carries.
pub fn messages(alerts: &[Alert]) -> Vec<(Embed, Vec<Alert>)> {
    let mut headings: Vec<Heading> = alerts.iter().map(|a| a.heading).collect();
    headings.sort();
    headings.dedup();
    headings
        .into_iter()
        .map(|h| {
            let notes: Vec<Alert> = alerts.iter().filter(|a| a.heading == h).cloned().collect();
            let lines: Vec<&str> = notes.iter().map(|a| a.text.as_str()).collect();
            let embed = EmbedBuilder::new()
                .title(h.title())
                .description(clip(&lines.join("\n"), 4000))
                .color(colour::WARNING)
                .build();
            (embed, notes)
        })
        .collect()
}

/// The guild's admin channel, when the bot may post there (a refused one is reported
/// like any other, and the admins are told privately meanwhile).
pub async fn usable_admin_channel(
    bot: &Bot,
    admin_channel: Option<u64>,
) -> Result<Option<u64>, mongodb::error::Error> {
    match admin_channel {
        Some(c) if !bot.channel_blocks.is_recorded(c).await? => Ok(Some(c)),
        _ => Ok(None),
    }
}

/// Every `every`, until shutdown: the news of the guilds on this process's shards that
/// have an admin channel, posted there.
pub async fn post_to_admin_channels(bot: Arc<Bot>, every: Duration, shutdown: Shutdown) {
    let alerts = AdminAlerts::new(&bot.db);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.wait() => return,
        }
        if let Err(e) = post_round(&bot, &alerts).await {
            tracing::warn!(error = %e, "admin alerts not looked at; trying again next round");
        }
    }
}

async fn post_round(bot: &Bot, alerts: &AdminAlerts) -> Result<(), mongodb::error::Error> {
    let channels = bot.guilds.admin_channels().await?;
    if channels.is_empty() {
        return Ok(());
    }
    let news = alerts.guilds_with_news(&bot.channel_blocks).await?;
    for (guild, channel) in channels {
        let Some(id) = Id::new_checked(channel) else {
            continue;
        };
        if !news.contains(&guild)
            || !bot.shards.contains_guild(tower_store::ids::GuildId(guild))
            || bot.channel_blocks.is_blocked(channel).await?
        {
            continue;
        }
        // The admin channel's own block is no news where a post just went through.
        let due: Vec<Alert> = alerts
            .due(&bot.channel_blocks, guild)
            .await?
            .into_iter()
            .filter(|a| !matches!(a.claim, Claim::Block(c) if c == channel))
            .collect();
        let mut unsent = messages(&due).into_iter();
        while let Some((embed, notes)) = unsent.next() {
            let sent = bot
                .rate_limits
                .send(|| {
                    bot.http
                        .create_message(id)
                        .embeds(std::slice::from_ref(&embed))
                        .into_future()
                })
                .await;
            match sent {
                Ok(_) => {
                    tracing::info!(guild, channel, notes = notes.len(), "admin alerts posted");
                    bot.channel_blocks.posted(channel).await?;
                }
                Err(e) => {
                    tracing::warn!(guild, channel, error = %e, "admin alerts not posted");
                    let rest: Vec<Alert> = notes
                        .into_iter()
                        .chain(unsent.by_ref().flat_map(|(_, n)| n))
                        .collect();
                    alerts.release(&bot.channel_blocks, &rest).await;
                    // Refused: the channel is blocked like a feed's, and the admins hear
                    // of it (and of the rest) privately until it is fixed.
                    if let Some(status @ (403 | 404)) = e.status() {
                        bot.channel_blocks
                            .block(guild, channel, status, &e.to_string())
                            .await?;
                    }
                    break;
                }
            }
        }
    }
    Ok(())
}
