//! Log output for every process: human-readable by default, one JSON object per line with
//! `--log-format json` (what the test harness and log shippers read).

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LoggingConfig};

/// Installs the global subscriber. Call once, first thing in `main`.
pub fn init(config: &LoggingConfig) -> Result<(), String> {
    let filter = EnvFilter::try_new(&config.filter)
        .map_err(|e| format!("log filter `{}` is not valid: {e}", config.filter))?;
    // A log line that cannot be written (the reader of stderr is gone) is dropped: the
    // default would report it with `eprintln!`, which panics on that same broken stderr.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    let result = match config.format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
    result.map_err(|e| format!("cannot install the logger: {e}"))
}
