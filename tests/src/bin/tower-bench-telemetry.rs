//! tower-bench-telemetry: what the telemetry-collector ingests, and what reporting an
//! error costs the code that reports it.
//!
//! ```text
//! tower-bench-telemetry [--seconds 10] [--reporters 4] [--captures 100000]
//! ```
//!
//! - Ingest: `--reporters` processes' worth of gRPC clients send full batches of error
//!   reports (the reporter's batch size) back to back for `--seconds`, each as a real
//!   reporter would: distinct ids, a score of different faults with varying numbers in
//!   their messages, guild and server context. It prints reports sent against reports
//!   stored (counted in MongoDB afterwards, so nothing lost can look fast), reports per
//!   second and database commands per batch.
//! - Capture: the cost of [`Telemetry::error`] on the caller's path (it queues; a task
//!   sends), per call, in bursts that fit the reporter's queue, and the reports it dropped.
//!
//! Run it through `deploy/local/bench telemetry` (MongoDB started for it; release builds).

use std::time::{Duration, Instant};

use clap::Parser;
use mongodb::bson::{Document, doc};
use tower_daemon::auth::AuthToken;
use tower_daemon::grpc::{ClientSecurity, collector_client};
use tower_daemon::process::ProcessIdentity;
use tower_daemon::shutdown::Shutdown;
use tower_daemon::telemetry::{MAX_BATCH, Telemetry, new_error_id, now_unix_ms};
use tower_proto::v1::{ErrorContext, Level, ProcessKind, ReportRequest, TelemetryEvent};
use tower_tests::backing::{TestDatabase, server_operations};
use tower_tests::stack::{TEST_TOKEN, standalone_collector};
use tower_tests::support::cpu_seconds;

#[derive(Debug, Parser)]
struct Args {
    /// How long the reporters send, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Reporting processes sending at once.
    #[arg(long, default_value_t = 4)]
    reporters: usize,
    /// Captures timed on the caller's path.
    #[arg(long, default_value_t = 100_000)]
    captures: usize,
}

/// The faults reported: each a different fingerprint, with numbers and names that vary.
const FAULTS: [(&str, &str); 5] = [
    (
        "sftp.auth",
        "login refused for user player{n} on 10.0.0.{n}:22",
    ),
    (
        "sftp.timeout",
        "no answer within {n}s reading deathlogs/world_0",
    ),
    ("discord.forbidden", "Missing Access posting to channel {n}"),
    ("poll.database", "server selection timeout after {n} ms"),
    (
        "command.invalid",
        "server_id {n} is not one of this guild's servers",
    ),
];

fn report(i: usize) -> TelemetryEvent {
    let (kind, message) = FAULTS[i % FAULTS.len()];
    TelemetryEvent {
        level: Level::Error as i32,
        kind: kind.to_owned(),
        message: message.replace("{n}", &(i % 977).to_string()),
        location: "bench".to_owned(),
        context: Some(ErrorContext {
            guild_id: 900_000_000_000_000_000 + (i % 20) as u64,
            server_id: (7000 + i % 50).to_string(),
            command: String::new(),
            shard: None,
        }),
        occurred_unix_ms: now_unix_ms(),
        error_id: new_error_id(),
        attributes: Default::default(),
    }
}

fn security() -> Result<ClientSecurity, String> {
    Ok(ClientSecurity::plaintext(
        AuthToken::new(TEST_TOKEN).map_err(|e| e.to_string())?,
    ))
}

/// One reporter sending batches until `until`; the reports the collector accepted.
async fn send_until(url: String, reporter: usize, until: Instant) -> Result<u64, String> {
    let mut client = collector_client(&url, &security()?).map_err(|e| e.to_string())?;
    let mut process = ProcessIdentity::new(ProcessKind::SftpWorker).to_proto();
    process.instance = format!("bench-reporter-{reporter}");
    let mut accepted = 0u64;
    let mut i = reporter * 1_000_000;
    while Instant::now() < until {
        let events: Vec<TelemetryEvent> = (i..i + MAX_BATCH).map(report).collect();
        i += MAX_BATCH;
        let reply = client
            .report(ReportRequest {
                process: Some(process.clone()),
                events,
            })
            .await
            .map_err(|s| format!("report refused: {s}"))?;
        accepted += u64::from(reply.into_inner().accepted);
    }
    Ok(accepted)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let db = TestDatabase::create("bench_telemetry")
        .await
        .map_err(|e| e.to_string())?;
    let client = mongodb::Client::with_uri_str(&db.uri)
        .await
        .map_err(|e| e.to_string())?;
    let (collector, addr) = standalone_collector(&db).await.map_err(|e| e.to_string())?;
    let url = format!("http://{addr}");

    // Ingest.
    let (ops_start, db_pid) = server_operations(&client)
        .await
        .map_err(|e| e.to_string())?;
    let (db_pid, collector_pid) = (db_pid.unwrap_or(0), collector.pid().unwrap_or(0));
    let cpu_before = (cpu_seconds(collector_pid), cpu_seconds(db_pid));
    let start = Instant::now();
    let until = start + Duration::from_secs(args.seconds);
    let senders: Vec<_> = (0..args.reporters)
        .map(|r| tokio::spawn(send_until(url.clone(), r, until)))
        .collect();
    let mut sent = 0u64;
    for s in senders {
        sent += s.await.map_err(|e| e.to_string())??;
    }
    let took = start.elapsed().as_secs_f64();
    let cpu = |now: f64, before: f64| 100.0 * (now - before) / took;
    let (collector_cpu, db_cpu) = (
        cpu(cpu_seconds(collector_pid), cpu_before.0),
        cpu(cpu_seconds(db_pid), cpu_before.1),
    );
    let (ops_end, _) = server_operations(&client)
        .await
        .map_err(|e| e.to_string())?;
    let stored = db
        .handle()
        .collection::<Document>("telemetry_events")
        .count_documents(doc! {})
        .await
        .map_err(|e| e.to_string())?;
    let batches = sent as f64 / MAX_BATCH as f64;
    println!(
        "ingest: {} reporters for {took:.1} s: {sent} reports accepted, {stored} stored, {:.0} reports/s; {:.1} database operations per batch of {MAX_BATCH}; CPU: collector {collector_cpu:.0}%, database {db_cpu:.0}% of a core",
        args.reporters,
        stored as f64 / took,
        (ops_end - ops_start - 1).max(0) as f64 / batches.max(1.0),
    );

    // Capture cost, on this process's own reporter to the same collector.
    let (trigger, shutdown) = Shutdown::new();
    let me = ProcessIdentity::new(ProcessKind::SftpWorker);
    let (telemetry, task) =
        Telemetry::start(&url, &security()?, &me, shutdown).map_err(|e| e.to_string())?;
    let mut costs = Vec::with_capacity(args.captures);
    // Bursts of a tenth of the queue, and time for the reporter to send each.
    let burst = 1_000;
    let mut i = 0;
    while i < args.captures {
        for _ in 0..burst.min(args.captures - i) {
            let (kind, message) = FAULTS[i % FAULTS.len()];
            let message = message.replace("{n}", &(i % 977).to_string());
            let context = ErrorContext {
                guild_id: 900_000_000_000_000_001,
                server_id: "7020".to_owned(),
                command: String::new(),
                shard: None,
            };
            let t = Instant::now();
            std::hint::black_box(telemetry.error(kind, message, "bench", Some(context)));
            costs.push(t.elapsed());
            i += 1;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let dropped = telemetry.dropped();
    trigger.trigger();
    let _ = task.await;
    costs.sort_unstable();
    let mean = costs.iter().sum::<Duration>() / u32::try_from(costs.len().max(1)).unwrap_or(1);
    println!(
        "capture: {} calls of Telemetry::error: mean {:.2} µs, p50 {:.2} µs, p99 {:.2} µs, max {:.1} µs; {dropped} dropped",
        costs.len(),
        mean.as_secs_f64() * 1e6,
        percentile(&costs, 0.50).as_secs_f64() * 1e6,
        percentile(&costs, 0.99).as_secs_f64() * 1e6,
        costs.last().copied().unwrap_or_default().as_secs_f64() * 1e6,
    );
    let _ = collector.stop(Duration::from_secs(10)).await;
    let _ = db.drop_database().await;
    Ok(())
}
