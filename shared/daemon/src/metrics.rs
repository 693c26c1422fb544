//! The metrics each process records, by name, so the names live in one place. Recorded
//! through OpenTelemetry's global meter: a no-op unless [`crate::otlp`] export is on.
//!
//! - `tower.errors` {kind}: errors reported (every process).
//! - `tower.polls` {outcome: ok | failed}, `tower.poll.lag` (ms past due): the worker's polls.
//! - `tower.sftp.connections` {state: open | busy}: the worker's SFTP connections
//!   (observed from its pools, registered by the worker).
//! - `tower.posts` {result: sent | refused | skipped}: the gateway's channel messages.
//! - `tower.commands` {command}: slash commands answered.

use std::sync::OnceLock;

/// Attributes of a measurement (re-exported so the processes need no OpenTelemetry crate).
pub use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter};

/// The meter every instrument of ours comes from.
pub fn meter() -> Meter {
    opentelemetry::global::meter("tower")
}

pub struct Instruments {
    pub errors: Counter<u64>,
    pub polls: Counter<u64>,
    pub poll_lag_ms: Histogram<f64>,
    pub posts: Counter<u64>,
    pub commands: Counter<u64>,
}

/// The instruments, made on first use: after [`crate::startup::run_daemon`] installed the
/// export, so they record into it.
pub fn instruments() -> &'static Instruments {
    static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();
    INSTRUMENTS.get_or_init(|| {
        let meter = meter();
        Instruments {
            errors: meter
                .u64_counter("tower.errors")
                .with_description("Errors reported, by kind")
                .build(),
            polls: meter
                .u64_counter("tower.polls")
                .with_description("Game server polls, by outcome")
                .build(),
            poll_lag_ms: meter
                .f64_histogram("tower.poll.lag")
                .with_unit("ms")
                .with_description("How late each poll started after it was due")
                .build(),
            posts: meter
                .u64_counter("tower.posts")
                .with_description("Channel messages posted, by result")
                .build(),
            commands: meter
                .u64_counter("tower.commands")
                .with_description("Slash commands answered, by command")
                .build(),
        }
    })
}
