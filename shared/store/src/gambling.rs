//! Gambling (issue #17; EARLIER-BOT.md §2.16): blackjack, slots and roulette played for
//! credits, each game one record (`gambling_games`), its money through the ledger.
//!
//! 1. [`Gambling::start`] records the game `opening` with its draw ([`crate::games`]: a
//!    shuffled deck, the reels, the pocket; drawn once, from the system's secure
//!    generator), then debits the bet (`game:<id>:bet`): refused, the game is `void`;
//!    applied, it is `open` until its buttons expire.
//! 2. A blackjack move changes an open game by one update guarded by its `version`, so a
//!    double press moves it once.
//! 3. Settling moves it `open → settled` with its result and what it returns, once; then
//!    the return is credited (`game:<id>:return`) and the game marked paid.
//! 4. [`Gambling::sweep`] settles games whose buttons expired (blackjack stands, slots
//!    spin, roulette without a chosen bet returns it), finishes openings and payments cut
//!    short: a game ends paid once whatever stops in between.

use futures_util::TryStreamExt;
use mongodb::Collection;
use mongodb::bson::{Bson, DateTime, Document, doc};
use mongodb::error::Error as MongoError;

use crate::db::{Database, collections, is_duplicate_key};
use crate::games::{
    Blackjack, Draw, RouletteBet, roulette_return, shuffled_deck, slots_multiplier, spin_reels,
};
use crate::ledger::{AccountId, Entry, Ledger, Posted, Recorded, Source};
use crate::schema::SCHEMA_VERSION;

/// How long a game's buttons answer.
pub const BUTTONS_FOR_SECS: i64 = 180;
/// A game left open this long after its buttons expired is settled by the sweep (the
/// margin lets a press made just in time finish first).
const SETTLE_AFTER_SECS: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GameKind {
    Blackjack,
    Slots,
    Roulette,
}

impl GameKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Blackjack => "blackjack",
            Self::Slots => "slots",
            Self::Roulette => "roulette",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Blackjack, Self::Slots, Self::Roulette]
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    /// As the history names it ("Blackjack - Win").
    pub fn title(self) -> &'static str {
        match self {
            Self::Blackjack => "Blackjack",
            Self::Slots => "Slots",
            Self::Roulette => "Roulette",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GameState {
    Opening,
    Open,
    Settled,
    Void,
}

impl GameState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Opening => "opening",
            Self::Open => "open",
            Self::Settled => "settled",
            Self::Void => "void",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Opening, Self::Open, Self::Settled, Self::Void]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// A game as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Game {
    pub id: String,
    pub account: AccountId,
    pub kind: GameKind,
    pub bet: i64,
    pub state: GameState,
    /// Moves made (blackjack), guarding each next one.
    pub version: i64,
    pub blackjack: Option<Blackjack>,
    pub reels: Option<[usize; 3]>,
    pub pocket: Option<u32>,
    pub roulette_bet: Option<RouletteBet>,
    /// `win`, `loss` or `push` once settled, with the game's own result name.
    pub result: Option<String>,
    /// What the game returned of the bet (0: lost).
    pub returned: i64,
    pub paid: bool,
    pub expires_at_unix: i64,
}

impl Game {
    /// The player's gain (negative: loss) once settled.
    pub fn net(&self) -> i64 {
        self.returned - self.bet
    }
}

/// What starting a game did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    Open(Box<Game>),
    InsufficientFunds { balance: i64 },
}

/// One game's house statistics on a server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HouseStats {
    pub games: i64,
    pub wins: i64,
    pub losses: i64,
    /// What players won less what they lost.
    pub player_net: i64,
}

/// A game returning at least this many times its bet is announced in the server's economy
/// channel.
pub const JACKPOT_TIMES: i64 = 10;

#[derive(Clone)]
pub struct Gambling {
    games: Collection<Document>,
    ledger: Ledger,
    outbox: crate::outbox::Outbox,
}

impl Gambling {
    pub fn new(db: &Database) -> Self {
        Self {
            games: db.raw().collection(collections::GAMBLING_GAMES),
            ledger: Ledger::new(db),
            outbox: crate::outbox::Outbox::new(db),
        }
    }

    /// Starts a game with its draw and takes the bet; the same `id` again returns the
    /// first outcome.
    pub async fn start(
        &self,
        id: &str,
        account: &AccountId,
        kind: GameKind,
        bet: i64,
        draw: &mut impl Draw,
    ) -> Result<Started, MongoError> {
        let now = now_unix();
        let mut d = doc! {
            "_id": id,
            "account": account_key(account),
            "guild_id": account.guild_id.to_string(),
            "server_id": &account.server_id,
            "user_id": account.user_id.to_string(),
            "kind": kind.as_str(),
            "bet": bet,
            "state": GameState::Opening.as_str(),
            "version": 0_i64,
            "paid": false,
            "returned": 0_i64,
            "created_at": DateTime::from_millis(now * 1000),
            "expires_at": DateTime::from_millis((now + BUTTONS_FOR_SECS) * 1000),
            "schema_version": SCHEMA_VERSION,
        };
        match kind {
            GameKind::Blackjack => {
                let hand = Blackjack::deal(shuffled_deck(draw));
                d.insert("blackjack", to_bson(&hand)?);
            }
            GameKind::Slots => {
                let reels = spin_reels(draw);
                d.insert("reels", reels.map(|r| r as i64).to_vec());
            }
            GameKind::Roulette => {
                d.insert("pocket", i64::from(draw.below(37)));
            }
        }
        if draw.failed() {
            return Err(MongoError::custom(
                "the system's secure random generator failed: the game was not started",
            ));
        }
        match self.games.insert_one(d).await {
            Ok(_) => {}
            Err(e) if is_duplicate_key(&e) => {}
            Err(e) => return Err(e),
        }
        let game = self.must_get(id).await?;
        self.take_bet(game).await
    }

    /// Debits an opening game's bet and opens it (or voids it).
    async fn take_bet(&self, game: Game) -> Result<Started, MongoError> {
        match game.state {
            GameState::Opening => {}
            GameState::Void => {
                return Ok(Started::InsufficientFunds {
                    balance: self.ledger.account(&game.account).await?.balance,
                });
            }
            _ => return Ok(Started::Open(Box::new(game))),
        }
        let debit = Entry {
            key: format!("game:{}:bet", game.id),
            account: game.account.clone(),
            amount: -game.bet,
            source: Source::Gambling,
            details: format!("{} - Bet", game.kind.title()),
            reference: game.id.clone(),
        };
        match self.ledger.post(&debit).await? {
            Posted::Refused { balance } => {
                self.move_state(&game.id, GameState::Opening, GameState::Void, doc! {})
                    .await?;
                Ok(Started::InsufficientFunds { balance })
            }
            Posted::Applied { .. } => {
                self.move_state(&game.id, GameState::Opening, GameState::Open, doc! {})
                    .await?;
                let game = self.must_get(&game.id).await?;
                // Voided meanwhile (this start stalled past the sweep's patience): the bet
                // taken goes back, once.
                if game.state == GameState::Void {
                    self.ledger
                        .post(&Entry {
                            key: format!("game:{}:void", game.id),
                            account: game.account.clone(),
                            amount: game.bet,
                            source: Source::Gambling,
                            details: format!("{} - Cancelled", game.kind.title()),
                            reference: game.id.clone(),
                        })
                        .await?;
                    return Err(MongoError::custom(
                        "the game was cancelled while it started; the bet was returned",
                    ));
                }
                // A natural ends a blackjack hand at once.
                if let Some(result) = game.blackjack.as_ref().and_then(|h| h.result) {
                    let settled = self
                        .settle(&game, result.as_str(), result.returns(game.bet), doc! {})
                        .await?;
                    return Ok(Started::Open(Box::new(settled)));
                }
                Ok(Started::Open(Box::new(game)))
            }
        }
    }

    pub async fn get(&self, id: &str) -> Result<Option<Game>, MongoError> {
        Ok(self
            .games
            .find_one(doc! { "_id": id })
            .await?
            .as_ref()
            .and_then(game_of))
    }

    async fn must_get(&self, id: &str) -> Result<Game, MongoError> {
        self.get(id)
            .await?
            .ok_or_else(|| MongoError::custom(format!("game {id} cannot be read back")))
    }

    /// Blackjack "Draw Card": one card, once per `version` (a double press draws once).
    pub async fn hit(&self, id: &str, version: i64) -> Result<Game, MongoError> {
        let game = self.must_get(id).await?;
        let Some(mut hand) = game.blackjack.clone() else {
            return Ok(game);
        };
        if game.state != GameState::Open || game.version != version {
            return Ok(game);
        }
        hand.hit();
        let moved = self
            .games
            .update_one(
                doc! { "_id": id, "state": GameState::Open.as_str(), "version": version },
                doc! { "$set": { "blackjack": to_bson(&hand)? }, "$inc": { "version": 1_i64 } },
            )
            .await?;
        let game = self.must_get(id).await?;
        match (moved.modified_count, hand.result) {
            (1, Some(result)) => {
                self.settle(&game, result.as_str(), result.returns(game.bet), doc! {})
                    .await
            }
            _ => Ok(game),
        }
    }

    /// Blackjack "Hold Position": the dealer plays, the hand is settled (only from the
    /// hand as of `version`; `None`: as it is now, the sweep's way).
    pub async fn stand(&self, id: &str, version: Option<i64>) -> Result<Game, MongoError> {
        let game = self.must_get(id).await?;
        if version.is_some_and(|v| v != game.version) {
            return Ok(game);
        }
        let Some(mut hand) = game.blackjack.clone() else {
            return Ok(game);
        };
        if game.state != GameState::Open {
            return self.finish_payment(game).await;
        }
        hand.stand();
        let Some(result) = hand.result else {
            return Ok(game);
        };
        self.settle(
            &game,
            result.as_str(),
            result.returns(game.bet),
            doc! { "blackjack": to_bson(&hand)? },
        )
        .await
    }

    /// Slots "Spin": the drawn reels are shown and paid.
    pub async fn spin(&self, id: &str) -> Result<Game, MongoError> {
        let game = self.must_get(id).await?;
        let Some(reels) = game.reels else {
            return Ok(game);
        };
        let multiplier = slots_multiplier(reels);
        let result = if multiplier > 0 { "win" } else { "loss" };
        self.settle(
            &game,
            result,
            game.bet.saturating_mul(i64::from(multiplier)),
            doc! {},
        )
        .await
    }

    /// Roulette: the bet type chosen, the ball lands on the drawn pocket.
    pub async fn choose(&self, id: &str, on: RouletteBet) -> Result<Game, MongoError> {
        let game = self.must_get(id).await?;
        let Some(pocket) = game.pocket else {
            return Ok(game);
        };
        let returned = roulette_return(game.bet, on, pocket);
        let result = if returned > 0 { "win" } else { "loss" };
        self.settle(
            &game,
            result,
            returned,
            doc! { "roulette_bet": to_bson(&on)? },
        )
        .await
    }

    /// Settles an open game once (`open → settled`, with `set`) from the state it was read
    /// in (its `version`: a card drawn meanwhile is not undone), then pays what it
    /// returns. The game as settled, by this call or an earlier one.
    async fn settle(
        &self,
        game: &Game,
        result: &str,
        returned: i64,
        set: Document,
    ) -> Result<Game, MongoError> {
        let mut set = set;
        set.insert("result", result);
        set.insert("returned", returned);
        set.insert("settled_at", DateTime::now());
        set.insert("state", GameState::Settled.as_str());
        self.games
            .update_one(
                doc! { "_id": &game.id, "state": GameState::Open.as_str(), "version": game.version },
                doc! { "$set": set },
            )
            .await?;
        let settled = self.must_get(&game.id).await?;
        self.finish_payment(settled).await
    }

    /// Credits a settled game's return once, then marks it paid.
    async fn finish_payment(&self, game: Game) -> Result<Game, MongoError> {
        if game.state != GameState::Settled || game.paid {
            return Ok(game);
        }
        if game.returned > 0 {
            let credit = Entry {
                key: format!("game:{}:return", game.id),
                account: game.account.clone(),
                amount: game.returned,
                source: Source::Gambling,
                details: format!(
                    "{} - {}",
                    game.kind.title(),
                    result_title(game.result.as_deref().unwrap_or_default(), game.net())
                ),
                reference: game.id.clone(),
            };
            self.ledger.post(&credit).await?;
        }
        // A jackpot is announced (keyed by the game: once, whatever retries).
        if game.bet > 0 && game.returned >= game.bet.saturating_mul(JACKPOT_TIMES) {
            self.outbox.add(vec![jackpot_notice(&game)]).await?;
        }
        self.games
            .update_one(doc! { "_id": &game.id }, doc! { "$set": { "paid": true } })
            .await?;
        Ok(Game { paid: true, ..game })
    }

    /// Settles games whose buttons expired, and finishes openings and payments cut short.
    /// Safe from any number of processes at once. How many games it finished.
    pub async fn sweep(&self) -> Result<u64, MongoError> {
        let now = now_unix();
        let stale = DateTime::from_millis((now - SETTLE_AFTER_SECS) * 1000);
        let mut done = 0;
        let list = |filter: Document| async {
            let docs: Vec<Document> = self
                .games
                .find(filter)
                .sort(doc! { "expires_at": 1 })
                .limit(500)
                .await?
                .try_collect()
                .await?;
            Ok::<_, MongoError>(docs.iter().filter_map(game_of).collect::<Vec<_>>())
        };
        // Openings cut short: the bet's outcome decides; one never taken is not taken now.
        for game in
            list(doc! { "state": GameState::Opening.as_str(), "created_at": { "$lt": stale } })
                .await?
        {
            match self.ledger.state(&format!("game:{}:bet", game.id)).await? {
                Recorded::Pending => continue,
                Recorded::Done(Posted::Applied { .. }) => {
                    self.take_bet(game).await?;
                }
                Recorded::Missing | Recorded::Done(Posted::Refused { .. }) => {
                    self.move_state(&game.id, GameState::Opening, GameState::Void, doc! {})
                        .await?;
                }
            }
            done += 1;
        }
        // Buttons expired: the game ends as it stands.
        let expired = DateTime::from_millis((now - SETTLE_AFTER_SECS) * 1000);
        for game in
            list(doc! { "state": GameState::Open.as_str(), "expires_at": { "$lt": expired } })
                .await?
        {
            match game.kind {
                GameKind::Blackjack => {
                    self.stand(&game.id, None).await?;
                }
                GameKind::Slots => {
                    self.spin(&game.id).await?;
                }
                GameKind::Roulette => {
                    // No bet type was chosen: the bet comes back.
                    self.settle(&game, "push", game.bet, doc! {}).await?;
                }
            }
            done += 1;
        }
        // Settled, not yet paid (a payment cut short).
        for game in list(doc! { "state": GameState::Settled.as_str(), "paid": false, "settled_at": { "$lt": stale } }).await? {
            self.finish_payment(game).await?;
            done += 1;
        }
        Ok(done)
    }

    /// Runs [`Gambling::sweep`] every 30 s until `stop` resolves.
    pub async fn sweep_until(self, stop: impl std::future::Future<Output = ()>) {
        let period = std::time::Duration::from_secs(30);
        crate::sweep::every(period, stop, "gambling", || self.sweep()).await;
    }

    /// A server's house statistics per game, and per user when `user` is given.
    pub async fn house(
        &self,
        guild_id: u64,
        server_id: &str,
        user: Option<u64>,
    ) -> Result<Vec<(GameKind, HouseStats)>, MongoError> {
        let mut filter = doc! {
            "guild_id": guild_id.to_string(),
            "server_id": server_id,
            "state": GameState::Settled.as_str(),
        };
        if let Some(u) = user {
            filter.insert("user_id", u.to_string());
        }
        let rows: Vec<Document> = self
            .games
            .aggregate(vec![
                doc! { "$match": filter },
                doc! { "$group": {
                    "_id": "$kind",
                    "games": { "$sum": 1 },
                    "wins": { "$sum": { "$cond": [{ "$gt": ["$returned", "$bet"] }, 1, 0] } },
                    "losses": { "$sum": { "$cond": [{ "$lt": ["$returned", "$bet"] }, 1, 0] } },
                    "net": { "$sum": { "$subtract": ["$returned", "$bet"] } },
                } },
            ])
            .await?
            .try_collect()
            .await?;
        let mut out: Vec<(GameKind, HouseStats)> = rows
            .iter()
            .filter_map(|d| {
                let int = |k: &str| crate::stats_store::get_i64(d, k).unwrap_or(0);
                Some((
                    GameKind::parse(d.get_str("_id").ok()?)?,
                    HouseStats {
                        games: int("games"),
                        wins: int("wins"),
                        losses: int("losses"),
                        player_net: int("net"),
                    },
                ))
            })
            .collect();
        out.sort_by_key(|(k, _)| k.as_str());
        Ok(out)
    }

    /// Moves a game from one state to another (with `set`); whether this call did.
    async fn move_state(
        &self,
        id: &str,
        from: GameState,
        to: GameState,
        set: Document,
    ) -> Result<bool, MongoError> {
        let mut set = set;
        set.insert("state", to.as_str());
        let moved = self
            .games
            .update_one(
                doc! { "_id": id, "state": from.as_str() },
                doc! { "$set": set },
            )
            .await?;
        Ok(moved.modified_count == 1)
    }
}

/// A `jackpot` notification for the server's economy channel.
fn jackpot_notice(game: &Game) -> crate::outbox::Notice {
    let detail = match game.kind {
        GameKind::Slots => game
            .reels
            .map(|r| {
                r.iter()
                    .filter_map(|&i| crate::games::SYMBOLS.get(i).map(|s| s.1))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default(),
        GameKind::Roulette => game.roulette_bet.map(|b| b.label()).unwrap_or_default(),
        GameKind::Blackjack => "Blackjack".to_owned(),
    };
    crate::outbox::Notice {
        key: format!("j:{}", game.id),
        guild_id: game.account.guild_id,
        server_id: game.account.server_id.clone(),
        kind: "jackpot",
        at_ms: now_unix().saturating_mul(1000),
        data: doc! {
            "user_id": game.account.user_id.to_string(),
            "game": game.kind.title(),
            "bet": game.bet,
            "returned": game.returned,
            "detail": detail,
        },
    }
}

/// How a result reads in the history ("Win", "Loss", "Push").
pub fn result_title(result: &str, net: i64) -> &'static str {
    match result {
        "blackjack" => "Blackjack",
        "push" => "Push",
        _ if net > 0 => "Win",
        _ if net == 0 => "Push",
        _ => "Loss",
    }
}

fn account_key(a: &AccountId) -> String {
    format!("{}:{}:{}", a.guild_id, a.server_id, a.user_id)
}

fn now_unix() -> i64 {
    DateTime::now().timestamp_millis() / 1000
}

fn to_bson<T: serde::Serialize>(value: &T) -> Result<Bson, MongoError> {
    mongodb::bson::serialize_to_bson(value).map_err(MongoError::custom)
}

fn game_of(d: &Document) -> Option<Game> {
    let id_of = |k: &str| d.get_str(k).ok()?.parse::<u64>().ok();
    let int = |k: &str| crate::stats_store::get_i64(d, k).unwrap_or(0);
    let reels = d.get_array("reels").ok().and_then(|r| {
        let v: Vec<usize> = r
            .iter()
            .filter_map(|x| usize::try_from(x.as_i64()?).ok())
            .filter(|&i| i < crate::games::SYMBOLS.len())
            .collect();
        <[usize; 3]>::try_from(v).ok()
    });
    Some(Game {
        id: d.get_str("_id").ok()?.to_owned(),
        account: AccountId {
            guild_id: id_of("guild_id")?,
            server_id: d.get_str("server_id").ok()?.to_owned(),
            user_id: id_of("user_id")?,
        },
        kind: GameKind::parse(d.get_str("kind").ok()?)?,
        bet: int("bet"),
        state: GameState::parse(d.get_str("state").ok()?)?,
        version: int("version"),
        blackjack: d
            .get("blackjack")
            .and_then(|b| mongodb::bson::deserialize_from_bson(b.clone()).ok()),
        reels,
        pocket: crate::stats_store::get_i64(d, "pocket").and_then(|p| u32::try_from(p).ok()),
        roulette_bet: d
            .get("roulette_bet")
            .and_then(|b| mongodb::bson::deserialize_from_bson(b.clone()).ok()),
        result: d.get_str("result").ok().map(str::to_owned),
        returned: int("returned"),
        paid: d.get_bool("paid").unwrap_or(false),
        expires_at_unix: d
            .get_datetime("expires_at")
            .map(|t| t.timestamp_millis() / 1000)
            .unwrap_or(0),
    })
}
