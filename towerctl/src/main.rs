//! towerctl: the command line for operators and guild admins.
//!
//! - `towerctl analyze PATH... [--json]`: killfeed statistics from local CSV files, through
//!   the same engine the bot uses, without MongoDB.

mod analyze;
mod progress;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze { paths, json, top } => analyze::run(&paths, json, top),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("towerctl: {e}");
            ExitCode::FAILURE
        }
    }
}
