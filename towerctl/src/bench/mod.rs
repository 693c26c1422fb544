//! `towerctl bench`: the ingest engine's speed figures (run with `--release`, pinned to one
//! core: `taskset -c 0 target/release/towerctl bench parse`).
//!
//! - [`parse`]: lines/s and MB/s of the killfeed parser, against a plain line split of the
//!   same bytes (the floor), and of the engine as the worker runs it (4 MiB reads), with
//!   and without the batch statistics. Pure: no database driver.
//! - [`ingest`] (feature `database`): events/s into MongoDB through the worker's reader and
//!   bulk store (daily files, batches of up to 4 MiB), against the one-by-one way (the same
//!   statistics with one upsert per document and line), against the earlier bot's writes
//!   (the line, then each player it names), and against the least any per-line store could
//!   write (one `$inc` per line).

#[cfg(feature = "database")]
pub mod ingest;
pub mod parse;
