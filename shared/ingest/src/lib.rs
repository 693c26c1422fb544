//! The ingest core: Deadside's killfeed and server-log bytes in, events and PvP statistics
//! out. No I/O of its own and no async runtime or database driver: the sftp-worker,
//! `towerctl analyze`, the benches and the fuzz targets all run this same code, so the
//! numbers offline and in Discord agree, and a parser change rebuilds little.
//!
//! Map of the modules:
//! - [`timestamp`]: Deadside's timestamps, parsed by hand on the hot path.
//! - [`killfeed`]: the killfeed CSV line parser, death classification and line identities.
//! - [`lines`]: complete lines out of a buffer read at a cursor's offset.
//! - [`ingest`]: killfeed bytes at a cursor → events and malformed-line reports.
//! - [`server_log`]: the Deadside.log parser and online/queue counts.
//! - [`stats`]: PvP statistics per game server, applied in batches of deltas.
//! - [`source`]: where log bytes come from (the [`source::ByteSource`] trait; a local
//!   folder for tools and tests; SFTP in the worker).
//! - [`cursor`]: per-file cursors and what to read next; a replaced file; where history ends.
//! - [`earlier_position`]: where the earlier bot stopped reading, as a byte position.
//! - [`reader`]: incremental reading of a killfeed folder and a server log into sinks.
//! - [`weapons`]: weapon categories and what each weapon is.
//! - [`hex`]: hex text for ids and digests.

pub mod cursor;
pub mod earlier_position;
pub mod hex;
pub mod ingest;
pub mod killfeed;
pub mod lines;
pub mod reader;
pub mod server_log;
pub mod source;
pub mod stats;
pub mod timestamp;
pub mod weapons;
