//! `towerctl import-legacy --from URI --database NAME [--dry-run] [--json]`: a database
//! the earlier (Python) bot wrote, imported into this one.
//!
//! What it reads, as the earlier bot's versions wrote it (its shapes disagree: string and
//! 64-bit guild ids, `sftp_host` and `hostname`, servers embedded in `guilds.servers[]` and
//! flat in `game_servers` and `servers`, plain-string `servers[]` elements):
//! - `guilds`: premium tier, admin role, theme, default server (every copy of a guild read together; each
//!   setting written only where this bot has none, a different one here kept and reported);
//! - `bot_config` (or `config`): the home guild (`{key: "home_guild_id", value}` or
//!   `home_guild_id`);
//! - game servers from `guilds.servers[]`, `game_servers` and `servers`, merged per
//!   (guild, game server id) so none is doubled; the game server id is the numeric id of
//!   its folder (`original_server_id`, else `server_id`, else the `{host}_{id}` folder
//!   of `csv_parser_path`); the SFTP password, stored in plaintext there, is sealed with
//!   this deployment's secret key on the way in and never printed; the channels and the
//!   per-kind switches one version kept on each server (`killfeed_channel_id`, …,
//!   `event_notifications`), and the guild-wide `killfeed_channel` of another, where
//!   this bot has none;
//! - where each server's killfeed reading stopped ([`read_positions`]): the first read
//!   here counts the whole CSV history but posts only what the earlier bot had not;
//! - player links ([`player_links`]) whose server was imported;
//! - bounties ([`bounties`]) whose server was imported;
//! - factions and their members linked here ([`factions`]) whose server was imported;
//! - economy balances ([`economy`]) as opening balances on the ledger.
//!
//! Statistics are not copied: the earlier bot summed a player's kills across every server
//! and skipped files of more than 100 events. Each imported server's first read counts its
//! killfeed's CSV history exactly instead (without posting it): `"statistics": "backfill"`.
//! Where the oldest CSV files are gone from the game server, the earlier bot's kill
//! records from before the oldest file still there are counted as the starting point
//! ([`statistics`]): `"statistics": "imported"`. Players and rivalries (recounted with the
//! statistics), and the kill records of files still there, are counted under
//! `not_imported` with why.
//!
//! Order matters for a run cut short: a server's read position is written before the
//! server, so no worker reads a server before knowing where the earlier bot stopped.
//!
//! A document it cannot import is reported with the reason and skipped; one bad document
//! never stops the rest. Running it again changes nothing: what exists is left as it is.

mod bounties;
mod economy;
mod factions;
mod player_links;
mod read_positions;
mod statistics;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use serde_json::{Value, json};
use tower_daemon::config::Config;
use tower_store::cursor_store::CursorStore;
use tower_store::db::Database;
use tower_store::game_servers::{
    CONNECTION_SWITCHES, Channels, Credential, EVENT_SWITCHES, GameServerError, GameServerStore,
    NewGameServer, SUICIDE_SWITCHES,
};
use tower_store::guilds::GuildStore;
use tower_store::ids::{GuildId, ServerId};
use tower_store::secret::{Redacted, SecretKey};
use tower_store::tier::Tier;

/// What `towerctl import-legacy` was asked.
pub struct ImportRequest<'a> {
    pub from: &'a str,
    pub database: &'a str,
    pub dry_run: bool,
    pub json: bool,
    pub config: Option<&'a Path>,
}

/// One game server as the earlier bot kept it, merged from its copies.
#[derive(Debug, Clone, Default)]
struct LegacyServer {
    guild: u64,
    server: Option<ServerId>,
    name: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    username: Option<String>,
    password: Option<Redacted<String>>,
    /// The ids the earlier bot knew it by (`server_id`, often a UUID, and
    /// `original_server_id`): what its read positions and links name.
    legacy_ids: BTreeSet<String>,
    channels: Channels,
    /// Per-kind switches by this bot's stored name (`mission`, `suicide_menu`, …).
    switches: BTreeMap<&'static str, bool>,
}

impl LegacyServer {
    /// Fills what this copy lacks from another copy of the same server.
    fn merge(&mut self, other: LegacyServer) {
        self.name = self.name.take().or(other.name);
        self.host = self.host.take().or(other.host);
        self.port = self.port.or(other.port);
        self.username = self.username.take().or(other.username);
        self.password = self.password.take().or(other.password);
        self.legacy_ids.extend(other.legacy_ids);
        let c = &mut self.channels;
        c.killfeed = c.killfeed.or(other.channels.killfeed);
        c.events = c.events.or(other.channels.events);
        c.connections = c.connections.or(other.channels.connections);
        c.voice_status = c.voice_status.or(other.channels.voice_status);
        for (name, on) in other.switches {
            self.switches.entry(name).or_insert(on);
        }
    }
}

/// What the import did, as `--json` prints it.
#[derive(Debug, Default)]
struct Report {
    imported: BTreeMap<&'static str, u64>,
    already: BTreeMap<&'static str, u64>,
    skipped: Vec<Value>,
    servers: Vec<Value>,
    not_imported: BTreeMap<&'static str, (u64, &'static str)>,
    /// The earlier bot's kill records that are no killfeed line (each under `skipped`).
    unreadable_kills: u64,
}

impl Report {
    fn skip(&mut self, collection: &str, id: impl Into<String>, reason: impl Into<String>) {
        self.skipped.push(json!({
            "collection": collection,
            "id": id.into(),
            "reason": reason.into(),
        }));
    }

    fn count(map: &mut BTreeMap<&'static str, u64>, collection: &'static str) {
        *map.entry(collection).or_default() += 1;
    }

    fn to_json(&self) -> Value {
        json!({
            "imported": self.imported,
            "already": self.already,
            "skipped": self.skipped,
            "servers": self.servers,
            "not_imported": self
                .not_imported
                .iter()
                .map(|(c, (n, why))| (c.to_string(), json!({ "count": n, "why": why })))
                .collect::<serde_json::Map<String, Value>>(),
        })
    }
}

/// Collections of the earlier bot left alone, and why.
const NOT_IMPORTED: &[(&str, &str)] = &[
    (
        "players",
        "the earlier bot summed players across servers; they are recounted with the statistics",
    ),
    (
        "rivalries",
        "rivalries are recounted with the statistics, from the CSV files and the kill records imported",
    ),
    (
        "collections.players",
        "players' faction_id repeats the factions' member lists, which are imported",
    ),
];

pub fn import(request: &ImportRequest<'_>) -> Result<(), String> {
    let config = Config::load(request.config).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let report = runtime.block_on(async {
        let legacy = mongodb::Client::with_uri_str(request.from)
            .await
            .map_err(|e| format!("the earlier bot's database ({}): {e}", redact(request.from)))?
            .database(request.database);
        let db = Database::connect(&config.mongodb, "towerctl")
            .await
            .map_err(|e| format!("MongoDB: {e}"))?;
        // A dry run writes nothing, not even the schema or the key check: it only needs
        // to know a key is configured.
        let key = if request.dry_run {
            configured_key(&config)?
        } else {
            tower_store::schema::migrate(&db, "towerctl import-legacy")
                .await
                .map_err(|e| format!("MongoDB: {e}"))?;
            tower_daemon::startup::open_secret_key(&config, &db)
                .await
                .map_err(|e| e.to_string())?
        };
        let Some(key) = key else {
            return Err(
                "no secret key is configured (secrets.key or TOWER_SECRET_KEY): the \
                        SFTP passwords could not be sealed, so nothing was imported"
                    .to_owned(),
            );
        };
        run(&legacy, &db, &key, &config.sftp, request.dry_run).await
    })?;
    if request.json {
        println!("{}", report.to_json());
    } else {
        print_report(&report, request.dry_run);
    }
    Ok(())
}

/// The configured secret key, read without recording anything.
fn configured_key(config: &Config) -> Result<Option<SecretKey>, String> {
    match (&config.secrets.key, &config.secrets.key_file) {
        (Some(key), _) => SecretKey::from_base64(key.expose())
            .map(Some)
            .map_err(|e| e.to_string()),
        (None, Some(path)) => SecretKey::from_file(path)
            .map(Some)
            .map_err(|e| e.to_string()),
        (None, None) => Ok(None),
    }
}

/// A connection string without its password, for messages.
fn redact(uri: &str) -> String {
    tower_daemon::redaction::redact(uri).into_owned()
}

async fn run(
    legacy: &mongodb::Database,
    db: &Database,
    key: &SecretKey,
    sftp: &tower_daemon::config::SftpConfig,
    dry_run: bool,
) -> Result<Report, String> {
    let read = |e: mongodb::error::Error| format!("the earlier bot's database: {e}");
    let mut report = Report::default();
    let guilds = GuildStore::new(db);
    let servers_store = GameServerStore::new(db);
    let mut servers: BTreeMap<(u64, String), LegacyServer> = BTreeMap::new();

    // Guilds: every copy of one guild (a string id and an integer one) read together, the
    // string-id copy first (the earlier bot read that one first), then written once.
    let mut copies: BTreeMap<u64, Vec<Document>> = BTreeMap::new();
    for d in all(legacy, "guilds").await.map_err(read)? {
        match discord_id(d.get("guild_id")) {
            Some(guild) => copies.entry(guild).or_default().push(d),
            None => report.skip("guilds", shown_id(&d), "no readable guild_id"),
        }
    }
    let mut id_only: Vec<(u64, String)> = Vec::new();
    // One version kept a guild-wide killfeed channel (as the text the admin typed).
    let mut guild_killfeed: BTreeMap<u64, u64> = BTreeMap::new();
    for (guild, mut docs) in copies {
        docs.sort_by_key(|d| !matches!(d.get("guild_id"), Some(Bson::String(_))));
        import_guild(db, guild, &docs, dry_run, &mut report).await?;
        if let Some(channel) = docs
            .iter()
            .find_map(|d| discord_id(d.get("killfeed_channel")))
        {
            guild_killfeed.insert(guild, channel);
        }
        // The servers embedded in any copy.
        for d in &docs {
            let Ok(embedded) = d.get_array("servers") else {
                continue;
            };
            for (i, element) in embedded.iter().enumerate() {
                let id = format!("{guild}/servers[{i}]");
                match element {
                    Bson::Document(s) => match legacy_server(s, Some(guild)) {
                        Ok(s) => add_copy(&mut servers, s),
                        Err(why) => report.skip("guilds.servers", id, why),
                    },
                    // One version kept only the server's id here, the rest elsewhere.
                    Bson::String(legacy_id) => id_only.push((guild, legacy_id.clone())),
                    _ => report.skip("guilds.servers", id, "not a server document"),
                }
            }
        }
    }
    // The flat copies.
    let mut flat_ids = std::collections::HashSet::new();
    for collection in ["game_servers", "servers"] {
        for d in all(legacy, collection).await.map_err(read)? {
            if let Some(id) = d.get("server_id").and_then(id_text) {
                flat_ids.insert(id);
            }
            match legacy_server(&d, None) {
                Ok(s) => add_copy(&mut servers, s),
                Err(why) => report.skip(collection, shown_id(&d), why),
            }
        }
    }

    for (guild, legacy_id) in id_only {
        if !flat_ids.contains(&legacy_id) {
            report.skip(
                "guilds.servers",
                format!("{guild}/{legacy_id}"),
                "only the server's id was kept here, and no copy with its SFTP details was found",
            );
        }
    }

    // Where the earlier bot stopped reading each server's killfeed (one version kept it in
    // `bot_config`, read once: the home guild is there too).
    let bot_config = all(legacy, "bot_config").await.map_err(read)?;
    let mut positions = read_positions::ReadPositions::read(
        &all(legacy, "csv_processor_state").await.map_err(read)?,
        &bot_config,
        &mut report,
    );
    let cursors = CursorStore::new(db);
    let server_ids = ServerIds::of(&servers);
    let stats = tower_store::stats_store::StatsStore::new(db);
    let statistics = statistics::StatisticsImport {
        legacy,
        stats: &stats,
        cursors: &cursors,
        sftp,
        dry_run,
    };

    // The servers, each once.
    for ((guild, server_id), mut s) in servers {
        let id = format!("{guild}/{server_id}");
        if s.channels.killfeed.is_none() {
            s.channels.killfeed = guild_killfeed.get(&guild).copied();
        }
        let resume = positions.of(&s.legacy_ids);
        let new = match complete(&s) {
            Ok(new) => new,
            Err(why) => {
                report.skip("game_servers", id, why);
                continue;
            }
        };
        let ours = new.server.clone();
        let exists = match servers_store.get(GuildId(guild), &ours).await {
            Ok(_) => true,
            Err(GameServerError::NotFound(_)) => false,
            Err(e) => {
                report.skip("game_servers", id, format!("not read: {e}"));
                continue;
            }
        };
        // The read position first: a worker may take the server as soon as it exists.
        // A server this bot has read before (removed and not re-added) keeps its own.
        let mut resume = resume.filter(|_| !exists);
        if let Some(position) = resume.as_ref().filter(|_| !dry_run)
            && !cursors
                .record_earlier_position(guild, &server_id, position)
                .await
                .map_err(|e| format!("MongoDB: {e}"))?
        {
            report.skip(
                "csv_processor_state",
                id.clone(),
                "this bot has read the server before: its own read position is kept",
            );
            resume = None;
        }
        // The earlier bot's kill records where the CSV files are gone: counted before the
        // server exists, so no worker reads it first.
        let counted = match exists {
            true => statistics::Counted::backfill(),
            false => {
                statistics
                    .server(guild, &ours, &s, &server_ids, &mut report)
                    .await?
            }
        };
        let added = match (exists, dry_run) {
            (true, _) => Err(GameServerError::Exists(ours.clone())),
            (false, true) => Ok(()),
            (false, false) => servers_store.add(GuildId(guild), new, Some(key)).await,
        };
        // Not added after all: its position must not wait for a server added by hand later.
        if added.is_err() && resume.is_some() && !dry_run && !exists {
            cursors
                .forget_earlier_position(guild, &server_id)
                .await
                .map_err(|e| format!("MongoDB: {e}"))?;
        }
        match added {
            Ok(()) => {
                Report::count(&mut report.imported, "game_servers");
                if resume.is_some() {
                    Report::count(&mut report.imported, "csv_processor_state");
                }
                let mut entry = json!({
                    "guild_id": guild.to_string(),
                    "server_id": server_id,
                    "statistics": counted.statistics,
                    "killfeed": match &resume {
                        Some(r) => json!({ "continues_after": { "file": r.file, "line": r.records } }),
                        None => json!("new lines only"),
                    },
                });
                if let (Some(records), Some(entry)) = (counted.details, entry.as_object_mut()) {
                    entry.insert("earlier_records".to_owned(), records);
                }
                if counted.lines > 0 {
                    *report.imported.entry("kills").or_default() += counted.lines;
                }
                report.servers.push(entry);
            }
            Err(GameServerError::Exists(_)) => Report::count(&mut report.already, "game_servers"),
            Err(e) => {
                report.skip("game_servers", id, format!("not written: {e}"));
                continue;
            }
        }
        // Channels and switches, where this bot has none (so also on a second run after
        // one cut short).
        let switches: Vec<(&str, bool)> = s.switches.iter().map(|(k, v)| (*k, *v)).collect();
        if !dry_run {
            let set = servers_store
                .fill_absent(GuildId(guild), &ours, &s.channels, &switches)
                .await
                .map_err(|e| format!("MongoDB: {e}"))?;
            if set > 0 {
                Report::count(&mut report.imported, "server_settings");
            }
        }
    }
    positions.report_unclaimed(&mut report);

    // Player links whose server is here now (read once: the economy and the factions
    // find their members' Discord users through them too).
    let links = all(legacy, "player_links").await.map_err(read)?;
    player_links::import(
        &links,
        &server_ids,
        &tower_store::player_links::PlayerLinks::new(db),
        dry_run,
        &mut report,
    )
    .await?;

    // Bounties whose server is here now.
    bounties::import(
        &all(legacy, "bounties").await.map_err(read)?,
        &server_ids,
        &tower_store::bounties::Bounties::new(db),
        dry_run,
        &mut report,
    )
    .await?;

    // Balances of players whose server is here now, as opening balances on the ledger.
    economy::import(
        &all(legacy, "economy").await.map_err(read)?,
        &links,
        &server_ids,
        (
            &tower_store::ledger::Ledger::new(db),
            &tower_store::player_links::PlayerLinks::new(db),
        ),
        dry_run,
        &mut report,
    )
    .await?;

    // Factions whose server is here now, with the members linked here (one version kept
    // them under `collections.factions`).
    let mut faction_docs = all(legacy, "factions").await.map_err(read)?;
    faction_docs.extend(all(legacy, "collections.factions").await.map_err(read)?);
    factions::import(
        &faction_docs,
        &links,
        &server_ids,
        (
            &tower_store::factions::Factions::new(db),
            &tower_store::player_links::PlayerLinks::new(db),
        ),
        dry_run,
        &mut report,
    )
    .await?;

    // The home guild.
    // `bot_config`, or `config` in one version.
    let mut config_docs = bot_config;
    config_docs.extend(all(legacy, "config").await.map_err(read)?);
    let mut home = None;
    for d in &config_docs {
        let value = match d.get_str("key") {
            Ok("home_guild_id") => d.get("value"),
            _ => d.get("home_guild_id"),
        };
        let Some(value) = value else { continue };
        match discord_id(Some(value)) {
            Some(id) => {
                home.get_or_insert(id);
            }
            None => report.skip(
                "bot_config",
                shown_id(d),
                format!("home_guild_id {value} is not a Discord id"),
            ),
        }
    }
    if let Some(home) = home {
        match guilds.home_guild().await.map_err(|e| e.to_string())? {
            Some(ours) if ours == home => Report::count(&mut report.already, "bot_config"),
            Some(ours) => report.skip(
                "bot_config",
                home.to_string(),
                format!("this bot's home guild is already {ours}; left as it is"),
            ),
            None => {
                if !dry_run {
                    guilds
                        .set_home_guild(home)
                        .await
                        .map_err(|e| format!("MongoDB: {e}"))?;
                }
                Report::count(&mut report.imported, "bot_config");
            }
        }
    }

    // The earlier bot's kill records not counted here (those imported, and those
    // skipped with a reason, are reported as such).
    let records = legacy
        .collection::<Document>("kills")
        .count_documents(doc! {})
        .await
        .map_err(read)?;
    let left = records
        .saturating_sub(report.imported.get("kills").copied().unwrap_or(0))
        .saturating_sub(report.unreadable_kills);
    if left > 0 {
        report.not_imported.insert(
            "kills",
            (
                left,
                "records of CSV files still on the game server (its first read recounts \
                 them), of servers already here, or of servers not imported",
            ),
        );
    }
    for (collection, why) in NOT_IMPORTED {
        let n = legacy
            .collection::<Document>(collection)
            .estimated_document_count()
            .await
            .map_err(read)?;
        if n > 0 {
            report.not_imported.insert(collection, (n, why));
        }
    }
    Ok(report)
}

/// One guild's settings from its copies: each field taken from the first copy that has
/// it, written only where this bot has none (what an admin set here is never reverted);
/// a different value already here is reported and left as it is.
async fn import_guild(
    db: &Database,
    guild: u64,
    docs: &[Document],
    dry_run: bool,
    report: &mut Report,
) -> Result<(), String> {
    let failed = |e: mongodb::error::Error| format!("MongoDB: {e}");
    let mut tier = None;
    for d in docs {
        if let Some(n) = d.get("premium_tier").and_then(number) {
            match u8::try_from(n).ok().and_then(Tier::new) {
                Some(t) => {
                    tier = Some(t);
                    break;
                }
                None => report.skip(
                    "guilds",
                    guild.to_string(),
                    format!(
                        "premium_tier {n} is not a tier (0 to 4); the rest of the guild is imported"
                    ),
                ),
            }
        }
    }
    let role = docs.iter().find_map(|d| discord_id(d.get("admin_role_id")));
    let theme = docs.iter().find_map(|d| {
        d.get_str("theme")
            .ok()
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    });
    // MF's `/settings default_server` wrote `default_server`, PD read `default_server_id`.
    let default_server = docs.iter().find_map(|d| {
        ["default_server", "default_server_id"]
            .into_iter()
            .find_map(|k| match d.get(k)? {
                Bson::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
                Bson::Int32(n) => Some(n.to_string()),
                Bson::Int64(n) => Some(n.to_string()),
                _ => None,
            })
    });
    let ours = db
        .raw()
        .collection::<Document>(tower_store::db::collections::GUILDS)
        .find_one(doc! { "guild_id": guild.to_string() })
        .await
        .map_err(failed)?
        .unwrap_or_default();
    let mut set = Document::new();
    let mut conflicts = Vec::new();
    let mut consider = |field: &str, legacy: Option<Bson>| {
        let Some(legacy) = legacy else { return };
        match ours.get(field) {
            None | Some(Bson::Null) => {
                set.insert(field, legacy);
            }
            Some(here) if here == &legacy => {}
            Some(here) => conflicts.push(format!("{field} is {here} here, {legacy} there")),
        }
    };
    consider(
        "premium_tier",
        tier.map(|t| Bson::Int32(i32::from(t.get()))),
    );
    consider("admin_role_id", role.map(|r| Bson::String(r.to_string())));
    consider("theme", theme.map(Bson::String));
    consider("default_server", default_server.map(Bson::String));
    for conflict in conflicts {
        report.skip(
            "guilds",
            guild.to_string(),
            format!("{conflict}: this bot's value is kept"),
        );
    }
    if set.is_empty() {
        Report::count(&mut report.already, "guilds");
        return Ok(());
    }
    if !dry_run {
        let guilds = GuildStore::new(db);
        if let Some(tier) = tier.filter(|_| set.contains_key("premium_tier")) {
            guilds.set_tier(guild, tier).await.map_err(failed)?;
        }
        if let Some(role) = role.filter(|_| set.contains_key("admin_role_id")) {
            guilds.set_admin_role(guild, role).await.map_err(failed)?;
        }
        if let Ok(theme) = set.get_str("theme") {
            guilds.set_theme(guild, theme).await.map_err(failed)?;
        }
        if let Ok(server) = set.get_str("default_server") {
            guilds
                .set_default_server(guild, Some(server))
                .await
                .map_err(failed)?;
        }
    }
    Report::count(&mut report.imported, "guilds");
    Ok(())
}

async fn all(
    legacy: &mongodb::Database,
    collection: &str,
) -> Result<Vec<Document>, mongodb::error::Error> {
    legacy
        .collection::<Document>(collection)
        .find(doc! {})
        .await?
        .try_collect()
        .await
}

/// Which imported server (this bot's id) the earlier bot meant by one of its ids, per
/// guild.
#[derive(Debug, Default)]
struct ServerIds(BTreeMap<(u64, String), String>);

impl ServerIds {
    fn of(servers: &BTreeMap<(u64, String), LegacyServer>) -> Self {
        let mut ids = BTreeMap::new();
        for ((guild, ours), s) in servers {
            ids.insert((*guild, ours.clone()), ours.clone());
            for legacy in &s.legacy_ids {
                ids.insert((*guild, legacy.clone()), ours.clone());
            }
        }
        Self(ids)
    }

    fn ours(&self, guild: u64, legacy: &str) -> Option<String> {
        self.0.get(&(guild, legacy.to_owned())).cloned()
    }

    /// Every (guild, this bot's server id) the earlier bot's id names, whatever guild:
    /// for documents that name a server but no guild.
    fn anywhere(&self, legacy: &str) -> Vec<(u64, String)> {
        let mut found: Vec<(u64, String)> = self
            .0
            .iter()
            .filter(|((_, l), _)| l == legacy)
            .map(|((g, _), ours)| (*g, ours.clone()))
            .collect();
        found.dedup();
        found
    }
}

fn add_copy(servers: &mut BTreeMap<(u64, String), LegacyServer>, s: LegacyServer) {
    let Some(server) = s.server.clone() else {
        return;
    };
    let key = (s.guild, server.as_str().to_owned());
    match servers.get_mut(&key) {
        Some(known) => known.merge(s),
        None => {
            servers.insert(key, s);
        }
    }
}

/// One copy of a server; `guild` when it is embedded in its guild's document.
fn legacy_server(d: &Document, guild: Option<u64>) -> Result<LegacyServer, String> {
    let guild = discord_id(d.get("guild_id"))
        .or(guild)
        .ok_or("no readable guild_id")?;
    let text = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| d.get_str(k).ok().map(str::trim).filter(|v| !v.is_empty()))
            .map(str::to_owned)
    };
    let server = ["original_server_id", "server_id"]
        .iter()
        .find_map(|k| {
            d.get(k)
                .and_then(id_text)
                .and_then(|s| ServerId::parse(&s).ok())
        })
        .or_else(|| {
            text(&["csv_parser_path", "log_parser_path"]).and_then(|p| folder_server_id(&p))
        })
        .ok_or_else(|| {
            format!(
                "no numeric game server id (server_id {:?}; the id of the server's folder, \
                 `host_ID`, is needed)",
                d.get("server_id").and_then(id_text).unwrap_or_default()
            )
        })?;
    // `sftp_host` may carry the port (`host:port`).
    let (host, port_in_host) = match text(&["sftp_host", "hostname", "host"]) {
        Some(h) => match h.rsplit_once(':') {
            Some((name, port)) if port.parse::<u16>().is_ok() => {
                (Some(name.to_owned()), port.parse::<u16>().ok())
            }
            _ => (Some(h), None),
        },
        None => (None, None),
    };
    // The earlier bot connected to the host's own port when it had one, not `sftp_port`.
    let port = port_in_host.or_else(|| {
        ["sftp_port", "port"]
            .iter()
            .find_map(|k| d.get(k).and_then(number))
            .and_then(|n| u16::try_from(n).ok())
    });
    let legacy_ids = ["server_id", "original_server_id"]
        .iter()
        .filter_map(|k| d.get(k).and_then(id_text))
        .filter(|id| !id.is_empty())
        .collect();
    let channel = |k: &str| discord_id(d.get(k));
    let channels = Channels {
        killfeed: channel("killfeed_channel_id"),
        events: channel("events_channel_id"),
        connections: channel("connections_channel_id"),
        voice_status: channel("voice_status_channel_id"),
        // The earlier bot kept its bounty channel per guild (`/bounty settings`).
        ..Channels::default()
    };
    // Absent in the earlier bot means on, as here: only what it stored is carried over.
    let mut switches = BTreeMap::new();
    for (group, names) in [
        ("event_notifications", &EVENT_SWITCHES[..]),
        ("connection_notifications", &CONNECTION_SWITCHES[..]),
        ("suicide_notifications", &SUICIDE_SWITCHES[..]),
    ] {
        let Ok(stored) = d.get_document(group) else {
            continue;
        };
        for (option, name) in names {
            if let Ok(on) = stored.get_bool(option) {
                switches.insert(*name, on);
            }
        }
    }
    Ok(LegacyServer {
        guild,
        server: Some(server),
        legacy_ids,
        channels,
        switches,
        name: text(&["server_name", "name"]),
        host,
        port,
        username: text(&["sftp_username", "username"]),
        password: ["sftp_password", "password"]
            .iter()
            .find_map(|k| d.get_str(k).ok().filter(|v| !v.is_empty()))
            .map(|p| Redacted::new(p.to_owned())),
    })
}

/// What this bot stores, or why the merged copies are not enough.
fn complete(s: &LegacyServer) -> Result<NewGameServer, String> {
    let server = s.server.clone().ok_or("no game server id")?;
    let host = s.host.clone().ok_or("no SFTP host")?;
    let username = s.username.clone().ok_or("no SFTP user name")?;
    let password = s.password.clone().ok_or("no SFTP password")?;
    Ok(NewGameServer {
        name: s
            .name
            .clone()
            .unwrap_or_else(|| format!("Server {}", server.as_str())),
        server,
        host,
        port: s.port.unwrap_or(22),
        username,
        credential: Credential::Password(password),
    })
}

/// The `ID` of a `/{host}_{ID}/…` folder path.
fn folder_server_id(path: &str) -> Option<ServerId> {
    let folder = path.trim_start_matches('/').split('/').next()?;
    let (_, id) = folder.rsplit_once('_')?;
    ServerId::parse(id).ok()
}

/// A Discord id written as a string, a 64-bit or a 32-bit integer.
fn discord_id(value: Option<&Bson>) -> Option<u64> {
    match value? {
        Bson::String(s) => s.trim().parse().ok(),
        Bson::Int64(n) => u64::try_from(*n).ok(),
        Bson::Int32(n) => u64::try_from(*n).ok(),
        _ => None,
    }
    .filter(|id| *id > 0)
}

/// A number written as an integer, a float or a string of digits.
fn number(value: &Bson) -> Option<i64> {
    match value {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        Bson::Double(f) if f.fract() == 0.0 && f.is_finite() => Some(*f as i64),
        Bson::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An id written as a string or an integer, as text.
fn id_text(value: &Bson) -> Option<String> {
    match value {
        Bson::String(s) => Some(s.trim().to_owned()),
        Bson::Int64(n) => Some(n.to_string()),
        Bson::Int32(n) => Some(n.to_string()),
        _ => None,
    }
}

/// How a skipped document is named: its `_id`, whatever its type.
fn shown_id(d: &Document) -> String {
    match d.get("_id") {
        Some(Bson::ObjectId(o)) => o.to_hex(),
        Some(Bson::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => "(no _id)".to_owned(),
    }
}

fn print_report(report: &Report, dry_run: bool) {
    if dry_run {
        println!("dry run: nothing was written");
    }
    for (collection, n) in &report.imported {
        println!("imported {n} from {collection}");
    }
    for (collection, n) in &report.already {
        println!("{n} from {collection} already here, left as they are");
    }
    for s in &report.servers {
        let records = &s["earlier_records"];
        let source = match (s["statistics"].as_str(), records["before"].as_str()) {
            (Some("imported"), Some(file)) => format!(
                "the earlier bot's {} kill records from before {file} (the oldest CSV file \
                 still there), then its CSV history, counted by its first read",
                records["lines"]
            ),
            (Some("imported"), None) => format!(
                "the earlier bot's {} kill records (no CSV file is left)",
                records["lines"]
            ),
            _ => "its CSV history, counted by its first read".to_owned(),
        };
        println!(
            "server {} of guild {}: statistics from {source}",
            s["server_id"].as_str().unwrap_or_default(),
            s["guild_id"].as_str().unwrap_or_default()
        );
    }
    for s in &report.skipped {
        println!(
            "skipped {} {}: {}",
            s["collection"].as_str().unwrap_or_default(),
            s["id"].as_str().unwrap_or_default(),
            s["reason"].as_str().unwrap_or_default()
        );
    }
    for (collection, (n, why)) in &report.not_imported {
        println!("not imported: {n} from {collection} ({why})");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_of_a_legacy_server_is_read() {
        // The earlier bot's newest shape: a UUID server_id, the game id beside it, both
        // spellings of every field, the port in the host.
        let pd = doc! {
            "server_id": "5251382d-8bce-4abd-8bcb-cdef73698a46",
            "original_server_id": "7020",
            "guild_id": "1219706687980568769",
            "server_name": "Emerald EU",
            "sftp_host": "79.127.236.1:8822",
            "hostname": "79.127.236.1:8822",
            "sftp_username": "baked",
            "sftp_password": "plaintext",
        };
        let s = legacy_server(&pd, None).unwrap_or_default();
        assert_eq!(s.guild, 1_219_706_687_980_568_769);
        assert_eq!(s.server.as_ref().map(ServerId::as_str), Some("7020"));
        assert_eq!(s.host.as_deref(), Some("79.127.236.1"));
        assert_eq!(s.port, Some(8822));
        // An older shape: a 64-bit guild id from the parent, the typed id, no duplicates.
        let old = doc! { "server_id": "1234", "sftp_host": "h", "sftp_port": 22 };
        let s = legacy_server(&old, Some(77)).unwrap_or_default();
        assert_eq!((s.guild, s.port), (77, Some(22)));
        // Only the folder says which game server it is.
        let path = doc! {
            "server_id": "2f9c1e0a-0000-4000-8000-000000000000",
            "guild_id": 5i64,
            "csv_parser_path": "/79.127.236.1_9999/actual1/deathlogs",
        };
        let s = legacy_server(&path, None).unwrap_or_default();
        assert_eq!(s.server.as_ref().map(ServerId::as_str), Some("9999"));
        // No id anywhere: a reason, not a guess.
        let none = doc! { "server_id": "abc", "guild_id": "5" };
        assert!(legacy_server(&none, None).is_err());
    }

    #[test]
    fn discord_ids_come_as_strings_or_integers() {
        assert_eq!(discord_id(Some(&Bson::String("42".into()))), Some(42));
        assert_eq!(discord_id(Some(&Bson::Int64(42))), Some(42));
        assert_eq!(discord_id(Some(&Bson::String(String::new()))), None);
        assert_eq!(discord_id(Some(&Bson::Null)), None);
        assert_eq!(discord_id(None), None);
    }
}
