//! The economy's ledger (issue #17): every change of a balance is a transaction record
//! (source, amount, balance after, reference), applied exactly once without multi-document
//! transactions, so it works on a standalone MongoDB as well as a replica set.
//!
//! An account is one document per (guild, game server, Discord user), as the earlier bot
//! kept them. A transaction is keyed by what caused it (`kill:<guild>:<server>:<line id>`,
//! `daily:…:<day>`, `give:<interaction id>:debit`): posting the same key twice — a line
//! read again, a command retried, a worker that took over — applies it once.
//!
//! Posting goes in three steps, each safe to repeat:
//! 1. the transaction is recorded `pending` (its key is its `_id`: a second post finds it);
//! 2. the account is changed by one atomic update that only matches while the account's
//!    `recent` keys lack this one (and, for a debit, while the balance covers it), pushing
//!    the key; so no change is applied twice and no balance goes below zero, whatever
//!    runs at the same moment;
//! 3. the transaction is marked `applied` (with the balance after) or `refused`; the post
//!    that marks it is the one told it applied it now (`earlier: false`).
//!
//! A post cut short between 2 and 3 is completed by posting it again (or by
//! [`Ledger::resume_pending`]): step 2 then finds its key in `recent`. An account keeps its
//! last [`RECENT_KEYS`] keys, far more than can be posted to one account before a pending
//! transaction is resumed (within a minute).
//!
//! Credits that arrive together (a killfeed batch's kill rewards, one per account) are
//! posted at once ([`Ledger::post_credits`]) in a constant number of round trips: the
//! caller keeps them durably until posted (the batch's pending record is their intent), so
//! each is recorded once, after its account changed. Their guard is the batch's number,
//! not a key in `recent`: a server's batches are applied in the order they are numbered,
//! so an account takes a batch's credit only while its `last_kill_batch` is below that
//! number, as the statistics' documents take a batch (`last_batch`). An account paid by
//! every batch of a busy server would otherwise carry a full window of keys, and every
//! change to it would rewrite them (3.2x the update's time at 512 keys on SecantusDB).
//!
//! A transfer is two transactions: its credit recorded `waiting`, then its debit posted,
//! then its credit posted. A credit cannot be refused, so once the debit is applied the
//! transfer completes; [`Ledger::resume_pending`] completes one cut short (or voids its
//! credit when the debit was refused or never made), so it ends with both or neither.

use futures_util::TryStreamExt;
use mongodb::Collection;
use mongodb::bson::{Bson, DateTime, Document, doc};
use mongodb::error::Error as MongoError;
use mongodb::options::ReturnDocument;

use crate::db::{Database, collections, is_duplicate_key};
use crate::schema::SCHEMA_VERSION;

/// Transaction keys an account remembers, newest last.
pub const RECENT_KEYS: i32 = 512;
/// A pending transaction older than this is resumed by [`Ledger::resume_pending`].
pub const RESUME_AFTER_SECS: i64 = 60;

/// Whose balance: a Discord user's on one game server of a guild.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountId {
    pub guild_id: u64,
    pub server_id: String,
    pub user_id: u64,
}

impl AccountId {
    fn key(&self) -> String {
        format!("{}:{}:{}", self.guild_id, self.server_id, self.user_id)
    }
}

/// The accounts of one server of a guild, by their keys (`_id` of an account, `account`
/// of a transaction): a range of an index every write keeps anyway, where an index of
/// their own would be rewritten by every change of a balance (a third of the time of
/// crediting a batch's accounts on SecantusDB). The range's `guild:server:` prefix also
/// takes in a server named `server:…`: [`on_server`] says which server exactly, in a
/// stage of its own (a planner may skip the index of a range that shares its stage).
fn by_key(key: &str, guild_id: u64, server_id: &str) -> Document {
    doc! {
        key: {
            "$gte": format!("{guild_id}:{server_id}:"),
            "$lt": format!("{guild_id}:{server_id};"),
        },
    }
}

/// The documents of exactly one server of a guild, among those of [`by_key`].
fn on_server(guild_id: u64, server_id: &str) -> Document {
    doc! { "guild_id": guild_id.to_string(), "server_id": server_id }
}

/// Why a balance changed, as the earlier bot named its transaction sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    KillReward,
    KillstreakBonus,
    DailyReward,
    Transfer,
    Received,
    AdminAdjustment,
    Gambling,
    BountyPlaced,
    BountyRefund,
    BountyClaimed,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KillReward => "kill_reward",
            Self::KillstreakBonus => "killstreak_bonus",
            Self::DailyReward => "daily_reward",
            Self::Transfer => "transfer",
            Self::Received => "received",
            Self::AdminAdjustment => "admin_adjustment",
            Self::Gambling => "gambling",
            Self::BountyPlaced => "bounty_placed",
            Self::BountyRefund => "bounty_refund",
            Self::BountyClaimed => "bounty_claimed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::KillReward,
            Self::KillstreakBonus,
            Self::DailyReward,
            Self::Transfer,
            Self::Received,
            Self::AdminAdjustment,
            Self::Gambling,
            Self::BountyPlaced,
            Self::BountyRefund,
            Self::BountyClaimed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Money coming in counts toward lifetime earnings; a transfer received does not
    /// (it was earned once already), nor does a refund, nor a game's return (its stake
    /// coming back is not earned, and a push would count it again).
    fn earns(self) -> bool {
        matches!(
            self,
            Self::KillReward
                | Self::KillstreakBonus
                | Self::DailyReward
                | Self::AdminAdjustment
                | Self::BountyClaimed
        )
    }
}

/// One change to post.
#[derive(Debug, Clone)]
pub struct Entry {
    /// What caused it, unique: posting the same key again changes nothing.
    pub key: String,
    pub account: AccountId,
    /// Credits in (positive) or out (negative); never 0.
    pub amount: i64,
    pub source: Source,
    /// Shown in the history ("To @user", "Daily reward claimed").
    pub details: String,
    /// What it refers to (a killfeed line id, a transfer's other account, a bounty).
    pub reference: String,
}

/// What posting did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posted {
    /// Applied, now or by an earlier post of the same key (`earlier`); the balance right
    /// after it (`None` when an earlier post applied it and was cut short before recording
    /// it).
    Applied {
        balance_after: Option<i64>,
        earlier: bool,
    },
    /// A debit the balance did not cover (now or when first posted); the balance then.
    Refused { balance: i64 },
}

/// A server's economy in figures ([`Ledger::server_stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EconomyStats {
    pub total_balance: i64,
    pub lifetime: i64,
    pub accounts: i64,
    /// The top transaction sources by count.
    pub sources: Vec<SourceStats>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceStats {
    /// As stored (`kill_reward`, `gambling`, …).
    pub source: String,
    pub count: i64,
    pub credits_in: i64,
    /// Credits out, as a positive number.
    pub credits_out: i64,
}

/// Where one transaction stands ([`Ledger::state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Never recorded: nothing was changed.
    Missing,
    /// Recorded, not finished: [`Ledger::resume_pending`] finishes it.
    Pending,
    Done(Posted),
}

/// One account as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Account {
    pub balance: i64,
    pub lifetime: i64,
}

/// A recorded transaction, for the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub key: String,
    pub amount: i64,
    pub source: Option<Source>,
    pub details: String,
    pub balance_after: Option<i64>,
    pub at_unix: i64,
}

/// A transfer's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transferred {
    Done {
        from_balance: Option<i64>,
    },
    InsufficientFunds {
        balance: i64,
    },
    /// Stalled past [`RESUME_AFTER_SECS`] before its debit, and called off by
    /// [`Ledger::resume_pending`] meanwhile: nothing moved.
    CalledOff,
}

#[derive(Clone)]
pub struct Ledger {
    db: Database,
    accounts: Collection<Document>,
    transactions: Collection<Document>,
}

impl Ledger {
    pub fn new(db: &Database) -> Self {
        let raw = db.raw();
        Self {
            db: db.clone(),
            accounts: raw.collection(collections::ECONOMY_ACCOUNTS),
            transactions: raw.collection(collections::ECONOMY_TRANSACTIONS),
        }
    }

    /// An account's balance and lifetime earnings (zero when it has none yet).
    pub async fn account(&self, id: &AccountId) -> Result<Account, MongoError> {
        Ok(self
            .accounts
            .find_one(doc! { "_id": id.key() })
            .projection(doc! { "balance": 1, "lifetime": 1 })
            .await?
            .map(|d| Account {
                balance: int(&d, "balance"),
                lifetime: int(&d, "lifetime"),
            })
            .unwrap_or_default())
    }

    /// Posts one change, exactly once per key (see the module's steps).
    pub async fn post(&self, entry: &Entry) -> Result<Posted, MongoError> {
        match self.transactions.insert_one(record(entry, "pending")).await {
            Ok(_) => self.apply(entry).await,
            Err(e) if is_duplicate_key(&e) => {
                // Posted before: its outcome, or the rest of a post cut short.
                let Some(d) = self
                    .transactions
                    .find_one(doc! { "_id": &entry.key })
                    .await?
                else {
                    return self.apply(entry).await;
                };
                if let Some(done) = outcome_of(&d) {
                    return Ok(done);
                }
                // Cut short: what was recorded is finished, not what is asked now (a
                // retried batch may name another user or amount; `resume_pending` would
                // apply the recorded one).
                match entry_of(&d) {
                    Some(stored) => self.apply(&stored).await,
                    None => self.apply(entry).await,
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Where the transaction of `key` stands.
    pub async fn state(&self, key: &str) -> Result<Recorded, MongoError> {
        Ok(
            match self.transactions.find_one(doc! { "_id": key }).await? {
                None => Recorded::Missing,
                Some(d) => match outcome_of(&d) {
                    Some(done) => Recorded::Done(done),
                    None => Recorded::Pending,
                },
            },
        )
    }

    /// Steps 2 and 3 of a post.
    async fn apply(&self, entry: &Entry) -> Result<Posted, MongoError> {
        let posted = self.change_account(entry).await?;
        let set = match posted {
            Posted::Applied { balance_after, .. } => {
                let mut set = doc! { "state": "applied" };
                if let Some(b) = balance_after {
                    set.insert("balance_after", b);
                }
                set
            }
            Posted::Refused { balance } => {
                doc! { "state": "refused", "balance_at_refusal": balance }
            }
        };
        // Whoever records the outcome is the post that made it: two posts of one key at
        // once (or a retried write) may both find the key applied, but only one records it.
        let recorded = self
            .transactions
            .update_one(
                doc! { "_id": &entry.key, "state": { "$in": ["pending", "waiting"] } },
                doc! { "$set": set },
            )
            .await?;
        let earlier = recorded.modified_count == 0;
        Ok(match posted {
            Posted::Applied { balance_after, .. } => Posted::Applied {
                balance_after,
                earlier,
            },
            refused => refused,
        })
    }

    /// Step 2 of a post: the account changed once for `entry`, unless it holds its key
    /// (`earlier`) or, for a debit, its balance does not cover it.
    async fn change_account(&self, entry: &Entry) -> Result<Posted, MongoError> {
        let account = entry.account.key();
        let mut filter = doc! { "_id": &account, "recent": { "$ne": &entry.key } };
        let mut inc = doc! { "balance": entry.amount };
        if entry.amount > 0 && entry.source.earns() {
            inc.insert("lifetime", entry.amount);
        }
        if entry.amount < 0 {
            filter.insert("balance", doc! { "$gte": -entry.amount });
        }
        let update = doc! {
            "$inc": inc,
            "$push": { "recent": { "$each": [&entry.key], "$slice": -RECENT_KEYS } },
            "$set": {
                "updated_at": DateTime::now(),
                "last_post": &entry.key,
                "schema_version": SCHEMA_VERSION,
            },
            "$setOnInsert": {
                "guild_id": entry.account.guild_id.to_string(),
                "server_id": &entry.account.server_id,
                "user_id": entry.account.user_id.to_string(),
            },
        };
        // A credit may open the account; a debit needs one that covers it. Two credits
        // opening one account at once: the second's insert meets the first's account, and
        // it goes again (then as an update).
        let mut changed;
        let mut tries = 0;
        loop {
            changed = self
                .accounts
                .find_one_and_update(filter.clone(), update.clone())
                .upsert(entry.amount > 0)
                .return_document(ReturnDocument::After)
                .await;
            tries += 1;
            match &changed {
                Err(e)
                    if tries < 3
                        && is_duplicate_key(e)
                        && !self.holds(&account, &entry.key).await? => {}
                _ => break,
            }
        }
        Ok(match changed {
            Ok(Some(d)) => Posted::Applied {
                balance_after: Some(int(&d, "balance")),
                earlier: false,
            },
            // The account holds the key already (a credit's upsert then meets its id).
            Ok(None) | Err(_) if self.holds(&account, &entry.key).await? => Posted::Applied {
                balance_after: None,
                earlier: true,
            },
            Ok(None) => Posted::Refused {
                balance: self.account(&entry.account).await?.balance,
            },
            Err(e) => return Err(e),
        })
    }

    /// Whether the account has applied `key`.
    async fn holds(&self, account: &str, key: &str) -> Result<bool, MongoError> {
        Ok(self
            .accounts
            .find_one(doc! { "_id": account, "recent": key })
            .projection(doc! { "_id": 1 })
            .await?
            .is_some())
    }

    /// Posts the credits of batch number `batch` of a server's killfeed (its kill
    /// rewards: one per account, each account of that server), each once, in three round
    /// trips whatever their number. The balance after each, in order (`None` where it is
    /// not known exactly: another change landed on the account in between, or an earlier
    /// post applied it).
    ///
    /// The caller keeps the credits durably until this returns, and posts the same ones
    /// again if it was cut short (a killfeed batch keeps them with its pending record):
    /// that is their intent, so each is recorded once, after its account changed.
    /// 1. every account is credited by one unordered `update` command, each statement
    ///    matching only while its account's `last_kill_batch` is below `batch`;
    /// 2. the accounts are read: a balance is this credit's when the account's
    ///    `last_post` is still its key;
    /// 3. each credit is recorded `applied`, with its balance; one recorded before (the
    ///    batch finished again) stands as recorded.
    ///
    /// A statement refused with a duplicate key is a credit applied before (its account
    /// took this batch: posted again after a crash), or two posts opening one account at
    /// once (then it goes again).
    pub async fn post_credits(
        &self,
        batch: i64,
        credits: &[Entry],
    ) -> Result<Vec<Option<i64>>, MongoError> {
        let mut balances = vec![None; credits.len()];
        let asked: Vec<usize> = (0..credits.len())
            .filter(|&i| credits[i].amount > 0)
            .collect();
        if asked.is_empty() {
            return Ok(balances);
        }
        // 1. One statement per credit; those refused as a duplicate that their accounts do
        // not hold met an account opened at the same moment, and go again (as updates).
        let now = DateTime::now();
        let mut going = asked.clone();
        let mut held = std::collections::HashSet::new();
        for _ in 0..3 {
            let statements: Vec<Document> = going
                .iter()
                .map(|&i| credit_statement(&credits[i], batch, now))
                .collect();
            let refused = self
                .db
                .update_statements(collections::ECONOMY_ACCOUNTS, &statements)
                .await?;
            if let Some((_, code, message)) = refused.iter().find(|(_, code, _)| *code != 11000) {
                return Err(MongoError::custom(format!(
                    "crediting accounts refused (code {code}): {message}"
                )));
            }
            let refused: Vec<usize> = refused
                .iter()
                .filter_map(|(n, _, _)| going.get(*n).copied())
                .collect();
            let holding = self.held(batch, credits, &refused).await?;
            going = refused
                .into_iter()
                .filter(|i| !holding.contains(i))
                .collect();
            held.extend(holding);
            if going.is_empty() {
                break;
            }
        }
        if let Some(&i) = going.first() {
            return Err(MongoError::custom(format!(
                "crediting account {} for batch {batch} kept meeting a duplicate key",
                credits[i].account.key()
            )));
        }
        // 2. The balances right after.
        let ids: Vec<String> = asked.iter().map(|&i| credits[i].account.key()).collect();
        let after: std::collections::HashMap<String, (i64, String)> = self
            .accounts
            .find(doc! { "_id": { "$in": &ids } })
            .projection(doc! { "balance": 1, "last_post": 1 })
            .await?
            .try_collect::<Vec<Document>>()
            .await?
            .iter()
            .filter_map(|d| {
                Some((
                    d.get_str("_id").ok()?.to_owned(),
                    (
                        int(d, "balance"),
                        d.get_str("last_post").unwrap_or_default().to_owned(),
                    ),
                ))
            })
            .collect();
        for &i in &asked {
            if balances[i].is_none() {
                balances[i] = after
                    .get(&credits[i].account.key())
                    .filter(|(_, last)| *last == credits[i].key)
                    .map(|(b, _)| *b);
            }
        }
        // 3. Recorded once, applied.
        let records: Vec<Document> = asked
            .iter()
            .map(|&i| {
                let mut r = record(&credits[i], "applied");
                if let Some(b) = balances[i] {
                    r.insert("balance_after", b);
                }
                r
            })
            .collect();
        let inserted = self
            .transactions
            .insert_many(records)
            .with_options(
                mongodb::options::InsertManyOptions::builder()
                    .ordered(false)
                    .build(),
            )
            .await;
        let earlier: Vec<usize> = match inserted {
            Ok(_) => Vec::new(),
            Err(e) => match crate::db::already_stored(&e) {
                Some(at) => at
                    .into_iter()
                    .filter_map(|n| asked.get(n).copied())
                    .collect(),
                None => return Err(e),
            },
        };
        if !earlier.is_empty() {
            let keys: Vec<&str> = earlier.iter().map(|&i| credits[i].key.as_str()).collect();
            let stored: std::collections::HashMap<String, Document> = self
                .transactions
                .find(doc! { "_id": { "$in": &keys } })
                .await?
                .try_collect::<Vec<Document>>()
                .await?
                .into_iter()
                .filter_map(|d| Some((d.get_str("_id").ok()?.to_owned(), d)))
                .collect();
            for i in earlier {
                let Some(d) = stored.get(&credits[i].key) else {
                    continue;
                };
                match outcome_of(d) {
                    Some(Posted::Applied { balance_after, .. }) => balances[i] = balance_after,
                    Some(Posted::Refused { .. }) => balances[i] = None,
                    // Recorded pending by an older build, which wrote the record first:
                    // every credit here is applied on its account by now, so it is marked
                    // applied, with what was applied: this post's amount where this post
                    // applied it, the recorded one where the account held it before.
                    None => {
                        let mut set = doc! { "state": "applied" };
                        if !held.contains(&i) {
                            set.insert("amount", credits[i].amount);
                        }
                        if let Some(b) = balances[i] {
                            set.insert("balance_after", b);
                        }
                        self.transactions
                            .update_one(
                                doc! { "_id": &credits[i].key, "state": { "$in": ["pending", "waiting"] } },
                                doc! { "$set": set },
                            )
                            .await?;
                    }
                }
            }
        }
        Ok(balances)
    }

    /// Which of batch `batch`'s credits at `at` their accounts hold (applied before), in
    /// one query. (A credit an older build applied left its key in `recent`.)
    async fn held(
        &self,
        batch: i64,
        credits: &[Entry],
        at: &[usize],
    ) -> Result<std::collections::HashSet<usize>, MongoError> {
        if at.is_empty() {
            return Ok(std::collections::HashSet::new());
        }
        let ids: Vec<String> = at.iter().map(|&i| credits[i].account.key()).collect();
        let keys: Vec<&str> = at.iter().map(|&i| credits[i].key.as_str()).collect();
        let holding: Vec<Document> = self
            .accounts
            .find(doc! {
                "_id": { "$in": &ids },
                "$or": [
                    { "last_kill_batch": { "$gte": batch } },
                    { "recent": { "$in": &keys } },
                ],
            })
            .projection(doc! { "_id": 1 })
            .await?
            .try_collect()
            .await?;
        let accounts: std::collections::HashSet<&str> = holding
            .iter()
            .filter_map(|d| d.get_str("_id").ok())
            .collect();
        // An account holds every credit of the batch that names it: one per account.
        Ok(at
            .iter()
            .copied()
            .filter(|&i| accounts.contains(credits[i].account.key().as_str()))
            .collect())
    }

    /// Moves `amount` (> 0) from one account to another, once per `key`: both changes or
    /// neither (a transfer cut short after its debit is completed by posting it again or
    /// by [`Ledger::resume_pending`]).
    pub async fn transfer(
        &self,
        key: &str,
        from: &AccountId,
        to: &AccountId,
        amount: i64,
        from_details: String,
        to_details: String,
    ) -> Result<Transferred, MongoError> {
        let debit = Entry {
            key: format!("{key}:debit"),
            account: from.clone(),
            amount: -amount,
            source: Source::Transfer,
            details: from_details,
            reference: format!("{key}:credit"),
        };
        let credit = Entry {
            key: format!("{key}:credit"),
            account: to.clone(),
            amount,
            source: Source::Received,
            details: to_details,
            reference: format!("{key}:debit"),
        };
        // The credit is recorded first, waiting for its debit: whoever completes the
        // transfer later (a retry, or resume_pending) knows where the money goes.
        match self
            .transactions
            .insert_one(record(&credit, "waiting"))
            .await
        {
            Ok(_) => {}
            Err(e) if is_duplicate_key(&e) => {}
            Err(e) => return Err(e),
        }
        match self.post(&debit).await? {
            Posted::Refused { .. } if self.called_off(&debit.key).await? => {
                Ok(Transferred::CalledOff)
            }
            Posted::Refused { balance } => {
                self.void(&credit.key).await?;
                Ok(Transferred::InsufficientFunds { balance })
            }
            Posted::Applied { balance_after, .. } => {
                self.post(&credit).await?;
                Ok(Transferred::Done {
                    from_balance: balance_after,
                })
            }
        }
    }

    /// Whether `debit_key` is a transfer's debit that [`Ledger::resume_pending`] called off.
    async fn called_off(&self, debit_key: &str) -> Result<bool, MongoError> {
        Ok(self
            .transactions
            .find_one(doc! { "_id": debit_key, "state": "void" })
            .await?
            .is_some())
    }

    /// A waiting credit whose debit was refused: it never applies.
    async fn void(&self, key: &str) -> Result<(), MongoError> {
        self.transactions
            .update_one(
                doc! { "_id": key, "state": "waiting" },
                doc! { "$set": { "state": "void" } },
            )
            .await?;
        Ok(())
    }

    /// Completes the posts cut short more than [`RESUME_AFTER_SECS`] ago (a process
    /// stopped mid-way), and the credit of every transfer whose debit was applied. How many
    /// it completed.
    pub async fn resume_pending(&self) -> Result<u64, MongoError> {
        let before = DateTime::from_millis(
            DateTime::now()
                .timestamp_millis()
                .saturating_sub(RESUME_AFTER_SECS * 1000),
        );
        // Oldest first: the older a pending key, the closer it is to leaving its account's
        // `recent` window. One that fails is left for the next pass, not the others.
        let pending: Vec<Document> = self
            .transactions
            .find(doc! { "state": "pending", "at": { "$lt": before } })
            .sort(doc! { "at": 1 })
            .limit(1_000)
            .await?
            .try_collect()
            .await?;
        let mut done = 0;
        for d in &pending {
            match entry_of(d) {
                Some(entry) => match self.apply(&entry).await {
                    Ok(_) => done += 1,
                    Err(e) => {
                        tracing::warn!(key = %entry.key, error = %e, "ledger: a pending transaction could not be completed; trying again later");
                    }
                },
                // Not one this build wrote: set aside, so it cannot hold up the others.
                None => {
                    self.transactions
                        .update_one(
                            doc! { "_id": d.get("_id").cloned().unwrap_or(Bson::Null) },
                            doc! { "$set": { "state": "unreadable" } },
                        )
                        .await?;
                }
            }
        }
        // Transfers cut short: each waiting credit follows its debit's outcome.
        let waiting: Vec<Document> = self
            .transactions
            .find(doc! { "state": "waiting", "at": { "$lt": before } })
            .sort(doc! { "at": 1 })
            .limit(1_000)
            .await?
            .try_collect()
            .await?;
        for d in &waiting {
            let Some(credit) = entry_of(d) else { continue };
            match self.state(&credit.reference).await? {
                Recorded::Done(Posted::Applied { .. }) => match self.apply(&credit).await {
                    Ok(_) => done += 1,
                    Err(e) => {
                        tracing::warn!(key = %credit.key, error = %e, "ledger: a transfer's credit could not be completed; trying again later");
                    }
                },
                Recorded::Done(Posted::Refused { .. }) => self.void(&credit.key).await?,
                // Still pending: resumed above next time.
                Recorded::Pending => {}
                // Never recorded: the transfer stopped before it, or stalls and may post
                // it yet. Its key is taken first (void, so a late post of it is refused
                // and moves nothing); only then is the credit called off. Taken by the
                // debit meanwhile: the next pass follows it.
                Recorded::Missing => {
                    let tombstone = doc! {
                        "_id": &credit.reference,
                        "state": "void",
                        "reference": &credit.key,
                        "at": DateTime::now(),
                    };
                    match self.transactions.insert_one(tombstone).await {
                        Ok(_) => self.void(&credit.key).await?,
                        Err(e) if is_duplicate_key(&e) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Ok(done)
    }

    /// Completes posts cut short every [`RESUME_AFTER_SECS`] until `stop` resolves (the
    /// process's shutdown).
    pub async fn resume_until(self, stop: impl std::future::Future<Output = ()>) {
        let period = std::time::Duration::from_secs(RESUME_AFTER_SECS.unsigned_abs());
        crate::sweep::every(period, stop, "ledger", || self.resume_pending()).await;
    }

    /// An account's newest transactions, newest first, and how many it has in all.
    pub async fn history(
        &self,
        id: &AccountId,
        limit: i64,
    ) -> Result<(Vec<Transaction>, u64), MongoError> {
        let filter = doc! { "account": id.key(), "state": "applied" };
        let total = self.transactions.count_documents(filter.clone()).await?;
        let docs: Vec<Document> = self
            .transactions
            .find(filter)
            .sort(doc! { "at": -1 })
            .limit(limit)
            .await?
            .try_collect()
            .await?;
        Ok((
            docs.iter()
                .map(|d| Transaction {
                    key: d.get_str("_id").unwrap_or_default().to_owned(),
                    amount: int(d, "amount"),
                    source: d.get_str("source").ok().and_then(Source::parse),
                    details: d.get_str("details").unwrap_or_default().to_owned(),
                    balance_after: d.get("balance_after").and_then(Bson::as_i64),
                    at_unix: d
                        .get_datetime("at")
                        .map(|t| t.timestamp_millis() / 1000)
                        .unwrap_or(0),
                })
                .collect(),
            total,
        ))
    }

    /// A server's economy in figures (`/economy stats`): total balances, lifetime
    /// earnings, accounts, and the top transaction sources by count.
    pub async fn server_stats(
        &self,
        guild_id: u64,
        server_id: &str,
    ) -> Result<EconomyStats, MongoError> {
        let totals: Vec<Document> = self
            .accounts
            .aggregate(vec![
                doc! { "$match": by_key("_id", guild_id, server_id) },
                doc! { "$match": on_server(guild_id, server_id) },
                doc! { "$group": {
                    "_id": Bson::Null,
                    "balance": { "$sum": "$balance" },
                    "lifetime": { "$sum": "$lifetime" },
                    "accounts": { "$sum": 1 },
                } },
            ])
            .await?
            .try_collect()
            .await?;
        let mut applied = on_server(guild_id, server_id);
        applied.insert("state", "applied");
        let sources: Vec<Document> = self
            .transactions
            .aggregate(vec![
                doc! { "$match": by_key("account", guild_id, server_id) },
                doc! { "$match": applied },
                doc! { "$group": {
                    "_id": "$source",
                    "count": { "$sum": 1 },
                    "credits_in": { "$sum": { "$cond": [{ "$gt": ["$amount", 0] }, "$amount", 0] } },
                    "credits_out": { "$sum": { "$cond": [{ "$lt": ["$amount", 0] }, "$amount", 0] } },
                } },
                doc! { "$sort": { "count": -1, "_id": 1 } },
                doc! { "$limit": 5 },
            ])
            .await?
            .try_collect()
            .await?;
        let t = totals.first();
        let total = |k: &str| t.map_or(0, |d| int(d, k));
        Ok(EconomyStats {
            total_balance: total("balance"),
            lifetime: total("lifetime"),
            accounts: total("accounts"),
            sources: sources
                .iter()
                .map(|d| SourceStats {
                    source: d.get_str("_id").unwrap_or("unknown").to_owned(),
                    count: int(d, "count"),
                    credits_in: int(d, "credits_in"),
                    credits_out: -int(d, "credits_out"),
                })
                .collect(),
        })
    }

    /// The richest accounts of a server: (user id, balance, lifetime), most first.
    pub async fn richest(
        &self,
        guild_id: u64,
        server_id: &str,
        limit: i64,
    ) -> Result<Vec<(u64, Account)>, MongoError> {
        let docs: Vec<Document> = self
            .accounts
            .find({
                let mut filter = by_key("_id", guild_id, server_id);
                filter.extend(on_server(guild_id, server_id));
                filter
            })
            .projection(doc! { "user_id": 1, "balance": 1, "lifetime": 1 })
            .sort(doc! { "balance": -1, "_id": 1 })
            .limit(limit)
            .await?
            .try_collect()
            .await?;
        Ok(docs
            .iter()
            .filter_map(|d| {
                Some((
                    d.get_str("user_id").ok()?.parse().ok()?,
                    Account {
                        balance: int(d, "balance"),
                        lifetime: int(d, "lifetime"),
                    },
                ))
            })
            .collect())
    }
}

/// The update applying batch `batch`'s credit `entry` to its account, once: it matches
/// only while the account has taken no credit of this batch or a later one (nor this
/// credit under its key, as an older build kept it), and opens the account if need be.
fn credit_statement(entry: &Entry, batch: i64, now: DateTime) -> Document {
    let mut inc = doc! { "balance": entry.amount };
    if entry.source.earns() {
        inc.insert("lifetime", entry.amount);
    }
    doc! {
        "q": {
            "_id": entry.account.key(),
            "last_kill_batch": { "$not": { "$gte": batch } },
            "recent": { "$ne": &entry.key },
        },
        "u": {
            "$inc": inc,
            "$set": {
                "updated_at": now,
                "last_post": &entry.key,
                "last_kill_batch": batch,
                "schema_version": SCHEMA_VERSION,
            },
            "$setOnInsert": {
                "guild_id": entry.account.guild_id.to_string(),
                "server_id": &entry.account.server_id,
                "user_id": entry.account.user_id.to_string(),
            },
        },
        "upsert": true,
    }
}

/// A transaction's record, in `state`.
fn record(entry: &Entry, state: &str) -> Document {
    doc! {
        "_id": &entry.key,
        "account": entry.account.key(),
        "guild_id": entry.account.guild_id.to_string(),
        "server_id": &entry.account.server_id,
        "user_id": entry.account.user_id.to_string(),
        "amount": entry.amount,
        "source": entry.source.as_str(),
        "details": &entry.details,
        "reference": &entry.reference,
        "state": state,
        "at": DateTime::now(),
        "schema_version": SCHEMA_VERSION,
    }
}

/// A transaction's recorded outcome: `None` while it is pending or waiting. A voided
/// credit (its transfer's debit was refused) reads as refused.
fn outcome_of(d: &Document) -> Option<Posted> {
    match d.get_str("state").unwrap_or_default() {
        "applied" => Some(Posted::Applied {
            balance_after: d.get("balance_after").and_then(Bson::as_i64),
            earlier: true,
        }),
        "refused" | "void" => Some(Posted::Refused {
            balance: int(d, "balance_at_refusal"),
        }),
        _ => None,
    }
}

/// A pending transaction's entry, to apply it again.
fn entry_of(d: &Document) -> Option<Entry> {
    Some(Entry {
        key: d.get_str("_id").ok()?.to_owned(),
        account: account_of(d.get_str("account").ok()?)?,
        amount: int(d, "amount"),
        source: Source::parse(d.get_str("source").ok()?)?,
        details: d.get_str("details").unwrap_or_default().to_owned(),
        reference: d.get_str("reference").unwrap_or_default().to_owned(),
    })
}

fn account_of(key: &str) -> Option<AccountId> {
    let mut parts = key.splitn(3, ':');
    Some(AccountId {
        guild_id: parts.next()?.parse().ok()?,
        server_id: parts.next()?.to_owned(),
        user_id: parts.next()?.parse().ok()?,
    })
}

fn int(d: &Document, key: &str) -> i64 {
    crate::stats_store::get_i64(d, key).unwrap_or(0)
}
