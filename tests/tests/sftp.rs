//! The sftp-worker against a real OpenSSH sshd on loopback (started by the test command):
//! testing a server (`/test_sftp`) and listing its files, with password and key logins, a
//! wrong password, a changed host key, a port that accepts TCP but never speaks SSH,
//! internal addresses refused by default, and guilds kept apart.

use std::path::PathBuf;

use tokio::net::TcpListener;
use tonic::Code;
use tower_daemon::grpc::AuthedChannel;
use tower_proto::v1::sftp_worker_client::SftpWorkerClient;
use tower_proto::v1::{ListFilesRequest, ServerRef, TestServerReply, TestServerRequest};
use tower_store::game_servers::{Credential, GameServerStore, NewGameServer};
use tower_store::ids::{GuildId, ServerId};
use tower_store::secret::{Redacted, SecretKey};
use tower_tests::backing::{TestDatabase, sshd_port};
use tower_tests::daemon::Daemon;
use tower_tests::stack::{standalone_worker, worker_client};
use tower_tests::support::{ok, required_env};

const GUILD: GuildId = GuildId(333_333_333_333_333_333);

/// A game server's folders in the SFTP user's home, named after this test.
struct GameFolder {
    root: PathBuf,
    server_id: String,
}

impl GameFolder {
    fn create(test: &str) -> GameFolder {
        // A server id of this test's own, so discovery picks this test's folder.
        let server_id = tower_tests::sftp_home::unique_server_id();
        let root = PathBuf::from(required_env("TOWER_TEST_SFTP_HOME"))
            .join(format!("t_{test}_{}", std::process::id()));
        let base = root.join(format!("127.0.0.1_{server_id}"));
        let kf = base.join("actual1/deathlogs/world_0");
        ok(std::fs::create_dir_all(&kf));
        ok(std::fs::create_dir_all(base.join("Logs")));
        let fixtures =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/deadside/killfeed");
        for name in ["2025.05.01-00.00.00.csv", "2025.05.15-00.00.00.csv"] {
            ok(std::fs::copy(fixtures.join(name), kf.join(name)));
        }
        ok(std::fs::write(
            base.join("Logs/Deadside.log"),
            "Log file open, 05/03/25 02:00:00\n",
        ));
        GameFolder { root, server_id }
    }
}

impl Drop for GameFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

struct Setup {
    db: TestDatabase,
    key: SecretKey,
    worker: Daemon,
    client: SftpWorkerClient<AuthedChannel>,
}

async fn start_worker(test: &str, extra: &[(&str, &str)]) -> Setup {
    let db = ok(TestDatabase::create(test).await);
    let key_text = ok(SecretKey::generate_base64());
    let (worker, addr) = ok(standalone_worker(&db, &key_text, extra).await);
    let client = worker_client(addr);
    Setup {
        db,
        key: ok(SecretKey::from_base64(&key_text)),
        worker,
        client,
    }
}

impl Setup {
    async fn add_server(&self, guild: GuildId, server_id: &str, port: u16, credential: Credential) {
        let db = ok(self.db.open().await);
        let new = NewGameServer {
            server: ok(ServerId::parse(server_id)),
            name: "Test server".to_owned(),
            host: "127.0.0.1".to_owned(),
            port,
            username: required_env("TOWER_TEST_SFTP_USER"),
            credential,
        };
        ok(GameServerStore::new(&db)
            .add(guild, new, Some(&self.key))
            .await);
    }

    async fn test_server(
        &mut self,
        guild: GuildId,
        server_id: &str,
    ) -> Result<TestServerReply, tonic::Status> {
        let request = TestServerRequest {
            server: Some(ServerRef {
                guild_id: guild.0,
                server_id: server_id.to_owned(),
            }),
        };
        self.client
            .test_server(request)
            .await
            .map(tonic::Response::into_inner)
    }

    async fn finish(self) {
        assert!(ok(self.worker.stop(std::time::Duration::from_secs(20)).await).success());
        ok(self.db.drop_database().await);
    }
}

fn password() -> Credential {
    Credential::Password(Redacted::new(required_env("TOWER_TEST_SFTP_PASSWORD")))
}

fn step<'a>(reply: &'a TestServerReply, name: &str) -> &'a tower_proto::v1::TestStep {
    reply
        .steps
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no step {name} in {reply:?}"))
}

#[tokio::test]
async fn password_and_key_logins_find_the_killfeed_and_pin_the_host_key() {
    let folder = GameFolder::create("logins");
    let mut s = start_worker("sftp_logins", &[("TOWER_SFTP_ALLOW_LOOPBACK", "true")]).await;
    let port = ok(sshd_port());
    s.add_server(GUILD, &folder.server_id, port, password())
        .await;

    let reply = ok(s.test_server(GUILD, &folder.server_id).await);
    assert!(reply.ok, "{reply:?}");
    let names: Vec<&str> = reply.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "resolve",
            "connect",
            "handshake",
            "auth",
            "sftp",
            "find_killfeed",
            "find_log"
        ]
    );
    assert!(reply.steps.iter().all(|s| s.ok), "{reply:?}");
    assert_eq!(reply.csv_files, 2);
    assert_eq!(reply.killfeed_dirs.len(), 1);
    assert!(reply.killfeed_dirs[0].ends_with(&format!(
        "127.0.0.1_{}/actual1/deathlogs/world_0",
        folder.server_id
    )));
    assert!(reply.log_path.ends_with("Logs/Deadside.log"));
    assert!(reply.host_key_sha256.starts_with("SHA256:"));
    // The key seen first is pinned with the server.
    let db = ok(s.db.open().await);
    let stored = ok(GameServerStore::new(&db)
        .get(GUILD, &ok(ServerId::parse(&folder.server_id)))
        .await);
    assert_eq!(
        stored.host_key_sha256.as_deref(),
        Some(reply.host_key_sha256.as_str())
    );

    // The same host with a key login, as another server of the guild.
    let key = ok(std::fs::read_to_string(required_env("TOWER_TEST_SFTP_KEY")));
    let key_server = format!("{}1", folder.server_id);
    s.add_server(
        GUILD,
        &key_server,
        port,
        Credential::Key(Redacted::new(key)),
    )
    .await;
    let by_key = ok(s.test_server(GUILD, &key_server).await);
    // (No folder of its own: the login is what this checks.)
    assert!(
        step(&by_key, "auth").ok && step(&by_key, "sftp").ok,
        "{by_key:?}"
    );

    // Listing files: the killfeed folder by default, filtered by a pattern.
    let listed = ok(s
        .client
        .list_files(ListFilesRequest {
            server: Some(ServerRef {
                guild_id: GUILD.0,
                server_id: folder.server_id.clone(),
            }),
            path: String::new(),
            pattern: "2025.05.1*".to_owned(),
            limit: 0,
            log_folder: false,
        })
        .await)
    .into_inner();
    let names: Vec<&str> = listed
        .entries
        .iter()
        .map(|e| e.path.rsplit('/').next().unwrap_or_default())
        .collect();
    assert_eq!(names, ["2025.05.15-00.00.00.csv"]);
    assert!(listed.entries[0].size > 0);
    s.finish().await;
}

#[tokio::test]
async fn wrong_password_changed_key_and_a_silent_port_fail_clearly() {
    let folder = GameFolder::create("failures");
    // A port that accepts TCP and then says nothing.
    let silent = ok(TcpListener::bind("127.0.0.1:0").await);
    let silent_port = ok(silent.local_addr()).port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            held.push(conn);
        }
    });
    let mut s = start_worker(
        "sftp_failures",
        &[
            ("TOWER_SFTP_ALLOW_LOOPBACK", "true"),
            ("TOWER_SFTP_CONNECT_TIMEOUT_SECS", "2"),
        ],
    )
    .await;
    let port = ok(sshd_port());

    let wrong = format!("{}2", folder.server_id);
    s.add_server(
        GUILD,
        &wrong,
        port,
        Credential::Password(Redacted::new("not-the-password".to_owned())),
    )
    .await;
    let reply = ok(s.test_server(GUILD, &wrong).await);
    assert!(!reply.ok);
    assert!(!step(&reply, "auth").ok);
    assert!(
        step(&reply, "auth").detail.contains("refused the login"),
        "{reply:?}"
    );
    assert!(reply.error_id.starts_with("E-"));

    let pinned = format!("{}3", folder.server_id);
    s.add_server(GUILD, &pinned, port, password()).await;
    let db = ok(s.db.open().await);
    ok(GameServerStore::new(&db)
        .pin_host_key(
            GUILD,
            &ok(ServerId::parse(&pinned)),
            "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )
        .await);
    let reply = ok(s.test_server(GUILD, &pinned).await);
    assert!(!reply.ok);
    assert!(
        step(&reply, "handshake")
            .detail
            .contains("host key changed"),
        "{reply:?}"
    );
    assert!(
        reply.steps.iter().all(|st| st.name != "auth"),
        "no password is sent to a changed host"
    );

    let mute = format!("{}4", folder.server_id);
    s.add_server(GUILD, &mute, silent_port, password()).await;
    let reply = ok(s.test_server(GUILD, &mute).await);
    assert!(!reply.ok);
    let handshake = step(&reply, "handshake");
    assert!(
        handshake.detail.contains("did not finish within 2s"),
        "{reply:?}"
    );
    assert!(handshake.elapsed_ms < 10_000);
    s.finish().await;
}

#[tokio::test]
async fn internal_addresses_and_other_guilds_servers_are_refused() {
    let folder = GameFolder::create("refusals");
    // No TOWER_SFTP_ALLOW_LOOPBACK: the operator has not allowed internal addresses.
    let mut s = start_worker("sftp_refusals", &[]).await;
    s.add_server(GUILD, &folder.server_id, ok(sshd_port()), password())
        .await;
    let reply = ok(s.test_server(GUILD, &folder.server_id).await);
    assert!(!reply.ok);
    assert!(
        step(&reply, "resolve").detail.contains("loopback address"),
        "{reply:?}"
    );
    assert!(
        reply.steps.iter().all(|st| st.name != "connect"),
        "nothing is sent to a refused address"
    );

    // Another guild naming this guild's server id finds nothing.
    let other = s.test_server(GuildId(GUILD.0 + 1), &folder.server_id).await;
    assert_eq!(other.err().map(|e| e.code()), Some(Code::NotFound));
    s.finish().await;
}

#[tokio::test]
async fn a_folder_of_200000_names_is_refused_with_a_clear_error() {
    let folder = GameFolder::create("huge_listing");
    let huge = folder
        .root
        .join(format!("127.0.0.1_{}", folder.server_id))
        .join("huge");
    ok(std::fs::create_dir_all(&huge));
    for i in 0..200_000 {
        ok(std::fs::File::create(
            huge.join(format!("2025.05.01-00.00.00-{i:06}.csv")),
        ));
    }
    let mut s = start_worker("huge_listing", &[("TOWER_SFTP_ALLOW_LOOPBACK", "true")]).await;
    s.add_server(GUILD, &folder.server_id, ok(sshd_port()), password())
        .await;
    let home = PathBuf::from(required_env("TOWER_TEST_SFTP_HOME"));
    let path = ok(huge.strip_prefix(&home)).to_string_lossy().into_owned();
    let started = std::time::Instant::now();
    let listed = s
        .client
        .list_files(ListFilesRequest {
            server: Some(ServerRef {
                guild_id: GUILD.0,
                server_id: folder.server_id.clone(),
            }),
            path,
            pattern: String::new(),
            limit: 0,
            log_folder: false,
        })
        .await;
    println!("refused after {:?}", started.elapsed());
    let Err(status) = listed else {
        panic!("a listing of 200,000 names must be refused")
    };
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("more than 20000 entries"),
        "{}",
        status.message()
    );
    // The worker is none the worse: the server still tests fine.
    let reply = ok(s.test_server(GUILD, &folder.server_id).await);
    assert!(reply.ok, "{reply:?}");
    s.finish().await;
}
