//! Why a daemon could not start, or stopped with an error. Each variant names the part
//! that failed; the message says what to do about it.

use crate::config::ConfigError;
use crate::db::DbError;
use crate::secret::SecretError;

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
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("gRPC: {0}")]
    Grpc(#[from] tonic::transport::Error),
    #[error("discord: {0}")]
    Discord(String),
}

impl StartError {
    /// A short machine name for the failing part, for logs and telemetry.
    pub fn kind(&self) -> &'static str {
        match self {
            StartError::Config(_) => "config",
            StartError::Logging(_) => "logging",
            StartError::Db(_) => "database",
            StartError::Secret(_) => "secrets",
            StartError::Listen { .. } => "listen",
            StartError::Grpc(_) => "grpc",
            StartError::Discord(_) => "discord",
        }
    }
}
