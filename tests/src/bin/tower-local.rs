//! tower-local: the whole stack on this machine, for the README's run command
//! (`deploy/local/run`, which starts MongoDB first and sets MONGODB_URI).
//!
//! Without DISCORD_TOKEN it is the sandbox: a simulated Discord stands in for the real one.
//! It keeps a per-checkout auth token and secret key under `.local/sandbox/` so stored
//! secrets survive restarts, starts collector → worker → gateway, prints their logs, and
//! on Ctrl-C / SIGTERM stops them in reverse order.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use tower_daemon::shutdown::Shutdown;
use tower_store::secret::SecretKey;
use tower_tests::discord_sim::DiscordSimulator;
use tower_tests::stack::{DiscordTarget, RoleTokens, Stack, StackOptions};

const STOP_TIMEOUT: Duration = Duration::from_secs(20);

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TOWER_LOCAL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let mongodb_uri = std::env::var("MONGODB_URI")
        .map_err(|_| "MONGODB_URI is not set; start the stack with deploy/local/run".to_owned())?;
    let state = std::env::var("TOWER_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(".local"))
        .join("sandbox");
    std::fs::create_dir_all(&state)
        .map_err(|e| format!("cannot create {}: {e}", state.display()))?;
    let token = |name: &str| {
        kept_secret(&state.join(name), || {
            SecretKey::generate_base64().map(|k| k.replace(['+', '/', '='], ""))
        })
    };
    let tokens = RoleTokens {
        gateway: token("gateway_token")?,
        worker: token("worker_token")?,
    };
    let secret_key = kept_secret(&state.join("secret_key"), SecretKey::generate_base64)?;

    // Discord: the real one with a token, else the simulator.
    let (discord, simulator) = match std::env::var("DISCORD_TOKEN") {
        Ok(token) if !token.trim().is_empty() => (DiscordTarget::Token(token), None),
        _ => {
            let sim = DiscordSimulator::start().await.map_err(|e| e.to_string())?;
            tracing::info!(gateway = %sim.gateway_url(), "no DISCORD_TOKEN: sandbox with a simulated Discord");
            (
                DiscordTarget::Simulator {
                    gateway_url: sim.gateway_url(),
                    api_proxy: sim.api_proxy(),
                },
                Some(sim),
            )
        }
    };
    let options = StackOptions {
        mongodb_uri,
        database: std::env::var("TOWER_MONGODB_DATABASE")
            .unwrap_or_else(|_| "tower_sandbox".to_owned()),
        tokens,
        secret_key: Some(secret_key),
        discord,
        echo: true,
        log_filter: std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned()),
        extra_env: Vec::new(),
        gateway_args: Vec::new(),
    };

    let stack = Stack::start(&options).await.map_err(|e| e.to_string())?;
    tracing::info!(
        collector = %stack.collector_addr,
        worker = %stack.worker_addr,
        gateway = %stack.gateway_addr,
        "stack up; Ctrl-C stops it"
    );

    // Run until asked to stop, or until a daemon dies on its own.
    let shutdown = Shutdown::on_signals();
    let died = tokio::select! {
        () = shutdown.wait() => None,
        r = stack.collector.wait_exit(Duration::MAX) => Some(("telemetry-collector", r)),
        r = stack.worker.wait_exit(Duration::MAX) => Some(("sftp-worker", r)),
        r = stack.gateway.wait_exit(Duration::MAX) => Some(("gateway-shard", r)),
    };
    if let Some((name, status)) = died {
        let _ = stack.stop(STOP_TIMEOUT).await;
        return Err(format!("{name} exited unexpectedly: {status:?}"));
    }
    tracing::info!("stopping the stack");
    let statuses = stack.stop(STOP_TIMEOUT).await.map_err(|e| e.to_string())?;
    drop(simulator);
    if statuses.iter().all(|s| s.success()) {
        tracing::info!("all processes stopped cleanly");
        Ok(())
    } else {
        Err(format!("some processes did not stop cleanly: {statuses:?}"))
    }
}

/// Reads a secret kept at `path`, creating it (mode 0600) on first use.
fn kept_secret(
    path: &Path,
    make: impl FnOnce() -> Result<String, tower_store::secret::SecretError>,
) -> Result<String, String> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        return Ok(existing.trim().to_owned());
    }
    let value = make().map_err(|e| e.to_string())?;
    std::fs::write(path, &value).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(value)
}
