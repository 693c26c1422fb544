//! `towerctl import-legacy`: a database written by the earlier bot, in the shapes its
//! versions wrote (string and 64-bit guild ids, servers embedded in `guilds.servers[]` and
//! flat in `game_servers` and `servers`, plain-string `servers[]` elements, `hostname`
//! beside `sftp_host`, a port in the host), imported: guilds, the home guild and the
//! servers once each, passwords sealed and nowhere in plaintext, every bad document
//! reported with its reason, a dry run writing nothing, and a second run changing nothing.

use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use serde_json::Value;
use tower_store::game_servers::{Credential, GameServerStore};
use tower_store::guilds::GuildStore;
use tower_store::ids::{GuildId, ServerId};
use tower_store::secret::SecretKey;
use tower_store::tier::Tier;
use tower_tests::WAIT;
use tower_tests::backing::TestDatabase;
use tower_tests::daemon::binary_path;
use tower_tests::support::ok;

const PD_GUILD: u64 = 910_000_000_000_000_001;
const OLD_GUILD: u64 = 910_000_000_000_000_002;
const MF_GUILD: u64 = 910_000_000_000_000_003;
const BAD_TIER_GUILD: u64 = 910_000_000_000_000_004;
const NULL_ID_GUILD: u64 = 910_000_000_000_000_005;
const OLD_KILLFEED: u64 = 930_000_000_000_000_002;
const PASSWORDS: [&str; 4] = [
    "pd-secret-pw",
    "old-secret-pw",
    "mf-secret-pw",
    "bad-tier-pw",
];

/// The earlier bot's database, one document of each shape its versions wrote.
async fn legacy_fixture(legacy: &mongodb::Database) {
    let insert = async |collection: &str, docs: Vec<Document>| {
        ok(legacy
            .collection::<Document>(collection)
            .insert_many(docs)
            .await);
    };
    // Its newest shape: a UUID server_id with the game id beside it, every field twice.
    let pd_server = doc! {
        "server_id": "5251382d-8bce-4abd-8bcb-cdef73698a46",
        "original_server_id": "7020",
        "server_name": "Emerald EU",
        "guild_id": PD_GUILD.to_string(),
        "sftp_host": "203.0.113.10:8822", "hostname": "203.0.113.10:8822",
        // The port in the host is the one the earlier bot connected to.
        "sftp_port": 22, "port": 22,
        "sftp_username": "baked", "username": "baked",
        "sftp_password": PASSWORDS[0], "password": PASSWORDS[0],
        "last_csv_line": 0, "last_log_line": 0, "sftp_enabled": true,
        "csv_parser_path": "/203.0.113.10_7020/actual1/deathlogs",
    };
    insert(
        "guilds",
        vec![
            doc! {
                "guild_id": PD_GUILD.to_string(), "name": "Emerald", "premium_tier": 2,
                "admin_role_id": "920000000000000001", "servers": [pd_server.clone()],
            },
            // The same guild written again with an integer id and another tier: one
            // guild, its string-id copy first.
            doc! { "guild_id": PD_GUILD as i64, "premium_tier": 0 },
            // The older shape: 64-bit ids, a theme, the typed server id, no duplicates.
            doc! {
                "guild_id": OLD_GUILD as i64, "premium_tier": 3,
                "admin_role_id": 920_000_000_000_000_002i64, "theme": "midnight",
                "servers": [{
                    "server_id": "4411", "server_name": "Old Server",
                    "guild_id": OLD_GUILD as i64, "sftp_host": "old.example",
                    "sftp_port": 2222, "sftp_username": "u",
                    "sftp_password": PASSWORDS[1], "last_csv_line": 17,
                    "killfeed_channel_id": OLD_KILLFEED as i64,
                    "event_notifications": { "crash": false, "airdrop": true },
                }],
            },
            // A version that kept only server ids here (the server is in game_servers),
            // with its tier as a string.
            doc! {
                "guild_id": MF_GUILD.to_string(), "premium_tier": "1",
                "servers": [
                    "0c1e7f2a-1111-4222-8333-444455556666",
                    // Nothing else of this one anywhere.
                    "ffffffff-dead-4bee-8000-000000000000",
                ],
            },
            // A tier that does not exist: the guild's server still comes over.
            doc! {
                "guild_id": BAD_TIER_GUILD.to_string(), "premium_tier": 9,
                "servers": [{
                    "server_id": "7777", "sftp_host": "bad.example",
                    "sftp_username": "b", "sftp_password": PASSWORDS[3],
                }],
            },
            // Written with `_id: null` by one path of the earlier bot.
            doc! {
                "_id": Bson::Null, "guild_id": NULL_ID_GUILD.to_string(), "name": "Null",
                "premium_tier": 0, "admin_role_id": Bson::Null, "servers": [],
            },
            // No guild id at all.
            doc! { "guild_id": "", "premium_tier": 1 },
        ],
    )
    .await;
    let mut pd_copy = pd_server.clone();
    pd_copy.insert("name", "Emerald EU");
    insert(
        "game_servers",
        vec![
            pd_copy,
            doc! {
                "server_id": "0c1e7f2a-1111-4222-8333-444455556666",
                "original_server_id": "5555", "guild_id": MF_GUILD.to_string(),
                "name": "MF Server", "hostname": "mf.example", "port": 22,
                "username": "mf", "password": PASSWORDS[2],
            },
            // No host anywhere: reported, not guessed.
            doc! {
                "server_id": "9a9a9a9a-0000-4000-8000-000000000000",
                "original_server_id": "6666", "guild_id": PD_GUILD.to_string(),
                "sftp_username": "x", "sftp_password": "y",
            },
        ],
    )
    .await;
    insert(
        "servers",
        vec![
            pd_server,
            // No numeric game server id anywhere.
            doc! {
                "server_id": "not-a-number", "guild_id": PD_GUILD.to_string(),
                "sftp_host": "h", "sftp_username": "u", "sftp_password": "p",
            },
        ],
    )
    .await;
    insert(
        "bot_config",
        vec![
            doc! { "key": "home_guild_id", "value": PD_GUILD.to_string() },
            // A version wrote it by hand, and wrongly.
            doc! { "_id": "config-bad", "home_guild_id": "the emerald server" },
        ],
    )
    .await;
    insert(
        "kills",
        vec![
            doc! { "server_id": "5251382d-8bce-4abd-8bcb-cdef73698a46", "killer_id": "a", "victim_id": "b" },
            doc! { "server_id": "5251382d-8bce-4abd-8bcb-cdef73698a46", "killer_id": "b", "victim_id": "a" },
        ],
    )
    .await;
    insert(
        "csv_processor_state",
        vec![
            doc! {
                "server_id": "5251382d-8bce-4abd-8bcb-cdef73698a46",
                "line_positions": { "2025.05.03-00.00.00.csv": 120 },
            },
            // Only a date survived: no position to continue from.
            doc! { "server_id": "4411", "last_processed": "2025-05-04T01:12:40" },
            // A server that was never imported.
            doc! { "server_id": "gone-server", "line_positions": { "2025.05.01-00.00.00.csv": 3 } },
        ],
    )
    .await;
    insert(
        "player_links",
        vec![
            doc! {
                "server_id": "5251382d-8bce-4abd-8bcb-cdef73698a46",
                "guild_id": PD_GUILD as i64, "discord_id": "462961235382763520",
                "player_id": "00024d4be1e44ba0aa342b39b0fb9937", "player_name": "HallagerTheDane",
                "verify_code": "K7Q2ZP", "verified": false,
            },
            // The earlier bot's placeholder server.
            doc! {
                "server_id": "test_server", "guild_id": PD_GUILD.to_string(),
                "discord_id": "462961235382763521",
                "player_id": "00022ba2df89427c8a252ab6be1df3f3", "player_name": "KT93141",
            },
            // The shape that names no server.
            doc! {
                "player_id": "00024d4be1e44ba0aa342b39b0fb9937", "guild_id": PD_GUILD.to_string(),
                "link_type": "discord", "linked_id": "462961235382763520", "status": "active",
            },
            // Not a player id.
            doc! {
                "server_id": "7020", "guild_id": PD_GUILD.to_string(),
                "discord_id": "462961235382763522", "player_id": "HallagerTheDane",
            },
        ],
    )
    .await;
    // Bounties as PD's models/bounty.py wrote them.
    let at = |hours: i64| {
        mongodb::bson::DateTime::from_millis(
            mongodb::bson::DateTime::now().timestamp_millis() + hours * 3_600_000,
        )
    };
    let bounty = |id: &str, status: &str, expires: i64| {
        doc! {
            "bounty_id": id, "guild_id": PD_GUILD.to_string(),
            "server_id": "5251382d-8bce-4abd-8bcb-cdef73698a46",
            "target_id": "00022ba2df89427c8a252ab6be1df3f3", "target_name": "KT93141",
            "placed_by_id": "462961235382763520", "placed_by_name": "Hallager",
            "amount": 250, "status": status, "bounty_type": "player",
            "requirement": { "reason": "Camping the trader" },
            "created_at": at(expires - 1), "expires_at": at(expires),
        }
    };
    let mut claimed = bounty("b-claimed", "claimed", -5);
    claimed.insert("claimed_by_id", "00024d4be1e44ba0aa342b39b0fb9937");
    claimed.insert("claimed_by_name", "HallagerTheDane");
    claimed.insert("claimed_at", at(-5));
    let mut no_target = bounty("b-bad", "active", 1);
    no_target.remove("target_id");
    let mut elsewhere = bounty("b-elsewhere", "active", 1);
    elsewhere.insert("server_id", "test_server");
    // Balances as models/economy.py kept them (one per player, no guild).
    insert(
        "economy",
        vec![
            doc! {
                "_id": "e-hallager", "player_id": "00024d4be1e44ba0aa342b39b0fb9937",
                "discord_id": "462961235382763520",
                "server_id": "5251382d-8bce-4abd-8bcb-cdef73698a46",
                "balance": 480, "lifetime_earnings": 600, "lifetime_spent": 120, "transactions": [],
            },
            // No discord_id: the user linked to the player.
            doc! { "_id": "e-linked", "player_id": "00024d4be1e44ba0aa342b39b0fb9937", "server_id": "7020", "balance": 20i64 },
            doc! { "_id": "e-unlinked", "player_id": "00022ba2df89427c8a252ab6be1df3f3", "server_id": "7020", "balance": 50 },
            doc! { "_id": "e-zero", "player_id": "00024d4be1e44ba0aa342b39b0fb9937", "server_id": "7020", "balance": 0 },
            doc! { "_id": "e-elsewhere", "discord_id": "462961235382763520", "server_id": "gone-server", "balance": 10 },
        ],
    )
    .await;
    // Factions in both shapes the earlier bot's versions disagree on (members are players).
    insert(
        "factions",
        vec![
            // models/faction.py's: the owner linked here; KT93141 linked on no server here.
            doc! {
                "_id": "f-wolves", "guild_id": PD_GUILD as i64,
                "server_id": "5251382d-8bce-4abd-8bcb-cdef73698a46",
                "faction_name": "The Wolves", "faction_tag": "WLF", "description": "Pack",
                "color": 0x7289DA, "owner_id": "00024d4be1e44ba0aa342b39b0fb9937",
                "admin_ids": ["00024d4be1e44ba0aa342b39b0fb9937"],
                "member_ids": ["00024d4be1e44ba0aa342b39b0fb9937", "00022ba2df89427c8a252ab6be1df3f3"],
            },
            // The cog's, led by a player no one linked.
            doc! {
                "_id": "f-bears", "guild_id": PD_GUILD.to_string(), "server_id": "7020",
                "name": "Bears", "tag": "BR", "leader_id": "00022ba2df89427c8a252ab6be1df3f3",
                "members": [{ "player_id": "00022ba2df89427c8a252ab6be1df3f3", "role": "leader" }],
                "require_approval": true,
            },
            doc! { "_id": "f-noguild", "server_id": "7020", "faction_name": "Ghosts", "faction_tag": "GH", "owner_id": "00024d4be1e44ba0aa342b39b0fb9937" },
        ],
    )
    .await;
    insert(
        "bounties",
        vec![
            bounty("b-active", "active", 1),
            bounty("b-old", "active", -2),
            claimed,
            bounty("b-cancelled", "cancelled", -3),
            no_target,
            elsewhere,
        ],
    )
    .await;
}

/// Runs towerctl import-legacy into `db`; its JSON report and everything it printed.
async fn import(
    db: &TestDatabase,
    legacy: &TestDatabase,
    key: &str,
    extra: &[&str],
) -> (Value, String) {
    import_with_env(db, legacy, key, extra, &[]).await
}

/// [`import`] with more environment (`(name, value)`).
async fn import_with_env(
    db: &TestDatabase,
    legacy: &TestDatabase,
    key: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Value, String) {
    let mut command = tokio::process::Command::new(ok(binary_path("towerctl")));
    command
        .args([
            "import-legacy",
            "--from",
            &legacy.uri,
            "--database",
            &legacy.name,
            "--json",
        ])
        .args(extra)
        .env_clear()
        .env("MONGODB_URI", &db.uri)
        .env("TOWER_MONGODB_DATABASE", &db.name)
        .env("TOWER_SECRET_KEY", key)
        .envs(env.iter().copied());
    let out = ok(ok(tokio::time::timeout(WAIT, command.output()).await));
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "towerctl import-legacy: {printed}");
    (ok(serde_json::from_slice(&out.stdout)), printed)
}

/// Every document of every collection of `db`, as text.
async fn everything(db: &mongodb::Database) -> Vec<String> {
    let mut all = Vec::new();
    for name in ok(db.list_collection_names().await) {
        if name == "schema_migrations" {
            continue;
        }
        let mut docs = ok(db.collection::<Document>(&name).find(doc! {}).await);
        while let Some(d) = ok(docs.try_next().await) {
            all.push(format!("{name}: {d}"));
        }
    }
    all.sort();
    all
}

#[tokio::test]
async fn the_earlier_bots_database_is_imported_once_with_its_passwords_sealed() {
    let db = ok(TestDatabase::create("import_legacy").await);
    let legacy = ok(TestDatabase::create("import_legacy_source").await);
    legacy_fixture(&legacy.handle()).await;
    let key_text = ok(SecretKey::generate_base64());
    let key = ok(SecretKey::from_base64(&key_text));

    // A dry run reports what it would do and writes nothing at all.
    let (dry, dry_printed) = import(&db, &legacy, &key_text, &["--dry-run"]).await;
    assert_eq!(dry["imported"]["game_servers"], 4, "{dry}");
    assert_eq!(dry["imported"]["factions"], 1, "{dry}");
    assert_eq!(dry["imported"]["economy"], 2, "{dry}");
    assert!(
        ok(db.handle().list_collection_names().await).is_empty(),
        "a dry run wrote"
    );

    // This bot already has a tier for one guild: an admin's choice is never reverted.
    let ours = ok(db.open().await);
    ok(tower_store::schema::migrate(&ours, "test").await);
    let guilds = GuildStore::new(&ours);
    ok(guilds
        .set_tier(OLD_GUILD, ok(Tier::new(4).ok_or("tier 4")))
        .await);

    let (report, printed) = import(&db, &legacy, &key_text, &[]).await;
    assert_eq!(report["imported"]["guilds"], 4, "{report}");
    assert_eq!(report["imported"]["game_servers"], 4, "{report}");
    assert!(
        report["already"].get("game_servers").is_none(),
        "merged, not added twice: {report}"
    );
    assert_eq!(report["imported"]["bot_config"], 1, "{report}");
    let servers = report["servers"].as_array().cloned().unwrap_or_default();
    assert_eq!(servers.len(), 4, "{report}");
    assert!(
        servers.iter().all(|s| s["statistics"] == "backfill"),
        "{report}"
    );
    let skipped = report["skipped"].as_array().cloned().unwrap_or_default();
    let reason = |id_part: &str| -> String {
        skipped
            .iter()
            .find(|s| s["id"].as_str().is_some_and(|i| i.contains(id_part)))
            .and_then(|s| s["reason"].as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    assert!(
        reason(&BAD_TIER_GUILD.to_string()).contains("premium_tier 9"),
        "{report}"
    );
    assert!(
        reason(&OLD_GUILD.to_string()).contains("premium_tier is 4 here"),
        "{report}"
    );
    assert!(
        reason("ffffffff-dead").contains("no copy with its SFTP details"),
        "{report}"
    );
    assert!(reason("6666").contains("no SFTP host"), "{report}");
    assert!(
        skipped.iter().any(|s| s["reason"]
            .as_str()
            .is_some_and(|r| r.contains("no readable guild_id"))),
        "{report}"
    );
    assert!(
        skipped.iter().any(|s| s["reason"]
            .as_str()
            .is_some_and(|r| r.contains("numeric game server id"))),
        "{report}"
    );
    assert_eq!(report["not_imported"]["kills"]["count"], 2, "{report}");
    assert!(
        reason("config-bad").contains("is not a Discord id"),
        "{report}"
    );
    assert_eq!(report["imported"]["csv_processor_state"], 1, "{report}");
    assert_eq!(report["imported"]["player_links"], 1, "{report}");
    // Bounties: the active one stays active; the rest are kept settled; nothing is paid.
    assert_eq!(report["imported"]["bounties"], 4, "{report}");
    assert!(reason("b-bad").contains("no target player id"), "{report}");
    assert!(
        reason("b-elsewhere").contains("no imported server"),
        "{report}"
    );
    // Balances: carried over to the user's account on the server, once.
    assert_eq!(report["imported"]["economy"], 2, "{report}");
    assert!(reason("e-unlinked").contains("no Discord user"), "{report}");
    assert!(reason("e-zero").contains("balance of 0"), "{report}");
    assert!(
        reason("e-elsewhere").contains("no imported server"),
        "{report}"
    );
    let account = tower_store::ledger::AccountId {
        guild_id: PD_GUILD,
        server_id: "7020".to_owned(),
        user_id: 462_961_235_382_763_520,
    };
    let ledger = tower_store::ledger::Ledger::new(&ok(db.open().await));
    assert_eq!(ok(ledger.account(&account).await).balance, 500);
    // Factions: the Wolves with their linked leader (an officer there too); the member
    // linked to no one here, the Bears' unlinked leader and the guildless one reported.
    assert_eq!(report["imported"]["factions"], 1, "{report}");
    assert!(
        reason("f-wolves:00022ba2df89427c8a252ab6be1df3f3").contains("linked to no Discord user"),
        "{report}"
    );
    assert!(
        reason("f-bears").contains("leader's player is linked to no Discord user"),
        "{report}"
    );
    assert!(
        reason("f-noguild").contains("no readable guild_id"),
        "{report}"
    );
    let factions = tower_store::factions::Factions::new(&ok(db.open().await));
    let (wolves, role) = ok(factions
        .of_user(PD_GUILD, "7020", 462_961_235_382_763_520)
        .await)
    .unwrap_or_else(|| panic!("the owner leads the imported faction: {report}"));
    assert_eq!(
        (wolves.name.as_str(), wolves.tag.as_str(), wolves.colour),
        ("The Wolves", "WLF", Some(0x7289DA))
    );
    assert_eq!(role, tower_store::factions::Role::Leader);
    let bounties = tower_store::bounties::Bounties::new(&ok(db.open().await));
    let status = async |id: &str| {
        ok(bounties.get(id).await).map(|b| (b.status, b.refunded, b.claim.is_some_and(|c| c.paid)))
    };
    use tower_store::bounties::Status;
    assert_eq!(
        status("b-active").await,
        Some((Status::Active, false, false))
    );
    assert_eq!(status("b-old").await, Some((Status::Expired, true, false)));
    assert_eq!(
        status("b-claimed").await,
        Some((Status::Claimed, false, true))
    );
    assert_eq!(
        status("b-cancelled").await,
        Some((Status::Expired, true, false))
    );
    assert!(reason("4411").contains("no line_positions"), "{report}");
    assert!(
        reason("gone-server").contains("no imported server"),
        "{report}"
    );
    assert!(
        skipped.iter().any(|s| s["reason"]
            .as_str()
            .is_some_and(|r| r.contains("\"test_server\" is no imported server"))),
        "{report}"
    );
    assert!(
        skipped.iter().any(|s| s["reason"]
            .as_str()
            .is_some_and(|r| r.contains("names no game server"))),
        "{report}"
    );
    assert!(
        skipped.iter().any(|s| s["reason"]
            .as_str()
            .is_some_and(|r| r.contains("32 hex digits"))),
        "{report}"
    );

    // What a user of this bot now has.
    let store = GameServerStore::new(&ours);
    let pd = ok(guilds.settings(PD_GUILD).await);
    assert_eq!(
        (pd.tier.get(), pd.admin_role),
        (2, Some(920_000_000_000_000_001))
    );
    let old = ok(guilds.settings(OLD_GUILD).await);
    assert_eq!(old.tier.get(), 4, "this bot's tier kept");
    assert_eq!(old.admin_role, Some(920_000_000_000_000_002));
    assert_eq!(old.theme.as_deref(), Some("midnight"));
    let old_server = ok(GameServerStore::new(&ours)
        .get(GuildId(OLD_GUILD), &ok(ServerId::parse("4411")))
        .await);
    assert_eq!(old_server.channels.killfeed, Some(OLD_KILLFEED));
    assert!(!old_server.notifies("crash") && old_server.notifies("airdrop"));
    assert_eq!(ok(guilds.settings(MF_GUILD).await).tier.get(), 1);
    assert_eq!(ok(guilds.home_guild().await), Some(PD_GUILD));
    for (guild, server, host, port, password) in [
        (PD_GUILD, "7020", "203.0.113.10", 8822, PASSWORDS[0]),
        (OLD_GUILD, "4411", "old.example", 2222, PASSWORDS[1]),
        (MF_GUILD, "5555", "mf.example", 22, PASSWORDS[2]),
        (BAD_TIER_GUILD, "7777", "bad.example", 22, PASSWORDS[3]),
    ] {
        let s = ok(store
            .get(GuildId(guild), &ok(ServerId::parse(server)))
            .await);
        assert_eq!((s.host.as_str(), s.port), (host, port), "{server}");
        match ok(s.credential(&key)) {
            Credential::Password(p) => assert_eq!(p.expose(), password, "{server}"),
            Credential::Key(_) => panic!("{server}: a password was imported"),
        }
    }
    // Sealed: in no document, and never printed.
    let stored = everything(&db.handle()).await;
    for password in PASSWORDS {
        assert!(
            !stored.iter().any(|d| d.contains(password)),
            "{password} stored in plaintext"
        );
        assert!(!printed.contains(password), "{password} printed");
        assert!(
            !dry_printed.contains(password),
            "{password} printed by the dry run"
        );
    }

    // A second run changes nothing.
    let (again, again_printed) = import(&db, &legacy, &key_text, &[]).await;
    for password in PASSWORDS {
        assert!(!again_printed.contains(password), "{password} printed");
    }
    assert!(
        again["imported"].as_object().is_none_or(|m| m.is_empty()),
        "{again}"
    );
    assert_eq!(again["already"]["game_servers"], 4, "{again}");
    assert_eq!(again["already"]["player_links"], 1, "{again}");
    assert_eq!(again["already"]["bounties"], 4, "{again}");
    assert_eq!(again["already"]["factions"], 1, "{again}");
    assert_eq!(again["already"]["economy"], 2, "{again}");
    assert_eq!(ok(ledger.account(&account).await).balance, 500, "paid once");
    assert_eq!(again["already"]["guilds"], 5, "{again}");
    assert_eq!(
        everything(&db.handle()).await,
        stored,
        "the second run wrote"
    );

    ok(db.drop_database().await);
    ok(legacy.drop_database().await);
}

const SWITCH_GUILD: u64 = 910_000_000_000_000_006;
const SWITCH_CHANNEL: u64 = 910_000_000_000_000_206;
/// A player of the guild, linked in the earlier bot.
const LINKED_USER: u64 = 462_961_235_382_763_520;

/// A community switches bots: the earlier bot had read the killfeed's first file and 283
/// lines of the second (`csv_processor_state`), and three kills were written since. The
/// imported server's first read counts every line, as a fresh ingest of the same files
/// would, and posts exactly the three kills the earlier bot never posted, to the channel
/// the earlier bot posted in; the player link comes over too.
#[tokio::test]
async fn the_killfeed_goes_on_where_the_earlier_bot_stopped() {
    use tower_tests::backing::sshd_port;
    use tower_tests::discord_sim::DiscordSimulator;
    use tower_tests::discord_sim::interactions::Member;
    use tower_tests::guild_setup::kill;
    use tower_tests::support::{
        eventually, expected_stats, first_read_done, fixture, posting_caught_up, required_env,
    };

    let db = ok(TestDatabase::create("import_legacy_resume").await);
    let legacy = ok(TestDatabase::create("import_legacy_resume_source").await);
    let home = tower_tests::sftp_home::Home::new("import_legacy_resume");
    let server = tower_tests::sftp_home::unique_server_id();
    let folder = home.killfeed(&server);
    let first = fixture("2025.03.27-00.00.00.csv");
    let mut second = fixture("2025.05.15-00.00.00.csv");
    let new_kills = format!("{}{}{}", kill(1), kill(2), kill(3));
    second.extend_from_slice(new_kills.as_bytes());
    ok(std::fs::write(
        folder.join("2025.03.27-00.00.00.csv"),
        &first,
    ));
    ok(std::fs::write(
        folder.join("2025.05.15-00.00.00.csv"),
        &second,
    ));

    let uuid = "5251382d-8bce-4abd-8bcb-cdef73698a46";
    let l = legacy.handle();
    ok(l.collection::<Document>("guilds")
        .insert_one(doc! {
            "guild_id": SWITCH_GUILD.to_string(), "premium_tier": 2,
            "servers": [{
                "server_id": uuid, "original_server_id": &server, "server_name": "Emerald EU",
                "guild_id": SWITCH_GUILD.to_string(),
                "sftp_host": "127.0.0.1", "sftp_port": i32::from(ok(sshd_port())),
                "sftp_username": required_env("TOWER_TEST_SFTP_USER"),
                "sftp_password": required_env("TOWER_TEST_SFTP_PASSWORD"),
                "killfeed_channel_id": SWITCH_CHANNEL as i64,
                "suicide_notifications": { "menu": false },
            }],
        })
        .await);
    ok(l.collection::<Document>("csv_processor_state")
        .insert_one(doc! {
            "server_id": uuid,
            "line_positions": { "2025.03.27-00.00.00.csv": 1112, "2025.05.15-00.00.00.csv": 283 },
        })
        .await);
    ok(l.collection::<Document>("player_links")
        .insert_one(doc! {
            "server_id": uuid, "guild_id": SWITCH_GUILD as i64,
            "discord_id": LINKED_USER.to_string(),
            "player_id": tower_tests::guild_setup::ALPHA, "player_name": "Alpha One",
            "verify_code": "K7Q2ZP", "verified": false,
        })
        .await);

    let key = ok(SecretKey::generate_base64());
    let (report, _) = import(&db, &legacy, &key, &[]).await;
    assert_eq!(report["imported"]["csv_processor_state"], 1, "{report}");
    assert_eq!(report["imported"]["player_links"], 1, "{report}");
    assert_eq!(
        report["servers"][0]["killfeed"]["continues_after"]["line"], 283,
        "{report}"
    );

    let sim = ok(DiscordSimulator::start().await);
    let options =
        tower_tests::stack::StackOptions::simulated(&db, &sim, Some(key)).with_loopback_sftp();
    let stack = ok(tower_tests::stack::Stack::start(&options).await);
    first_read_done(&db.handle(), SWITCH_GUILD, &server).await;
    posting_caught_up(&db.handle(), 1).await;

    // Posted: the three kills written after the earlier bot stopped, nothing before them.
    let times = sim.embed_times(SWITCH_CHANNEL);
    assert_eq!(times.len(), 3, "{times:?}");
    for minute in 1..=3 {
        assert!(
            times
                .iter()
                .any(|t| t.starts_with(&format!("2026-01-01T00:0{minute}:00"))),
            "kill {minute} not posted: {times:?}"
        );
    }
    // Counted: every line, exactly as a fresh ingest of the same files.
    let ours = ok(db.open().await);
    let stats = tower_store::stats_store::StatsStore::new(&ours);
    let stored = ok(stats.load(SWITCH_GUILD, &server).await);
    let expected = expected_stats(SWITCH_GUILD, &server, &[&first, &second]);
    assert_eq!(stored.totals, expected.totals);
    assert_eq!(stored.players.len(), expected.players.len());
    for (id, e) in &expected.players {
        assert_eq!(
            (stored.players[id].kills, stored.players[id].deaths),
            (e.kills, e.deaths),
            "{id}"
        );
    }
    // The switch the earlier bot kept, and the player's link.
    let kept = ok(GameServerStore::new(&ours)
        .get(GuildId(SWITCH_GUILD), &ok(ServerId::parse(&server)))
        .await);
    assert!(!kept.notifies("suicide_menu"), "menu suicides stay off");
    let member = Member::ordinary(SWITCH_GUILD, LINKED_USER);
    let sent = sim.slash(0, &member, "myplayers", &[]);
    let answer = ok(sim.answer(&sent, WAIT).await);
    assert!(answer.text().contains("Alpha One"), "{}", answer.text());

    // Nothing more is posted later: a poll after the first finds nothing new.
    let polls = |n: i64| {
        let status = db.handle().collection::<Document>("server_status");
        let id = format!("{SWITCH_GUILD}:{server}");
        async move {
            status
                .find_one(doc! { "_id": &id, "polls": { "$gte": n } })
                .await
                .ok()
                .flatten()
                .is_some()
        }
    };
    eventually("two more polls", WAIT, || polls(3)).await;
    posting_caught_up(&db.handle(), 1).await;
    assert_eq!(sim.embed_times(SWITCH_CHANNEL).len(), 3);

    ok(stack.stop_cleanly(WAIT).await);
    drop(home);
    ok(db.drop_database().await);
    ok(legacy.drop_database().await);
}

/// An import cut short (here: after the first server's read position and the second
/// server were written, before anything else) completes when run again: nothing doubled,
/// nothing missing, the cut-short server's settings filled in.
#[tokio::test]
async fn an_import_cut_short_completes_when_run_again() {
    use tower_ingest::earlier_position::EarlierPosition;
    use tower_store::cursor_store::CursorStore;
    use tower_store::game_servers::NewGameServer;
    use tower_store::secret::Redacted;

    const GUILD: u64 = 910_000_000_000_000_007;
    const CHANNEL: u64 = 930_000_000_000_000_007;
    let db = ok(TestDatabase::create("import_legacy_cut").await);
    let legacy = ok(TestDatabase::create("import_legacy_cut_source").await);
    let server = |id: &str| {
        doc! {
            "server_id": format!("uuid-{id}"), "original_server_id": id,
            "server_name": format!("Server {id}"), "sftp_host": "cut.example",
            "sftp_username": "u", "sftp_password": "cut-secret-pw",
            "killfeed_channel_id": CHANNEL as i64,
        }
    };
    ok(legacy
        .handle()
        .collection::<Document>("guilds")
        .insert_one(doc! {
            "guild_id": GUILD.to_string(), "premium_tier": 3,
            "servers": [server("8801"), server("8802")],
        })
        .await);
    ok(legacy
        .handle()
        .collection::<Document>("csv_processor_state")
        .insert_one(
            doc! { "server_id": "uuid-8801", "line_positions": { "2025.05.01-00.00.00.csv": 40 } },
        )
        .await);
    let key_text = ok(SecretKey::generate_base64());
    let key = ok(SecretKey::from_base64(&key_text));

    // What a run cut short left: 8801's read position, and 8802 without its channels.
    let ours = ok(db.open().await);
    ok(tower_store::schema::migrate(&ours, "test").await);
    let position = EarlierPosition {
        file: "2025.05.01-00.00.00.csv".to_owned(),
        records: 40,
        recorded_unix: mongodb::bson::DateTime::now().timestamp_millis() / 1000,
    };
    assert!(ok(CursorStore::new(&ours)
        .record_earlier_position(GUILD, "8801", &position)
        .await));
    let store = GameServerStore::new(&ours);
    ok(store
        .add(
            GuildId(GUILD),
            NewGameServer {
                server: ok(ServerId::parse("8802")),
                name: "Server 8802".to_owned(),
                host: "cut.example".to_owned(),
                port: 22,
                username: "u".to_owned(),
                credential: Credential::Password(Redacted::new("cut-secret-pw".to_owned())),
            },
            Some(&key),
        )
        .await);

    let (report, _) = import(&db, &legacy, &key_text, &[]).await;
    assert_eq!(report["imported"]["game_servers"], 1, "{report}");
    assert_eq!(report["already"]["game_servers"], 1, "{report}");
    for id in ["8801", "8802"] {
        let s = ok(store.get(GuildId(GUILD), &ok(ServerId::parse(id))).await);
        assert_eq!(s.channels.killfeed, Some(CHANNEL), "{id}'s channel");
    }
    let slots = ok(CursorStore::new(&ours)
        .load_killfeed_slots(GUILD, "8801")
        .await);
    assert_eq!(
        slots
            .states
            .get("killfeed")
            .and_then(|s| s.earlier_bot.clone())
            .map(|p| (p.file, p.records)),
        Some((position.file, position.records)),
        "the read position kept, once"
    );
    let stored = everything(&db.handle()).await;
    let (again, _) = import(&db, &legacy, &key_text, &[]).await;
    assert!(
        again["imported"].as_object().is_none_or(|m| m.is_empty()),
        "{again}"
    );
    assert_eq!(
        everything(&db.handle()).await,
        stored,
        "the third run wrote"
    );
    ok(db.drop_database().await);
    ok(legacy.drop_database().await);
}

/// Where the oldest CSV files are gone from the game server, the earlier bot's kill
/// records from before the oldest file still there are the statistics' starting point,
/// and the files still there are recounted: the statistics are those of a fresh ingest of
/// every file, nothing posted, and the records of the files still there not counted twice.
#[tokio::test]
async fn statistics_start_from_the_earlier_bots_records_where_the_csv_files_are_gone() {
    use tower_ingest::killfeed::{KillfeedEvent, parse_line};
    use tower_tests::backing::sshd_port;
    use tower_tests::discord_sim::DiscordSimulator;
    use tower_tests::support::{expected_stats, first_read_done, fixture, required_env};
    const GUILD: u64 = 910_000_000_000_000_008;
    const CHANNEL: u64 = 930_000_000_000_000_008;

    let db = ok(TestDatabase::create("import_legacy_records").await);
    let legacy = ok(TestDatabase::create("import_legacy_records_source").await);
    let home = tower_tests::sftp_home::Home::new("import_legacy_records");
    let server = tower_tests::sftp_home::unique_server_id();
    // The March file is gone from the game server; the May file is still there.
    let gone = fixture("2025.03.27-00.00.00.csv");
    let there = fixture("2025.05.15-00.00.00.csv");
    ok(std::fs::write(
        home.killfeed(&server).join("2025.05.15-00.00.00.csv"),
        &there,
    ));

    // The earlier bot's records of both files, as its versions wrote them: the time as a
    // date or as Python's text, the distance as an integer, a float or text, the server
    // by its UUID or by its game id; no record of a death without a killer.
    let uuid = "6a1f0c2e-3b7d-4c55-9d1e-0b5c7f2a9e41";
    let mut records = Vec::new();
    let mut kept = Vec::new();
    for (file, bytes, server_ref) in [(0, &gone, uuid), (1, &there, server.as_str())] {
        for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
            let Ok(line) = parse_line(raw) else { continue };
            let (killer, victim, weapon, distance, suicide) = match &line.event {
                KillfeedEvent::Kill {
                    killer,
                    victim,
                    weapon,
                    distance_m,
                    ..
                } => (killer, victim, weapon, *distance_m, false),
                KillfeedEvent::Suicide { player, cause, .. } => (player, player, cause, 0, true),
                KillfeedEvent::EnvironmentDeath { .. } => continue,
            };
            if file == 0 {
                kept.extend_from_slice(raw);
                kept.push(b'\n');
            }
            // Python's `str(datetime)`, with or without microseconds.
            let t = tower_ingest::timestamp::format_seconds(line.at);
            let python = format!(
                "{}-{}-{} {}:{}:{}",
                &t[0..4],
                &t[5..7],
                &t[8..10],
                &t[11..13],
                &t[14..16],
                &t[17..19]
            );
            let timestamp = match i % 3 {
                0 => Bson::String(python),
                1 => Bson::String(format!("{python}.250000")),
                _ => Bson::DateTime(mongodb::bson::DateTime::from_millis(line.at * 1000)),
            };
            let distance = match i % 5 {
                0 => Bson::Double(f64::from(distance)),
                1 => Bson::String(distance.to_string()),
                _ => Bson::Int32(i32::try_from(distance).unwrap_or(i32::MAX)),
            };
            records.push(doc! {
                "server_id": server_ref,
                "killer_id": killer.id, "killer_name": killer.name.as_ref(),
                "victim_id": victim.id, "victim_name": victim.name.as_ref(),
                "weapon": weapon.as_ref(), "distance": distance, "timestamp": timestamp,
                "is_suicide": suicide, "event_type": if suicide { "suicide" } else { "kill" },
            });
        }
    }
    let from_gone = records
        .iter()
        .filter(|d| d.get_str("server_id").ok() == Some(uuid))
        .count();
    let from_there = records.len() - from_gone;
    records.push(doc! { "server_id": uuid, "killer_id": "", "victim_id": "00024afed387453195c040bb85708405", "weapon": "AK", "timestamp": "2025-03-27 11:00:00" });
    let l = legacy.handle();
    ok(l.collection::<Document>("kills").insert_many(records).await);
    ok(l.collection::<Document>("guilds")
        .insert_one(doc! {
            "guild_id": GUILD.to_string(), "premium_tier": 1,
            "servers": [{
                "server_id": uuid, "original_server_id": &server, "server_name": "Emerald EU",
                "guild_id": GUILD.to_string(),
                "sftp_host": "127.0.0.1", "sftp_port": i32::from(ok(sshd_port())),
                "sftp_username": required_env("TOWER_TEST_SFTP_USER"),
                "sftp_password": required_env("TOWER_TEST_SFTP_PASSWORD"),
                "killfeed_channel_id": CHANNEL as i64,
            }],
        })
        .await);

    let key = ok(SecretKey::generate_base64());
    let sftp_env = [("TOWER_SFTP_ALLOW_LOOPBACK", "true")];
    // A dry run says what it would do and counts nothing.
    let (report, _) = import_with_env(&db, &legacy, &key, &["--dry-run"], &sftp_env).await;
    assert_eq!(report["servers"][0]["statistics"], "imported", "{report}");
    let ours = ok(db.open().await);
    let stats = tower_store::stats_store::StatsStore::new(&ours);
    assert_eq!(ok(stats.load(GUILD, &server).await).totals.kills, 0);

    // A run cut short left its first batch of records pending, not applied: the next run
    // finishes it and counts the rest, none twice.
    let cut_short: Vec<tower_store::cursor_store::RecordedKill> = kept
        .split(|b| *b == b'\n')
        .take(10)
        .map(|l| {
            tower_store::cursor_store::RecordedKill::imported(
                String::from_utf8_lossy(l).into_owned(),
            )
        })
        .collect();
    let state = tower_store::cursor_store::KillfeedState {
        next_batch: 1,
        pending: Some(tower_store::cursor_store::PendingBatch {
            batch: 1,
            ranges: cut_short
                .into_iter()
                .map(|kill| tower_store::cursor_store::PendingRange {
                    path: tower_store::cursor_store::IMPORTED_PATH.to_owned(),
                    from: 0,
                    to: kill.line.len() as u64,
                    at_eof: true,
                    recorded: Some(kill),
                })
                .collect(),
            cursor: None,
            rewards: None,
        }),
        ..Default::default()
    };
    ok(tower_store::cursor_store::CursorStore::new(&ours)
        .save_slot(GUILD, &server, "killfeed", &state, None)
        .await);

    let (report, _) = import_with_env(&db, &legacy, &key, &[], &sftp_env).await;
    let entry = &report["servers"][0];
    assert_eq!(entry["statistics"], "imported", "{report}");
    assert_eq!(entry["earlier_records"]["lines"], from_gone, "{report}");
    assert_eq!(
        entry["earlier_records"]["newly_counted"], from_gone,
        "the ten left pending, then the rest: {report}"
    );
    assert_eq!(report["imported"]["kills"], from_gone, "{report}");
    assert_eq!(
        entry["earlier_records"]["before"],
        "2025.05.15-00.00.00.csv"
    );
    assert_eq!(
        report["not_imported"]["kills"]["count"], from_there,
        "{report}"
    );
    let skipped: Vec<&Value> = ok(report["skipped"].as_array().ok_or("no skipped"))
        .iter()
        .filter(|s| s["collection"] == "kills")
        .collect();
    assert_eq!(skipped.len(), 1, "{report}");
    assert_eq!(skipped[0]["reason"], "no killer_id", "{report}");

    let sim = ok(DiscordSimulator::start().await);
    let options = tower_tests::stack::StackOptions::simulated(&db, &sim, Some(key.clone()))
        .with_loopback_sftp();
    let stack = ok(tower_tests::stack::Stack::start(&options).await);
    first_read_done(&db.handle(), GUILD, &server).await;
    // History, all of it: nothing to post.
    let notifications = db.handle().collection::<Document>("notifications");
    assert_eq!(ok(notifications.count_documents(doc! {}).await), 0);

    // Counted: the records of the gone file, then the file still there, once each: the
    // statistics of a fresh ingest of both files (less the deaths without a killer, which
    // the earlier bot did not record).
    let expected = expected_stats(GUILD, &server, &[&kept, &there]);
    let stored = ok(stats.load(GUILD, &server).await);
    assert_eq!(stored.totals, expected.totals);
    assert_eq!(stored.players.len(), expected.players.len());
    for (id, e) in &expected.players {
        let s = &stored.players[id];
        assert_eq!(
            (s.kills, s.deaths, s.best_killstreak, s.worst_deathstreak),
            (e.kills, e.deaths, e.best_killstreak, e.worst_deathstreak),
            "{id}"
        );
        assert_eq!(
            (&s.suicides, &s.weapons, &s.killed, s.longest_kill_m),
            (&e.suicides, &e.weapons, &e.killed, e.longest_kill_m),
            "{id}"
        );
    }
    ok(stack.stop_cleanly(WAIT).await);

    // The imported lines are stored kill lines like the rest: `towerctl verify`, counting
    // again from them, agrees.
    let out = ok(ok(tokio::time::timeout(
        WAIT,
        tokio::process::Command::new(ok(binary_path("towerctl")))
            .args(["verify", "--json", "--guild", &GUILD.to_string()])
            .env_clear()
            .env("MONGODB_URI", &db.uri)
            .env("TOWER_MONGODB_DATABASE", &db.name)
            .output(),
    )
    .await));
    let verified: Value = ok(serde_json::from_slice(&out.stdout));
    assert!(out.status.success(), "{verified}");
    assert_eq!(verified["servers"][0]["state"], "ok", "{verified}");

    // Run again: the server is here, nothing is counted twice.
    let (again, _) = import_with_env(&db, &legacy, &key, &[], &sftp_env).await;
    assert_eq!(again["already"]["game_servers"], 1, "{again}");
    assert_eq!(ok(stats.load(GUILD, &server).await).totals, expected.totals);

    drop(home);
    ok(db.drop_database().await);
    ok(legacy.drop_database().await);
}
