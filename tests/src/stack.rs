//! The three daemons wired together on loopback, in dependency order: the collector, then
//! the worker (which reports to it), then the gateway (which calls the worker and talks to
//! Discord or the simulator).

use std::net::SocketAddr;
use std::process::ExitStatus;
use std::time::Duration;

use crate::daemon::{Daemon, DaemonSpec, HarnessError};

/// Where the gateway-shard finds Discord.
#[derive(Debug, Clone)]
pub enum DiscordTarget {
    /// The project's simulator: `ws://` gateway URL and REST `host:port`.
    Simulator {
        gateway_url: String,
        api_proxy: String,
    },
    /// The real Discord, with a bot token.
    Token(String),
}

/// What every daemon of one stack shares.
#[derive(Debug, Clone)]
pub struct StackOptions {
    pub mongodb_uri: String,
    pub database: String,
    pub auth_token: String,
    pub secret_key: Option<String>,
    pub discord: DiscordTarget,
    /// Print the daemons' logs as they come.
    pub echo: bool,
    /// Log filter for the daemons (RUST_LOG syntax).
    pub log_filter: String,
    /// More environment for every daemon (e.g. `TOWER_SFTP_ALLOW_LOOPBACK`).
    pub extra_env: Vec<(String, String)>,
}

impl StackOptions {
    /// The environment every daemon of this stack gets.
    pub fn base_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("MONGODB_URI".to_owned(), self.mongodb_uri.clone()),
            ("TOWER_MONGODB_DATABASE".to_owned(), self.database.clone()),
            ("TOWER_AUTH_TOKEN".to_owned(), self.auth_token.clone()),
            ("RUST_LOG".to_owned(), self.log_filter.clone()),
        ];
        if let Some(key) = &self.secret_key {
            env.push(("TOWER_SECRET_KEY".to_owned(), key.clone()));
        }
        env.extend(self.extra_env.iter().cloned());
        env
    }

    pub fn discord_env(&self) -> Vec<(String, String)> {
        match &self.discord {
            DiscordTarget::Simulator {
                gateway_url,
                api_proxy,
            } => vec![
                ("TOWER_DISCORD_GATEWAY_URL".to_owned(), gateway_url.clone()),
                ("TOWER_DISCORD_API_PROXY".to_owned(), api_proxy.clone()),
            ],
            DiscordTarget::Token(token) => vec![("DISCORD_TOKEN".to_owned(), token.clone())],
        }
    }
}

/// A running stack.
pub struct Stack {
    pub collector: Daemon,
    pub collector_addr: SocketAddr,
    pub worker: Daemon,
    pub worker_addr: SocketAddr,
    pub gateway: Daemon,
    pub gateway_addr: SocketAddr,
}

/// How long each daemon may take to come up.
const START: Duration = Duration::from_secs(60);

impl Stack {
    /// Starts collector, worker and gateway, each once the one before is SERVING.
    pub async fn start(options: &StackOptions) -> Result<Stack, HarnessError> {
        let start = |binary: &str, env: Vec<(String, String)>| {
            let mut spec = DaemonSpec::grpc(binary, env);
            spec.echo = options.echo;
            Daemon::spawn(spec)
        };
        let collector = start("telemetry-collector", options.base_env()).await?;
        let collector_addr = collector.grpc_addr(START).await?;
        collector.wait_serving(collector_addr, "", START).await?;

        let mut env = options.base_env();
        env.push((
            "TOWER_COLLECTOR_URL".to_owned(),
            format!("http://{collector_addr}"),
        ));
        let worker = start("sftp-worker", env.clone()).await?;
        let worker_addr = worker.grpc_addr(START).await?;
        worker.wait_serving(worker_addr, "", START).await?;

        env.push((
            "TOWER_WORKER_URLS".to_owned(),
            format!("http://{worker_addr}"),
        ));
        env.extend(options.discord_env());
        let gateway = start("gateway-shard", env).await?;
        let gateway_addr = gateway.grpc_addr(START).await?;
        gateway.wait_serving(gateway_addr, "", START).await?;

        Ok(Stack {
            collector,
            collector_addr,
            worker,
            worker_addr,
            gateway,
            gateway_addr,
        })
    }

    /// Stops gateway, worker, collector in that order (SIGTERM); returns their exit
    /// statuses in the same order.
    pub async fn stop(self, timeout: Duration) -> Result<[ExitStatus; 3], HarnessError> {
        let gateway = self.gateway.stop(timeout).await?;
        let worker = self.worker.stop(timeout).await?;
        let collector = self.collector.stop(timeout).await?;
        Ok([gateway, worker, collector])
    }
}
