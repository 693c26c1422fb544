//! towerctl: the command line for operators and guild admins.
//!
//! - `towerctl analyze PATH... [--json]`: killfeed statistics from local CSV files, through
//!   the same engine the bot uses, without MongoDB.
//! - `towerctl bench parse|ingest`: the ingest engine's speed figures.
//! - `towerctl token`: a new inter-process token and its SHA-256.
//! - `towerctl health ADDR`: a daemon's gRPC health (exit 0 when SERVING), for container
//!   healthchecks and probes without another binary.
//! - `towerctl errors top [--since 1h] [--category C] [--guild G] [--json]`, `towerctl
//!   errors show ID`, `towerctl errors detections`: the errors the telemetry-collector
//!   grouped, and what it detected, for operators.
//! - `towerctl import-legacy --from URI --database NAME [--dry-run] [--json]`: the earlier
//!   bot's guilds, home guild, game servers (passwords sealed), player links and read
//!   positions imported.
//! - `towerctl verify [--guild G] [--repair] [--json]`: statistics counted again from the
//!   stored kill lines; every difference reported, and repaired when asked.
//! - `towerctl status [--json]`: every registered process with its health and what it
//!   serves (shards, leases, SFTP connections), and each notification subscriber's backlog.
//!
//! Without the default feature `database` (`--no-default-features`) it builds from the
//! ingest core alone — `analyze` and `bench parse`, no database driver or async runtime.

mod analyze;
mod bench;
#[cfg(feature = "database")]
mod errors;
#[cfg(feature = "probe")]
mod health;
#[cfg(feature = "database")]
mod import_legacy;
mod progress;
#[cfg(feature = "database")]
mod status;
#[cfg(feature = "database")]
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(version, about = "Tower of Temptation operator tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Statistics from local killfeed CSV files or folders of them.
    Analyze {
        /// CSV files, or folders searched for `*.csv`.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// One JSON object instead of tables.
        #[arg(long)]
        json: bool,
        /// Rows in each leaderboard (1 to 25).
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
    /// A new inter-process token for one role, and the SHA-256 its callees are given
    /// (`[auth] token` for the process, `[auth.callers] <role>` for the others).
    #[cfg(feature = "database")]
    Token,
    /// Whether a daemon serves: exit 0 when its gRPC health is SERVING, 1 otherwise.
    #[cfg(feature = "probe")]
    Health {
        /// The daemon's gRPC address, `HOST:PORT` (plaintext) or an `http(s)://` URL.
        addr: String,
        /// How long to wait for an answer.
        #[arg(long, default_value_t = 5)]
        timeout_secs: u64,
    },
    /// The errors the telemetry-collector grouped (its URL and a gateway token from the
    /// config file or TOWER_COLLECTOR_URL and TOWER_AUTH_TOKEN).
    #[cfg(feature = "database")]
    Errors {
        #[command(subcommand)]
        what: Errors,
        /// The config file the daemons use.
        #[arg(long, env = "TOWER_CONFIG", global = true)]
        config: Option<PathBuf>,
    },
    /// Every registered process with its health (heartbeat, gRPC health, heard by the
    /// collector) and what it serves (a gateway's shards, a worker's leases and SFTP
    /// connections), and each notification subscriber's backlog (MongoDB and the collector
    /// from the config file or the environment).
    #[cfg(feature = "database")]
    Status {
        #[arg(long)]
        json: bool,
        #[arg(long, env = "TOWER_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Imports a database the earlier (Python) bot wrote: guilds (tier, admin role,
    /// theme), the home guild, and game servers (passwords sealed on the way in); a second
    /// run changes nothing.
    #[cfg(feature = "database")]
    ImportLegacy {
        /// The earlier bot's MongoDB connection string.
        #[arg(long)]
        from: String,
        /// Its database name (it differed between the earlier bot's versions).
        #[arg(long)]
        database: String,
        /// Reports what would be imported, writing nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
        /// This bot's config file (its database and secret key).
        #[arg(long, env = "TOWER_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Counts every server's statistics again from its stored kill lines and reports
    /// (and with --repair, fixes) every difference; exits non-zero on one left unfixed.
    #[cfg(feature = "database")]
    Verify {
        /// Only this Discord server's game servers.
        #[arg(long)]
        guild: Option<u64>,
        /// Writes the counted values where the stored ones differ.
        #[arg(long)]
        repair: bool,
        #[arg(long)]
        json: bool,
        #[arg(long, env = "TOWER_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Speed figures of the ingest engine (build with --release; pin to one core).
    Bench {
        #[command(subcommand)]
        what: Bench,
    },
}

#[cfg(feature = "database")]
#[derive(Debug, Subcommand)]
enum Errors {
    /// The most frequent error groups, most frequent first.
    Top {
        /// Only errors seen within this window: 30m, 1h, 7d; 0 for all time.
        #[arg(long, default_value = "1h")]
        since: String,
        /// Only this category: discord_api, database, sftp, permission, validation,
        /// timeout, rate_limit, internal.
        #[arg(long)]
        category: Option<String>,
        /// Only errors of this Discord server (guild id).
        #[arg(long)]
        guild: Option<u64>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// One error by the id a user was shown (any guild).
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// What the collector noticed lately: error spikes, errors mostly from one guild,
    /// SFTP hosts failing for every guild that uses them (each kept an hour).
    Detections {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// Parser throughput against a plain line split.
    Parse {
        /// Input size in MiB.
        #[arg(long, default_value_t = 64)]
        mib: usize,
        /// Timing rounds; each figure is the fastest round.
        #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u64).range(1..))]
        rounds: u64,
    },
    /// Events/s into MongoDB: the worker's batched ingest against one upsert per line.
    #[cfg(feature = "database")]
    Ingest {
        #[arg(long, env = "MONGODB_URI")]
        mongodb_uri: String,
        #[arg(long, default_value_t = 50_000)]
        lines: usize,
        /// Lines for the two one-line-at-a-time ways (slow: a few round trips per line).
        #[arg(long, default_value_t = 1_000)]
        single_lines: usize,
    },
}

#[cfg(feature = "database")]
fn token() -> Result<(), String> {
    let text = tower_daemon::auth::AuthToken::generate()?;
    let token = tower_daemon::auth::AuthToken::new(&text)?;
    println!("token  = \"{text}\"");
    println!("sha256 = \"{}\"", token.sha256_hex());
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<(), Box<dyn std::error::Error>> = match cli.command {
        Command::Analyze { paths, json, top } => {
            analyze::run(&paths, json, top).map_err(Into::into)
        }
        #[cfg(feature = "database")]
        Command::Token => token().map_err(Into::into),
        #[cfg(feature = "database")]
        Command::ImportLegacy {
            from,
            database,
            dry_run,
            json,
            config,
        } => import_legacy::import(&import_legacy::ImportRequest {
            from: &from,
            database: &database,
            dry_run,
            json,
            config: config.as_deref(),
        })
        .map_err(Into::into),
        #[cfg(feature = "probe")]
        Command::Health { addr, timeout_secs } => {
            health::check(&addr, std::time::Duration::from_secs(timeout_secs)).map_err(Into::into)
        }
        #[cfg(feature = "database")]
        Command::Errors { what, config } => match what {
            Errors::Top {
                since,
                category,
                guild,
                limit,
                json,
            } => errors::parse_since(&since)
                .and_then(|since| {
                    errors::top(
                        config.as_deref(),
                        &errors::TopQuery {
                            since,
                            limit,
                            category,
                            guild,
                        },
                        json,
                    )
                })
                .map_err(Into::into),
            Errors::Show { id, json } => {
                errors::show(config.as_deref(), &id, json).map_err(Into::into)
            }
            Errors::Detections { json } => {
                errors::detections(config.as_deref(), json).map_err(Into::into)
            }
        },
        #[cfg(feature = "database")]
        Command::Verify {
            guild,
            repair,
            json,
            config,
        } => verify::verify(&verify::VerifyRequest {
            guild,
            repair,
            json,
            config: config.as_deref(),
        })
        .map_err(Into::into),
        #[cfg(feature = "database")]
        Command::Status { json, config } => {
            status::status(config.as_deref(), json).map_err(Into::into)
        }
        Command::Bench {
            what: Bench::Parse { mib, rounds },
        } => bench::parse::parse(mib, usize::try_from(rounds).unwrap_or(usize::MAX))
            .map_err(Into::into),
        #[cfg(feature = "database")]
        Command::Bench {
            what:
                Bench::Ingest {
                    mongodb_uri,
                    lines,
                    single_lines,
                },
        } => {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt
                    .block_on(bench::ingest::ingest(&mongodb_uri, lines, single_lines))
                    .map_err(Into::into),
                Err(e) => Err(Box::<dyn std::error::Error>::from(e.to_string())),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("towerctl: {e}");
            ExitCode::FAILURE
        }
    }
}
