//! What every Tower of Temptation daemon shares to run: its configuration and flags, how
//! it starts and stops, how it serves and calls gRPC (tokens, TLS), its logs, telemetry
//! and registration.
//!
//! Map of the modules:
//! - [`config`]: the configuration file plus environment overrides, validated at start;
//!   [`cli`]: the command-line flags every daemon takes.
//! - [`startup`]: opening the database and the secret key, binding, why a daemon could not
//!   start ([`startup::StartError`]); [`shutdown`]: Ctrl-C / SIGTERM as a signal every task
//!   can await.
//! - [`auth`]: role tokens on inter-process gRPC calls (gateway, worker), checked by digest.
//! - [`grpc`]: serving and calling tower.v1 services (listener, TLS, health, auth, channels).
//! - [`process`]: who this process is, and its registration heartbeat in MongoDB.
//! - [`telemetry`]: batched, non-blocking reports to the telemetry-collector, secrets taken
//!   out of them first ([`redaction`]).
//! - [`logging`]: tracing output, human-readable or JSON; [`otlp`]: traces and metrics
//!   ([`metrics`]) exported to an OpenTelemetry collector when one is configured.
//! - [`address_guard`]: which SFTP hosts and ports may be connected to (no internal ones).

pub mod address_guard;
pub mod auth;
pub mod cli;
pub mod config;
pub mod grpc;
pub mod health_port;
pub mod logging;
pub mod metrics;
pub mod otlp;
pub mod process;
pub mod redaction;
pub mod shutdown;
pub mod startup;
pub mod telemetry;

/// The version every process reports, from Cargo.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
