//! Guild settings (`guilds`, one document per guild as the earlier bot kept them): the
//! premium tier, the admin role and the theme; and the bot's home guild (`bot_config`),
//! whose admins grant premium. A guild without a document, or with a tier this build does
//! not know, is tier 0.

use std::collections::HashMap;

use futures_util::TryStreamExt;
use mongodb::bson::{DateTime, Document, doc};

use crate::db::{Database, collections};
use crate::schema::SCHEMA_VERSION;
use crate::tier::Tier;

#[derive(Clone)]
pub struct GuildStore {
    guilds: mongodb::Collection<Document>,
    bot_config: mongodb::Collection<Document>,
}

/// One guild's settings; a guild that set nothing has the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GuildSettings {
    pub tier: Tier,
    /// Members with this role count as the guild's admins.
    pub admin_role: Option<u64>,
    pub theme: Option<String>,
    /// Where admins are told of problems only they can fix (`/setup channels
    /// admin_channel`); without one, the next admin who runs a command is told privately.
    pub admin_channel: Option<u64>,
    /// The game server a command uses when its `server_id` is omitted (`/settings
    /// default_server`; the earlier bots wrote `default_server` or `default_server_id`).
    pub default_server: Option<String>,
    /// Auto-bounties and their thresholds (`/bounty settings`).
    pub bounty: crate::bounties::BountySettings,
    /// Where bounties are posted for servers with no bounty channel of their own
    /// (`/bounty settings bounty_channel`).
    pub bounty_channel: Option<u64>,
    /// The economy's amounts and switches (`/economy settings`).
    pub economy: EconomySettings,
    /// Faction tags beside players' names in the killfeed (`/settings faction_tags`).
    pub faction_tags: bool,
    /// The guild's time zone as seconds east of UTC (`/settings time_zone`): where its
    /// days, weeks and months begin for the statistics' time windows.
    pub utc_offset_secs: i64,
}

/// The smallest and largest bet of a guild's games (`/gambling limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BetLimits {
    pub min: i64,
    pub max: i64,
}

impl Default for BetLimits {
    /// A guild that set none.
    fn default() -> Self {
        Self {
            min: 1,
            max: 10_000,
        }
    }
}

/// A guild's economy settings (`/economy settings`); unset, the earlier bot's amounts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EconomySettings {
    /// The daily reward; `None`: by tier, as the earlier bot paid it.
    pub daily_amount: Option<i64>,
    /// Credits for a kill before its bonuses; `None`: the earlier bot's 10.
    pub kill_reward: Option<i64>,
    /// Whether kills read as history (a first read, a backfill) or late (more than
    /// [`crate::kill_rewards::FRESH_FOR_SECS`] after they happened) pay too.
    pub pay_history: bool,
    /// What the money is called (`currency_name`).
    pub currency: Currency,
    /// The bets its games take (`/gambling limits`).
    pub bets: BetLimits,
}

/// What a guild's money is called (`/economy settings currency_name`). Unset, the earlier
/// bot's own words: "credits" in the economy, its games and on kill posts, "coins" on
/// bounties.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Currency(Option<String>);

/// Characters a currency name may have at most.
pub const CURRENCY_NAME_MAX: usize = 20;

impl Currency {
    /// A name as an admin typed it: 1 to [`CURRENCY_NAME_MAX`] characters, with no
    /// markdown, mention or line break (it is shown inside sentences and embeds).
    pub fn parse(text: &str) -> Option<Self> {
        let name = text.trim();
        let shown_as_typed = |c: char| {
            !c.is_control()
                && !matches!(
                    c,
                    '*' | '_' | '~' | '`' | '|' | '<' | '>' | '@' | '#' | '\\' | '[' | ']'
                )
        };
        (!name.is_empty()
            && name.chars().count() <= CURRENCY_NAME_MAX
            && name.chars().all(shown_as_typed))
        .then(|| Self(Some(name.to_owned())))
    }

    /// The name set, if one is.
    pub fn name(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// The money's name where the earlier bot said "credits".
    pub fn credits(&self) -> &str {
        self.0.as_deref().unwrap_or("credits")
    }

    /// The money's name where the earlier bot said "coins" (bounties).
    pub fn coins(&self) -> &str {
        self.0.as_deref().unwrap_or("coins")
    }
}

impl EconomySettings {
    fn from_doc(d: Option<&Document>) -> Self {
        let num = |k: &str, lo: i64, hi: i64| {
            d.and_then(|d| crate::stats_store::get_i64(d, k))
                .filter(|n| (lo..=hi).contains(n))
        };
        Self {
            daily_amount: num("daily_amount", 1, 1_000_000),
            kill_reward: num("kill_reward", 0, 10_000),
            pay_history: d
                .and_then(|d| d.get_bool("pay_history").ok())
                .unwrap_or(false),
            currency: d
                .and_then(|d| d.get_str("currency_name").ok())
                .and_then(Currency::parse)
                .unwrap_or_default(),
            bets: BetLimits {
                min: num("min_bet", 1, i64::MAX).unwrap_or(BetLimits::default().min),
                max: num("max_bet", 1, i64::MAX).unwrap_or(BetLimits::default().max),
            },
        }
    }
}

/// The tier stored in a guild document (`premium_tier`, as the earlier bot wrote it).
fn stored_tier(d: &Document) -> Option<Tier> {
    let n = d
        .get_i32("premium_tier")
        .map(i64::from)
        .or_else(|_| d.get_i64("premium_tier"))
        .ok()?;
    Tier::new(u8::try_from(n).ok()?)
}

/// A Discord id stored as a string (the earlier bot's way) or a number.
fn stored_id(d: &Document, key: &str) -> Option<u64> {
    match d.get(key)? {
        mongodb::bson::Bson::String(s) => s.parse().ok(),
        mongodb::bson::Bson::Int64(n) => u64::try_from(*n).ok(),
        mongodb::bson::Bson::Int32(n) => u64::try_from(*n).ok(),
        _ => None,
    }
}

/// A game server id stored as a string or a number; `None` when absent or blank.
fn stored_server_id(d: &Document, key: &str) -> Option<String> {
    let id = match d.get(key)? {
        mongodb::bson::Bson::String(s) => s.trim().to_owned(),
        mongodb::bson::Bson::Int64(n) => n.to_string(),
        mongodb::bson::Bson::Int32(n) => n.to_string(),
        _ => return None,
    };
    (!id.is_empty()).then_some(id)
}

/// The `bot_config` document that names the home guild.
const BOT_CONFIG_ID: &str = "bot";

impl GuildStore {
    pub fn new(db: &Database) -> Self {
        Self {
            guilds: db.raw().collection(collections::GUILDS),
            bot_config: db.raw().collection(collections::BOT_CONFIG),
        }
    }

    pub async fn settings(&self, guild_id: u64) -> Result<GuildSettings, mongodb::error::Error> {
        let guild = self
            .guilds
            .find_one(doc! { "guild_id": guild_id.to_string() })
            .await?;
        Ok(guild
            .map(|d| GuildSettings {
                tier: stored_tier(&d).unwrap_or_default(),
                admin_role: stored_id(&d, "admin_role_id"),
                theme: d.get_str("theme").ok().map(str::to_owned),
                admin_channel: stored_id(&d, "admin_channel_id"),
                default_server: ["default_server", "default_server_id"]
                    .into_iter()
                    .find_map(|k| stored_server_id(&d, k)),
                bounty: crate::bounties::BountySettings::from_doc(
                    d.get_document("bounty_settings").ok(),
                ),
                bounty_channel: d
                    .get_document("bounty_settings")
                    .ok()
                    .and_then(|b| stored_id(b, "bounty_channel")),
                economy: EconomySettings::from_doc(d.get_document("economy_settings").ok()),
                faction_tags: d.get_bool("faction_tags").unwrap_or(false),
                utc_offset_secs: crate::stats_store::get_i64(&d, "utc_offset_secs")
                    .filter(|s| (-12 * 3600..=14 * 3600).contains(s))
                    .unwrap_or(0),
            })
            .unwrap_or_default())
    }

    pub async fn tier(&self, guild_id: u64) -> Result<Tier, mongodb::error::Error> {
        Ok(self.settings(guild_id).await?.tier)
    }

    /// Every guild's tier that is above 0.
    pub async fn tiers(&self) -> Result<HashMap<u64, Tier>, mongodb::error::Error> {
        let docs: Vec<Document> = self
            .guilds
            .find(doc! {})
            .projection(doc! { "guild_id": 1, "premium_tier": 1 })
            .await?
            .try_collect()
            .await?;
        Ok(docs
            .iter()
            .filter_map(|d| Some((d.get_str("guild_id").ok()?.parse().ok()?, stored_tier(d)?)))
            .collect())
    }

    /// Sets a guild's tier; returns the tier it had (read and written in one step, so the
    /// audited "before" is the one replaced).
    pub async fn set_tier(&self, guild_id: u64, tier: Tier) -> Result<Tier, mongodb::error::Error> {
        let before = self
            .guilds
            .find_one_and_update(
                doc! { "guild_id": guild_id.to_string() },
                doc! { "$set": Self::stamped(doc! { "premium_tier": i32::from(tier.get()) }) },
            )
            .upsert(true)
            .await?;
        Ok(before.as_ref().and_then(stored_tier).unwrap_or_default())
    }

    /// Sets one of `/bounty settings` (`auto_bounty`, a threshold, `bounty_channel`).
    pub async fn set_bounty_setting(
        &self,
        guild_id: u64,
        name: &str,
        value: mongodb::bson::Bson,
    ) -> Result<(), mongodb::error::Error> {
        self.set(guild_id, doc! { format!("bounty_settings.{name}"): value })
            .await
    }

    /// Sets one of `/economy settings` (`daily_amount`, `kill_reward`, `pay_history`,
    /// `currency_name`);
    /// `Bson::Null` goes back to the default.
    pub async fn set_economy_setting(
        &self,
        guild_id: u64,
        name: &str,
        value: mongodb::bson::Bson,
    ) -> Result<(), mongodb::error::Error> {
        let field = format!("economy_settings.{name}");
        if value == mongodb::bson::Bson::Null {
            self.guilds
                .update_one(
                    doc! { "guild_id": guild_id.to_string() },
                    doc! { "$unset": { field: "" } },
                )
                .await?;
            return Ok(());
        }
        self.set(guild_id, doc! { field: value }).await
    }

    /// Sets the bet limits of the guild's games.
    pub async fn set_bet_limits(
        &self,
        guild_id: u64,
        bets: BetLimits,
    ) -> Result<(), mongodb::error::Error> {
        self.set(
            guild_id,
            doc! { "economy_settings.min_bet": bets.min, "economy_settings.max_bet": bets.max },
        )
        .await
    }

    pub async fn set_admin_role(
        &self,
        guild_id: u64,
        role: u64,
    ) -> Result<(), mongodb::error::Error> {
        self.set(guild_id, doc! { "admin_role_id": role.to_string() })
            .await
    }

    pub async fn set_admin_channel(
        &self,
        guild_id: u64,
        channel: u64,
    ) -> Result<(), mongodb::error::Error> {
        self.set(guild_id, doc! { "admin_channel_id": channel.to_string() })
            .await
    }

    /// The embed theme (a name; PRODUCT.md §5's themes, as the earlier bot stored it).
    /// Whether faction tags show beside players' names in the killfeed.
    pub async fn set_faction_tags(
        &self,
        guild_id: u64,
        on: bool,
    ) -> Result<(), mongodb::error::Error> {
        self.set(guild_id, doc! { "faction_tags": on }).await
    }

    /// The guild's time zone, seconds east of UTC.
    pub async fn set_utc_offset(
        &self,
        guild_id: u64,
        offset_secs: i64,
    ) -> Result<(), mongodb::error::Error> {
        self.set(guild_id, doc! { "utc_offset_secs": offset_secs })
            .await
    }

    pub async fn set_theme(&self, guild_id: u64, theme: &str) -> Result<(), mongodb::error::Error> {
        self.set(guild_id, doc! { "theme": theme }).await
    }

    /// The game server used where a command's `server_id` is omitted; `None` clears it
    /// (and the earlier bot's `default_server_id`, so an imported value cannot come back).
    pub async fn set_default_server(
        &self,
        guild_id: u64,
        server: Option<&str>,
    ) -> Result<(), mongodb::error::Error> {
        let update = match server {
            Some(id) => doc! {
                "$set": Self::stamped(doc! { "default_server": id }),
                "$unset": { "default_server_id": "" },
            },
            None => doc! {
                "$set": Self::stamped(doc! {}),
                "$unset": { "default_server": "", "default_server_id": "" },
            },
        };
        self.guilds
            .update_one(doc! { "guild_id": guild_id.to_string() }, update)
            .upsert(true)
            .await?;
        Ok(())
    }

    /// Clears the default server if it is `server` (the server was removed).
    pub async fn forget_default_server(
        &self,
        guild_id: u64,
        server: &str,
    ) -> Result<(), mongodb::error::Error> {
        for key in ["default_server", "default_server_id"] {
            self.guilds
                .update_one(
                    doc! { "guild_id": guild_id.to_string(), key: server },
                    doc! { "$unset": { key: "" } },
                )
                .await?;
        }
        Ok(())
    }

    /// Claims the guild's one premium upgrade request per `every`: true when this caller
    /// may send one now (two members asking at once: one request).
    pub async fn claim_upgrade_request(
        &self,
        guild_id: u64,
        every: std::time::Duration,
    ) -> Result<bool, mongodb::error::Error> {
        let now = DateTime::now();
        let since = DateTime::from_millis(
            now.timestamp_millis()
                .saturating_sub(i64::try_from(every.as_millis()).unwrap_or(i64::MAX)),
        );
        let claimed = self
            .guilds
            .update_one(
                doc! {
                    "guild_id": guild_id.to_string(),
                    "$or": [
                        { "upgrade_requested_at": { "$exists": false } },
                        { "upgrade_requested_at": { "$lt": since } },
                    ],
                },
                doc! { "$set": Self::stamped(doc! { "upgrade_requested_at": now }) },
            )
            .upsert(true)
            .await;
        match claimed {
            Ok(_) => Ok(true),
            // The guild's document exists and asked within `every`: the upsert's insert
            // met the unique guild id.
            Err(e) if crate::db::is_duplicate_key(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives back a guild's upgrade request claim (its request could not be posted).
    pub async fn release_upgrade_request(
        &self,
        guild_id: u64,
    ) -> Result<(), mongodb::error::Error> {
        self.guilds
            .update_one(
                doc! { "guild_id": guild_id.to_string() },
                doc! { "$unset": { "upgrade_requested_at": "" } },
            )
            .await?;
        Ok(())
    }

    /// Every guild's admin channel, where one is set.
    pub async fn admin_channels(&self) -> Result<HashMap<u64, u64>, mongodb::error::Error> {
        let docs: Vec<Document> = self
            .guilds
            .find(doc! { "admin_channel_id": { "$exists": true } })
            .projection(doc! { "guild_id": 1, "admin_channel_id": 1 })
            .await?
            .try_collect()
            .await?;
        Ok(docs
            .iter()
            .filter_map(|d| {
                Some((
                    d.get_str("guild_id").ok()?.parse().ok()?,
                    stored_id(d, "admin_channel_id")?,
                ))
            })
            .collect())
    }

    /// A `$set` with the bookkeeping every guild write carries.
    fn stamped(mut set: Document) -> Document {
        set.insert("schema_version", SCHEMA_VERSION);
        set.insert("updated_at", DateTime::now());
        set
    }

    async fn set(&self, guild_id: u64, set: Document) -> Result<(), mongodb::error::Error> {
        self.guilds
            .update_one(
                doc! { "guild_id": guild_id.to_string() },
                doc! { "$set": Self::stamped(set) },
            )
            .upsert(true)
            .await?;
        Ok(())
    }

    /// The home guild, whose admins grant premium (`bot_config.home_guild_id`).
    pub async fn home_guild(&self) -> Result<Option<u64>, mongodb::error::Error> {
        Ok(self
            .bot_config
            .find_one(doc! { "_id": BOT_CONFIG_ID })
            .await?
            .and_then(|d| stored_id(&d, "home_guild_id")))
    }

    pub async fn set_home_guild(&self, guild_id: u64) -> Result<(), mongodb::error::Error> {
        self.bot_config
            .update_one(
                doc! { "_id": BOT_CONFIG_ID },
                doc! { "$set": { "home_guild_id": guild_id.to_string(), "schema_version": SCHEMA_VERSION } },
            )
            .upsert(true)
            .await?;
        Ok(())
    }
}
