//! A guild's game server set up the way an admin sets one up, through the bot's own
//! commands on the simulator: `/setup addserver` for a server on the test sshd, then
//! `/setup channels` for its killfeed; and killfeed lines to write for it.

use crate::WAIT;
use crate::backing::sshd_port;
use crate::discord_sim::DiscordSimulator;
use crate::discord_sim::interactions::{Member, Opt};
use crate::support::{first_read_done, ok, required_env};

/// Two players' EOS ids for written kills.
pub const ALPHA: &str = "0002e69a65204b669c20238266782d7b";
pub const BRAVO: &str = "00024afed387453195c040bb85708405";

/// The `/setup addserver` options for `server_id` on the test sshd, named `Server <id>`.
pub fn addserver_options(server_id: &str) -> Vec<(&'static str, Opt)> {
    vec![
        ("server_name", Opt::str(format!("Server {server_id}"))),
        ("host", Opt::str("127.0.0.1")),
        ("port", Opt::Int(i64::from(ok(sshd_port())))),
        ("username", Opt::str(required_env("TOWER_TEST_SFTP_USER"))),
        (
            "password",
            Opt::str(required_env("TOWER_TEST_SFTP_PASSWORD")),
        ),
        ("server_id", Opt::str(server_id)),
    ]
}

/// Adds `server_id` as `admin` and points its killfeed at `channel`, then waits for the
/// worker's first read of it (what its files hold by then is history, never posted).
pub async fn add_server_with_killfeed(
    sim: &DiscordSimulator,
    db: &mongodb::Database,
    admin: &Member,
    server_id: &str,
    channel: u64,
) {
    let sent = sim.slash(0, admin, "setup addserver", &addserver_options(server_id));
    let added = ok(sim.answer(&sent, WAIT).await);
    assert_eq!(added.title(), "Server added", "{}", added.text());
    let sent = sim.slash(
        0,
        admin,
        "setup channels",
        &killfeed_channel(server_id, channel),
    );
    assert_eq!(ok(sim.answer(&sent, WAIT).await).title(), "Channels saved");
    first_read_done(db, admin.guild_id, server_id).await;
}

/// `/setup removeserver server_id` as `admin`, confirmed with its Confirm button: the
/// message as the press left it.
pub async fn remove_server(
    sim: &DiscordSimulator,
    admin: &Member,
    server_id: &str,
) -> crate::discord_sim::interactions::Answer {
    let sent = sim.slash(
        0,
        admin,
        "setup removeserver",
        &[("server_id", Opt::str(server_id))],
    );
    let asked = ok(sim.answer(&sent, WAIT).await);
    assert_eq!(asked.title(), "Confirm Server Removal", "{}", asked.text());
    let confirm = asked
        .buttons()
        .into_iter()
        .find(|b| b.starts_with("rm|y|"))
        .unwrap_or_default();
    let pressed = sim.press(0, admin, &confirm);
    ok(sim.first_answer(&pressed, WAIT).await)
}

/// The `/setup channels` options that point `server_id`'s killfeed at `channel`.
pub fn killfeed_channel(server_id: &str, channel: u64) -> Vec<(&'static str, Opt)> {
    vec![
        ("server_id", Opt::str(server_id)),
        ("killfeed_channel", Opt::Channel(channel)),
    ]
}

/// `n` killfeed lines, Alpha One killing Bravo a minute apart from 2026-01-01 00:00.
pub fn kills(n: u32) -> String {
    (0..n).map(kill).collect()
}

/// Alpha One kills Bravo at 2026-01-01 00:`minute`.
pub fn kill(minute: u32) -> String {
    format!("2026.01.01-00.{minute:02}.00;Alpha One;{ALPHA};Bravo;{BRAVO};AK-74;120;PS5;PS5;\n")
}

/// A whole stack (collector, worker, gateway, simulated Discord) with one game server of
/// `guild`, added by its admin, whose killfeed posts to `channel`; its killfeed file and
/// log are empty and the worker has read them once, so every kill written to `csv` (and
/// every event written to `home.log(&server)`) is live.
pub struct KillfeedSetup {
    pub db: crate::backing::TestDatabase,
    /// Holds the server's files; they go when it is dropped.
    pub home: crate::sftp_home::Home,
    pub sim: DiscordSimulator,
    pub options: crate::stack::StackOptions,
    pub stack: crate::stack::Stack,
    pub admin: Member,
    pub server: String,
    /// The server's killfeed file of 2026-01-01.
    pub csv: std::path::PathBuf,
}

impl KillfeedSetup {
    /// Starts it on `db`, the files in a folder named after `test`.
    pub async fn start(
        db: crate::backing::TestDatabase,
        test: &str,
        (guild, admin): (u64, u64),
        channel: u64,
    ) -> Self {
        let home = crate::sftp_home::Home::new(test);
        let key = ok(tower_store::secret::SecretKey::generate_base64());
        let server = crate::sftp_home::unique_server_id();
        let csv = home.killfeed(&server).join("2026.01.01-00.00.00.csv");
        ok(std::fs::write(&csv, ""));
        // An empty log too: what is written to `home.log(&server)` later is live.
        ok(std::fs::write(home.log(&server), ""));
        let sim = ok(DiscordSimulator::start().await);
        let options =
            crate::stack::StackOptions::simulated(&db, &sim, Some(key)).with_loopback_sftp();
        let stack = ok(crate::stack::Stack::start(&options).await);
        let admin = Member::admin(guild, admin);
        add_server_with_killfeed(&sim, &db.handle(), &admin, &server, channel).await;
        Self {
            db,
            home,
            sim,
            options,
            stack,
            admin,
            server,
            csv,
        }
    }
}

/// `count` game servers of a top-tier `guild` on the test sshd, stored directly (for the
/// worker's own tests, without a gateway), each with a killfeed of `kill_count` kills and
/// a log; their killfeed files.
pub async fn stored_servers(
    db: &tower_store::db::Database,
    home: &crate::sftp_home::Home,
    key: &tower_store::secret::SecretKey,
    guild: u64,
    (count, kill_count): (usize, u32),
) -> Vec<std::path::PathBuf> {
    use mongodb::bson::{Document, doc};
    use tower_store::game_servers::{Credential, GameServerStore, NewGameServer};
    use tower_store::ids::{GuildId, ServerId};
    use tower_store::secret::Redacted;

    ok(db
        .raw()
        .collection::<Document>("guilds")
        .insert_one(doc! { "guild_id": guild.to_string(), "premium_tier": 4, "schema_version": 1 })
        .await);
    let store = GameServerStore::new(db);
    let mut files = Vec::new();
    for _ in 0..count {
        let id = crate::sftp_home::unique_server_id();
        let csv = home.killfeed(&id).join("2026.01.01-00.00.00.csv");
        ok(std::fs::write(&csv, kills(kill_count)));
        ok(std::fs::write(
            home.log(&id),
            "Log file open, 01/01/26 00:00:00\n",
        ));
        files.push(csv);
        let new = NewGameServer {
            server: ok(ServerId::parse(&id)),
            name: format!("Server {id}"),
            host: "127.0.0.1".to_owned(),
            port: ok(sshd_port()),
            username: required_env("TOWER_TEST_SFTP_USER"),
            credential: Credential::Password(Redacted::new(required_env(
                "TOWER_TEST_SFTP_PASSWORD",
            ))),
        };
        ok(store.add(GuildId(guild), new, Some(key)).await);
    }
    files
}
