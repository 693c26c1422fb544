//! Where the earlier bot stopped reading each server's killfeed: `csv_processor_state`
//! (`{server_id, line_positions: {"<file name>": records}}`) and the older single
//! `bot_config` document (`{key: "csv_processor_state", last_processed_line_positions:
//! {server_id: {"<file name>": records}}}`) it migrated from.
//!
//! A server continues after the newest file it has a count for (files are named by their
//! time; the earlier bot read only the newest): the worker's first read turns the count
//! into a byte position ([`tower_ingest::earlier_position`]). The `last_csv_line` of the
//! server documents is not used: one version never updated it, and the other counted
//! lines of whichever file was newest, with no file named.

use std::collections::{BTreeMap, BTreeSet};

use mongodb::bson::{Bson, Document};
use tower_ingest::earlier_position::EarlierPosition;

use super::{Report, id_text, number, shown_id};

/// Record counts per legacy server id, per file name.
#[derive(Debug, Default)]
pub(super) struct ReadPositions {
    by_server: BTreeMap<String, BTreeMap<String, u64>>,
    /// Legacy ids some imported server answered to.
    claimed: BTreeSet<String>,
}

impl ReadPositions {
    /// Reads both shapes; what cannot be read is reported and skipped.
    pub(super) fn read(
        states: &[Document],
        config: &[Document],
        report: &mut Report,
    ) -> ReadPositions {
        let mut positions = ReadPositions::default();
        for d in states {
            let Some(server) = d.get("server_id").and_then(id_text) else {
                report.skip("csv_processor_state", shown_id(d), "no readable server_id");
                continue;
            };
            match d.get("line_positions") {
                Some(Bson::Document(files)) => {
                    positions.add(&server, files, "csv_processor_state", report)
                }
                // Only `last_processed` survives in some documents (a date, not a
                // position).
                None | Some(Bson::Null) => report.skip(
                    "csv_processor_state",
                    server,
                    "no line_positions (last_processed is a date, not a read position): \
                     posting starts with new lines",
                ),
                Some(_) => report.skip(
                    "csv_processor_state",
                    server,
                    "line_positions is not a document",
                ),
            }
        }
        for d in config {
            if d.get_str("key").ok() != Some("csv_processor_state") {
                continue;
            }
            let Ok(all) = d.get_document("last_processed_line_positions") else {
                continue;
            };
            for (server, files) in all {
                match files {
                    Bson::Document(files) => positions.add(server, files, "bot_config", report),
                    _ => report.skip("bot_config", server.clone(), "not a document of counts"),
                }
            }
        }
        positions
    }

    fn add(&mut self, server: &str, files: &Document, collection: &str, report: &mut Report) {
        for (file, count) in files {
            let counted = number(count).and_then(|n| u64::try_from(n).ok());
            match counted {
                Some(n) if file.to_ascii_lowercase().ends_with(".csv") => {
                    let known = self
                        .by_server
                        .entry(server.to_owned())
                        .or_default()
                        .entry(file.clone())
                        .or_default();
                    // Positions only grew: the larger of two copies is the later.
                    *known = (*known).max(n);
                }
                _ => report.skip(
                    collection,
                    format!("{server}/{file}"),
                    format!("not a file's line count ({count})"),
                ),
            }
        }
    }

    /// Where a server known by `legacy_ids` stopped: its newest file with a count.
    pub(super) fn of(&mut self, legacy_ids: &BTreeSet<String>) -> Option<EarlierPosition> {
        self.claimed.extend(legacy_ids.iter().cloned());
        legacy_ids
            .iter()
            .filter_map(|id| self.by_server.get(id))
            .flat_map(|files| files.iter())
            .max()
            .map(|(file, records)| EarlierPosition {
                file: file.clone(),
                records: *records,
                recorded_unix: mongodb::bson::DateTime::now().timestamp_millis() / 1000,
            })
    }

    /// Positions of servers no imported server answered to, reported once all servers
    /// were asked.
    pub(super) fn report_unclaimed(&self, report: &mut Report) {
        for server in self.by_server.keys() {
            if !self.claimed.contains(server) {
                report.skip(
                    "csv_processor_state",
                    server.clone(),
                    "no imported server has this id",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::doc;

    #[test]
    fn a_server_continues_after_its_newest_file_in_either_shape() {
        let mut report = Report::default();
        let states = [
            doc! { "server_id": "uuid-a", "line_positions": {
            "2025.05.10-00.00.00.csv": 1112, "2025.05.11-00.00.00.csv": 258_i64 } },
            doc! { "server_id": "uuid-b", "last_processed": "2025-05-11" },
            doc! { "server_id": "uuid-c", "line_positions": { "2025.05.11-00.00.00.csv": "x" } },
        ];
        let config = [
            doc! { "key": "csv_processor_state", "last_processed_line_positions": {
            "uuid-a": { "2025.05.11-00.00.00.csv": 250 },
            "uuid-d": { "2025.05.09-11.58.37.csv": 97 } } },
        ];
        let mut positions = ReadPositions::read(&states, &config, &mut report);
        let ids = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        let found = positions.of(&ids(&["7020", "uuid-a"]));
        assert_eq!(
            found.map(|p| (p.file, p.records)),
            Some(("2025.05.11-00.00.00.csv".to_owned(), 258))
        );
        assert_eq!(positions.of(&ids(&["uuid-b"])), None);
        positions.report_unclaimed(&mut report);
        let reasons: Vec<String> = report
            .skipped
            .iter()
            .map(|s| format!("{} {}", s["id"], s["reason"]))
            .collect();
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("uuid-b") && r.contains("no line_positions"))
        );
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("uuid-c") && r.contains("line count"))
        );
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("uuid-d") && r.contains("no imported server"))
        );
    }
}
