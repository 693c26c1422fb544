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
    pub tokens: RoleTokens,
    pub secret_key: Option<String>,
    pub discord: DiscordTarget,
    /// Where the daemons' logs go as they come (a daemon's name is added to a file's).
    pub echo: crate::daemon::Echo,
    /// Log filter for the daemons (RUST_LOG syntax).
    pub log_filter: String,
    /// More environment for every daemon (e.g. `TOWER_SFTP_ALLOW_LOOPBACK`).
    pub extra_env: Vec<(String, String)>,
    /// More arguments for the gateway-shard (e.g. `--shards 0..1 --total-shards 2`).
    pub gateway_args: Vec<String>,
}

/// The gateway's auth token in test stacks: what tests calling a worker or the collector
/// present, as a gateway does.
pub const TEST_TOKEN: &str = "test-gateway-token-0123456789abcdef";
/// The workers' auth token in test stacks.
pub const TEST_WORKER_TOKEN: &str = "test-worker-token-0123456789abcdef";

/// Each role's own token; every daemon is told the digests of both (`[auth.callers]`).
#[derive(Debug, Clone)]
pub struct RoleTokens {
    pub gateway: String,
    pub worker: String,
}

impl RoleTokens {
    pub fn test() -> Self {
        Self {
            gateway: TEST_TOKEN.to_owned(),
            worker: TEST_WORKER_TOKEN.to_owned(),
        }
    }

    /// `[auth.callers]` as environment: the SHA-256 of each role's token.
    pub fn callers_env(&self) -> Vec<(String, String)> {
        let digest = |t: &str| {
            tower_daemon::auth::AuthToken::new(t)
                .map(|t| t.sha256_hex())
                .unwrap_or_default()
        };
        vec![
            (
                "TOWER_AUTH_GATEWAY_SHA256".to_owned(),
                digest(&self.gateway),
            ),
            ("TOWER_AUTH_WORKER_SHA256".to_owned(), digest(&self.worker)),
        ]
    }
}

impl StackOptions {
    /// A test stack on this test's database, with the Discord simulator, a fresh secret
    /// key, and workers that may reach the test sshd on loopback and poll every second.
    pub fn simulated(
        db: &crate::backing::TestDatabase,
        sim: &crate::discord_sim::DiscordSimulator,
        secret_key: Option<String>,
    ) -> Self {
        Self {
            mongodb_uri: db.uri.clone(),
            database: db.name.clone(),
            tokens: RoleTokens::test(),
            secret_key,
            discord: DiscordTarget::Simulator {
                gateway_url: sim.gateway_url(),
                api_proxy: sim.api_proxy(),
            },
            echo: crate::daemon::Echo::Off,
            log_filter: "info".to_owned(),
            // A message left in flight by a killed gateway is finished within a test's
            // patience (90 s in production).
            extra_env: vec![("TOWER_CLAIM_TIMEOUT_SECS".to_owned(), "10".to_owned())],
            gateway_args: Vec::new(),
        }
    }

    /// Workers may reach the test sshd on loopback and poll every second.
    pub fn with_loopback_sftp(mut self) -> Self {
        self.extra_env.extend([
            ("TOWER_SFTP_ALLOW_LOOPBACK".to_owned(), "true".to_owned()),
            ("TOWER_POLL_INTERVAL_SECS".to_owned(), "1".to_owned()),
        ]);
        self
    }

    /// The environment every daemon of this stack gets.
    pub fn base_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("MONGODB_URI".to_owned(), self.mongodb_uri.clone()),
            ("TOWER_MONGODB_DATABASE".to_owned(), self.database.clone()),
            ("RUST_LOG".to_owned(), self.log_filter.clone()),
        ];
        env.extend(self.tokens.callers_env());
        if let Some(key) = &self.secret_key {
            env.push(("TOWER_SECRET_KEY".to_owned(), key.clone()));
        }
        env.extend(self.extra_env.iter().cloned());
        env
    }

    /// A worker's environment: the stack's, and the workers' own token.
    pub fn worker_env(&self) -> Vec<(String, String)> {
        let mut env = self.base_env();
        env.push(("TOWER_AUTH_TOKEN".to_owned(), self.tokens.worker.clone()));
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

/// How a gateway is ended before a new one replaces it.
enum GatewayEnd {
    /// SIGTERM, waiting this long for a clean exit.
    Stop(Duration),
    /// SIGKILL, as a crash.
    Kill,
}

/// How long each daemon may take to come up.
const START: Duration = Duration::from_secs(60);

/// Starts one daemon and waits until it is SERVING.
async fn spawn_serving(
    options: &StackOptions,
    binary: &str,
    env: Vec<(String, String)>,
) -> Result<Daemon, HarnessError> {
    spawn_serving_with(options, binary, env, &[]).await
}

/// [`spawn_serving`] with more arguments.
async fn spawn_serving_with(
    options: &StackOptions,
    binary: &str,
    env: Vec<(String, String)>,
    args: &[String],
) -> Result<Daemon, HarnessError> {
    let mut spec = DaemonSpec::grpc(binary, env);
    spec.args.extend_from_slice(args);
    spec.echo = match &options.echo {
        crate::daemon::Echo::File(dir) => {
            crate::daemon::Echo::File(dir.join(format!("{binary}.log")))
        }
        other => other.clone(),
    };
    let daemon = Daemon::spawn(spec).await?;
    let addr = daemon.grpc_addr(START).await?;
    daemon.wait_serving(addr, "", START).await?;
    Ok(daemon)
}

/// The gateway's environment: the stack's, the collector and worker, and Discord.
fn gateway_env(
    options: &StackOptions,
    collector: SocketAddr,
    worker: SocketAddr,
) -> Vec<(String, String)> {
    let mut env = options.base_env();
    env.push((
        "TOWER_AUTH_TOKEN".to_owned(),
        options.tokens.gateway.clone(),
    ));
    env.push((
        "TOWER_COLLECTOR_URL".to_owned(),
        format!("http://{collector}"),
    ));
    env.push(("TOWER_WORKER_URLS".to_owned(), format!("http://{worker}")));
    env.extend(options.discord_env());
    env
}

impl Stack {
    /// Starts collector, worker and gateway, each once the one before is SERVING.
    pub async fn start(options: &StackOptions) -> Result<Stack, HarnessError> {
        let collector = spawn_serving(options, "telemetry-collector", options.base_env()).await?;
        let collector_addr = collector.grpc_addr(START).await?;

        let mut env = options.worker_env();
        env.push((
            "TOWER_COLLECTOR_URL".to_owned(),
            format!("http://{collector_addr}"),
        ));
        let worker = spawn_serving(options, "sftp-worker", env).await?;
        let worker_addr = worker.grpc_addr(START).await?;

        let gateway = spawn_serving_with(
            options,
            "gateway-shard",
            gateway_env(options, collector_addr, worker_addr),
            &options.gateway_args,
        )
        .await?;
        let gateway_addr = gateway.grpc_addr(START).await?;

        Ok(Stack {
            collector,
            collector_addr,
            worker,
            worker_addr,
            gateway,
            gateway_addr,
        })
    }

    /// Starts one more gateway-shard process beside the stack's, with `args` instead of
    /// the options' gateway arguments (another shard range); SERVING when returned.
    pub async fn spawn_gateway(
        &self,
        options: &StackOptions,
        args: &[String],
    ) -> Result<Daemon, HarnessError> {
        let env = gateway_env(options, self.collector_addr, self.worker_addr);
        spawn_serving_with(options, "gateway-shard", env, args).await
    }

    /// Stops the gateway (SIGTERM), runs `while_stopped`, and starts a new gateway with the
    /// same settings; returns the stack with it, the old gateway's exit status, and what
    /// `while_stopped` gave.
    pub async fn restart_gateway<F: Future>(
        self,
        options: &StackOptions,
        timeout: Duration,
        while_stopped: F,
    ) -> Result<(Stack, ExitStatus, F::Output), HarnessError> {
        self.replace_gateway(options, GatewayEnd::Stop(timeout), while_stopped)
            .await
    }

    /// Kills the gateway at once (SIGKILL, as a crash would), runs `while_down`, and
    /// starts a new gateway with the same settings.
    pub async fn restart_gateway_after_crash<F: Future>(
        self,
        options: &StackOptions,
        while_down: F,
    ) -> Result<(Stack, F::Output), HarnessError> {
        let (stack, _, out) = self
            .replace_gateway(options, GatewayEnd::Kill, while_down)
            .await?;
        Ok((stack, out))
    }

    /// Ends the gateway as `end` says, runs `meanwhile`, starts a new one.
    async fn replace_gateway<F: Future>(
        self,
        options: &StackOptions,
        end: GatewayEnd,
        meanwhile: F,
    ) -> Result<(Stack, ExitStatus, F::Output), HarnessError> {
        let Stack {
            collector,
            collector_addr,
            worker,
            worker_addr,
            gateway,
            ..
        } = self;
        let status = match end {
            GatewayEnd::Stop(timeout) => gateway.stop(timeout).await?,
            GatewayEnd::Kill => gateway.kill().await?,
        };
        let out = meanwhile.await;
        let env = gateway_env(options, collector_addr, worker_addr);
        let gateway =
            spawn_serving_with(options, "gateway-shard", env, &options.gateway_args).await?;
        let gateway_addr = gateway.grpc_addr(START).await?;
        let stack = Stack {
            collector,
            collector_addr,
            worker,
            worker_addr,
            gateway,
            gateway_addr,
        };
        Ok((stack, status, out))
    }

    /// Stops gateway, worker, collector in that order (SIGTERM) and checks each exited
    /// cleanly (status 0).
    pub async fn stop_cleanly(self, timeout: Duration) -> Result<(), HarnessError> {
        let statuses = self.stop(timeout).await?;
        for (name, status) in ["gateway-shard", "sftp-worker", "telemetry-collector"]
            .iter()
            .zip(statuses)
        {
            if !status.success() {
                return Err(HarnessError::Other {
                    label: (*name).to_owned(),
                    message: format!("did not stop cleanly: {status}"),
                });
            }
        }
        Ok(())
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

/// One sftp-worker on its own, for tests of the worker alone: this test's database and
/// secret key, no collector (telemetry is dropped), `extra` environment; SERVING when
/// returned, with its address.
pub async fn standalone_worker(
    db: &crate::backing::TestDatabase,
    secret_key: &str,
    extra: &[(&str, &str)],
) -> Result<(Daemon, SocketAddr), HarnessError> {
    let mut env = vec![
        ("MONGODB_URI".to_owned(), db.uri.clone()),
        ("TOWER_MONGODB_DATABASE".to_owned(), db.name.clone()),
        ("TOWER_AUTH_TOKEN".to_owned(), TEST_WORKER_TOKEN.to_owned()),
        ("TOWER_SECRET_KEY".to_owned(), secret_key.to_owned()),
        (
            "TOWER_COLLECTOR_URL".to_owned(),
            "http://127.0.0.1:1".to_owned(),
        ),
    ];
    env.extend(RoleTokens::test().callers_env());
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let daemon = Daemon::spawn(DaemonSpec::grpc("sftp-worker", env)).await?;
    let addr = daemon.grpc_addr(START).await?;
    daemon.wait_serving(addr, "", START).await?;
    Ok((daemon, addr))
}

/// One telemetry-collector on its own, on this test's database, taking the test token
/// (one shared token, no `[auth.callers]`); SERVING when returned, with its address.
pub async fn standalone_collector(
    db: &crate::backing::TestDatabase,
) -> Result<(Daemon, SocketAddr), HarnessError> {
    standalone_collector_with(db, Vec::new()).await
}

/// [`standalone_collector`] with more environment (`TOWER_COLLECTOR_DETECT_EVERY_SECS`).
pub async fn standalone_collector_with(
    db: &crate::backing::TestDatabase,
    more_env: Vec<(String, String)>,
) -> Result<(Daemon, SocketAddr), HarnessError> {
    let mut env = vec![
        ("MONGODB_URI".to_owned(), db.uri.clone()),
        ("TOWER_MONGODB_DATABASE".to_owned(), db.name.clone()),
        ("TOWER_AUTH_TOKEN".to_owned(), TEST_TOKEN.to_owned()),
    ];
    env.extend(more_env);
    let daemon = Daemon::spawn(DaemonSpec::grpc("telemetry-collector", env)).await?;
    let addr = daemon.grpc_addr(START).await?;
    daemon.wait_serving(addr, "", START).await?;
    Ok((daemon, addr))
}

/// A client of the worker at `addr`, with the test token.
pub fn worker_client(
    addr: SocketAddr,
) -> tower_proto::v1::sftp_worker_client::SftpWorkerClient<tower_daemon::grpc::AuthedChannel> {
    let token = tower_daemon::auth::AuthToken::new(TEST_TOKEN)
        .unwrap_or_else(|e| panic!("the test token is valid: {e}"));
    let security = tower_daemon::grpc::ClientSecurity::plaintext(token);
    tower_daemon::grpc::worker_client(&format!("http://{addr}"), &security)
        .unwrap_or_else(|e| panic!("a loopback address is a valid endpoint: {e}"))
}
