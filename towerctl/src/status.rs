//! `towerctl status`: the whole bot at a glance, for operators. Every process registered
//! in MongoDB (`processes`) with its health — its heartbeat's age, its gRPC health when it
//! is up, whether the telemetry-collector hears from it — and what it serves: a gateway's
//! shards, a worker's leases and open SFTP connections. Then each notification subscriber
//! (a gateway's shard range) with its backlog: notifications recorded and not yet
//! acknowledged as posted. `--json` prints one document.
//!
//! It reads MongoDB with the daemons' config (`TOWER_MONGODB_URI`, …) and asks the
//! collector like `towerctl errors` does; a collector that does not answer is reported,
//! not fatal.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use futures_util::TryStreamExt;
use mongodb::bson::{DateTime, Document, doc};
use serde_json::{Value, json};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tower_daemon::config::Config;
use tower_daemon::telemetry::now_unix_ms;
use tower_proto::v1::{ListProcessesRequest, ProcessKind};
use tower_store::db::{Database, collections};
use tower_store::ids::{GuildId, ShardRange};

use crate::errors::{ago, call, client, runtime};

/// A process whose heartbeat (every 10 s) is older than this is shown as silent.
const SILENT_AFTER: Duration = Duration::from_secs(30);
/// How long a process's gRPC health may take to answer.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);
/// Stopped processes shown, newest first (they stay registered until replaced).
const STOPPED_SHOWN: usize = 10;

/// One registered process as the table shows it.
#[derive(Debug, Clone, PartialEq)]
struct Process {
    kind: String,
    instance: String,
    host: String,
    version: String,
    started_ms: i64,
    last_seen_ms: i64,
    stopped: bool,
    listen: Option<String>,
    shards: Option<String>,
}

impl Process {
    fn from_doc(d: &Document) -> Option<Self> {
        let details = d.get_document("details").ok();
        let ms = |k: &str| d.get_datetime(k).map_or(0, |t| t.timestamp_millis());
        Some(Self {
            kind: d.get_str("kind").ok()?.to_owned(),
            instance: d.get_str("_id").ok()?.to_owned(),
            host: d.get_str("host").unwrap_or_default().to_owned(),
            version: d.get_str("version").unwrap_or_default().to_owned(),
            started_ms: ms("started_at"),
            last_seen_ms: ms("last_seen"),
            stopped: d.get_datetime("stopped_at").is_ok(),
            listen: details.and_then(|x| x.get_str("listen").ok().map(str::to_owned)),
            shards: details.and_then(|x| x.get_str("shards").ok().map(str::to_owned)),
        })
    }

    /// `up`, `silent` (no heartbeat lately: hung or gone without a word) or `stopped`.
    fn state(&self, now_ms: i64) -> &'static str {
        if self.stopped {
            "stopped"
        } else if now_ms.saturating_sub(self.last_seen_ms) > SILENT_AFTER.as_millis() as i64 {
            "silent"
        } else {
            "up"
        }
    }
}

/// A shard range as a subscriber names it (`gateway:0-3/4`).
fn subscriber_range(subscriber: &str) -> Option<ShardRange> {
    let (range, total) = subscriber.strip_prefix("gateway:")?.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    Some(ShardRange {
        first: first.parse().ok()?,
        last: last.parse().ok()?,
        total: total.parse().ok()?,
    })
}

pub fn status(config_path: Option<&Path>, json_out: bool) -> Result<(), String> {
    let config = Config::load(config_path).map_err(|e| e.to_string())?;
    let report = runtime()?.block_on(async {
        let db = Database::connect(&config.mongodb, "towerctl")
            .await
            .map_err(|e| format!("MongoDB: {e}"))?;
        gather(&db, &config, config_path).await
    })?;
    if json_out {
        println!("{report}");
    } else {
        print_table(&report);
    }
    Ok(())
}

async fn gather(
    db: &Database,
    config: &Config,
    config_path: Option<&Path>,
) -> Result<Value, String> {
    // The daemons serve TLS when the deployment has a CA: their health is asked so too.
    let tls = match &config.tls.ca_file {
        Some(path) => Some(
            std::fs::read(path)
                .map(Certificate::from_pem)
                .map_err(|e| format!("tls.ca_file {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let raw = db.raw();
    let read = |e: mongodb::error::Error| format!("MongoDB: {e}");
    let now = now_unix_ms();
    let mut processes: Vec<Process> = raw
        .collection::<Document>(collections::PROCESSES)
        .find(doc! {})
        .sort(doc! { "last_seen": -1 })
        .await
        .map_err(read)?
        .try_collect::<Vec<Document>>()
        .await
        .map_err(read)?
        .iter()
        .filter_map(Process::from_doc)
        .collect();
    // The live ones all; of the stopped, the latest few.
    let mut stopped = 0;
    processes.retain(|p| {
        if p.state(now) != "stopped" {
            return true;
        }
        stopped += 1;
        stopped <= STOPPED_SHOWN
    });

    let now_date = DateTime::from_millis(now);
    let leases = count_by(
        raw.collection(collections::SERVER_LEASES),
        doc! { "expires_at": { "$gt": now_date } },
        "$owner",
    )
    .await
    .map_err(read)?;
    let connections = count_by(
        raw.collection(collections::CONNECTION_SLOTS),
        doc! { "expires_at": { "$gt": now_date }, "holder": { "$ne": null } },
        "$holder",
    )
    .await
    .map_err(read)?;

    let (reported, collector) = match reported_to_collector(config_path).await {
        Ok(r) => (r, "answering".to_owned()),
        Err(e) => (HashMap::new(), format!("not answering: {e}")),
    };

    let mut rows = Vec::new();
    for p in &processes {
        let state = p.state(now);
        let health = match (&p.listen, state) {
            (Some(listen), "up") => grpc_health(&reach(listen, &p.host), tls.as_ref()).await,
            _ => "—".to_owned(),
        };
        let mut row = json!({
            "kind": p.kind,
            "instance": p.instance,
            "host": p.host,
            "version": p.version,
            "state": state,
            "health": health,
            "started_unix_ms": p.started_ms,
            "last_seen_unix_ms": p.last_seen_ms,
            "reported_to_collector_unix_ms": reported.get(&p.instance).copied(),
        });
        if let Some(listen) = &p.listen {
            row["listen"] = json!(listen);
        }
        if p.kind == "gateway-shard" {
            row["shards"] = json!(p.shards);
        }
        if p.kind == "sftp-worker" {
            row["leases"] = json!(leases.get(&p.instance).copied().unwrap_or(0));
            row["sftp_connections"] = json!(connections.get(&p.instance).copied().unwrap_or(0));
        }
        rows.push(row);
    }
    let subscribers = backlogs(db).await.map_err(read)?;
    Ok(json!({
        "processes": rows,
        "subscribers": subscribers,
        "collector": collector,
    }))
}

/// How many documents matching `filter` each value of `field` has.
async fn count_by(
    collection: mongodb::Collection<Document>,
    filter: Document,
    field: &str,
) -> Result<HashMap<String, i64>, mongodb::error::Error> {
    let groups: Vec<Document> = collection
        .aggregate([
            doc! { "$match": filter },
            doc! { "$group": { "_id": field, "n": { "$sum": 1 } } },
        ])
        .await?
        .try_collect()
        .await?;
    Ok(groups
        .iter()
        .filter_map(|g| Some((g.get_str("_id").ok()?.to_owned(), count_of(g)?)))
        .collect())
}

/// A `$group` row's `n` (`$sum` gives an int32 or an int64).
fn count_of(group: &Document) -> Option<i64> {
    group
        .get_i32("n")
        .map(i64::from)
        .or_else(|_| group.get_i64("n"))
        .ok()
}

/// Each subscriber: its last acknowledged number, and the notifications for its shards
/// recorded after it (how many, and since when the oldest waits: its `created_at`, not the
/// game time of the line it comes from).
async fn backlogs(db: &Database) -> Result<Vec<Value>, mongodb::error::Error> {
    let raw = db.raw();
    let acks: Vec<Document> = raw
        .collection::<Document>(collections::NOTIFICATION_ACKS)
        .find(doc! {})
        .await?
        .try_collect()
        .await?;
    let notifications = raw.collection::<Document>(collections::NOTIFICATIONS);
    let mut out = Vec::new();
    for ack in &acks {
        let Ok(subscriber) = ack.get_str("_id") else {
            continue;
        };
        let acked = ack.get_i64("seq").unwrap_or(0);
        let per_guild: Vec<Document> = notifications
            .aggregate([
                doc! { "$match": { "seq": { "$gt": acked } } },
                doc! { "$group": {
                    "_id": "$guild_id",
                    "n": { "$sum": 1 },
                    "oldest": { "$min": "$created_at" },
                } },
            ])
            .await?
            .try_collect()
            .await?;
        let range = subscriber_range(subscriber);
        let mut backlog = 0i64;
        let mut oldest: Option<i64> = None;
        for g in &per_guild {
            let guild = g.get_str("_id").ok().and_then(|s| s.parse::<u64>().ok());
            let mine = match (range, guild) {
                (Some(r), Some(guild)) => r.contains_guild(GuildId(guild)),
                // A subscriber not named by shards reads every guild.
                (None, _) => true,
                (Some(_), None) => false,
            };
            if !mine {
                continue;
            }
            backlog += count_of(g).unwrap_or(0);
            if let Ok(at) = g.get_datetime("oldest") {
                let at = at.timestamp_millis();
                oldest = Some(oldest.map_or(at, |o: i64| o.min(at)));
            }
        }
        out.push(json!({
            "subscriber": subscriber,
            "acknowledged_seq": acked,
            "backlog": backlog,
            "oldest_unacknowledged_unix_ms": oldest,
        }));
    }
    Ok(out)
}

/// The processes the collector has heard from: instance → when last.
async fn reported_to_collector(config_path: Option<&Path>) -> Result<HashMap<String, i64>, String> {
    let mut client = client(config_path)?;
    let reply = call(
        "the processes",
        client.list_processes(ListProcessesRequest {
            kind: ProcessKind::Unspecified as i32,
        }),
    )
    .await?;
    Ok(reply
        .processes
        .into_iter()
        .filter_map(|p| Some((p.process?.instance, p.last_seen_unix_ms)))
        .collect())
}

/// Where a process is reached: its bound address, or its host's name with the port when
/// it bound every interface.
fn reach(listen: &str, host: &str) -> String {
    match listen.parse::<std::net::SocketAddr>() {
        Ok(a) if a.ip().is_unspecified() && !host.is_empty() => format!("{host}:{}", a.port()),
        _ => listen.to_owned(),
    }
}

/// The process's standard gRPC health (served without a token): `serving`, `not serving`
/// or why there is no answer.
async fn grpc_health(addr: &str, tls: Option<&Certificate>) -> String {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let Ok(endpoint) = Endpoint::from_shared(format!("{scheme}://{addr}")) else {
        return "bad address".to_owned();
    };
    let mut endpoint = endpoint
        .connect_timeout(HEALTH_TIMEOUT)
        .timeout(HEALTH_TIMEOUT);
    if let Some(ca) = tls {
        let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
        let config = ClientTlsConfig::new()
            .ca_certificate(ca.clone())
            .domain_name(host.trim_matches(['[', ']']));
        endpoint = match endpoint.tls_config(config) {
            Ok(e) => e,
            Err(e) => return format!("TLS: {e}"),
        };
    }
    let channel = match endpoint.connect().await {
        Ok(c) => c,
        Err(_) => return "no answer".to_owned(),
    };
    match HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
    {
        Ok(r) if r.get_ref().status() == ServingStatus::Serving => "serving".to_owned(),
        Ok(_) => "not serving".to_owned(),
        Err(s) => format!("health refused ({})", s.code()),
    }
}

fn print_table(report: &Value) {
    let empty = Vec::new();
    let processes = report["processes"].as_array().unwrap_or(&empty);
    if processes.is_empty() {
        println!("no process is registered in this database");
    } else {
        println!(
            "{:<20}  {:<44}  {:<8}  {:<11}  {:<10}  {:<10}  serves",
            "kind", "instance", "state", "health", "started", "last seen"
        );
        for p in processes {
            let serves = match p["kind"].as_str() {
                Some("gateway-shard") => {
                    format!("shards {}", p["shards"].as_str().unwrap_or("?"))
                }
                Some("sftp-worker") => format!(
                    "{} leases, {} SFTP connections",
                    p["leases"].as_i64().unwrap_or(0),
                    p["sftp_connections"].as_i64().unwrap_or(0)
                ),
                _ => p["listen"].as_str().unwrap_or_default().to_owned(),
            };
            let reported = if p["reported_to_collector_unix_ms"].is_null() {
                " · not heard by the collector"
            } else {
                ""
            };
            println!(
                "{:<20}  {:<44}  {:<8}  {:<11}  {:<10}  {:<10}  {serves}{reported}",
                p["kind"].as_str().unwrap_or_default(),
                p["instance"].as_str().unwrap_or_default(),
                p["state"].as_str().unwrap_or_default(),
                p["health"].as_str().unwrap_or_default(),
                ago(p["started_unix_ms"].as_i64().unwrap_or(0)),
                ago(p["last_seen_unix_ms"].as_i64().unwrap_or(0)),
            );
        }
    }
    println!();
    let subscribers = report["subscribers"].as_array().unwrap_or(&empty);
    if subscribers.is_empty() {
        println!("no notification subscriber yet");
    }
    for s in subscribers {
        let oldest = s["oldest_unacknowledged_unix_ms"]
            .as_i64()
            .map(|ms| format!(", the oldest recorded {}", ago(ms)))
            .unwrap_or_default();
        println!(
            "subscriber {}: {} notification(s) not yet posted{oldest}",
            s["subscriber"].as_str().unwrap_or_default(),
            s["backlog"].as_i64().unwrap_or(0),
        );
    }
    println!("collector: {}", report["collector"].as_str().unwrap_or("?"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_bound_to_every_interface_is_reached_by_its_host_name() {
        assert_eq!(reach("0.0.0.0:50052", "worker-1"), "worker-1:50052");
        assert_eq!(reach("[::]:50052", "worker-1"), "worker-1:50052");
        assert_eq!(reach("10.0.0.5:50052", "worker-1"), "10.0.0.5:50052");
        assert_eq!(reach("127.0.0.1:50052", ""), "127.0.0.1:50052");
    }

    #[test]
    fn a_gateway_subscriber_names_its_shards() {
        assert_eq!(
            subscriber_range("gateway:2-3/8"),
            Some(ShardRange {
                first: 2,
                last: 3,
                total: 8
            })
        );
        assert_eq!(subscriber_range("bench"), None);
        assert_eq!(subscriber_range("gateway:x-1/2"), None);
    }
}
