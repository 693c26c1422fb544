//! Why a daemon could not start, or stopped with an error. Each variant names the part
//! that failed; the message says what to do about it.

use crate::config::ConfigError;
use tower_store::db::DbError;
use tower_store::secret::SecretError;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("logging: {0}")]
    Logging(String),
    #[error("database: {0}")]
    Db(#[from] DbError),
    #[error("secrets: {0}")]
    Secret(#[from] SecretError),
    #[error("secrets: {0}")]
    KeyCheck(#[from] tower_store::key_check::KeyCheckError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("gRPC: {0}")]
    Grpc(#[from] crate::grpc::GrpcError),
    #[error("discord: {0}")]
    Discord(String),
}

impl From<tonic::transport::Error> for StartError {
    fn from(e: tonic::transport::Error) -> Self {
        Self::Grpc(e.into())
    }
}

impl StartError {
    /// A short machine name for the failing part, for logs and telemetry.
    pub fn kind(&self) -> &'static str {
        match self {
            StartError::Config(_) => "config",
            StartError::Logging(_) => "logging",
            StartError::Db(_) => "database",
            StartError::Secret(_) | StartError::KeyCheck(_) => "secrets",
            StartError::Listen { .. } => "listen",
            StartError::Grpc(_) => "grpc",
            StartError::Discord(_) => "discord",
        }
    }
}

/// The part of `main` every daemon shares: report a bad configuration or logger on
/// stderr, run the daemon, log why it stopped, and turn that into the exit code.
pub async fn run_daemon<F, Fut>(
    name: &str,
    config: Result<crate::config::Config, ConfigError>,
    run: F,
) -> std::process::ExitCode
where
    F: FnOnce(crate::config::Config) -> Fut,
    Fut: Future<Output = Result<(), StartError>>,
{
    let config = match config {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{name}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let (export, traces) = match config.otlp.endpoint.as_deref() {
        Some(endpoint) => match otlp_transport(&config)
            .and_then(|t| crate::otlp::start(endpoint, name, &t).map_err(|e| e.to_string()))
        {
            Ok((export, tracer)) => (Some(export), Some(tracer)),
            Err(e) => {
                eprintln!("{name}: {e}");
                return std::process::ExitCode::FAILURE;
            }
        },
        None => (None, None),
    };
    if let Err(e) = crate::logging::init(&config.logging, traces) {
        eprintln!("{name}: {e}");
        return std::process::ExitCode::FAILURE;
    }
    if let Some(endpoint) = &config.otlp.endpoint {
        tracing::info!(endpoint, "exporting traces and metrics over OTLP");
    }
    let code = match run(config).await {
        Ok(()) => {
            tracing::info!("{name} stopped cleanly");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(kind = e.kind(), error = %e, "{name} stopped");
            std::process::ExitCode::FAILURE
        }
    };
    if let Some(export) = export {
        // The SDK's shutdown waits on its own workers: off the runtime's threads.
        let _ = tokio::task::spawn_blocking(move || export.shutdown()).await;
    }
    code
}

/// How OTLP export reaches its endpoint: the deployment's CA and plaintext rule.
fn otlp_transport(config: &crate::config::Config) -> Result<crate::otlp::Transport, String> {
    let ca = match &config.tls.ca_file {
        Some(path) => Some(tonic::transport::Certificate::from_pem(
            std::fs::read(path).map_err(|e| format!("tls.ca_file {}: {e}", path.display()))?,
        )),
        None => None,
    };
    Ok(crate::otlp::Transport {
        ca,
        allow_plaintext: config.tls.allow_plaintext,
    })
}

/// Connects to MongoDB and brings its schema up to date.
pub async fn open_database(
    config: &crate::config::Config,
    me: &crate::process::ProcessIdentity,
) -> Result<tower_store::db::Database, StartError> {
    let db = tower_store::db::Database::connect(&config.mongodb, me.kind_name()).await?;
    tower_store::schema::migrate(&db, &me.instance).await?;
    Ok(db)
}

/// The secret key from configuration, refused when it is missing or wrong for the secrets
/// this database holds (for the processes that handle secrets).
pub async fn open_secret_key(
    config: &crate::config::Config,
    db: &tower_store::db::Database,
) -> Result<Option<tower_store::secret::SecretKey>, StartError> {
    use tower_store::secret::SecretKey;
    let key = match (&config.secrets.key, &config.secrets.key_file) {
        (Some(key), _) => Some(SecretKey::from_base64(key.expose())?),
        (None, Some(path)) => Some(SecretKey::from_file(path)?),
        (None, None) => None,
    };
    tower_store::key_check::check(key.as_ref(), db).await?;
    Ok(key)
}

/// Where a daemon serves, and its registration in `processes`.
pub struct Listening {
    pub listener: tokio::net::TcpListener,
    /// The address bound (the one asked for may have port 0).
    pub addr: std::net::SocketAddr,
    /// The registration heartbeat; it records the stop at shutdown.
    pub heartbeat: tokio::task::JoinHandle<()>,
}

/// Binds the daemon's gRPC address (logging the address bound) and registers the process
/// with it and `details` (a heartbeat until shutdown).
pub async fn listen(
    addr: std::net::SocketAddr,
    db: &tower_store::db::Database,
    me: &crate::process::ProcessIdentity,
    mut details: mongodb::bson::Document,
    shutdown: crate::shutdown::Shutdown,
) -> Result<Listening, StartError> {
    let (listener, addr) = crate::grpc::bind(addr)
        .await
        .map_err(|source| StartError::Listen { addr, source })?;
    details.insert("listen", addr.to_string());
    let heartbeat = crate::process::register(db, me, details, shutdown).await?;
    Ok(Listening {
        listener,
        addr,
        heartbeat,
    })
}
