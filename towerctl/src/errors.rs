//! `towerctl errors top|show|detections`: the errors the telemetry-collector grouped, for
//! operators. They call the collector like the gateway does (its URL and this
//! process's token from the same config file and environment: `TOWER_COLLECTOR_URL`,
//! `TOWER_AUTH_TOKEN` with a gateway token), and print a table or, with `--json`, one
//! JSON document.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use tower_daemon::config::Config;
use tower_daemon::grpc::{AuthedChannel, ClientSecurity, collector_client};
use tower_daemon::telemetry::now_unix_ms;
use tower_proto::v1::telemetry_collector_client::TelemetryCollectorClient;
use tower_proto::v1::{
    DetectionsRequest, ErrorGroup, GetErrorRequest, GuildErrorsRequest, TopErrorsRequest,
};

/// How long a call to the collector may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// What `towerctl errors top` asks for.
pub struct TopQuery {
    /// Only errors last seen within this window (`None`: all time).
    pub since: Option<Duration>,
    pub limit: u32,
    /// Only errors of this category (discord_api, database, sftp, permission, validation,
    /// timeout, rate_limit, internal).
    pub category: Option<String>,
    pub guild: Option<u64>,
}

/// `30s`, `15m`, `1h`, `7d`, or `0` for all time.
pub fn parse_since(text: &str) -> Result<Option<Duration>, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(None);
    }
    // The unit is the last character (a byte index could split a multi-byte one).
    let at = text.char_indices().last().map_or(0, |(i, _)| i);
    let (number, unit) = text.split_at(at);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("--since {text}: expected a number and s, m, h or d (like 1h)"))?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => return Err(format!("--since {text}: the unit must be s, m, h or d")),
    };
    // `0s` is all time too (the collector reads a zero window so).
    Ok((secs > 0).then(|| Duration::from_secs(secs)))
}

pub(crate) fn client(
    config: Option<&Path>,
) -> Result<TelemetryCollectorClient<AuthedChannel>, String> {
    let config = Config::load(config).map_err(|e| e.to_string())?;
    let security = ClientSecurity::from_config(&config).map_err(|e| e.to_string())?;
    collector_client(&config.collector.url, &security)
        .map_err(|e| format!("the collector at {}: {e}", config.collector.url))
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// Runs one call with [`CALL_TIMEOUT`], turning a refusal into a sentence.
pub(crate) async fn call<T>(
    what: &str,
    future: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, String> {
    match tokio::time::timeout(CALL_TIMEOUT, future).await {
        Ok(Ok(r)) => Ok(r.into_inner()),
        Ok(Err(s)) if s.code() == tonic::Code::NotFound => Err(format!("{what}: not found")),
        Ok(Err(s)) if s.code() == tonic::Code::Unauthenticated => Err(format!(
            "{what}: the collector refused this token (TOWER_AUTH_TOKEN must be a gateway token)"
        )),
        Ok(Err(s)) => Err(format!("{what}: {}", s.message())),
        Err(_) => Err(format!("{what}: no answer within {CALL_TIMEOUT:?}")),
    }
}

/// `5s ago`, `3m ago`, `2h ago`, `4d ago`.
pub(crate) fn ago(ms: i64) -> String {
    if ms <= 0 {
        return "never".to_owned();
    }
    let secs = now_unix_ms().saturating_sub(ms).max(0) / 1000;
    match secs {
        s if s < 120 => format!("{s}s ago"),
        s if s < 7200 => format!("{}m ago", s / 60),
        s if s < 172_800 => format!("{}h ago", s / 3600),
        s => format!("{}d ago", s / 86_400),
    }
}

fn group_json(g: &ErrorGroup) -> Value {
    let context = g.last_context.as_ref();
    json!({
        "error_id": g.last_error_id,
        "fingerprint": g.fingerprint,
        "kind": g.kind,
        "category": g.category,
        "message": g.message,
        "location": g.location,
        "count": g.count,
        "first_seen_unix_ms": g.first_seen_unix_ms,
        "last_seen_unix_ms": g.last_seen_unix_ms,
        "guild_id": context.map(|c| c.guild_id.to_string()),
        "server_id": context.map(|c| c.server_id.clone()).filter(|s| !s.is_empty()),
        "command": context.map(|c| c.command.clone()).filter(|s| !s.is_empty()),
        "shard": context.and_then(|c| c.shard),
    })
}

/// `towerctl errors top`.
pub fn top(config: Option<&Path>, query: &TopQuery, json_out: bool) -> Result<(), String> {
    let groups = runtime()?.block_on(async {
        // The channel is made inside the runtime (it spawns its connection task there).
        let mut client = client(config)?;
        match query.guild {
            Some(guild) => call(
                "errors of the guild",
                client.guild_errors(GuildErrorsRequest {
                    guild_id: guild,
                    limit: query.limit,
                }),
            )
            .await
            .map(|r| r.errors),
            None => call(
                "the top errors",
                client.top_errors(TopErrorsRequest {
                    window_secs: query
                        .since
                        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX)),
                    // The category is filtered here: ask for more so `limit` are left.
                    limit: if query.category.is_some() {
                        query.limit.max(100).saturating_mul(10)
                    } else {
                        query.limit
                    },
                }),
            )
            .await
            .map(|r| r.groups),
        }
    })?;
    let since_ms = query
        .since
        .map(|d| now_unix_ms().saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)));
    let groups: Vec<&ErrorGroup> = groups
        .iter()
        .filter(|g| since_ms.is_none_or(|s| g.last_seen_unix_ms >= s))
        .filter(|g| query.category.as_deref().is_none_or(|c| g.category == c))
        .take(usize::try_from(query.limit).unwrap_or(usize::MAX))
        .collect();
    if json_out {
        let doc = json!({ "errors": groups.iter().map(|g| group_json(g)).collect::<Vec<_>>() });
        println!("{doc}");
        return Ok(());
    }
    if groups.is_empty() {
        println!("no errors");
        return Ok(());
    }
    println!(
        "{:>7}  {:<10}  {:<14}  {:<24}  message",
        "count", "last seen", "error id", "kind"
    );
    for g in groups {
        println!(
            "{:>7}  {:<10}  {:<14}  {:<24}  {}",
            g.count,
            ago(g.last_seen_unix_ms),
            g.last_error_id,
            g.kind,
            g.message.chars().take(100).collect::<String>()
        );
    }
    Ok(())
}

/// `towerctl errors show ID`: one error group, whatever guild it happened in.
pub fn show(config: Option<&Path>, id: &str, json_out: bool) -> Result<(), String> {
    let group = runtime()?.block_on(async {
        let mut client = client(config)?;
        call(
            &format!("error {id}"),
            client.get_error(GetErrorRequest {
                error_id: id.to_owned(),
                guild_id: 0,
            }),
        )
        .await
    })?;
    let doc = group_json(&group);
    if json_out {
        println!("{doc}");
        return Ok(());
    }
    if let Some(fields) = doc.as_object() {
        for (name, value) in fields {
            match value {
                Value::Null => {}
                Value::String(s) => println!("{name:<20} {s}"),
                other => println!("{name:<20} {other}"),
            }
        }
    }
    Ok(())
}

/// `towerctl errors detections`: what the collector noticed lately (spikes, errors from
/// one guild, SFTP hosts down for everyone), newest first.
pub fn detections(config: Option<&Path>, json_out: bool) -> Result<(), String> {
    let found = runtime()?
        .block_on(async {
            let mut client = client(config)?;
            call("the detections", client.detections(DetectionsRequest {})).await
        })?
        .detections;
    if json_out {
        let rows: Vec<Value> = found
            .iter()
            .map(|d| {
                json!({
                    "kind": d.kind,
                    "key": d.key,
                    "summary": d.summary,
                    "count": d.count,
                    "first_detected_unix_ms": d.first_detected_unix_ms,
                    "last_detected_unix_ms": d.last_detected_unix_ms,
                    "expires_unix_ms": d.expires_unix_ms,
                })
            })
            .collect();
        println!("{}", json!({ "detections": rows }));
        return Ok(());
    }
    if found.is_empty() {
        println!("nothing detected in the last hour");
        return Ok(());
    }
    for d in found {
        println!(
            "{:<10} {:<10} {}",
            d.kind,
            ago(d.last_detected_unix_ms),
            d.summary
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_number_and_a_unit() {
        assert_eq!(parse_since("90s"), Ok(Some(Duration::from_secs(90))));
        assert_eq!(parse_since("1h"), Ok(Some(Duration::from_secs(3600))));
        assert_eq!(parse_since("7d"), Ok(Some(Duration::from_secs(604_800))));
        assert_eq!(parse_since("0"), Ok(None));
        assert!(parse_since("1w").is_err());
        assert!(parse_since("h").is_err());
        assert!(parse_since("").is_err());
        assert!(parse_since("5é").is_err(), "no panic on a multi-byte unit");
        assert_eq!(parse_since("0s"), Ok(None));
    }
}
