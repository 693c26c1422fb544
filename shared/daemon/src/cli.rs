//! Command-line flags every daemon takes, on top of the configuration file.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::config::{Config, ConfigError, LogFormat};

#[derive(Debug, Clone, clap::Args)]
pub struct DaemonArgs {
    /// Configuration file (TOML); see deploy/tower.example.toml.
    #[arg(long, env = "TOWER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format: human or json.
    #[arg(long, value_parser = parse_log_format)]
    pub log_format: Option<LogFormat>,
    /// Address to serve gRPC on (overrides the config); port 0 picks a free port.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
}

fn parse_log_format(s: &str) -> Result<LogFormat, String> {
    match s {
        "human" => Ok(LogFormat::Human),
        "json" => Ok(LogFormat::Json),
        other => Err(format!("`{other}` is neither `human` nor `json`")),
    }
}

impl DaemonArgs {
    /// The file, then the environment, then these flags. `listen` is returned apart because
    /// each daemon has its own listen key.
    pub fn load_config(&self) -> Result<Config, ConfigError> {
        let mut config = Config::load(self.config.as_deref())?;
        if let Some(format) = self.log_format {
            config.logging.format = format;
        }
        Ok(config)
    }
}
