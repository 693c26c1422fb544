//! The demo game server's files in the local SFTP user's home, laid out as Deadside hosts
//! lay them out (`127.0.0.1_7020/actual1/deathlogs/world_0/<date>.csv` and
//! `127.0.0.1_7020/Logs/Deadside.log`), growing in real time as [`Replay`] says.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tower_ingest::timestamp::format_seconds;

use super::SERVER_ID;
use super::replay::Replay;

/// The SFTP account the demo server is reached with (`deploy/local/run` makes it on the
/// local sshd and passes it in `TOWER_SANDBOX_SFTP_*`).
#[derive(Debug, Clone)]
pub struct SftpAccount {
    pub port: u16,
    pub user: String,
    pub password: String,
    /// The account's home on this machine, where the server's folder is written.
    pub home: PathBuf,
}

impl SftpAccount {
    /// From `TOWER_SANDBOX_SFTP_PORT`, `_USER`, `_PASSWORD` and `_HOME`.
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| {
                format!("{name} is not set: start the sandbox with deploy/local/run, which starts its SFTP server")
            })
        };
        Ok(Self {
            port: var("TOWER_SANDBOX_SFTP_PORT")?
                .parse()
                .map_err(|e| format!("TOWER_SANDBOX_SFTP_PORT: {e}"))?,
            user: var("TOWER_SANDBOX_SFTP_USER")?,
            password: var("TOWER_SANDBOX_SFTP_PASSWORD")?,
            home: PathBuf::from(var("TOWER_SANDBOX_SFTP_HOME")?),
        })
    }
}

/// The demo server's folder.
pub struct DemoServer {
    root: PathBuf,
}

impl DemoServer {
    pub fn in_home(home: &Path) -> Self {
        Self {
            root: home.join(format!("127.0.0.1_{SERVER_ID}")),
        }
    }

    /// Removes every file the demo server wrote (`--reset`).
    pub fn remove(&self) -> std::io::Result<()> {
        match std::fs::remove_dir_all(&self.root) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn killfeed_dir(&self) -> PathBuf {
        self.root.join("actual1/deathlogs/world_0")
    }

    fn log_path(&self) -> PathBuf {
        self.root.join("Logs/Deadside.log")
    }

    /// Makes the folders.
    pub fn prepare(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(self.killfeed_dir())?;
        std::fs::create_dir_all(self.root.join("Logs"))
    }

    /// The game server (re)starts: its folders are there, its log is opened, and nobody
    /// is online. Done before the worker first reads it, so its layout is found at once.
    pub fn start(&self) -> std::io::Result<()> {
        self.prepare()?;
        append_to(&self.log_path(), &Replay::log_opened(unix_now()))
    }

    /// Appends one step of the replay, as it happens at `now`: the killfeed goes to the
    /// file of the day, as the game server writes it.
    pub fn append(&self, replay: &mut Replay, now: i64) -> std::io::Result<()> {
        let lines = replay.step(now);
        let day = format_seconds(now);
        let day = day.split_once('-').map_or(day.as_str(), |(d, _)| d);
        append_to(&self.log_path(), &lines.log)?;
        append_to(
            &self.killfeed_dir().join(format!("{day}-00.00.00.csv")),
            &lines.killfeed,
        )
    }

    /// Appends a step every `every` until `stop` fires; a failed write is reported and the
    /// replay goes on (the user may have removed the folder by hand).
    pub async fn replay(self, every: Duration, stop: tokio::sync::watch::Receiver<bool>) {
        let mut stop = stop;
        let mut replay = Replay::new();
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stop.changed() => return,
            }
            let now = unix_now();
            let written = self.prepare().and_then(|()| self.append(&mut replay, now));
            if let Err(e) = written {
                tracing::warn!(error = %e, folder = %self.root.display(), "the demo server could not write its files");
            }
        }
    }
}

fn append_to(path: &Path, text: &str) -> std::io::Result<()> {
    if text.is_empty() {
        return Ok(());
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(text.as_bytes())
}

/// Now, in Unix seconds.
fn unix_now() -> i64 {
    mongodb::bson::DateTime::now().timestamp_millis() / 1000
}
