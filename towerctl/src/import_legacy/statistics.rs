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

use super::{LegacyServer, Report, ServerIds, shown_id};

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

/// What one server's statistics start from.
pub(super) struct Counted {
    /// `"imported"` or `"backfill"`.
    pub statistics: &'static str,
    /// When records were imported: how many lines, how many counted now, before which
    /// file.
    pub details: Option<Value>,
    /// The lines imported (counted now or by a run before).
    pub lines: u64,
}

impl Counted {
    pub(super) fn backfill() -> Self {
        Self {
            statistics: "backfill",
            details: None,
            lines: 0,
        }
    }
}

impl StatisticsImport<'_> {
    /// Imports the records of one server not yet here, older than its oldest CSV file.
    pub(super) async fn server(
        &self,
        guild: u64,
        server: &ServerId,
        s: &LegacyServer,
        server_ids: &ServerIds,
        report: &mut Report,
    ) -> Result<Counted, String> {
        let id = format!("{guild}/{}", server.as_str());
        let failed = |e: mongodb::error::Error| format!("MongoDB: {e}");
        let read = |e: mongodb::error::Error| format!("the earlier bot's database: {e}");
        // The earlier bot's kill records name no guild: an id that names servers of other
        // guilds too (a game id two guilds share) cannot say whose a record is.
        let (ids, shared): (Vec<&String>, Vec<&String>) = s.legacy_ids.iter().partition(|l| {
            server_ids
                .anywhere(l)
                .iter()
                .all(|(g, ours)| *g == guild && ours == server.as_str())
        });
        let records = self.legacy.collection::<Document>("kills");
        for l in shared {
            if records
                .count_documents(doc! { "server_id": { "$in": id_values([l]) } })
                .await
                .map_err(read)?
                > 0
            {
                report.skip(
                    "kills",
                    format!("{id}/{l}"),
                    format!(
                        "the records under server id {l} are not imported: it names servers \
                         of several guilds"
                    ),
                );
            }
        }
        let filter = doc! { "server_id": { "$in": id_values(ids) } };
        let total = records
            .count_documents(filter.clone())
            .await
            .map_err(read)?;
        if total == 0 {
            return Ok(Counted::backfill());
        }
        let mut slots = self
            .cursors
            .load_killfeed_slots(guild, server.as_str())
            .await
            .map_err(failed)?;
        // Records a run cut short left in a pending batch: finished first, whatever is
        // decided now (they are counted already in part).
        let mut leftover = 0;
        if slots.recorded_pending() && !self.dry_run {
            let mut sink = self.sink(guild, server, slots)?;
            sink.finish_recorded().await.map_err(failed)?;
            leftover = sink.totals.counted;
            slots = self
                .cursors
                .load_killfeed_slots(guild, server.as_str())
                .await
                .map_err(failed)?;
        }
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
            return Ok(Counted::backfill());
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
                         bot's {total} records{}",
                        match leftover {
                            0 => String::new(),
                            n => format!(
                                " but the {n} a run cut short had started counting (finished)"
                            ),
                        }
                    ),
                );
                return Ok(Counted::backfill());
            }
        };
        // Records from the oldest file on are in files still there: only those before it
        // are kept (streamed, so a big collection is never held whole).
        let cutoff = oldest.as_ref().map(|(_, start)| *start);
        let mut lines: Vec<(i64, String)> = Vec::new();
        let mut cursor = records
            .find(filter)
            .projection(doc! {
                "killer_id": 1, "killer_name": 1, "victim_id": 1, "victim_name": 1,
                "weapon": 1, "distance": 1, "timestamp": 1, "is_suicide": 1, "event_type": 1,
            })
            .await
            .map_err(read)?;
        while let Some(d) = cursor.try_next().await.map_err(read)? {
            match line_of(&d) {
                Ok((at, _)) if cutoff.is_some_and(|c| at >= c) => {}
                Ok(line) => lines.push(line),
                Err(why) => {
                    report.unreadable_kills += 1;
                    report.skip("kills", shown_id(&d), why);
                }
            }
        }
        let csv_from = oldest.map(|(name, _)| name);
        if lines.is_empty() {
            return Ok(Counted::backfill());
        }
        // In time order, as the game wrote them (the sort is stable: records of one
        // second keep the earlier bot's order).
        lines.sort_by_key(|(at, _)| *at);
        let found = lines.len() as u64;
        let counted = match self.dry_run {
            true => None,
            false => Some(self.count(guild, server, lines).await? + leftover),
        };
        Ok(Counted {
            statistics: "imported",
            details: Some(json!({ "lines": found, "newly_counted": counted, "before": csv_from })),
            lines: found,
        })
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
        let mut sink = self.sink(guild, server, slots)?;
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

impl<'a> StatisticsImport<'a> {
    /// The sink the records are counted through: the server's first killfeed slot. No
    /// worker holds a server that is not added yet; a worker that leased it before (added
    /// by hand, removed before its first read) left its token, which the writes carry; a
    /// worker that takes the server later fences them out.
    fn sink<'s>(
        &self,
        guild: u64,
        server: &'s ServerId,
        slots: tower_store::cursor_store::KillfeedSlots,
    ) -> Result<StoreSink<'s>, String>
    where
        'a: 's,
    {
        let fence = slots.lease_token.unwrap_or(0);
        StoreSink::for_recording(
            guild,
            server.as_str(),
            fence,
            slots,
            self.stats,
            self.cursors,
        )
        .map_err(|e| e.to_string())
    }
}

/// A server id as the earlier bot may have written it: text, or a number.
fn id_values<'s>(ids: impl IntoIterator<Item = &'s String>) -> Vec<Bson> {
    let mut values = Vec::new();
    for id in ids {
        values.push(Bson::String(id.clone()));
        if let Ok(n) = id.parse::<i64>() {
            values.push(Bson::Int64(n));
            if let Ok(small) = i32::try_from(n) {
                values.push(Bson::Int32(small));
            }
        }
    }
    values
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
    if let Some(dir) = layout.unlisted_killfeed_dirs.first() {
        return Err(format!("the killfeed folder {dir} could not be listed"));
    }
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
