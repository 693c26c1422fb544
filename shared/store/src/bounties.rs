//! Bounties (issue #17; the earlier bot's rules, EARLIER-BOT.md §2.13): a player places a
//! reward on a game player, paid from their balance; a PvP kill of the target on the live
//! killfeed by anyone but the placer claims every active bounty on them and pays the
//! killer's linked Discord user; a bounty not claimed within its hour expires and its
//! reward goes back to the placer (the earlier bot kept it).
//!
//! Every change of money goes through the ledger under a key of the bounty's
//! (`bounty:<id>:placed`, `:claim`, `:refund`) and every change of state is one atomic
//! update from the state before, so a command retried, a killfeed line read twice or two
//! workers sweeping at once pay once:
//! - placing records the bounty `placing`, debits the placer, then makes it `active` (or
//!   `void` when the balance did not cover it); a placing cut short is finished by
//!   [`Bounties::sweep`] from the debit's recorded outcome;
//! - a claim moves it `active → claimed` naming the killfeed line; a batch finished again
//!   after a crash finds its own line there and pays (again: once). A kill claims the
//!   bounties active when it happened, not when it was read;
//! - a claim whose killer has no linked user is held ([`HOLD_SECS`]): paid by the sweep
//!   once they link, else refunded to the placer;
//! - the sweep moves overdue bounties `active → expired` and refunds them, once a kill
//!   made before the end could no longer be read fresh
//!   ([`crate::kill_rewards::FRESH_FOR_SECS`] after it).
//!
//! Each change is announced through the notification outbox (`bounty` notices, one per
//! bounty and change), posted to the server's bounty channel like the killfeed. A notice
//! is stored before the change that ends its retries, so a process stopped in between
//! loses none.

use std::collections::HashMap;

use futures_util::TryStreamExt;
use mongodb::Collection;
use mongodb::bson::{Bson, DateTime, Document, doc};
use mongodb::error::Error as MongoError;

use crate::db::{Database, collections, is_duplicate_key};
use crate::ledger::{AccountId, Entry, Ledger, Posted, Recorded, Source};
use crate::outbox::{Notice, Outbox};
use crate::player_links::PlayerLinks;
use crate::schema::SCHEMA_VERSION;

/// The smallest and largest reward a player may place, as the earlier bot allowed.
pub const MIN_REWARD: i64 = 50;
pub const MAX_REWARD: i64 = 10_000;
/// How long a bounty stays active.
pub const LIFETIME_SECS: i64 = 3_600;
/// How long a claim by a killer with no linked Discord user waits for them to link.
pub const HOLD_SECS: i64 = 7 * 86_400;
/// An auto-bounty is placed on a player at most once in this long: the bot pays it, so
/// two players taking turns to trigger one on each other and claim it would otherwise
/// make money without end.
pub const AUTO_COOLDOWN_SECS: i64 = 86_400;
/// A placing older than this was cut short and is finished by the sweep.
const PLACING_STALE_SECS: i64 = 60;

/// Where a bounty stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Recorded, the placer's debit not yet confirmed.
    Placing,
    Active,
    Claimed,
    Expired,
    /// The placer could not pay it: it never existed for anyone else.
    Void,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Self::Placing => "placing",
            Self::Active => "active",
            Self::Claimed => "claimed",
            Self::Expired => "expired",
            Self::Void => "void",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Self::Placing,
            Self::Active,
            Self::Claimed,
            Self::Expired,
            Self::Void,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// A bounty as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounty {
    pub id: String,
    pub guild_id: u64,
    pub server_id: String,
    /// The target's EOS id and name.
    pub target_id: String,
    pub target_name: String,
    pub reward: i64,
    pub reason: String,
    /// The Discord user who placed it; `None` for one the bot placed.
    pub placed_by: Option<u64>,
    pub placed_at_unix: i64,
    pub expires_at_unix: i64,
    pub status: Status,
    pub claim: Option<Claim>,
    /// Whether the reward went back to the placer (expired, or a held claim ran out); set
    /// on an auto-bounty too once it is settled, though it has no placer to pay.
    pub refunded: bool,
}

/// Who claimed a bounty, with which killfeed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub hunter_id: String,
    pub hunter_name: String,
    /// The hunter's linked Discord user, once known.
    pub user_id: Option<u64>,
    pub line: String,
    pub at_unix: i64,
    pub paid: bool,
    /// Where the reward goes, once decided: `pay` (the hunter) or `refund` (the placer).
    pub settle: Option<String>,
}

/// A bounty to place.
#[derive(Debug, Clone)]
pub struct NewBounty {
    /// Unique per request (a retried command gets the same bounty).
    pub id: String,
    pub guild_id: u64,
    pub server_id: String,
    pub target_id: String,
    pub target_name: String,
    pub reward: i64,
    pub reason: String,
    pub placed_by: u64,
}

/// A bounty imported from the earlier bot (`towerctl import-legacy`): already settled
/// unless active.
#[derive(Debug, Clone)]
pub struct Imported {
    pub id: String,
    pub guild_id: u64,
    pub server_id: String,
    pub target_id: String,
    pub target_name: String,
    pub reward: i64,
    pub reason: String,
    pub placed_by: Option<u64>,
    pub created_at: DateTime,
    pub expires_at: DateTime,
    pub status: Status,
    /// Who claimed it (EOS id, name) and when, for a claimed one.
    pub hunter: Option<(String, String, DateTime)>,
}

/// What placing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placed {
    Active(Box<Bounty>),
    InsufficientFunds { balance: i64 },
}

/// A PvP kill as a claim needs it.
#[derive(Debug, Clone)]
pub struct KillSeen<'a> {
    /// The killfeed line's identity.
    pub line: &'a str,
    /// When it happened (UTC Unix seconds; taken as no later than the claim): it claims
    /// the bounties active then, not those placed after it, and not those that ran out
    /// before it was read.
    pub at_unix: i64,
    pub killer_id: &'a str,
    pub killer_name: &'a str,
    pub victim_id: &'a str,
}

#[derive(Clone)]
pub struct Bounties {
    bounties: Collection<Document>,
    ledger: Ledger,
    links: PlayerLinks,
    outbox: Outbox,
}

impl Bounties {
    pub fn new(db: &Database) -> Self {
        Self {
            bounties: db.raw().collection(collections::BOUNTIES),
            ledger: Ledger::new(db),
            links: PlayerLinks::new(db),
            outbox: Outbox::new(db),
        }
    }

    /// Places a bounty: the placer pays the reward, then it is active for
    /// [`LIFETIME_SECS`]. Placing the same id again returns the first outcome.
    pub async fn place(&self, new: &NewBounty) -> Result<Placed, MongoError> {
        let now = now_unix();
        let d = doc! {
            "_id": &new.id,
            "guild_id": new.guild_id.to_string(),
            "server_id": &new.server_id,
            "target_id": &new.target_id,
            "target_name": &new.target_name,
            "reward": new.reward,
            "reason": &new.reason,
            "placed_by": new.placed_by.to_string(),
            "source": "player",
            "refunded": false,
            "created_at": DateTime::from_millis(now * 1000),
            "expires_at": DateTime::from_millis((now + LIFETIME_SECS) * 1000),
            "status": Status::Placing.as_str(),
            // Until its notice is stored: a placing cut short after the bounty went
            // active is announced by the sweep.
            "unannounced": true,
            "schema_version": SCHEMA_VERSION,
        };
        match self.bounties.insert_one(d).await {
            Ok(_) => {}
            Err(e) if is_duplicate_key(&e) => {}
            Err(e) => return Err(e),
        }
        let Some(stored) = self.get(&new.id).await? else {
            return Err(MongoError::custom(format!(
                "bounty {} vanished while it was placed",
                new.id
            )));
        };
        self.finish_placing(stored).await
    }

    /// Places a bounty for an auto-bounty trigger, paid by the bot, unless one is active on
    /// the killer already or an auto-bounty was placed on them within
    /// [`AUTO_COOLDOWN_SECS`]. Its id comes from the triggering line: a batch finished again
    /// places it once. Its notice, when placed (now or by that earlier attempt).
    pub async fn place_auto(
        &self,
        guild_id: u64,
        server_id: &str,
        trigger: &crate::auto_bounties::Trigger,
        reward: i64,
    ) -> Result<Option<Notice>, MongoError> {
        // Stable across builds and processes: the same line gives the same bounty.
        let id = {
            let digest = ring::digest::digest(
                &ring::digest::SHA256,
                format!("{guild_id}:{server_id}:{}", trigger.line).as_bytes(),
            );
            let hex: String = digest.as_ref()[..6]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            format!("a{hex}")
        };
        if let Some(b) = self.get(&id).await? {
            return Ok((b.status == Status::Active).then(|| notice(&b, "placed", now_unix())));
        }
        let cooled = DateTime::from_millis((now_unix() - AUTO_COOLDOWN_SECS) * 1000);
        let already = self
            .bounties
            .find_one(doc! {
                "guild_id": guild_id.to_string(),
                "server_id": server_id,
                "target_id": &trigger.killer_id,
                "$or": [
                    { "status": Status::Active.as_str(), "expires_at": { "$gt": DateTime::now() } },
                    { "source": "auto", "created_at": { "$gt": cooled } },
                ],
            })
            .projection(doc! { "_id": 1 })
            .await?;
        if already.is_some() {
            return Ok(None);
        }
        let now = now_unix();
        let b = Bounty {
            id: id.clone(),
            guild_id,
            server_id: server_id.to_owned(),
            target_id: trigger.killer_id.clone(),
            target_name: trigger.killer_name.clone(),
            reward,
            reason: trigger.reason.clone(),
            placed_by: None,
            placed_at_unix: now,
            expires_at_unix: now + LIFETIME_SECS,
            status: Status::Active,
            claim: None,
            refunded: false,
        };
        let d = doc! {
            "_id": &id,
            "guild_id": guild_id.to_string(),
            "server_id": server_id,
            "target_id": &b.target_id,
            "target_name": &b.target_name,
            "reward": reward,
            "reason": &b.reason,
            "source": "auto",
            "refunded": false,
            "trigger_line": &trigger.line,
            "created_at": DateTime::from_millis(now * 1000),
            "expires_at": DateTime::from_millis(b.expires_at_unix * 1000),
            "status": Status::Active.as_str(),
            "schema_version": SCHEMA_VERSION,
        };
        match self.bounties.insert_one(d).await {
            Ok(_) => Ok(Some(notice(&b, "placed", now))),
            Err(e) if is_duplicate_key(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Debits the placer of a bounty being placed and activates it (or voids it).
    async fn finish_placing(&self, b: Bounty) -> Result<Placed, MongoError> {
        let Some(placer) = b.placed_by else {
            return Ok(Placed::Active(Box::new(b)));
        };
        match b.status {
            Status::Placing => {}
            Status::Void => {
                return Ok(Placed::InsufficientFunds {
                    balance: self.ledger.account(&account(&b, placer)).await?.balance,
                });
            }
            _ => return Ok(Placed::Active(Box::new(b))),
        }
        let debit = Entry {
            key: format!("bounty:{}:placed", b.id),
            account: account(&b, placer),
            amount: -b.reward,
            source: Source::BountyPlaced,
            details: format!("Bounty on {}", b.target_name),
            reference: b.id.clone(),
        };
        match self.ledger.post(&debit).await? {
            Posted::Refused { balance } => {
                self.move_status(&b.id, Status::Placing, Status::Void, doc! {})
                    .await?;
                Ok(Placed::InsufficientFunds { balance })
            }
            Posted::Applied { .. } => {
                let moved = self
                    .move_status(&b.id, Status::Placing, Status::Active, doc! {})
                    .await?;
                // Voided meanwhile (this placing stalled past the sweep's patience): the
                // reward taken goes back, once.
                if !moved
                    && self
                        .get(&b.id)
                        .await?
                        .is_some_and(|s| s.status == Status::Void)
                {
                    self.ledger
                        .post(&Entry {
                            key: format!("bounty:{}:refund", b.id),
                            account: account(&b, placer),
                            amount: b.reward,
                            source: Source::BountyRefund,
                            details: format!("Bounty on {} cancelled", b.target_name),
                            reference: b.id.clone(),
                        })
                        .await?;
                    return Err(MongoError::custom(
                        "the bounty was cancelled while it was placed; the reward was returned",
                    ));
                }
                let active = Bounty {
                    status: Status::Active,
                    ..b
                };
                self.announce_placed(&active, now_unix()).await?;
                Ok(Placed::Active(Box::new(active)))
            }
        }
    }

    /// Stores the notice of a placed bounty (once, by its key), then marks it announced.
    async fn announce_placed(&self, b: &Bounty, at_unix: i64) -> Result<(), MongoError> {
        self.outbox.add(vec![notice(b, "placed", at_unix)]).await?;
        self.bounties
            .update_one(
                doc! { "_id": &b.id },
                doc! { "$unset": { "unannounced": "" } },
            )
            .await?;
        Ok(())
    }

    /// Stores an imported bounty unless one with its id exists; whether it was stored.
    /// Nothing is paid or refunded for it now, except an active one's refund when it
    /// expires here.
    pub async fn import(&self, b: &Imported) -> Result<bool, MongoError> {
        let mut d = doc! {
            "_id": &b.id,
            "guild_id": b.guild_id.to_string(),
            "server_id": &b.server_id,
            "target_id": &b.target_id,
            "target_name": &b.target_name,
            "reward": b.reward,
            "reason": &b.reason,
            "source": if b.placed_by.is_some() { "player" } else { "auto" },
            "imported": true,
            "refunded": b.status == Status::Expired,
            "created_at": b.created_at,
            "expires_at": b.expires_at,
            "status": b.status.as_str(),
            "schema_version": SCHEMA_VERSION,
        };
        if let Some(p) = b.placed_by {
            d.insert("placed_by", p.to_string());
        }
        if let Some((hunter_id, hunter_name, at)) = &b.hunter {
            d.insert(
                "claim",
                doc! {
                    "hunter_id": hunter_id,
                    "hunter_name": hunter_name,
                    "line": "",
                    "at": *at,
                    "paid": true,
                    "settle": "pay",
                },
            );
        }
        match self.bounties.insert_one(d).await {
            Ok(_) => Ok(true),
            Err(e) if is_duplicate_key(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// One bounty.
    pub async fn get(&self, id: &str) -> Result<Option<Bounty>, MongoError> {
        Ok(self
            .bounties
            .find_one(doc! { "_id": id })
            .await?
            .as_ref()
            .and_then(bounty_of))
    }

    /// A server's active bounties, the soonest to expire first.
    pub async fn active(&self, guild_id: u64, server_id: &str) -> Result<Vec<Bounty>, MongoError> {
        self.list(
            doc! {
                "guild_id": guild_id.to_string(),
                "server_id": server_id,
                "status": Status::Active.as_str(),
                "expires_at": { "$gt": DateTime::now() },
            },
            doc! { "expires_at": 1 },
            100,
        )
        .await
    }

    /// The bounties a user placed on a server, newest first.
    pub async fn placed_by(
        &self,
        guild_id: u64,
        server_id: &str,
        user_id: u64,
        limit: i64,
    ) -> Result<Vec<Bounty>, MongoError> {
        self.list(
            doc! {
                "guild_id": guild_id.to_string(),
                "server_id": server_id,
                "placed_by": user_id.to_string(),
                "status": { "$in": ["active", "claimed", "expired"] },
            },
            doc! { "created_at": -1 },
            limit,
        )
        .await
    }

    /// The bounties a user's kills claimed on a server, newest first.
    pub async fn claimed_by(
        &self,
        guild_id: u64,
        server_id: &str,
        user_id: u64,
        limit: i64,
    ) -> Result<Vec<Bounty>, MongoError> {
        self.list(
            doc! {
                "guild_id": guild_id.to_string(),
                "server_id": server_id,
                "claim.user_id": user_id.to_string(),
                "status": Status::Claimed.as_str(),
            },
            doc! { "claim.at": -1 },
            limit,
        )
        .await
    }

    async fn list(
        &self,
        filter: Document,
        sort: Document,
        limit: i64,
    ) -> Result<Vec<Bounty>, MongoError> {
        let docs: Vec<Document> = self
            .bounties
            .find(filter)
            .sort(sort)
            .limit(limit)
            .await?
            .try_collect()
            .await?;
        Ok(docs.iter().filter_map(bounty_of).collect())
    }

    /// Claims, for a live killfeed batch's counted PvP kills in order, every active
    /// bounty on each victim not placed by the killer's linked user (`holders`: killer EOS
    /// id → Discord user), and pays the linked hunters. One query when no kill's victim
    /// has a bounty. The notices of the claims, to store with the batch's.
    pub async fn claim(
        &self,
        guild_id: u64,
        server_id: &str,
        kills: &[KillSeen<'_>],
        holders: &HashMap<&str, u64>,
    ) -> Result<Vec<Notice>, MongoError> {
        if kills.is_empty() {
            return Ok(Vec::new());
        }
        let mut victims: Vec<&str> = kills.iter().map(|k| k.victim_id).collect();
        victims.sort_unstable();
        victims.dedup();
        let lines: Vec<&str> = kills.iter().map(|k| k.line).collect();
        // Active ones (those run out within the freshness a kill is read in are not expired
        // yet), and those this batch claimed already (finished again after a crash).
        let open: Vec<Bounty> = self
            .list(
                doc! {
                    "guild_id": guild_id.to_string(),
                    "server_id": server_id,
                    "target_id": { "$in": &victims },
                    "$or": [
                        { "status": Status::Active.as_str(), "expires_at": { "$gt": expiry_cutoff(now_unix()) } },
                        { "status": Status::Claimed.as_str(), "claim.line": { "$in": &lines } },
                    ],
                },
                doc! { "created_at": 1 },
                1_000,
            )
            .await?;
        if open.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_unix();
        let mut notices = Vec::new();
        for kill in kills {
            let user = holders.get(kill.killer_id).copied();
            for b in open.iter().filter(|b| b.target_id == kill.victim_id) {
                // The placer killing their own target claims nothing; nor does a kill by
                // the target (a suicide is not a PvP kill, but names may be reused).
                if (b.placed_by.is_some() && b.placed_by == user) || kill.killer_id == b.target_id {
                    continue;
                }
                // Only a bounty active when the kill happened.
                let at = kill.at_unix.min(now);
                if b.claim.is_none() && !(b.placed_at_unix <= at && at < b.expires_at_unix) {
                    continue;
                }
                let claimed_here = match &b.claim {
                    Some(c) => c.line == kill.line,
                    None => {
                        let claim = doc! {
                            "hunter_id": kill.killer_id,
                            "hunter_name": kill.killer_name,
                            "user_id": user.map(|u| u.to_string()),
                            "line": kill.line,
                            "at": DateTime::from_millis(now * 1000),
                            "paid": false,
                        };
                        self.move_status(
                            &b.id,
                            Status::Active,
                            Status::Claimed,
                            doc! { "claim": claim },
                        )
                        .await?
                    }
                };
                if !claimed_here {
                    continue;
                }
                let Some(claimed) = self.get(&b.id).await? else {
                    continue;
                };
                let paid = self.pay_claim(&claimed, None).await?;
                notices.push(notice(&paid, "claimed", now));
            }
        }
        Ok(notices)
    }

    /// Pays a claimed bounty's hunter when they are linked (once, by the ledger key);
    /// with `announce_at`, its "paid" notice is stored before it is marked paid (which
    /// ends the retries).
    async fn pay_claim(&self, b: &Bounty, announce_at: Option<i64>) -> Result<Bounty, MongoError> {
        let Some(user) = b.claim.as_ref().and_then(|c| c.user_id) else {
            return Ok(b.clone());
        };
        let decided = self.settle(b, "pay", Some(user)).await?;
        let Some(claim) = decided.claim.as_ref() else {
            return Ok(decided);
        };
        if claim.settle.as_deref() != Some("pay") || claim.paid {
            return Ok(decided);
        }
        // The user decided on, not the one asked: a /link and a sweep at once pay one.
        let Some(user) = claim.user_id else {
            return Ok(decided);
        };
        let credit = Entry {
            key: format!("bounty:{}:claim", b.id),
            account: account(b, user),
            amount: b.reward,
            source: Source::BountyClaimed,
            details: format!("Bounty on {} claimed", b.target_name),
            reference: b.id.clone(),
        };
        self.ledger.post(&credit).await?;
        let mut paid = decided.clone();
        if let Some(c) = &mut paid.claim {
            c.paid = true;
        }
        if let Some(at) = announce_at {
            self.outbox.add(vec![notice(&paid, "paid", at)]).await?;
        }
        self.bounties
            .update_one(
                doc! { "_id": &b.id },
                doc! { "$set": { "claim.paid": true } },
            )
            .await?;
        Ok(paid)
    }

    /// Decides once where a claimed bounty's reward goes: to the hunter (`pay`, naming
    /// their user) or back to the placer (`refund`). The bounty as decided, by this call or
    /// an earlier one (the decision stands; the money follows it, resumably).
    async fn settle(
        &self,
        b: &Bounty,
        decision: &str,
        user: Option<u64>,
    ) -> Result<Bounty, MongoError> {
        let mut set = doc! { "claim.settle": decision };
        if let Some(u) = user {
            set.insert("claim.user_id", u.to_string());
        }
        self.bounties
            .update_one(
                doc! { "_id": &b.id, "status": Status::Claimed.as_str(), "claim.settle": { "$exists": false } },
                doc! { "$set": set },
            )
            .await?;
        Ok(self.get(&b.id).await?.unwrap_or_else(|| b.clone()))
    }

    /// Pays a player's held claims to the user who just linked them; the coins paid.
    pub async fn pay_held(
        &self,
        guild_id: u64,
        server_id: &str,
        player_id: &str,
        user_id: u64,
    ) -> Result<i64, MongoError> {
        let held = self
            .list(
                doc! {
                    "guild_id": guild_id.to_string(),
                    "server_id": server_id,
                    "status": Status::Claimed.as_str(),
                    "claim.hunter_id": player_id,
                    "claim.paid": false,
                    "refunded": false,
                },
                doc! { "claim.at": 1 },
                100,
            )
            .await?;
        let mut paid = 0;
        for b in held {
            paid += self
                .pay_held_claim(&b, Some(user_id), now_unix())
                .await?
                .unwrap_or(0);
        }
        Ok(paid)
    }

    /// Pays a held claim, to `user` where the hunter has just been found linked, and
    /// announces it. The reward when the hunter has it, `None` where the claim was
    /// decided for the placer (a sweep that found the hold over got there first).
    async fn pay_held_claim(
        &self,
        b: &Bounty,
        user: Option<u64>,
        at_unix: i64,
    ) -> Result<Option<i64>, MongoError> {
        let mut linked = b.clone();
        if let (Some(u), Some(c)) = (user, &mut linked.claim) {
            c.user_id = Some(u);
        }
        let paid = self.pay_claim(&linked, Some(at_unix)).await?;
        Ok(paid
            .claim
            .as_ref()
            .is_some_and(|c| c.paid)
            .then_some(paid.reward))
    }

    /// Expires overdue bounties and refunds them, pays held claims whose hunter has linked
    /// since (refunding those held too long), and finishes placings cut short. Safe to run
    /// from any number of processes at once. How many bounties it changed.
    pub async fn sweep(&self) -> Result<u64, MongoError> {
        let now = now_unix();
        let mut changed = 0;
        // Placings cut short: the debit's outcome decides; one never made is not made now
        // (the placer was told it failed).
        let stale = DateTime::from_millis((now - PLACING_STALE_SECS) * 1000);
        for b in self
            .list(
                doc! { "status": Status::Placing.as_str(), "created_at": { "$lt": stale } },
                doc! { "created_at": 1 },
                500,
            )
            .await?
        {
            let debit = format!("bounty:{}:placed", b.id);
            match self.ledger.state(&debit).await? {
                Recorded::Pending => continue,
                Recorded::Done(Posted::Applied { .. }) => {
                    self.finish_placing(b).await?;
                }
                Recorded::Missing | Recorded::Done(Posted::Refused { .. }) => {
                    self.move_status(&b.id, Status::Placing, Status::Void, doc! {})
                        .await?;
                }
            }
            changed += 1;
        }
        // Placed, and cut short before their notice was stored.
        for b in self
            .list(
                doc! { "status": Status::Active.as_str(), "unannounced": true, "created_at": { "$lt": stale } },
                doc! { "created_at": 1 },
                500,
            )
            .await?
        {
            self.announce_placed(&b, now).await?;
            changed += 1;
        }
        // Expired: active past their time, and those expired whose refund was cut short.
        let overdue = self
            .list(
                doc! {
                    "$or": [
                        { "status": Status::Active.as_str(), "expires_at": { "$lte": expiry_cutoff(now) } },
                        { "status": Status::Expired.as_str(), "refunded": false },
                    ],
                },
                doc! { "expires_at": 1 },
                500,
            )
            .await?;
        for b in overdue {
            if b.status == Status::Active
                && !self
                    .move_status(&b.id, Status::Active, Status::Expired, doc! {})
                    .await?
            {
                continue; // claimed (or expired by another sweep) meanwhile
            }
            self.refund(&b, "expired").await?;
            changed += 1;
        }
        // Held claims: paid once the hunter links, refunded when the hold runs out; a
        // decision taken before (by a sweep or a /link cut short) is carried out.
        let held = self
            .list(
                doc! { "status": Status::Claimed.as_str(), "refunded": false, "claim.paid": false },
                doc! { "claim.at": 1 },
                500,
            )
            .await?;
        for b in held {
            let Some(claim) = &b.claim else { continue };
            match claim.settle.as_deref() {
                Some("pay") => {
                    self.pay_held_claim(&b, None, now).await?;
                    changed += 1;
                    continue;
                }
                Some(_) => {
                    self.refund(&b, "unclaimed").await?;
                    changed += 1;
                    continue;
                }
                None => {}
            }
            let hunter = match claim.user_id {
                Some(u) => Some(u),
                None => {
                    let found = self
                        .links
                        .holders(b.guild_id, &b.server_id, &[claim.hunter_id.as_str()])
                        .await?;
                    found.get(&claim.hunter_id).copied()
                }
            };
            match hunter {
                Some(user) => {
                    self.pay_held_claim(&b, Some(user), now).await?;
                    changed += 1;
                }
                None if now - claim.at_unix > HOLD_SECS => {
                    let decided = self.settle(&b, "refund", None).await?;
                    match decided.claim.as_ref().and_then(|c| c.settle.as_deref()) {
                        Some("refund") => self.refund(&decided, "unclaimed").await?,
                        _ => {
                            self.pay_held_claim(&decided, None, now).await?;
                        }
                    }
                    changed += 1;
                }
                None => {}
            }
        }
        Ok(changed)
    }

    /// Gives a bounty's reward back to its placer (once), marks it refunded, announces it.
    async fn refund(&self, b: &Bounty, why: &str) -> Result<(), MongoError> {
        if let Some(placer) = b.placed_by {
            let credit = Entry {
                key: format!("bounty:{}:refund", b.id),
                account: account(b, placer),
                amount: b.reward,
                source: Source::BountyRefund,
                details: format!("Bounty on {} {why}", b.target_name),
                reference: b.id.clone(),
            };
            self.ledger.post(&credit).await?;
        }
        let refunded = Bounty {
            status: if b.status == Status::Claimed {
                Status::Claimed
            } else {
                Status::Expired
            },
            refunded: true,
            ..b.clone()
        };
        // Announced before it is marked refunded (which ends the sweeps' retries), keyed by
        // bounty and event: once, however many sweeps got here.
        self.outbox
            .add(vec![notice(&refunded, why, now_unix())])
            .await?;
        // An auto-bounty has no placer: marked settled all the same, so no sweep takes it up.
        self.bounties
            .update_one(doc! { "_id": &b.id }, doc! { "$set": { "refunded": true } })
            .await?;
        Ok(())
    }

    /// Runs [`Bounties::sweep`] every minute until `stop` resolves.
    pub async fn sweep_until(self, stop: impl std::future::Future<Output = ()>) {
        let period = std::time::Duration::from_secs(60);
        crate::sweep::every(period, stop, "bounties", || self.sweep()).await;
    }

    /// Moves a bounty from one status to another (with `set`); whether this call did.
    async fn move_status(
        &self,
        id: &str,
        from: Status,
        to: Status,
        set: Document,
    ) -> Result<bool, MongoError> {
        let mut set = set;
        set.insert("status", to.as_str());
        set.insert("updated_at", DateTime::now());
        let moved = self
            .bounties
            .update_one(
                doc! { "_id": id, "status": from.as_str() },
                doc! { "$set": set },
            )
            .await?;
        Ok(moved.modified_count == 1)
    }
}

fn account(b: &Bounty, user_id: u64) -> AccountId {
    AccountId {
        guild_id: b.guild_id,
        server_id: b.server_id.clone(),
        user_id,
    }
}

/// Bounties that ran out before this are expired: a kill before its end may be read up to
/// [`crate::kill_rewards::FRESH_FOR_SECS`] later, and still claims it.
fn expiry_cutoff(now_unix: i64) -> DateTime {
    DateTime::from_millis((now_unix - crate::kill_rewards::FRESH_FOR_SECS) * 1000)
}

fn now_unix() -> i64 {
    DateTime::now().timestamp_millis() / 1000
}

fn unix(d: &Document, key: &str) -> i64 {
    d.get_datetime(key)
        .map(|t| t.timestamp_millis() / 1000)
        .unwrap_or(0)
}

fn bounty_of(d: &Document) -> Option<Bounty> {
    let id_of = |v: Option<&Bson>| match v? {
        Bson::String(s) => s.parse().ok(),
        Bson::Int64(n) => u64::try_from(*n).ok(),
        _ => None,
    };
    let claim = d.get_document("claim").ok().map(|c| Claim {
        hunter_id: c.get_str("hunter_id").unwrap_or_default().to_owned(),
        hunter_name: c.get_str("hunter_name").unwrap_or_default().to_owned(),
        user_id: id_of(c.get("user_id")),
        line: c.get_str("line").unwrap_or_default().to_owned(),
        at_unix: unix(c, "at"),
        paid: c.get_bool("paid").unwrap_or(false),
        settle: c.get_str("settle").ok().map(str::to_owned),
    });
    Some(Bounty {
        id: d.get_str("_id").ok()?.to_owned(),
        guild_id: id_of(d.get("guild_id"))?,
        server_id: d.get_str("server_id").ok()?.to_owned(),
        target_id: d.get_str("target_id").unwrap_or_default().to_owned(),
        target_name: d.get_str("target_name").unwrap_or_default().to_owned(),
        reward: crate::stats_store::get_i64(d, "reward").unwrap_or(0),
        reason: d.get_str("reason").unwrap_or_default().to_owned(),
        placed_by: id_of(d.get("placed_by")),
        placed_at_unix: unix(d, "created_at"),
        expires_at_unix: unix(d, "expires_at"),
        status: Status::parse(d.get_str("status").ok()?)?,
        claim,
        refunded: d.get_bool("refunded").unwrap_or(false),
    })
}

/// A `bounty` notification: `event` is placed, claimed, paid, expired or unclaimed.
fn notice(b: &Bounty, event: &str, at_unix: i64) -> Notice {
    let mut data = doc! {
        "bounty_id": &b.id,
        "event": event,
        "target": { "id": &b.target_id, "name": &b.target_name },
        "reward": b.reward,
        "reason": &b.reason,
        "expires_unix": b.expires_at_unix,
        "refunded": b.refunded,
    };
    if let Some(p) = b.placed_by {
        data.insert("placed_by", p.to_string());
    }
    if let Some(c) = &b.claim {
        data.insert(
            "hunter",
            doc! { "id": &c.hunter_id, "name": &c.hunter_name },
        );
        if let Some(u) = c.user_id {
            data.insert("hunter_user", u.to_string());
        }
        data.insert("paid", c.paid);
    }
    Notice {
        key: format!("b:{}:{event}", b.id),
        guild_id: b.guild_id,
        server_id: b.server_id.clone(),
        kind: "bounty",
        at_ms: at_unix.saturating_mul(1000),
        data,
    }
}

/// A guild's bounty settings (`/bounty settings`): the earlier bot's names, ranges and
/// defaults. Auto-bounties are off until an admin turns them on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BountySettings {
    pub auto_bounty: bool,
    /// Kills within the window, without dying, that put a bounty on the killer.
    pub kill_threshold: i64,
    /// Kills of the same victim within the window that put a bounty on the killer.
    pub repeat_threshold: i64,
    /// Minutes.
    pub time_window: i64,
    /// What an auto-bounty pays its hunter (the bot pays it: no one's balance is debited).
    pub reward_amount: i64,
}

impl Default for BountySettings {
    fn default() -> Self {
        Self {
            auto_bounty: false,
            kill_threshold: 5,
            repeat_threshold: 3,
            time_window: 10,
            reward_amount: 100,
        }
    }
}

/// The numeric settings: (name, smallest, largest), as the earlier bot bounded them.
pub const NUMERIC_SETTINGS: [(&str, i64, i64); 4] = [
    ("kill_threshold", 3, 10),
    ("repeat_threshold", 2, 8),
    ("time_window", 5, 30),
    ("reward_amount", 50, 1_000),
];

impl BountySettings {
    /// As stored in the guild document (`bounty_settings`); a value out of its range (an
    /// old or hand-edited document) counts as the default.
    pub fn from_doc(d: Option<&Document>) -> Self {
        let dflt = Self::default();
        let num = |name: &str, default: i64| {
            let range = NUMERIC_SETTINGS.iter().find(|(n, ..)| *n == name);
            d.and_then(|d| crate::stats_store::get_i64(d, name))
                .filter(|v| range.is_some_and(|(_, lo, hi)| (lo..=hi).contains(&v)))
                .unwrap_or(default)
        };
        Self {
            auto_bounty: d
                .and_then(|d| d.get_bool("auto_bounty").ok())
                .unwrap_or(dflt.auto_bounty),
            kill_threshold: num("kill_threshold", dflt.kill_threshold),
            repeat_threshold: num("repeat_threshold", dflt.repeat_threshold),
            time_window: num("time_window", dflt.time_window),
            reward_amount: num("reward_amount", dflt.reward_amount),
        }
    }
}
