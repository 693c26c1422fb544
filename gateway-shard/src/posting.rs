//! Posting what the sftp-workers report: kills and suicides to the killfeed channel, game
//! events and connections to theirs, player counts to the voice channel's name.
//!
//! This process subscribes to the notification stream for its shard range as a durable
//! subscriber (`gateway:<first>-<last>/<total>`). Notifications that arrive close together
//! are batched (up to 10 embeds per message, per channel).
//!
//! Each message is posted exactly once ([`crate::deliveries`]): its notifications are
//! claimed for it (a unique claim each, so a second gateway of the same shard range posts
//! none of them again), it is posted with a nonce and `enforce_nonce`, marked `sent`, and
//! only then is the batch acknowledged to the worker. After a restart the stream resumes
//! after the last acknowledged notification; what a delivery record carries is skipped,
//! and a message whose process died mid-post is finished: if the channel's recent messages
//! do not show it, it is posted again with the same nonce.
//!
//! Freshness: a notification the worker recorded longer ago than `notice_max_age` (a
//! gateway back from downtime, a stalled stream) is not posted; it is counted per server in
//! `server_status.stale_notices`, which `/csv_status` shows. Fairness: a batch's messages
//! go out one per channel per round, so a guild with many messages delays another guild's
//! post by at most one message per channel ahead of it.

use std::collections::HashMap;
use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use mongodb::bson::{DateTime, Document, doc};
use tokio::time::Instant;
use tracing::Instrument as _;
use twilight_model::channel::message::Embed;
use twilight_model::id::Id;

use tower_daemon::shutdown::Shutdown;
use tower_proto::v1::notification::Payload;
use tower_proto::v1::{
    AckNotificationsRequest, ConnectionKind, GameEventKind, HighlightKind, Notification,
    NotificationsRequest, SuicideKind,
};
use tower_store::db::collections;
use tower_store::game_servers::{GameServer, GameServerError, RIVALRY_SWITCH};
use tower_store::ids::{GuildId, ServerId};
use tower_store::schema::SCHEMA_VERSION;
use tower_store::tier::{Feature, Tier};

use crate::bot::Bot;
use crate::deliveries::{Claim, Deliveries, Outgoing, Record, State};
use crate::embeds::{self, Theme};
use crate::rest::RestError;
use crate::voice_status::{self, VoiceStatus};

/// How long to wait for more notifications before posting what has come.
const BATCH_WINDOW: Duration = Duration::from_millis(250);
/// Notifications handled per batch at most.
const BATCH_MAX: usize = 100;
/// How long a server's settings are reused before being read again.
const SERVER_TTL: Duration = Duration::from_secs(5);
/// Attempts to post one message before the batch is given up for a retry later.
const POST_ATTEMPTS: u32 = 3;
/// How long a posted message's answer is read for its id (only a later edit needs it).
const ANSWER_READ: Duration = Duration::from_secs(5);
/// How long after a post attempt Discord surely still knows its nonce ("a few minutes"):
/// within it, a message that cannot be checked is posted again with the same nonce.
const NONCE_TRUSTED: Duration = Duration::from_secs(120);
/// How often messages left in flight by a process that died are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(10);
/// Times a batch is planned again around another gateway's claims before the stream is
/// restarted (by then a dead claimer's records have settled).
const CONTENDED_RETRIES: u32 = 40;

/// What posting needs to know about a server.
#[derive(Clone)]
struct Target {
    server: Option<GameServer>,
    tier: Tier,
    theme: Theme,
    /// What the guild's money is called.
    currency: tower_store::guilds::Currency,
    /// Faction tags beside names in kill posts (`/settings faction_tags`).
    faction_tags: bool,
    /// The guild's bounty channel, for servers with none of their own.
    bounty_channel: Option<u64>,
}

pub struct Poster {
    bot: Arc<Bot>,
    subscriber: String,
    /// Notifications recorded longer ago than this are not posted.
    max_age: Duration,
    status: mongodb::Collection<Document>,
    /// Game servers' settings as last read, and when.
    servers: HashMap<(u64, String), (Option<GameServer>, Instant)>,
    /// The server store's [`edits`](tower_store::game_servers::GameServerStore::edits)
    /// when `servers` was last emptied.
    server_edits: u64,
    voice: VoiceStatus,
    deliveries: Deliveries,
}

#[derive(Debug, thiserror::Error)]
enum PostError {
    #[error("sftp-worker: {0}")]
    Worker(#[from] tonic::Status),
    #[error("database: {0}")]
    Db(#[from] mongodb::error::Error),
    #[error("Discord: {0}")]
    Discord(#[from] RestError),
    #[error("the notification stream ended")]
    StreamEnded,
    #[error("Discord's answer could not be read: {0}")]
    Unreadable(#[from] twilight_http::response::DeserializeBodyError),
    #[error("another gateway kept claiming this batch's notifications")]
    Contended,
}

/// What became of a batch.
enum Delivery {
    /// Every notification posted, or recorded as not to be posted.
    Done,
    /// Stopped part-way for shutdown.
    Stopped,
    /// Some messages were claimed by another gateway's messages: plan again.
    Contended,
}

/// Why notifications were not posted.
#[derive(Debug, Clone, Copy)]
enum Unposted {
    /// Older than the freshness limit.
    Stale,
    /// Their channel refuses the bot.
    Blocked,
}

impl Unposted {
    fn state(self) -> &'static str {
        match self {
            Self::Stale => "stale",
            Self::Blocked => "blocked",
        }
    }

    fn counter(self) -> &'static str {
        match self {
            Self::Stale => "stale_notices",
            Self::Blocked => "blocked_notices",
        }
    }
}

/// What became of one post.
enum Posted {
    /// Posted; its message id when Discord's answer could be read.
    Sent(Option<u64>),
    /// Discord refused the channel (403, 404): it is blocked.
    Refused { status: u16, reason: String },
    /// Not postable (a 400 for this message, or no such channel id).
    Skipped,
}

/// Discord's own words for a refusal ("Missing Permissions").
fn refusal(e: &RestError) -> String {
    let message = match e {
        RestError::Discord(e) => match e.kind() {
            twilight_http::error::ErrorType::Response {
                error: twilight_http::api_error::ApiError::General(g),
                ..
            } => g.message.clone(),
            _ => e.to_string(),
        },
        other => other.to_string(),
    };
    embeds::clip(&message, 100)
}

/// What to do with one notification.
enum Action {
    Post {
        channel: u64,
        embed: Box<Embed>,
        /// An event whose post is edited later with the fights that followed it:
        /// (when it happened, game clock ms; how long after).
        follow: Option<(i64, i64)>,
    },
    Rename {
        channel: u64,
        name: String,
    },
    Skip,
}

impl Poster {
    pub fn new(bot: Arc<Bot>, max_age: Duration, claim_timeout: Duration) -> Self {
        let r = bot.shards;
        Self {
            subscriber: format!("gateway:{}-{}/{}", r.first, r.last, r.total),
            max_age,
            status: bot.db.raw().collection(collections::SERVER_STATUS),
            servers: HashMap::new(),
            server_edits: 0,
            voice: VoiceStatus::default(),
            deliveries: Deliveries::new(&bot.db, claim_timeout),
            bot,
        }
    }

    /// Follows the notification stream until shutdown, moving to the next worker when one
    /// fails.
    pub async fn run(mut self, shutdown: Shutdown) {
        let mut backoff = Duration::from_millis(500);
        let workers: Vec<_> = self
            .bot
            .workers
            .all()
            .map(|(u, c)| (u.to_owned(), c))
            .collect();
        let mut turn = 0usize;
        while !shutdown.is_triggered() && !workers.is_empty() {
            let (url, client) = &workers[turn % workers.len()];
            turn += 1;
            let started = Instant::now();
            // Not raced against shutdown: `follow` stops between messages by itself, so
            // no message is cut off between its post and its record.
            let result = self.follow(client.clone(), &shutdown).await;
            if let Err(e) = result {
                tracing::warn!(worker = %url, error = %e, "notification stream interrupted; resuming from the last posted notification");
            }
            if started.elapsed() > Duration::from_secs(30) {
                backoff = Duration::from_millis(500);
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = shutdown.wait() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }

    async fn follow(
        &mut self,
        mut client: crate::workers::WorkerClient,
        shutdown: &Shutdown,
    ) -> Result<(), PostError> {
        let r = self.bot.shards;
        let mut stream = client
            .notifications(NotificationsRequest {
                shards: Some(tower_proto::v1::ShardRange {
                    first: r.first,
                    last: r.last,
                    total: r.total,
                }),
                subscriber: self.subscriber.clone(),
                resume_after: String::new(),
            })
            .await?
            .into_inner();
        tracing::info!(subscriber = %self.subscriber, "following notifications");
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        loop {
            let next = tokio::select! {
                n = stream.next() => n,
                () = shutdown.wait() => return Ok(()),
                _ = sweep.tick() => {
                    self.settle_interrupted().await?;
                    continue;
                }
            };
            let first = match next {
                Some(n) => n?,
                None => return Err(PostError::StreamEnded),
            };
            let mut batch = vec![first];
            let deadline = Instant::now() + BATCH_WINDOW;
            while batch.len() < BATCH_MAX {
                match tokio::time::timeout_at(deadline, stream.next()).await {
                    Ok(Some(n)) => batch.push(n?),
                    Ok(None) => break,
                    Err(_) => break,
                }
            }
            let mut contended = 0;
            loop {
                match self.deliver(&batch, shutdown).await? {
                    Delivery::Done => break,
                    // Stopped part-way for shutdown: not acknowledged, so the rest comes
                    // again (what was sent is skipped by its delivery record).
                    Delivery::Stopped => return Ok(()),
                    // Another gateway of this shard range claimed some of it: plan again
                    // around what it carries (settled after the claim timeout if it died).
                    Delivery::Contended => {
                        contended += 1;
                        if contended > CONTENDED_RETRIES {
                            return Err(PostError::Contended);
                        }
                        tokio::select! {
                            () = tokio::time::sleep(BATCH_WINDOW) => {}
                            () = shutdown.wait() => return Ok(()),
                        }
                    }
                }
            }
            let cursors = batch.iter().map(|n| n.cursor.clone()).collect();
            client
                .ack_notifications(AckNotificationsRequest {
                    subscriber: self.subscriber.clone(),
                    cursors,
                })
                .await?;
        }
    }

    /// Posts a batch: per channel, in order, as few messages as Discord's limits allow.
    async fn deliver(
        &mut self,
        batch: &[Notification],
        shutdown: &Shutdown,
    ) -> Result<Delivery, PostError> {
        // Notifications some earlier message carries: a replay after a restart, or another
        // gateway of this shard range (a rolling deploy).
        let cursors: Vec<&str> = batch.iter().map(|n| n.cursor.as_str()).collect();
        let mut delivered = std::collections::HashSet::new();
        for record in self.deliveries.carrying(&cursors).await? {
            let carried = match record.state {
                State::Dropped => false,
                // Being claimed right now: the claims decide who posts.
                State::Claiming if self.deliveries.in_flight(&record) => false,
                // Being posted by another gateway of this range, or by this one before a
                // restart: finished by the sweep if its process died.
                State::Sending if self.deliveries.in_flight(&record) => true,
                // Left by a process that died: settled by whichever gateway takes it first;
                // one another gateway took is carried if it is being posted, and left to
                // the claims if it was still being claimed.
                State::Claiming | State::Sending => {
                    if self.deliveries.take_over(&record).await? {
                        self.settle(&record).await?
                    } else {
                        record.state == State::Sending
                    }
                }
                State::Sent | State::Unposted => true,
            };
            if carried {
                delivered.extend(record.cursors);
            }
        }

        let mut posts: Vec<(u64, Vec<(&str, Embed)>)> = Vec::new();
        // Whose notification each is: a refused channel is blocked for its guild, and what
        // is not posted is counted for its server.
        let server_of: HashMap<&str, (u64, &str)> = batch
            .iter()
            .filter_map(|n| {
                let r = n.server.as_ref()?;
                Some((n.cursor.as_str(), (r.guild_id, r.server_id.as_str())))
            })
            .collect();
        let now_ms = DateTime::now().timestamp_millis();
        let max_age_ms = i64::try_from(self.max_age.as_millis()).unwrap_or(i64::MAX);
        let mut stale: HashMap<(u64, &str), Vec<&str>> = HashMap::new();
        let mut follows: HashMap<&str, (i64, i64)> = HashMap::new();
        for n in batch.iter().filter(|n| !delivered.contains(&n.cursor)) {
            let action = self.action(n).await?;
            // A limit of 0 turns the rule off.
            let too_old = max_age_ms > 0
                && n.recorded_unix_ms > 0
                && now_ms.saturating_sub(n.recorded_unix_ms) > max_age_ms;
            if let (true, Action::Post { .. }, Some(r)) = (too_old, &action, &n.server) {
                stale
                    .entry((r.guild_id, r.server_id.as_str()))
                    .or_default()
                    .push(n.cursor.as_str());
                continue;
            }
            match action {
                Action::Post {
                    channel,
                    embed,
                    follow,
                } => {
                    if let Some(f) = follow {
                        follows.insert(n.cursor.as_str(), f);
                    }
                    match posts.iter_mut().find(|(c, _)| *c == channel) {
                        Some((_, list)) => list.push((n.cursor.as_str(), *embed)),
                        None => posts.push((channel, vec![(n.cursor.as_str(), *embed)])),
                    }
                }
                Action::Rename { channel, name } => self.voice.request(&self.bot, channel, name),
                Action::Skip => {}
            }
        }
        self.count_unposted(Unposted::Stale, &stale).await?;
        let mut blocked: HashMap<(u64, &str), Vec<&str>> = HashMap::new();
        let mut outcome = Delivery::Done;
        for (channel, chunk) in round_robin(&posts) {
            if shutdown.is_triggered() {
                return Ok(Delivery::Stopped);
            }
            // A channel Discord refused is left alone until an admin fixes it: each post
            // would be one more invalid request against the bot's IP.
            if self.bot.channel_blocks.is_blocked(channel).await? {
                tracing::debug!(channel, "channel refused earlier; message not posted");
                for (cursor, _) in chunk {
                    if let Some(key) = server_of.get(cursor) {
                        blocked.entry(*key).or_default().push(cursor);
                    }
                }
                continue;
            }
            let cursors: Vec<&str> = chunk.iter().map(|(c, _)| *c).collect();
            // A channel belongs to one guild: its first notification's.
            let guild = cursors
                .first()
                .and_then(|c| server_of.get(c))
                .map_or(0, |(guild, _)| *guild);
            let nonce = nonce(channel, &cursors).to_string();
            let embeds: Vec<&Embed> = chunk.iter().map(|(_, e)| e).collect();
            let body =
                serde_json::json!({ "embeds": embeds, "nonce": &nonce, "enforce_nonce": true })
                    .to_string();
            let claim = self
                .deliveries
                .claim(&Outgoing {
                    subscriber: &self.subscriber,
                    nonce: &nonce,
                    channel,
                    guild,
                    cursors: &cursors,
                    body: &body,
                })
                .await?;
            if claim == Claim::Contended {
                tracing::info!(
                    channel,
                    "another message claimed some of these notifications; planning again"
                );
                outcome = Delivery::Contended;
                continue;
            }
            let message = self
                .post_and_block(guild, channel, &nonce, body.as_bytes())
                .await?;
            self.deliveries.sent(&nonce).await?;
            if let Some(message) = message {
                self.follow_fights(chunk, &follows, &server_of, (channel, message))
                    .await;
            }
        }
        self.count_unposted(Unposted::Blocked, &blocked).await?;
        Ok(outcome)
    }

    /// Settles a message whose process died claiming or posting it: finished if it held
    /// its claims (`true`), else released.
    async fn settle(&self, record: &Record) -> Result<bool, PostError> {
        let held = record.state == State::Sending || self.deliveries.settle(record).await?;
        if held {
            self.finish(record).await?;
        }
        Ok(held)
    }

    /// Settles this subscriber's messages left in flight by a process that died.
    async fn settle_interrupted(&self) -> Result<(), PostError> {
        for record in self.deliveries.interrupted().await? {
            if self.deliveries.take_over(&record).await? {
                self.settle(&record).await?;
            }
        }
        Ok(())
    }

    /// Finishes a message left `sending` by a process that died: marked sent if the channel shows it already — Discord forgets a
    /// nonce after a few minutes, so a repost could be a second message — else posted
    /// again with the same nonce.
    async fn finish(&self, record: &Record) -> Result<(), PostError> {
        let since_last_attempt_ms = DateTime::now()
            .timestamp_millis()
            .saturating_sub(record.at.timestamp_millis());
        let nonce_remembered =
            u128::try_from(since_last_attempt_ms).unwrap_or(u128::MAX) < NONCE_TRUSTED.as_millis();
        let seen = self.already_posted(record.channel, &record.body).await?;
        if seen == Some(true) {
            tracing::info!(channel = record.channel, nonce = %record.nonce, "an interrupted message had gone out; not posted again");
        } else if seen.is_none() && !nonce_remembered {
            // No way to tell, and Discord has forgotten the nonce: a second post could be a
            // duplicate. Left as sent; the statistics have the kills either way.
            tracing::warn!(channel = record.channel, nonce = %record.nonce, "an interrupted message could not be checked (no access to the channel's history); not posted again");
        } else {
            // Event posts re-posted here are not followed by their fights: what was in
            // them is known only as the body sent.
            self.post_and_block(
                record.guild,
                record.channel,
                &record.nonce,
                record.body.as_bytes(),
            )
            .await?;
            tracing::info!(channel = record.channel, nonce = %record.nonce, "re-posted a message interrupted by a restart");
        }
        self.deliveries.sent(&record.nonce).await?;
        Ok(())
    }

    /// Whether one of the channel's last 50 messages is the bot's with these embeds;
    /// `None` when the bot may not read the channel's history.
    async fn already_posted(&self, channel: u64, body: &str) -> Result<Option<bool>, PostError> {
        let Some(id) = Id::new_checked(channel) else {
            return Ok(Some(false));
        };
        let wanted: Vec<Embed> = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|b| serde_json::from_value(b["embeds"].clone()).ok())
            .unwrap_or_default();
        let messages = match self
            .bot
            .rate_limits
            .send(|| self.bot.http.channel_messages(id).limit(50).into_future())
            .await
        {
            Ok(response) => response.models().await?,
            // The channel is gone or its history closed to the bot: unknown.
            Err(e) if matches!(e.status(), Some(403 | 404)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(Some(messages.iter().any(|m| {
            m.author.bot && embeds::same_embeds(&m.embeds, &wanted)
        })))
    }

    /// Posts, and blocks the channel if Discord refuses it.
    async fn post_and_block(
        &self,
        guild: u64,
        channel: u64,
        nonce: &str,
        body: &[u8],
    ) -> Result<Option<u64>, PostError> {
        let span = tracing::info_span!("post", guild, channel);
        let posted = self.post(channel, nonce, body).instrument(span).await?;
        let result = match &posted {
            Posted::Sent(_) => "sent",
            Posted::Refused { .. } => "refused",
            Posted::Skipped => "skipped",
        };
        tower_daemon::metrics::instruments()
            .posts
            .add(1, &[tower_daemon::metrics::KeyValue::new("result", result)]);
        match posted {
            Posted::Sent(message) => {
                self.bot.channel_blocks.posted(channel).await?;
                return Ok(message);
            }
            Posted::Refused { status, reason } => {
                self.bot
                    .channel_blocks
                    .block(guild, channel, status, &reason)
                    .await?;
            }
            Posted::Skipped => {}
        }
        Ok(None)
    }

    /// A message posted with events whose fights are followed (`/events fights`): kept,
    /// to be edited once that long after with the kills that followed each
    /// ([`crate::live_posts::fights`]). A failure to keep it costs only that edit.
    async fn follow_fights(
        &self,
        chunk: Message<'_, &str>,
        follows: &HashMap<&str, (i64, i64)>,
        server_of: &HashMap<&str, (u64, &str)>,
        (channel, message): (u64, u64),
    ) {
        let events = followed_events(chunk.iter().map(|(c, _)| *c), follows, server_of);
        // The post is kept under its first event's server (a channel is one guild's);
        // each event reads its own server's kills, and the edit waits for the longest.
        let Some((_, (guild, server), _)) = events.first().cloned() else {
            return;
        };
        let after = events.iter().map(|(_, _, a)| *a).max().unwrap_or(0);
        let embeds: Vec<&Embed> = chunk.iter().map(|(_, e)| e).collect();
        let Ok(embeds_json) = serde_json::to_string(&embeds) else {
            return;
        };
        let fights = tower_store::live_posts::Fights {
            embeds_json,
            events: events.into_iter().map(|(e, _, _)| e).collect(),
        };
        // A minute more than the span: kills of its last moments are read by then.
        let kept = tower_store::live_posts::LivePosts::new(&self.bot.db)
            .follow_fights((guild, server), (channel, message), fights, after + 60)
            .await;
        if let Err(e) = kept {
            tracing::warn!(guild, server, channel, error = %e, "an event post will not show the fights that followed");
        }
    }

    /// Records notifications not posted, once each: a delivery record in state `stale` or
    /// `blocked` (so a replay of the batch skips them as delivered) and, the first time,
    /// a count in the server's status (`stale_notices`, `blocked_notices`), which
    /// `/csv_status` shows.
    async fn count_unposted(
        &self,
        why: Unposted,
        unposted: &HashMap<(u64, &str), Vec<&str>>,
    ) -> Result<(), PostError> {
        for ((guild, server), cursors) in unposted {
            let id = format!("{}:{}", why.state(), nonce(0, cursors));
            let recorded = self
                .deliveries
                .record_unposted(&self.subscriber, &id, cursors, why.state())
                .await?;
            if !recorded {
                continue;
            }
            let n = i64::try_from(cursors.len()).unwrap_or(i64::MAX);
            tracing::info!(
                guild,
                server,
                count = n,
                state = why.state(),
                "notifications not posted"
            );
            self.status
                .update_one(
                    doc! { "_id": format!("{guild}:{server}") },
                    doc! {
                        "$inc": { why.counter(): n },
                        "$setOnInsert": {
                            "guild_id": guild.to_string(),
                            "server_id": *server,
                            "schema_version": SCHEMA_VERSION,
                        },
                    },
                )
                .upsert(true)
                .await?;
        }
        Ok(())
    }

    /// Posts one message; each retry renews its delivery's time (it is in flight; the
    /// first attempt follows the claim or take-over that set it).
    async fn post(&self, channel: u64, nonce: &str, body: &[u8]) -> Result<Posted, PostError> {
        let Some(id) = Id::new_checked(channel) else {
            return Ok(Posted::Skipped);
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            if attempt > 1 {
                self.deliveries.touch(nonce).await?;
            }
            let sent = self
                .bot
                .rate_limits
                .send(|| {
                    self.bot
                        .http
                        .create_message(id)
                        .payload_json(body)
                        .into_future()
                })
                .await;
            match sent {
                // The message's id, where its answer can be read in time (for a later
                // edit); a body that stalls must not hold up the feed.
                Ok(response) => {
                    let message = tokio::time::timeout(ANSWER_READ, response.model()).await;
                    return Ok(Posted::Sent(
                        message.ok().and_then(Result::ok).map(|m| m.id.get()),
                    ));
                }
                // The channel is gone or the bot may not post there: this message can never
                // be delivered; skipping it keeps the feed moving, and the channel is
                // blocked (a 400 is this message's own fault, not the channel's).
                Err(e) if matches!(e.status(), Some(400 | 403 | 404)) => {
                    let error_id = self.bot.telemetry.error(
                        "posting.refused",
                        format!("Discord refused a post to channel {channel}: {e}"),
                        "gateway-shard/posting",
                        None,
                    );
                    tracing::warn!(channel, %error_id, error = %e, "post refused by Discord; skipped");
                    return Ok(match e.status() {
                        Some(status @ (403 | 404)) => Posted::Refused {
                            status,
                            reason: refusal(&e),
                        },
                        _ => Posted::Skipped,
                    });
                }
                // Too many invalid requests lately: nothing but answers to users goes out.
                Err(e @ RestError::Braked) => return Err(e.into()),
                // `send` has already waited out the 429s it could.
                Err(e @ RestError::RateLimited) => return Err(e.into()),
                Err(e) if attempt < POST_ATTEMPTS => {
                    tracing::warn!(channel, attempt, error = %e, "post failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Where and how a server's notifications are posted: its settings (kept
    /// [`SERVER_TTL`]) and its guild's tier and theme (from the bot's settings cache).
    async fn target(&mut self, guild: u64, server: &str) -> Result<Target, PostError> {
        let key = (guild, server.to_owned());
        // A command here changed a server's settings: what it set applies to the next post
        // (a channel set a moment before a bounty is placed), not SERVER_TTL later.
        let edits = self.bot.servers.edits();
        if edits != self.server_edits {
            self.servers.clear();
            self.server_edits = edits;
        }
        let server = match self.servers.get(&key) {
            Some((s, read_at)) if read_at.elapsed() < SERVER_TTL => s.clone(),
            _ => {
                let found = match ServerId::parse(server) {
                    Ok(id) => match self.bot.servers.get(GuildId(guild), &id).await {
                        Ok(s) => Some(s),
                        Err(GameServerError::NotFound(_)) => None,
                        Err(GameServerError::Db(e)) => return Err(e.into()),
                        Err(e) => {
                            tracing::warn!(guild, server, error = %e, "cannot read the server's settings");
                            None
                        }
                    },
                    Err(_) => None,
                };
                self.servers.insert(key, (found.clone(), Instant::now()));
                found
            }
        };
        let settings = self.bot.settings.get(guild).await?;
        Ok(Target {
            server,
            tier: settings.tier,
            theme: Theme::parse(settings.theme.as_deref()),
            currency: settings.economy.currency.clone(),
            faction_tags: settings.faction_tags,
            bounty_channel: settings.bounty_channel,
        })
    }

    async fn action(&mut self, n: &Notification) -> Result<Action, PostError> {
        let Some(r) = &n.server else {
            return Ok(Action::Skip);
        };
        let t = self.target(r.guild_id, &r.server_id).await?;
        let Some(server) = &t.server else {
            return Ok(Action::Skip);
        };
        let Some(payload) = &n.payload else {
            return Ok(Action::Skip);
        };
        let allowed = |f: Feature| f.is_unlocked_at(t.tier);
        let channel = match payload {
            Payload::Kill(_) | Payload::EnvironmentDeath(_) => server
                .feeds
                .killfeed
                .then_some(server.channels.killfeed)
                .flatten(),
            Payload::Suicide(s) => {
                let switch = match SuicideKind::try_from(s.kind) {
                    Ok(SuicideKind::Menu) => "suicide_menu",
                    Ok(SuicideKind::Fall) => "suicide_fall",
                    _ => "suicide_other",
                };
                (server.feeds.killfeed && server.notifies(switch))
                    .then_some(server.channels.killfeed)
                    .flatten()
            }
            Payload::GameEvent(e) => {
                let switch = match GameEventKind::try_from(e.kind) {
                    Ok(GameEventKind::Mission) => "mission",
                    Ok(GameEventKind::Airdrop) => "airdrop",
                    Ok(GameEventKind::Helicrash) => "crash",
                    Ok(GameEventKind::Trader) => "trader",
                    Ok(GameEventKind::Convoy) => "convoy",
                    Ok(GameEventKind::Encounter) => "encounter",
                    Ok(GameEventKind::ServerRestart) => "server_restart",
                    _ => "other_event",
                };
                (allowed(Feature::EventsFeed) && server.feeds.events && server.notifies(switch))
                    .then_some(server.channels.events)
                    .flatten()
            }
            Payload::Connection(c) => {
                let switch = if ConnectionKind::try_from(c.kind) == Ok(ConnectionKind::Left) {
                    "disconnect"
                } else {
                    "connect"
                };
                if ConnectionKind::try_from(c.kind) == Ok(ConnectionKind::Queued) {
                    None
                } else {
                    (allowed(Feature::ConnectionsFeed)
                        && server.feeds.connections
                        && server.notifies(switch))
                    .then_some(server.channels.connections)
                    .flatten()
                }
            }
            // Rivalry posts go with the kills, unless the server's admins muted them.
            Payload::Rivalry(_) => (allowed(Feature::Rivalries)
                && server.feeds.killfeed
                && server.notifies(RIVALRY_SWITCH))
            .then_some(server.channels.killfeed)
            .flatten(),
            // Highlights go with the kills, each kind once turned on; a long shot from
            // the server's own distance.
            Payload::Highlight(h) => {
                // The switch is the stored kind's name.
                let (switch, long_enough) = match HighlightKind::try_from(h.kind) {
                    Ok(HighlightKind::Streak) => ("streak", true),
                    Ok(HighlightKind::StreakEnd) => ("streak_end", true),
                    Ok(HighlightKind::Revenge) => ("revenge", true),
                    Ok(HighlightKind::LongShot) => {
                        ("long_shot", h.distance_m >= i64::from(server.long_shot_m))
                    }
                    _ => return Ok(Action::Skip),
                };
                (server.feeds.killfeed && server.opted_in(switch) && long_enough)
                    .then_some(server.channels.killfeed)
                    .flatten()
            }
            Payload::Jackpot(_) => server
                .channels
                .economy
                .filter(|_| allowed(Feature::Gambling)),
            Payload::Bounty(_) => server
                .channels
                .bounty
                .or(t.bounty_channel)
                .filter(|_| allowed(Feature::Bounties)),
            Payload::PlayerCount(p) => {
                return Ok(match server.channels.voice_status {
                    Some(channel) if allowed(Feature::VoicePlayerCount) => Action::Rename {
                        channel,
                        name: voice_status::channel_name(p.online, p.queued),
                    },
                    _ => Action::Skip,
                });
            }
        };
        let Some(channel) = channel else {
            return Ok(Action::Skip);
        };
        // Airdrops, missions and convoys draw fights: their posts show the kills after.
        let follow = match payload {
            Payload::GameEvent(e)
                if server.fights_after_secs > 0
                    && matches!(
                        GameEventKind::try_from(e.kind),
                        Ok(GameEventKind::Airdrop | GameEventKind::Mission | GameEventKind::Convoy)
                    ) =>
            {
                Some((n.occurred_unix_ms, server.fights_after_secs))
            }
            _ => None,
        };
        let mut n = n.clone();
        self.fill_names(&mut n).await?;
        Ok(
            match embeds::notification(&n, &server.name, t.theme, &t.currency, t.faction_tags) {
                Some(embed) => Action::Post {
                    channel,
                    embed: Box::new(embed),
                    follow,
                },
                None => Action::Skip,
            },
        )
    }

    /// A connection carries the name and platform of the player's join request when the
    /// worker read it; otherwise those the statistics know (from the killfeed).
    async fn fill_names(&self, n: &mut Notification) -> Result<(), PostError> {
        let (Some(r), Some(Payload::Connection(c))) = (&n.server, &mut n.payload) else {
            return Ok(());
        };
        let Some(p) = c.player.as_mut() else {
            return Ok(());
        };
        if (p.name.is_empty() || p.platform.is_empty()) && !p.eos_id.is_empty() {
            let known = self
                .bot
                .stats
                .player(r.guild_id, &r.server_id, &p.eos_id)
                .await?;
            if let Some(row) = known.filter(|row| row.player_id == p.eos_id) {
                if p.name.is_empty() {
                    p.name = row.stats.name;
                }
                if p.platform.is_empty() {
                    p.platform = row.stats.platform.unwrap_or_default();
                }
            }
        }
        Ok(())
    }
}

/// Every channel's messages, taking one message from each channel in turn: the first
/// message of every channel goes out before the second of any.
type Message<'a, T> = &'a [(T, Embed)];

fn round_robin<T>(posts: &[(u64, Vec<(T, Embed)>)]) -> Vec<(u64, Message<'_, T>)> {
    let per_channel: Vec<(u64, Vec<Message<'_, T>>)> = posts
        .iter()
        .map(|(channel, list)| (*channel, embeds::message_groups(list, |(_, e)| e)))
        .collect();
    let rounds = per_channel.iter().map(|(_, m)| m.len()).max().unwrap_or(0);
    (0..rounds)
        .flat_map(|round| {
            per_channel
                .iter()
                .filter_map(move |(channel, m)| Some((*channel, *m.get(round)?)))
        })
        .collect()
}

/// The events of a message whose fights are followed (`follows`: cursor → the event's
/// game time in ms and its server's wait in seconds), each with its server and wait.
fn followed_events<'a>(
    cursors: impl Iterator<Item = &'a str>,
    follows: &HashMap<&str, (i64, i64)>,
    server_of: &HashMap<&str, (u64, &'a str)>,
) -> Vec<(tower_store::live_posts::FollowedEvent, (u64, &'a str), i64)> {
    cursors
        .enumerate()
        .filter_map(|(index, cursor)| {
            let (at, after) = *follows.get(cursor)?;
            let (guild, server) = *server_of.get(cursor)?;
            let event = tower_store::live_posts::FollowedEvent {
                index,
                server_id: Some(server.to_owned()),
                from_ms: at,
                until_ms: at.saturating_add(after.saturating_mul(1000)),
            };
            Some((event, (guild, server), after))
        })
        .collect()
}

/// A message's nonce: the same for the same notifications in the same channel.
fn nonce(channel: u64, cursors: &[&str]) -> u64 {
    let d = ring::digest::digest(
        &ring::digest::SHA256,
        format!("{channel}|{}", cursors.join(",")).as_bytes(),
    );
    let mut b = [0u8; 8];
    b.copy_from_slice(&d.as_ref()[..8]);
    // Discord nonces are at most 25 characters; any u64 is at most 20 digits.
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use twilight_util::builder::embed::EmbedBuilder;

    #[test]
    fn channels_take_turns_one_message_each() {
        let embeds = |n: usize| -> Vec<(usize, Embed)> {
            (0..n)
                .map(|i| (i, EmbedBuilder::new().title("x").build()))
                .collect()
        };
        // A channel with a backlog of 35 embeds (4 messages), two with one each.
        let posts = vec![(1, embeds(35)), (2, embeds(1)), (3, embeds(1))];
        let order: Vec<u64> = round_robin(&posts).iter().map(|(c, _)| *c).collect();
        assert_eq!(order, [1, 2, 3, 1, 1, 1]);
        let first_of_1: Vec<usize> = round_robin(&posts)
            .iter()
            .filter(|(c, _)| *c == 1)
            .map(|(_, m)| m[0].0)
            .collect();
        assert_eq!(
            first_of_1,
            [0, 10, 20, 30],
            "a channel's messages stay in order"
        );
    }

    #[test]
    fn every_servers_events_in_a_shared_channel_are_followed() {
        // A restart (not followed), then an airdrop of server 7 and a convoy of server 8.
        let follows = HashMap::from([("c2", (1_000, 600)), ("c3", (2_000, 900))]);
        let server_of = HashMap::from([("c1", (5, "7")), ("c2", (5, "7")), ("c3", (5, "8"))]);
        let events = followed_events(["c1", "c2", "c3"].into_iter(), &follows, &server_of);
        let shown: Vec<(usize, Option<&str>, i64, i64)> = events
            .iter()
            .map(|(e, _, _)| (e.index, e.server_id.as_deref(), e.from_ms, e.until_ms))
            .collect();
        assert_eq!(
            shown,
            [
                (1, Some("7"), 1_000, 601_000),
                (2, Some("8"), 2_000, 902_000)
            ]
        );
    }
}
