//! Game servers as guilds register them (`game_servers`): where the SFTP host is, how to
//! log in (the password or key sealed, bound to this guild and server), the pinned host
//! key, and whether it is polled. Every lookup takes the guild id: a guild can only ever
//! reach its own servers.
//!
//! Each server also carries what the gateway posts about it: the channels
//! (`channels.killfeed` …, as strings like every Discord id the earlier bot stored), which
//! feeds are on (`feeds.killfeed`, `feeds.events`, `feeds.connections`) and the
//! per-kind switches (`notify.mission`, `notify.suicide_fall`, …; absent means on).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::TryStreamExt;
use mongodb::bson::{Binary, Bson, DateTime, Document, doc, spec::BinarySubtype};

use crate::db::{Database, collections, is_duplicate_key};
use crate::ids::{GuildId, ServerId};
use crate::schema::SCHEMA_VERSION;
use crate::secret::{Redacted, SecretError, SecretKey};

/// How the bot logs in to a server's SFTP host.
#[derive(Debug, Clone)]
pub enum Credential {
    Password(Redacted<String>),
    /// An OpenSSH private key (PEM text).
    Key(Redacted<String>),
}

/// A registered game server, with its credential still sealed.
#[derive(Debug, Clone)]
pub struct GameServer {
    pub guild: GuildId,
    pub server: ServerId,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub username: String,
    /// `SHA256:…` of the host key, pinned on first connection.
    pub host_key_sha256: Option<String>,
    pub enabled: bool,
    pub channels: Channels,
    pub feeds: Feeds,
    /// Per-kind switches that are off (`mission`, `connect`, `suicide_fall`, …).
    pub muted: Vec<String>,
    /// Per-kind switches turned on (what is off until asked for: the highlights).
    pub switched_on: Vec<String>,
    /// The distance (metres) from which a kill is posted as a long shot
    /// ([`crate::highlights::long_shot_distance`]).
    pub long_shot_m: u32,
    /// How long the server's posts are held back (`/killfeed delay`; 0: posted at once).
    pub killfeed_delay_secs: i64,
    /// How long after an airdrop, mission or convoy its post is edited with the kills that
    /// followed it (`/events fights`; 0: not edited).
    pub fights_after_secs: i64,
    /// When it was added (ms): a guild's oldest servers use its tier's slots first.
    pub created_at_ms: i64,
    sealed_password: Option<Vec<u8>>,
    sealed_key: Option<Vec<u8>>,
}

/// Where a server's messages go (Discord channel ids).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Channels {
    pub killfeed: Option<u64>,
    pub events: Option<u64>,
    pub connections: Option<u64>,
    /// A voice channel renamed to show the player count.
    pub voice_status: Option<u64>,
    /// Bounties placed, claimed and expired.
    pub bounty: Option<u64>,
    /// The economy's announcements (a game won at ten times its bet or more).
    pub economy: Option<u64>,
}

impl Channels {
    pub const NAMES: [&'static str; 6] = [
        "killfeed",
        "events",
        "connections",
        "voice_status",
        "bounty",
        "economy",
    ];

    pub fn get(&self, name: &str) -> Option<u64> {
        match name {
            "killfeed" => self.killfeed,
            "events" => self.events,
            "connections" => self.connections,
            "voice_status" => self.voice_status,
            "bounty" => self.bounty,
            "economy" => self.economy,
            _ => None,
        }
    }

    fn from_doc(d: Option<&Document>) -> Self {
        let id = |k: &str| {
            d.and_then(|d| d.get_str(k).ok())
                .and_then(|s| s.parse().ok())
        };
        Self {
            killfeed: id("killfeed"),
            events: id("events"),
            connections: id("connections"),
            voice_status: id("voice_status"),
            bounty: id("bounty"),
            economy: id("economy"),
        }
    }
}

/// Which feeds the gateway posts for a server. The killfeed is on until stopped; events
/// and connections start off (they need a premium tier and `/events start`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feeds {
    pub killfeed: bool,
    pub events: bool,
    pub connections: bool,
}

impl Default for Feeds {
    fn default() -> Self {
        Self {
            killfeed: true,
            events: false,
            connections: false,
        }
    }
}

impl Feeds {
    fn from_doc(d: Option<&Document>) -> Self {
        let default = Self::default();
        let on = |k: &str, dflt: bool| d.and_then(|d| d.get_bool(k).ok()).unwrap_or(dflt);
        Self {
            killfeed: on("killfeed", default.killfeed),
            events: on("events", default.events),
            connections: on("connections", default.connections),
        }
    }
}

/// The per-kind switches, as (command option, stored switch name): `/events config`
/// (game events), `/events conn_config` (connections), `/events suicide_config`.
pub const EVENT_SWITCHES: [(&str, &str); 7] = [
    ("mission", "mission"),
    ("airdrop", "airdrop"),
    ("crash", "crash"),
    ("trader", "trader"),
    ("convoy", "convoy"),
    ("encounter", "encounter"),
    ("server_restart", "server_restart"),
];
/// The switch of a server's rivalry posts in its killfeed channel (`/rivalry posts`).
pub const RIVALRY_SWITCH: &str = "rivalry_posts";
/// The switches of the highlight posts in the killfeed channel (`/killfeed highlights`),
/// as (command option, stored switch name: the highlight's kind); off until turned on
/// ([`GameServer::opted_in`]).
pub const HIGHLIGHT_SWITCHES: [(&str, &str); 4] = [
    ("streaks", "streak"),
    ("streak_ends", "streak_end"),
    ("revenge", "revenge"),
    ("long_shots", "long_shot"),
];
pub const CONNECTION_SWITCHES: [(&str, &str); 2] =
    [("connect", "connect"), ("disconnect", "disconnect")];
pub const SUICIDE_SWITCHES: [(&str, &str); 3] = [
    ("menu", "suicide_menu"),
    ("fall", "suicide_fall"),
    ("other", "suicide_other"),
];

impl GameServer {
    /// Whether a per-kind switch is on (every switch is on until turned off).
    pub fn notifies(&self, switch: &str) -> bool {
        !self.muted.iter().any(|m| m == switch)
    }

    /// Whether a switch that is off until asked for is on (the highlights: a community
    /// moving from the earlier bot keeps the killfeed it knew until its admins ask).
    pub fn opted_in(&self, switch: &str) -> bool {
        self.switched_on.iter().any(|m| m == switch)
    }
}

/// A server to register.
#[derive(Debug, Clone)]
pub struct NewGameServer {
    pub server: ServerId,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub username: String,
    pub credential: Credential,
}

#[derive(Debug, thiserror::Error)]
pub enum GameServerError {
    #[error("this guild already has a server with id {0}")]
    Exists(ServerId),
    #[error("this guild has no server with id {0}")]
    NotFound(ServerId),
    #[error("secrets: {0}")]
    Secret(#[from] SecretError),
    #[error("no secret key is configured, so credentials cannot be stored or used")]
    NoKey,
    #[error("this guild's tier allows {slots} game server(s), all in use")]
    NoSlot { slots: u32 },
    #[error("database: {0}")]
    Db(#[from] mongodb::error::Error),
}

fn context(guild: GuildId, server: &ServerId, what: &str) -> String {
    format!("game_servers/{guild}/{server}/{what}")
}

impl GameServer {
    /// The credential, opened with the deployment's key.
    pub fn credential(&self, key: &SecretKey) -> Result<Credential, GameServerError> {
        let text = |sealed: &[u8], what| -> Result<Redacted<String>, GameServerError> {
            let plain = key.open(sealed, &context(self.guild, &self.server, what))?;
            Ok(Redacted::new(
                String::from_utf8_lossy(plain.expose()).into_owned(),
            ))
        };
        match (&self.sealed_key, &self.sealed_password) {
            (Some(k), _) => Ok(Credential::Key(text(k, "sftp_key")?)),
            (None, Some(p)) => Ok(Credential::Password(text(p, "sftp_password")?)),
            (None, None) => Err(GameServerError::Secret(SecretError::Malformed)),
        }
    }

    fn from_doc(d: &Document) -> Option<Self> {
        let sftp = d.get_document("sftp").ok()?;
        let binary = |k: &str| sftp.get_binary_generic(k).ok().cloned();
        let switched = |on: bool| {
            d.get_document("notify")
                .map(|n| {
                    n.iter()
                        .filter(|(_, v)| matches!(v, Bson::Boolean(b) if *b == on))
                        .map(|(k, _)| k.clone())
                        .collect()
                })
                .unwrap_or_default()
        };
        let muted = switched(false);
        let switched_on = switched(true);
        Some(Self {
            guild: GuildId(d.get_str("guild_id").ok()?.parse().ok()?),
            server: ServerId::parse(d.get_str("server_id").ok()?).ok()?,
            name: d.get_str("name").unwrap_or_default().to_owned(),
            host: sftp.get_str("host").ok()?.to_owned(),
            port: u16::try_from(sftp.get_i32("port").ok()?).ok()?,
            username: sftp.get_str("username").unwrap_or_default().to_owned(),
            host_key_sha256: sftp.get_str("host_key_sha256").ok().map(str::to_owned),
            enabled: d.get_bool("enabled").unwrap_or(true),
            channels: Channels::from_doc(d.get_document("channels").ok()),
            feeds: Feeds::from_doc(d.get_document("feeds").ok()),
            muted,
            switched_on,
            long_shot_m: crate::highlights::long_shot_distance(d.get("long_shot_m")),
            killfeed_delay_secs: crate::stats_store::get_i64(d, "killfeed_delay_secs")
                .map_or(0, |s| s.clamp(0, crate::delayed_killfeed::MAX_DELAY_SECS)),
            fights_after_secs: crate::stats_store::get_i64(d, "fights_after_secs")
                .map_or(0, |s| s.clamp(0, crate::live_posts::MAX_FIGHTS_AFTER_SECS)),
            created_at_ms: d
                .get_datetime("created_at")
                .map_or(0, |t| t.timestamp_millis()),
            sealed_password: binary("password_sealed"),
            sealed_key: binary("key_sealed"),
        })
    }
}

/// Which of a guild's servers its tier's `slots` cover: the oldest first. After a
/// downgrade the others are not polled or posted until a slot frees up.
pub fn within_slots(servers: &[GameServer], slots: u32) -> Vec<&GameServer> {
    let mut by_age: Vec<&GameServer> = servers.iter().collect();
    by_age.sort_by(|a, b| {
        (a.created_at_ms, a.server.as_str()).cmp(&(b.created_at_ms, b.server.as_str()))
    });
    by_age.truncate(usize::try_from(slots).unwrap_or(usize::MAX));
    by_age
}

/// The `game_servers` collection.
#[derive(Clone)]
pub struct GameServerStore {
    servers: mongodb::Collection<Document>,
    /// Writes made through this store and its clones: a reader that caches servers reads
    /// them again when it moves (see [`Self::edits`]).
    edits: Arc<AtomicU64>,
}

fn sealed(bytes: Vec<u8>) -> Binary {
    Binary {
        subtype: BinarySubtype::Generic,
        bytes,
    }
}

impl GameServerStore {
    pub fn new(db: &Database) -> Self {
        Self {
            servers: db.raw().collection(collections::GAME_SERVERS),
            edits: Arc::default(),
        }
    }

    /// How many writes this process has made to servers (added, removed, any setting
    /// changed), counted once each is done: a cache read when it was lower may be stale.
    pub fn edits(&self) -> u64 {
        self.edits.load(Ordering::Acquire)
    }

    fn edited(&self) {
        self.edits.fetch_add(1, Ordering::Release);
    }

    /// Registers a server, sealing its credential.
    /// Adds a server if the guild has a free slot of its tier's `slots`, atomically: the
    /// server is written, then kept only if fewer than `slots` of the guild's servers came
    /// before it (two admins adding at once cannot both take the last slot).
    pub async fn add_within(
        &self,
        guild: GuildId,
        new: NewGameServer,
        key: Option<&SecretKey>,
        slots: u32,
    ) -> Result<(), GameServerError> {
        let server = new.server.clone();
        self.add(guild, new, key).await?;
        let filter = doc! { "guild_id": guild.to_string(), "server_id": server.as_str() };
        let mine = self
            .servers
            .find_one(filter.clone())
            .await?
            .and_then(|d| d.get_datetime("created_at").ok().copied())
            .unwrap_or_else(DateTime::now);
        let before = self
            .servers
            .count_documents(doc! {
                "guild_id": guild.to_string(),
                "$or": [
                    { "created_at": { "$lt": mine } },
                    { "created_at": mine, "server_id": { "$lt": server.as_str() } },
                ],
            })
            .await?;
        if before >= u64::from(slots) {
            self.servers.delete_one(filter).await?;
            self.edited();
            return Err(GameServerError::NoSlot { slots });
        }
        Ok(())
    }

    pub async fn add(
        &self,
        guild: GuildId,
        new: NewGameServer,
        key: Option<&SecretKey>,
    ) -> Result<(), GameServerError> {
        let key = key.ok_or(GameServerError::NoKey)?;
        let mut sftp =
            doc! { "host": &new.host, "port": i32::from(new.port), "username": &new.username };
        match &new.credential {
            Credential::Password(p) => {
                let s = key.seal(
                    p.expose().as_bytes(),
                    &context(guild, &new.server, "sftp_password"),
                )?;
                sftp.insert("password_sealed", sealed(s));
            }
            Credential::Key(k) => {
                let s = key.seal(
                    k.expose().as_bytes(),
                    &context(guild, &new.server, "sftp_key"),
                )?;
                sftp.insert("key_sealed", sealed(s));
            }
        }
        let result = self
            .servers
            .insert_one(doc! {
                "guild_id": guild.to_string(),
                "server_id": new.server.as_str(),
                "name": &new.name,
                "sftp": sftp,
                "enabled": true,
                "created_at": DateTime::now(),
                "schema_version": SCHEMA_VERSION,
            })
            .await;
        match result {
            Ok(_) => {
                self.edited();
                Ok(())
            }
            Err(e) if is_duplicate_key(&e) => Err(GameServerError::Exists(new.server)),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get(
        &self,
        guild: GuildId,
        server: &ServerId,
    ) -> Result<GameServer, GameServerError> {
        self.update(guild, server, Document::new()).await
    }

    /// Pins the host key seen on first connection (or when an admin re-trusts a new one).
    pub async fn pin_host_key(
        &self,
        guild: GuildId,
        server: &ServerId,
        fingerprint: &str,
    ) -> Result<(), GameServerError> {
        self.servers
            .update_one(
                doc! { "guild_id": guild.to_string(), "server_id": server.as_str() },
                doc! { "$set": { "sftp.host_key_sha256": fingerprint } },
            )
            .await?;
        self.edited();
        Ok(())
    }

    /// Every server of one guild, by id.
    pub async fn list(&self, guild: GuildId) -> Result<Vec<GameServer>, GameServerError> {
        let docs: Vec<Document> = self
            .servers
            .find(doc! { "guild_id": guild.to_string() })
            .sort(doc! { "server_id": 1 })
            .await?
            .try_collect()
            .await?;
        Ok(docs.iter().filter_map(GameServer::from_doc).collect())
    }

    /// How many servers a guild has (for its tier's server slots).
    pub async fn count(&self, guild: GuildId) -> Result<u64, GameServerError> {
        Ok(self
            .servers
            .count_documents(doc! { "guild_id": guild.to_string() })
            .await?)
    }

    /// Removes a server. Its statistics stay, so adding it again continues them.
    pub async fn remove(&self, guild: GuildId, server: &ServerId) -> Result<(), GameServerError> {
        let deleted = self
            .servers
            .delete_one(doc! { "guild_id": guild.to_string(), "server_id": server.as_str() })
            .await?;
        if deleted.deleted_count == 0 {
            return Err(GameServerError::NotFound(server.clone()));
        }
        self.edited();
        Ok(())
    }

    /// Sets channels (`Some`) and leaves the others as they are; returns the server as
    /// it is now.
    pub async fn set_channels(
        &self,
        guild: GuildId,
        server: &ServerId,
        channels: &Channels,
    ) -> Result<GameServer, GameServerError> {
        let mut set = Document::new();
        for name in Channels::NAMES {
            if let Some(id) = channels.get(name) {
                set.insert(format!("channels.{name}"), id.to_string());
            }
        }
        self.update(guild, server, set).await
    }

    /// Sets channels and per-kind switches only where the server has none yet (an import
    /// never replaces what an admin set here); how many were set.
    pub async fn fill_absent(
        &self,
        guild: GuildId,
        server: &ServerId,
        channels: &Channels,
        switches: &[(&str, bool)],
    ) -> Result<u64, GameServerError> {
        let mut fields: Vec<(String, Bson)> = Channels::NAMES
            .iter()
            .filter_map(|name| {
                let id = channels.get(name)?;
                Some((format!("channels.{name}"), Bson::String(id.to_string())))
            })
            .collect();
        fields.extend(
            switches
                .iter()
                .map(|(name, on)| (format!("notify.{name}"), Bson::Boolean(*on))),
        );
        let mut set = 0;
        // One field at a time: each is written only if absent, without a pipeline update.
        for (field, value) in fields {
            let done = self
                .servers
                .update_one(
                    doc! {
                        "guild_id": guild.to_string(),
                        "server_id": server.as_str(),
                        &field: { "$exists": false },
                    },
                    doc! { "$set": { &field: value } },
                )
                .await?;
            set += done.modified_count;
        }
        if set > 0 {
            self.edited();
        }
        Ok(set)
    }

    /// Turns feeds (`killfeed`, `events`, `connections`) on or off; returns the server.
    pub async fn set_feeds(
        &self,
        guild: GuildId,
        server: &ServerId,
        feeds: &[(&str, bool)],
    ) -> Result<GameServer, GameServerError> {
        self.set_flags(guild, server, "feeds", feeds).await
    }

    /// Sets per-kind switches (the stored names of [`EVENT_SWITCHES`] and the others);
    /// returns the server.
    pub async fn set_switches(
        &self,
        guild: GuildId,
        server: &ServerId,
        switches: &[(&str, bool)],
    ) -> Result<GameServer, GameServerError> {
        self.set_flags(guild, server, "notify", switches).await
    }

    /// Sets the distance from which kills are posted as long shots; returns the server.
    pub async fn set_long_shot(
        &self,
        guild: GuildId,
        server: &ServerId,
        metres: u32,
    ) -> Result<GameServer, GameServerError> {
        self.update(guild, server, doc! { "long_shot_m": i64::from(metres) })
            .await
    }

    /// Sets how long the server's posts are held back; returns the server.
    pub async fn set_killfeed_delay(
        &self,
        guild: GuildId,
        server: &ServerId,
        secs: i64,
    ) -> Result<GameServer, GameServerError> {
        let secs = secs.clamp(0, crate::delayed_killfeed::MAX_DELAY_SECS);
        self.update(guild, server, doc! { "killfeed_delay_secs": secs })
            .await
    }

    /// Sets how long after an event its post is edited with the fights that followed (0:
    /// never).
    pub async fn set_fights_after(
        &self,
        guild: GuildId,
        server: &ServerId,
        secs: i64,
    ) -> Result<GameServer, GameServerError> {
        let secs = secs.clamp(0, crate::live_posts::MAX_FIGHTS_AFTER_SECS);
        self.update(guild, server, doc! { "fights_after_secs": secs })
            .await
    }

    /// Sets `prefix.name` to each on/off of `flags`; returns the server.
    async fn set_flags(
        &self,
        guild: GuildId,
        server: &ServerId,
        prefix: &str,
        flags: &[(&str, bool)],
    ) -> Result<GameServer, GameServerError> {
        let set = flags
            .iter()
            .map(|(name, on)| (format!("{prefix}.{name}"), Bson::Boolean(*on)))
            .collect();
        self.update(guild, server, set).await
    }

    /// Applies `$set` (nothing when empty) and returns the server after it, in one round
    /// trip.
    async fn update(
        &self,
        guild: GuildId,
        server: &ServerId,
        set: Document,
    ) -> Result<GameServer, GameServerError> {
        let filter = doc! { "guild_id": guild.to_string(), "server_id": server.as_str() };
        let found = if set.is_empty() {
            self.servers.find_one(filter).await?
        } else {
            let found = self
                .servers
                .find_one_and_update(filter, doc! { "$set": set })
                .return_document(mongodb::options::ReturnDocument::After)
                .await?;
            self.edited();
            found
        };
        found
            .as_ref()
            .and_then(GameServer::from_doc)
            .ok_or_else(|| GameServerError::NotFound(server.clone()))
    }
}
