//! Log output for every process: human-readable by default, one JSON object per line with
//! `--log-format json` (what the test harness and log shippers read); and, when OTLP
//! export is on ([`crate::otlp`]), the same spans as OpenTelemetry traces.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::{LogFormat, LoggingConfig};

/// Installs the global subscriber. Call once, first thing in `main`; `traces` is the OTLP
/// tracer when export is on.
pub fn init(
    config: &LoggingConfig,
    traces: Option<opentelemetry_sdk::trace::Tracer>,
) -> Result<(), String> {
    let filter = EnvFilter::try_new(&config.filter)
        .map_err(|e| format!("log filter `{}` is not valid: {e}", config.filter))?;
    // A log line that cannot be written (the reader of stderr is gone) is dropped: the
    // default would report it with `eprintln!`, which panics on that same broken stderr.
    let output = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    let output = match config.format {
        LogFormat::Human => output.boxed(),
        LogFormat::Json => output
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(output.with_filter(filter))
        .with(traces.map(|t| {
            tracing_opentelemetry::layer()
                .with_tracer(t)
                .with_filter(exported())
        }))
        .try_init()
        .map_err(|e| format!("cannot install the logger: {e}"))
}

/// What becomes a trace, whatever the log filter: our spans at info, and nothing of the
/// transport underneath the export itself (its own spans would be exported in turn, and
/// feed it).
fn exported() -> Targets {
    Targets::new()
        .with_default(LevelFilter::INFO)
        .with_target("h2", LevelFilter::OFF)
        .with_target("hyper", LevelFilter::OFF)
        .with_target("hyper_util", LevelFilter::OFF)
        .with_target("tonic", LevelFilter::OFF)
        .with_target("opentelemetry", LevelFilter::OFF)
        .with_target("opentelemetry_sdk", LevelFilter::OFF)
        .with_target("opentelemetry_otlp", LevelFilter::OFF)
        .with_target("mongodb", LevelFilter::OFF)
        .with_target("russh", LevelFilter::OFF)
}
