//! Statistics: the earlier bot's kill records (`kills`) counted as a server's starting
//! point only where the CSV files they were read from are gone.
//!
//! A CSV file still on the game server is recounted exactly by the server's first read
//! here (better than the earlier bot counted it: it summed players across servers and
//! skipped files of more than 100 events). So only the records older than the oldest CSV
//! file still there are imported. To know which file that is, the server's killfeed
//! folders are listed once over SFTP, with the credentials being imported (the worker's
//! own connection and folder search).
//!
//! Those records become the killfeed lines the game wrote for them, less the platforms
//! (the earlier bot did not keep them), and are counted before the server is added,
//! through the same exactly-once batches as every line: a run cut short and run again
//! counts none twice, and no worker reads the server before they are counted. They are
//! counted in time order, ahead of everything its first read counts.
//!
//! A server whose folders cannot be listed keeps to the CSV files (`"backfill"`, with the
//! reason under `skipped`): its records might repeat what those files hold.

use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use serde_json::{Value, json};
use sftp_worker::connection::{SftpConnection, Target, Timeouts};
use sftp_worker::discovery::discover;
use tower_daemon::config::SftpConfig;
use tower_store::cursor_store::{CursorStore, RecordedKill, StoreSink};
use tower_store::game_servers::Credential;
use tower_store::ids::ServerId;
use tower_store::stats_store::StatsStore;

use super::{LegacyServer, Report, shown_id};

/// Lines counted per batch (each batch's lines are kept in its pending record, which
/// must stay well under MongoDB's 16 MiB document limit).
const LINES_PER_BATCH: usize = 500;

/// Where the import counts and how it lists game servers.
pub(super) struct StatisticsImport<'a> {
    pub legacy: &'a mongodb::Database,
    pub stats: &'a StatsStore,
    pub cursors: &'a CursorStore,
    pub sftp: &'a SftpConfig,
    pub dry_run: bool,
}

/// A record of the earlier bot as a line, or why it is not one.
type Converted = Result<(i64, String), String>;

impl StatisticsImport<'_> {
    /// Imports the records of one server not yet here, older than its oldest CSV file;
    /// returns where its statistics come from (`"imported"` or `"backfill"`) and, when
    /// records were imported, how many and before which file.
    pub(super) async fn server(
        &self,
        guild: u64,
        server: &ServerId,
        s: &LegacyServer,
        report: &mut Report,
    ) -> Result<(&'static str, Option<Value>), String> {
        let id = format!("{guild}/{}", server.as_str());
        let records = self.records(s).await?;
        if records.is_empty() {
            return Ok(("backfill", None));
        }
        let slots = self
            .cursors
            .load_killfeed_slots(guild, server.as_str())
            .await
            .map_err(|e| format!("MongoDB: {e}"))?;
        if slots
            .states
            .values()
            .any(|state| state.folder.is_some() || state.cursor.is_some() || state.listed)
        {
            report.skip(
                "kills",
                id,
                "this bot has read the server before: its own statistics are kept",
            );
            report.recounted += records.len() as u64;
            return Ok(("backfill", None));
        }
        let oldest = match oldest_csv(s, server, self.sftp).await {
            Ok(oldest) => oldest,
            Err(why) => {
                report.skip(
                    "kills",
                    id,
                    format!(
                        "the killfeed folders could not be listed ({why}): the statistics are \
                         counted from the CSV files the worker finds, none of the earlier \
                         bot's {} records",
                        records.len()
                    ),
                );
                report.recounted += records.len() as u64;
                return Ok(("backfill", None));
            }
        };
        // Records from the oldest file on are in files still there.
        let cutoff = oldest.as_ref().map(|(_, start)| *start);
        let mut lines: Vec<(i64, String)> = Vec::new();
        for (d, converted) in records {
            match converted {
                Ok((at, _)) if cutoff.is_some_and(|c| at >= c) => report.recounted += 1,
                Ok(line) => lines.push(line),
                Err(why) => report.skip("kills", shown_id(&d), why),
            }
        }
        let csv_from = oldest.map(|(name, _)| name);
        if lines.is_empty() {
            return Ok(("backfill", None));
        }
        // In time order, as the game wrote them (the sort is stable: records of one
        // second keep the earlier bot's order).
        lines.sort_by_key(|(at, _)| *at);
        let found = lines.len() as u64;
        let counted = match self.dry_run {
            true => found,
            false => self.count(guild, server, lines).await?,
        };
        *report.imported.entry("kills").or_default() += counted;
        Ok((
            "imported",
            Some(json!({ "lines": found, "newly_counted": counted, "before": csv_from })),
        ))
    }

    /// The server's records in the earlier bot's `kills`, each with its line (or why it
    /// has none). Its kill documents name the server by any of its ids, as text or number.
    async fn records(&self, s: &LegacyServer) -> Result<Vec<(Document, Converted)>, String> {
        let mut ids: Vec<Bson> = Vec::new();
        for id in &s.legacy_ids {
            ids.push(Bson::String(id.clone()));
            if let Ok(n) = id.parse::<i64>() {
                ids.push(Bson::Int64(n));
                if let Ok(small) = i32::try_from(n) {
                    ids.push(Bson::Int32(small));
                }
            }
        }
        let read = |e: mongodb::error::Error| format!("the earlier bot's database: {e}");
        let docs: Vec<Document> = self
            .legacy
            .collection::<Document>("kills")
            .find(doc! { "server_id": { "$in": ids } })
            .await
            .map_err(read)?
            .try_collect()
            .await
            .map_err(read)?;
        Ok(docs
            .into_iter()
            .map(|d| {
                let line = line_of(&d);
                (d, line)
            })
            .collect())
    }

    /// Counts the lines, in batches, on the server's first killfeed slot.
    async fn count(
        &self,
        guild: u64,
        server: &ServerId,
        lines: Vec<(i64, String)>,
    ) -> Result<u64, String> {
        let failed = |e: mongodb::error::Error| format!("MongoDB: {e}");
        let slots = self
            .cursors
            .load_killfeed_slots(guild, server.as_str())
            .await
            .map_err(failed)?;
        // Lease token 0: no worker holds a server that is not added yet, and any that
        // takes it later fences this out.
        let mut sink =
            StoreSink::for_recording(guild, server.as_str(), 0, slots, self.stats, self.cursors)
                .map_err(|e| e.to_string())?;
        let mut counted = 0;
        let mut lines = lines.into_iter().map(|(_, line)| line).peekable();
        while lines.peek().is_some() {
            let batch: Vec<RecordedKill> = lines
                .by_ref()
                .take(LINES_PER_BATCH)
                .map(RecordedKill::imported)
                .collect();
            counted += sink.record_kills(batch).await.map_err(failed)?;
        }
        Ok(counted)
    }
}

/// The killfeed line of one of the earlier bot's kill records (its versions wrote the
/// time as a date or as text, the distance as an integer, a float or text).
fn line_of(d: &Document) -> Converted {
    // Names and weapons as the game wrote them (they are part of the line's identity);
    // ids trimmed.
    let text = |name: &str| match d.get(name) {
        Some(Bson::String(s)) => Some(s.as_str()),
        _ => None,
    };
    let at = match d.get("timestamp") {
        Some(Bson::DateTime(t)) => Some(t.timestamp_millis().div_euclid(1000)),
        Some(Bson::String(s)) => earlier_time(s),
        _ => None,
    }
    .ok_or("no readable timestamp")?;
    let victim_id = text("victim_id")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or("no victim_id")?;
    let victim = text("victim_name").unwrap_or_default();
    let suicide = matches!(d.get("is_suicide"), Some(Bson::Boolean(true)))
        || text("event_type") == Some("suicide");
    // A suicide is the victim's own: one version wrote another killer id on some.
    let (killer, killer_id) = match suicide {
        true => (victim, victim_id),
        false => (
            text("killer_name").unwrap_or_default(),
            text("killer_id")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .ok_or("no killer_id")?,
        ),
    };
    let weapon = text("weapon").unwrap_or_default();
    let distance = match d.get("distance") {
        None | Some(Bson::Null) => Some(0),
        Some(Bson::Int32(n)) => u32::try_from(*n).ok(),
        Some(Bson::Int64(n)) => u32::try_from(*n).ok(),
        Some(Bson::Double(f)) if f.is_finite() && *f >= 0.0 && *f < f64::from(u32::MAX) => {
            Some(f.round() as u32)
        }
        Some(Bson::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && *f >= 0.0 && *f < f64::from(u32::MAX))
            .map(|f| f.round() as u32),
        _ => None,
    }
    .ok_or("the distance is not a number of metres")?;
    let line = tower_ingest::killfeed::earlier_bot_line(
        at,
        (killer, killer_id),
        (victim, victim_id),
        weapon,
        distance,
    )
    .map_err(|e| format!("not a killfeed line: {e}"))?;
    Ok((at, line))
}

/// A time the earlier bot wrote as text: the killfeed's `2025.05.03-01.00.00`, or
/// Python's `2025-05-03 01:00:00[.ffffff]` (also with a `T`).
fn earlier_time(text: &str) -> Option<i64> {
    let head = text.trim().get(..19)?;
    let killfeed: String = head
        .chars()
        .enumerate()
        .map(|(i, c)| match (i, c) {
            (4 | 7, '-') => '.',
            (10, ' ' | 'T') => '-',
            (13 | 16, ':') => '.',
            _ => c,
        })
        .collect();
    tower_ingest::timestamp::parse_seconds(killfeed.as_bytes())
}

/// The oldest CSV file across the server's killfeed folders, with its start time (game
/// server time, from its name); none when the folders hold no CSV file.
async fn oldest_csv(
    s: &LegacyServer,
    server: &ServerId,
    sftp: &SftpConfig,
) -> Result<Option<(String, i64)>, String> {
    let (Some(host), Some(username), Some(password)) = (&s.host, &s.username, &s.password) else {
        return Err("no SFTP host, user name or password".to_owned());
    };
    let credential = Credential::Password(password.clone());
    let target = Target {
        host,
        port: s.port.unwrap_or(22),
        username,
        credential: &credential,
        pinned_host_key: None,
    };
    let mut steps = Vec::new();
    let conn = SftpConnection::open(
        &target,
        &sftp.addresses,
        Timeouts::from_config(sftp),
        &mut steps,
    )
    .await
    .map_err(|e| e.to_string())?;
    let layout = discover(&conn.source(), server.as_str()).await;
    conn.close().await;
    let layout = layout.map_err(|e| e.to_string())?;
    if layout.folders.is_empty() {
        return Err("no killfeed folder (deathlogs/world_*) was found".to_owned());
    }
    let Some(oldest) = layout.folders.iter().filter_map(|f| f.oldest.clone()).min() else {
        return Ok(None);
    };
    let start = tower_ingest::timestamp::parse_seconds(oldest.trim_end_matches(".csv").as_bytes())
        .ok_or_else(|| format!("the oldest CSV file's name {oldest} is not a start time"))?;
    Ok(Some((oldest, start)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KILLER: &str = "0002ca35475e48e28fdf97e052dc130f";
    const VICTIM: &str = "00024afed387453195c040bb85708405";

    #[test]
    fn every_shape_of_a_record_is_the_line_the_game_wrote() {
        let at = tower_ingest::timestamp::parse_seconds(b"2025.03.27-10.42.35");
        let written = "2025.03.27-10.42.35;VxKorbz01;0002ca35475e48e28fdf97e052dc130f;\
                       HATERSWATCH;00024afed387453195c040bb85708405;IZH-43;13;";
        let record = |timestamp: Bson, distance: Bson| {
            doc! {
                "killer_id": KILLER, "killer_name": "VxKorbz01",
                "victim_id": VICTIM, "victim_name": "HATERSWATCH",
                "weapon": "IZH-43", "distance": distance, "timestamp": timestamp,
                "is_suicide": false, "event_type": "kill",
            }
        };
        let date = Bson::DateTime(mongodb::bson::DateTime::from_millis(
            at.unwrap_or_default() * 1000,
        ));
        for (timestamp, distance) in [
            (date.clone(), Bson::Int32(13)),
            (date.clone(), Bson::Double(12.6)),
            (
                Bson::String("2025-03-27 10:42:35.120000".into()),
                Bson::String("13".into()),
            ),
            (Bson::String("2025.03.27-10.42.35".into()), Bson::Int64(13)),
        ] {
            let line = line_of(&record(timestamp, distance));
            assert_eq!(line, Ok((at.unwrap_or_default(), written.to_owned())));
        }
    }

    #[test]
    fn a_suicide_is_the_victims_own_and_a_broken_record_says_why() {
        let suicide = doc! {
            "killer_id": KILLER, "killer_name": "Someone else",
            "victim_id": VICTIM, "victim_name": "HATERSWATCH",
            "weapon": "suicide_by_relocation", "distance": 0,
            "timestamp": "2025-05-01 00:05:19", "is_suicide": true,
        };
        assert_eq!(
            line_of(&suicide).map(|(_, line)| line),
            Ok(format!(
                "2025.05.01-00.05.19;HATERSWATCH;{VICTIM};HATERSWATCH;{VICTIM};suicide_by_relocation;0;"
            ))
        );
        let no_time = doc! { "killer_id": KILLER, "victim_id": VICTIM, "timestamp": "yesterday" };
        assert_eq!(line_of(&no_time), Err("no readable timestamp".to_owned()));
        let no_killer = doc! { "victim_id": VICTIM, "timestamp": "2025-05-01 00:05:19" };
        assert_eq!(line_of(&no_killer), Err("no killer_id".to_owned()));
        let bad_id = doc! {
            "killer_id": "not-an-eos-id", "victim_id": VICTIM, "weapon": "AK",
            "timestamp": "2025-05-01 00:05:19",
        };
        assert!(
            line_of(&bad_id).is_err_and(|why| why.starts_with("not a killfeed line")),
            "{:?}",
            line_of(&bad_id)
        );
        let far = doc! {
            "killer_id": KILLER, "victim_id": VICTIM, "weapon": "AK", "distance": -4,
            "timestamp": "2025-05-01 00:05:19",
        };
        assert_eq!(
            line_of(&far),
            Err("the distance is not a number of metres".to_owned())
        );
    }
}
