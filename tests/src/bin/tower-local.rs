//! tower-local: the whole bot on this machine, for the README's run command
//! (`deploy/local/run`, which starts MongoDB and the sandbox's sshd first).
//!
//! Without DISCORD_TOKEN it is the sandbox:
//! 1. a simulated Discord, and the daemons (collector → worker → gateway) with their logs
//!    in `.local/sandbox/logs/` (`--logs`: on the terminal);
//! 2. the guild "Sandbox" at the top tier with the demo game server `Sandbox Deadside`
//!    (7020) on the local sshd, set up through the bot's own commands;
//! 3. the demo server's killfeed and log growing in real time (`--speed N`);
//! 4. a prompt taking slash commands as a user types them, with every post shown as it
//!    comes; or `--script FILE`, run line by line, then stop.
//!
//! With DISCORD_TOKEN it runs the daemons against the real Discord, logs on the terminal.
//! Either way Ctrl-C / SIGTERM stops the daemons in reverse order.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tower_daemon::shutdown::Shutdown;
use tower_store::secret::SecretKey;
use tower_tests::daemon::Echo;
use tower_tests::discord_sim::interactions::Member;
use tower_tests::discord_sim::{DiscordSimulator, OWNER_USER_ID};
use tower_tests::sandbox::console::Console;
use tower_tests::sandbox::demo_server::{DemoServer, SftpAccount};
use tower_tests::sandbox::prompt;
use tower_tests::sandbox::render::Style;
use tower_tests::sandbox::{self, demo_guild};
use tower_tests::stack::{DiscordTarget, RoleTokens, Stack, StackOptions};

const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// The command set as committed: what the bot registers, so what Discord has after an
/// earlier run.
const COMMANDS: &str = include_str!("../../../gateway-shard/commands.json");
/// The demo server's pace at `--speed 1`: a killfeed line every 15 s.
const REPLAY_STEP: Duration = Duration::from_secs(15);

/// The whole bot on this machine: without DISCORD_TOKEN, a sandbox with a simulated Discord
/// and a demo game server.
#[derive(Parser, Debug)]
#[command(name = "tower-local")]
struct Args {
    /// Run the lines of FILE (slash commands, press N, wait-post CHANNEL [S], sleep S)
    /// instead of a prompt, then stop; exits non-zero when a line fails.
    #[arg(long, value_name = "FILE")]
    script: Option<PathBuf>,
    /// How fast the demo server plays: 1 is a killfeed line every 15 s.
    #[arg(long, default_value_t = 1.0, value_parser = speed)]
    speed: f64,
    /// Start the demo afresh: forget the sandbox's data and the demo server's files.
    #[arg(long)]
    reset: bool,
    /// Show the daemons' logs on the terminal instead of in .local/sandbox/logs/.
    #[arg(long)]
    logs: bool,
    /// Who types the commands: the sandbox's admin, or a plain member.
    #[arg(long = "as", value_name = "WHO", default_value = "admin", value_parser = ["admin", "member"])]
    acting: String,
}

fn speed(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && (0.01..=1000.0).contains(s))
        .ok_or_else(|| format!("{text:?}: a speed from 0.01 to 1000"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // The sandbox's own view is the console: only its warnings go to stderr.
    let default_filter = if sandboxed() { "warn" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TOWER_LOCAL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tower-local: {e}");
            ExitCode::FAILURE
        }
    }
}

fn sandboxed() -> bool {
    std::env::var("DISCORD_TOKEN").map_or(true, |t| t.trim().is_empty())
}

async fn run(args: Args) -> Result<(), String> {
    let mongodb_uri = std::env::var("MONGODB_URI")
        .map_err(|_| "MONGODB_URI is not set; start the stack with deploy/local/run".to_owned())?;
    let database =
        std::env::var("TOWER_MONGODB_DATABASE").unwrap_or_else(|_| "tower_sandbox".to_owned());
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
    let mut options = StackOptions {
        mongodb_uri,
        database,
        tokens: RoleTokens {
            gateway: token("gateway_token")?,
            worker: token("worker_token")?,
        },
        secret_key: Some(kept_secret(
            &state.join("secret_key"),
            SecretKey::generate_base64,
        )?),
        discord: DiscordTarget::Token(String::new()),
        echo: Echo::Terminal,
        log_filter: std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned()),
        extra_env: Vec::new(),
        gateway_args: Vec::new(),
    };
    match std::env::var("DISCORD_TOKEN") {
        Ok(token) if !token.trim().is_empty() => {
            options.discord = DiscordTarget::Token(token);
            run_with_discord(&options).await
        }
        _ => run_sandbox(&args, options, &state).await,
    }
}

/// The daemons against the real Discord, until Ctrl-C.
async fn run_with_discord(options: &StackOptions) -> Result<(), String> {
    let stack = Stack::start(options).await.map_err(|e| e.to_string())?;
    tracing::info!("stack up; Ctrl-C stops it");
    let shutdown = Shutdown::on_signals();
    let died = until_a_daemon_dies(&stack, shutdown.wait()).await;
    stop(stack, died).await
}

/// The sandbox: simulated Discord, demo guild and server, console.
async fn run_sandbox(args: &Args, mut options: StackOptions, state: &Path) -> Result<(), String> {
    let sftp = SftpAccount::from_env()?;
    let demo_server = DemoServer::in_home(&sftp.home);
    if args.reset {
        reset(&options, &demo_server).await?;
    }
    demo_server
        .start()
        .map_err(|e| format!("the demo server cannot write its files: {e}"))?;
    let logs = state.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;

    let sim = std::sync::Arc::new(DiscordSimulator::start().await.map_err(|e| e.to_string())?);
    // What the bot registered on an earlier run (it registers only a changed set).
    let committed: serde_json::Value = serde_json::from_str(COMMANDS).map_err(|e| e.to_string())?;
    sim.commands_registered_before(committed);
    options.discord = DiscordTarget::Simulator {
        gateway_url: sim.gateway_url(),
        api_proxy: sim.api_proxy(),
    };
    options.echo = if args.logs {
        Echo::Terminal
    } else {
        Echo::File(logs.clone())
    };
    // The demo server is on loopback, which workers refuse unless told.
    options
        .extra_env
        .push(("TOWER_SFTP_ALLOW_LOOPBACK".to_owned(), "true".to_owned()));
    if let Ok(secs) = std::env::var("TOWER_POLL_INTERVAL_SECS") {
        options
            .extra_env
            .push(("TOWER_POLL_INTERVAL_SECS".to_owned(), secs));
    }
    eprintln!("starting the sandbox (daemon logs: {})", logs.display());
    let stack = Stack::start(&options).await.map_err(|e| e.to_string())?;

    let admin = Member::admin(sandbox::GUILD_ID, sandbox::ADMIN_USER);
    let member = Member::ordinary(sandbox::GUILD_ID, sandbox::MEMBER_USER);
    let owner = Member::ordinary(sandbox::GUILD_ID, OWNER_USER_ID);
    wait_for_shard(&sim).await?;
    match demo_guild::set_up(&sim, &owner, &admin, &sftp).await {
        Ok(steps) => {
            for step in steps {
                eprintln!("  {step}");
            }
        }
        Err(e) => {
            stop(stack, None).await?;
            return Err(format!("setting up the demo guild failed: {e}"));
        }
    }
    // The replay starts once the worker has read the server: what it writes then is live
    // (posted), never history.
    if let Err(e) = first_read(&options).await {
        stop(stack, None).await?;
        return Err(e);
    }
    let (stop_replay, replay_stopped) = tokio::sync::watch::channel(false);
    let replay = tokio::spawn(demo_server.replay(REPLAY_STEP.div_f64(args.speed), replay_stopped));

    let console = Console::new(&sim, admin.clone(), member, args.acting == "member");
    let shutdown = Shutdown::on_signals();
    let outcome = match &args.script {
        Some(file) => {
            let lines = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()));
            match lines {
                Ok(lines) => {
                    let script = run_script(console.plain(), &lines);
                    tokio::select! {
                        r = script => r.map(|()| None),
                        died = until_a_daemon_dies(&stack, shutdown.wait()) => match died {
                            Some(died) => Ok(Some(died)),
                            None => Err("the script was interrupted".to_owned()),
                        },
                    }
                }
                Err(e) => Err(e),
            }
        }
        None => {
            eprintln!(
                "\nSandbox up: guild \"Sandbox\" (Overseer tier), game server \"{}\" ({}).\n\
                 Posts appear below as they come; Tab completes; type help, or quit.\n",
                sandbox::SERVER_NAME,
                sandbox::SERVER_ID
            );
            let prompt = prompt::run(
                console,
                std::sync::Arc::clone(&sim),
                admin,
                Style::for_stdout(),
            );
            tokio::select! {
                () = prompt => Ok(None),
                died = until_a_daemon_dies(&stack, shutdown.wait()) => Ok(died),
            }
        }
    };
    let _ = stop_replay.send(true);
    let _ = replay.await;
    match outcome {
        Ok(died) => stop(stack, died).await,
        Err(e) => {
            let _ = stop(stack, None).await;
            Err(e)
        }
    }
}

/// `--reset`: the sandbox's database and the demo server's files go.
async fn reset(options: &StackOptions, demo_server: &DemoServer) -> Result<(), String> {
    let client = mongodb::Client::with_uri_str(&options.mongodb_uri)
        .await
        .map_err(|e| format!("cannot reach MongoDB to reset the sandbox: {e}"))?;
    client
        .database(&options.database)
        .drop()
        .await
        .map_err(|e| format!("cannot drop the sandbox database {}: {e}", options.database))?;
    demo_server
        .remove()
        .map_err(|e| format!("cannot remove the demo server's files: {e}"))?;
    eprintln!("sandbox reset: its data and the demo server's files are gone");
    Ok(())
}

/// Until the worker has read the demo server once (its status counts a poll).
async fn first_read(options: &StackOptions) -> Result<(), String> {
    let client = mongodb::Client::with_uri_str(&options.mongodb_uri)
        .await
        .map_err(|e| e.to_string())?;
    let status = client
        .database(&options.database)
        .collection::<mongodb::bson::Document>("server_status");
    let id = format!("{}:{}", sandbox::GUILD_ID, sandbox::SERVER_ID);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let read = status
            .find_one(mongodb::bson::doc! { "_id": &id, "polls": { "$gte": 1 } })
            .await
            .map_err(|e| e.to_string())?;
        if read.is_some() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err("the worker did not read the demo server within 60 s (see .local/sandbox/logs/sftp-worker.log)".to_owned());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Until the gateway's shard is connected (interactions reach it only then).
async fn wait_for_shard(sim: &DiscordSimulator) -> Result<(), String> {
    sim.wait_for(
        "the gateway's shard connected",
        Duration::from_secs(60),
        |e| matches!(e, tower_tests::discord_sim::SimEvent::Identified { .. }),
    )
    .await
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// Each line echoed as `> …`, then what it printed; stops at the first failure.
async fn run_script(mut console: Console<'_>, lines: &str) -> Result<(), String> {
    for (number, line) in lines.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        println!("> {line}");
        if matches!(line, "quit" | "exit") {
            return Ok(());
        }
        match console.run(line).await {
            Ok(shown) => print!("{shown}"),
            Err(e) => return Err(format!("script line {}: {e}", number + 1)),
        }
    }
    Ok(())
}

/// Which daemon died on its own, if one did before `stop_asked` fired.
async fn until_a_daemon_dies(
    stack: &Stack,
    stop_asked: impl Future<Output = ()>,
) -> Option<(&'static str, String)> {
    tokio::select! {
        () = stop_asked => None,
        r = stack.collector.wait_exit(Duration::MAX) => Some(("telemetry-collector", format!("{r:?}"))),
        r = stack.worker.wait_exit(Duration::MAX) => Some(("sftp-worker", format!("{r:?}"))),
        r = stack.gateway.wait_exit(Duration::MAX) => Some(("gateway-shard", format!("{r:?}"))),
    }
}

/// Stops the daemons in reverse order; an error if one died or did not stop cleanly.
async fn stop(stack: Stack, died: Option<(&'static str, String)>) -> Result<(), String> {
    let statuses = stack.stop(STOP_TIMEOUT).await.map_err(|e| e.to_string());
    if let Some((name, status)) = died {
        return Err(format!("{name} exited unexpectedly: {status}"));
    }
    let statuses = statuses?;
    if statuses.iter().all(std::process::ExitStatus::success) {
        Ok(())
    } else {
        Err(format!("some daemons did not stop cleanly: {statuses:?}"))
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
    // Readable by its owner alone from the moment it exists.
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(value)
}
