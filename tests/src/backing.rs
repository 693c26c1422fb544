//! The real servers a test run uses: started once per run by `deploy/local/test`, shared by
//! every test, each test isolated in its own database (and, for SFTP, its own user and
//! directory).

use std::time::{SystemTime, UNIX_EPOCH};

/// Why a backing server is not available.
#[derive(Debug, thiserror::Error)]
pub enum BackingError {
    #[error(
        "{0} is not set: run the tests with deploy/local/test, which starts MongoDB and sshd \
         (or point MONGODB_URI at a MongoDB 8 server)"
    )]
    NotStarted(&'static str),
    #[error("MongoDB: {0}")]
    Mongo(#[from] mongodb::error::Error),
    #[error("{0} is not a port number")]
    BadPort(String),
    #[error("{0}")]
    Script(String),
}

/// The MongoDB URI for tests: the test command's server, or an operator's MONGODB_URI.
pub fn mongodb_uri() -> Result<String, BackingError> {
    std::env::var("TOWER_TEST_MONGODB_URI")
        .or_else(|_| std::env::var("MONGODB_URI"))
        .map_err(|_| BackingError::NotStarted("TOWER_TEST_MONGODB_URI"))
}

/// The loopback port of the test run's sshd.
pub fn sshd_port() -> Result<u16, BackingError> {
    let raw = std::env::var("TOWER_TEST_SSHD_PORT")
        .map_err(|_| BackingError::NotStarted("TOWER_TEST_SSHD_PORT"))?;
    raw.trim().parse().map_err(|_| BackingError::BadPort(raw))
}

/// A database of its own for one test. Call [`TestDatabase::drop_database`] at the end;
/// a database left by a failed test is named after it, for a look afterwards.
pub struct TestDatabase {
    pub uri: String,
    pub name: String,
    client: mongodb::Client,
}

impl TestDatabase {
    pub async fn create(test_name: &str) -> Result<Self, BackingError> {
        Self::create_on(&mongodb_uri()?, test_name).await
    }

    /// A database of this test's own on the MongoDB-wire server at `uri` (a private one,
    /// for a test that stops and starts it).
    pub async fn create_on(uri: &str, test_name: &str) -> Result<Self, BackingError> {
        let uri = uri.to_owned();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let clean: String = test_name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(40)
            .collect();
        let name = format!("t_{clean}_{}_{nanos:x}", std::process::id());
        let client = mongodb::Client::with_uri_str(&uri).await?;
        Ok(Self { uri, name, client })
    }

    /// The project's own connection to this database, schema migrated, as a daemon has it.
    pub async fn open(&self) -> Result<tower_store::db::Database, String> {
        let config = tower_daemon::config::MongoConfig {
            uri: tower_store::secret::Redacted::new(self.uri.clone()),
            database: self.name.clone(),
            server_selection_timeout_secs: 10,
        };
        let db = tower_store::db::Database::connect(&config, "tower-tests")
            .await
            .map_err(|e| e.to_string())?;
        tower_store::schema::migrate(&db, "tower-tests")
            .await
            .map_err(|e| e.to_string())?;
        Ok(db)
    }

    /// The project's connection to this database on a client that records every `find`
    /// it sends (collection and filter), to replay them with `explain`: what the server
    /// examined for them.
    pub async fn open_watched(&self) -> Result<(tower_store::db::Database, WatchedFinds), String> {
        self.open().await?;
        let finds = WatchedFinds::default();
        let mut options = mongodb::options::ClientOptions::parse(&self.uri)
            .await
            .map_err(|e| e.to_string())?;
        let seen = finds.clone();
        options.command_event_handler = Some(mongodb::event::EventHandler::callback(
            move |event: mongodb::event::command::CommandEvent| {
                if let mongodb::event::command::CommandEvent::Started(started) = event
                    && started.command_name == "find"
                    && let Ok(mut finds) = seen.0.lock()
                {
                    finds.push(started.command);
                }
            },
        ));
        let client = mongodb::Client::with_options(options).map_err(|e| e.to_string())?;
        Ok((
            tower_store::db::Database::from_handle(client.database(&self.name)),
            finds,
        ))
    }

    pub fn handle(&self) -> mongodb::Database {
        self.client.database(&self.name)
    }

    pub async fn drop_database(self) -> Result<(), BackingError> {
        self.client.database(&self.name).drop().await?;
        Ok(())
    }
}

/// The `find` commands a watched client sent ([`TestDatabase::open_watched`]).
#[derive(Clone, Default)]
pub struct WatchedFinds(std::sync::Arc<std::sync::Mutex<Vec<mongodb::bson::Document>>>);

impl WatchedFinds {
    /// Forgets the finds sent so far.
    pub fn clear(&self) {
        if let Ok(mut finds) = self.0.lock() {
            finds.clear();
        }
    }

    /// The documents the server examined for the finds on `collection` since the last
    /// [`WatchedFinds::clear`], and how many finds: each replayed with `explain`
    /// (`executionStats`), without its session and cluster fields.
    pub async fn examined(
        &self,
        db: &mongodb::Database,
        collection: &str,
    ) -> Result<(i64, usize), mongodb::error::Error> {
        let finds: Vec<mongodb::bson::Document> = match self.0.lock() {
            Ok(finds) => finds.clone(),
            Err(_) => Vec::new(),
        };
        let mut examined = 0;
        let mut count = 0;
        for find in finds
            .iter()
            .filter(|f| f.get_str("find").ok() == Some(collection))
        {
            let mut command = mongodb::bson::Document::new();
            for key in ["find", "filter", "sort", "projection", "limit"] {
                if let Some(v) = find.get(key) {
                    command.insert(key, v.clone());
                }
            }
            let explained = db
                .run_command(
                    mongodb::bson::doc! { "explain": command, "verbosity": "executionStats" },
                )
                .await?;
            let stats = explained
                .get_document("executionStats")
                .map_err(|e| mongodb::error::Error::custom(format!("explain: {e}")))?;
            examined += match stats.get("totalDocsExamined") {
                Some(mongodb::bson::Bson::Int32(n)) => i64::from(*n),
                Some(mongodb::bson::Bson::Int64(n)) => *n,
                _ => {
                    return Err(mongodb::error::Error::custom(
                        "explain: no totalDocsExamined",
                    ));
                }
            };
            count += 1;
        }
        Ok((examined, count))
    }
}

/// What a MongoDB-wire server has served so far, the sum of its `serverStatus`
/// opcounters (this call itself counts one command), and its process id.
pub async fn server_operations(
    client: &mongodb::Client,
) -> Result<(i64, Option<u32>), BackingError> {
    let status = client
        .database("admin")
        .run_command(mongodb::bson::doc! { "serverStatus": 1 })
        .await?;
    let number = |v: &mongodb::bson::Bson| v.as_i64().or_else(|| v.as_i32().map(i64::from));
    let ops = status
        .get_document("opcounters")
        .map_err(|e| BackingError::Script(format!("serverStatus has no opcounters: {e}")))?;
    let total = ["insert", "query", "update", "delete", "getmore", "command"]
        .iter()
        .filter_map(|k| ops.get(*k).and_then(number))
        .sum();
    let pid = status
        .get("pid")
        .and_then(number)
        .and_then(|p| u32::try_from(p).ok());
    Ok((total, pid))
}

/// A MongoDB-wire server of one test's own: the project's `deploy/local/mongodb`, as an
/// instance named after the test and this process, on a port of its own. For a test that
/// stops it, or counts the operations it serves. Stopped when dropped.
pub struct PrivateMongo {
    instance: String,
    port: u16,
    pub uri: String,
}

impl PrivateMongo {
    pub fn start(test: &str) -> Result<Self, BackingError> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| BackingError::Script(format!("no free port: {e}")))?;
        let mut private = Self {
            instance: format!("{test}-{}", std::process::id()),
            port,
            uri: String::new(),
        };
        private.uri = private.run("start")?;
        Ok(private)
    }

    /// Stops it (its data stays for [`PrivateMongo::restart`]).
    pub fn stop(&self) -> Result<(), BackingError> {
        self.run("stop").map(|_| ())
    }

    /// Starts it again, on the same port and data.
    pub fn restart(&self) -> Result<(), BackingError> {
        self.run("start").map(|_| ())
    }

    fn run(&self, action: &str) -> Result<String, BackingError> {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/local/mongodb");
        let out = std::process::Command::new(script)
            .arg(action)
            .env("TOWER_LOCAL_INSTANCE", &self.instance)
            .env("TOWER_MONGODB_PORT", self.port.to_string())
            .output()
            .map_err(|e| BackingError::Script(format!("deploy/local/mongodb {action}: {e}")))?;
        if !out.status.success() {
            return Err(BackingError::Script(format!(
                "deploy/local/mongodb {action}: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Operations it has served so far (see [`server_operations`]).
    pub async fn operations(&self) -> Result<i64, BackingError> {
        let client = mongodb::Client::with_uri_str(&self.uri).await?;
        Ok(server_operations(&client).await?.0)
    }
}

impl Drop for PrivateMongo {
    fn drop(&mut self) {
        let _ = self.stop();
        // Its data goes with it.
        let state = std::env::var("TOWER_STATE_DIR").map_or_else(
            |_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.local"),
            std::path::PathBuf::from,
        );
        let _ = std::fs::remove_dir_all(state.join(format!("mongodb-{}", self.instance)));
    }
}
