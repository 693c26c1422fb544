//! Game servers' files in the SFTP test user's home (`TOWER_TEST_SFTP_HOME`), laid out
//! as Deadside hosts lay them out: `<host>_<server_id>/actual1/deathlogs/world_0/*.csv`
//! and `<host>_<server_id>/Logs/Deadside.log`.

use std::path::PathBuf;

use crate::support::{ok, required_env};

/// The first `n` lines of `bytes`.
pub fn lines(bytes: &[u8], n: usize) -> &[u8] {
    let end = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(n - 1)
        .map_or(bytes.len(), |(i, _)| i + 1);
    &bytes[..end]
}

/// A folder in the SFTP user's home holding game servers' files; removed at the end.
pub struct Home(PathBuf);

/// A game server id no other test uses: every test process shares the SFTP home, and
/// discovery goes by the `_<server id>` folder name.
pub fn unique_server_id() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}{n:03}", std::process::id())
}

impl Home {
    pub fn new(test: &str) -> Home {
        let dir = PathBuf::from(required_env("TOWER_TEST_SFTP_HOME"))
            .join(format!("p_{test}_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        ok(std::fs::create_dir_all(&dir));
        Home(dir)
    }

    pub fn killfeed(&self, server_id: &str) -> PathBuf {
        let dir = self
            .0
            .join(format!("127.0.0.1_{server_id}/actual1/deathlogs/world_0"));
        ok(std::fs::create_dir_all(&dir));
        dir
    }

    /// A file of this test's own (a config file for a daemon, say); its path.
    pub fn config_file(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        ok(std::fs::write(&path, text));
        path.to_string_lossy().into_owned()
    }

    pub fn log(&self, server_id: &str) -> PathBuf {
        let dir = self.0.join(format!("127.0.0.1_{server_id}/Logs"));
        ok(std::fs::create_dir_all(&dir));
        dir.join("Deadside.log")
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A worker's SFTP connection to the test sshd (or a delay line in front of it) on
/// loopback `port`, as `user` with `credential`: what tests and benches that drive the
/// worker's reads directly open.
pub async fn connect_loopback(
    port: u16,
    user: &str,
    credential: &tower_store::game_servers::Credential,
) -> Result<sftp_worker::connection::SftpConnection, String> {
    use sftp_worker::connection::{SftpConnection, Target, Timeouts};
    use std::time::Duration;
    let target = Target {
        host: "127.0.0.1",
        port,
        username: user,
        credential,
        pinned_host_key: None,
    };
    let policy = tower_daemon::address_guard::AddressPolicy {
        allow_loopback: true,
        ..tower_daemon::address_guard::AddressPolicy::default()
    };
    let timeouts = Timeouts {
        connect: Duration::from_secs(20),
        operation: Duration::from_secs(60),
        keepalive: Duration::from_secs(15),
    };
    SftpConnection::open(&target, &policy, timeouts, &mut Vec::new())
        .await
        .map_err(|e| e.to_string())
}
