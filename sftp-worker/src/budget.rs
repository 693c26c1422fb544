//! A guild's ingest budget: what its servers may read per clock hour, killfeed and log
//! together, by its tier (`ingest_mib_per_hour`, `ingest_lines_per_hour`).
//!
//! What each poll read is added to the guild's counter for the hour (`ingest_budget`,
//! shared by every worker; only polls that read something touch it). Once the counter
//! passes either limit, the worker that saw it pauses the guild's servers until the hour
//! ends: polls are held, nothing is lost (the cursors stay where they are), and the
//! servers' status says why and until when. Another worker learns it at its next poll of
//! the guild that reads something, so the overshoot is at most one batch per worker.

use std::collections::HashMap;
use std::sync::Mutex;

use mongodb::bson::{DateTime, Document, doc};
use mongodb::options::{FindOneAndUpdateOptions, ReturnDocument};
use tower_store::db::collections;
use tower_store::schema::SCHEMA_VERSION;
use tower_store::tier::TierLimits;

const HOUR_MS: i64 = 3_600_000;

/// A guild paused for the rest of the hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    /// When reading resumes (the next hour), ms since the epoch.
    pub until_ms: i64,
    pub bytes: u64,
    pub lines: u64,
    pub max_bytes: u64,
    pub max_lines: u64,
}

impl Pause {
    /// What the server's status shows.
    pub fn message(&self) -> String {
        let mib = |b: u64| b / (1024 * 1024);
        let until = DateTime::from_millis(self.until_ms)
            .try_to_rfc3339_string()
            .unwrap_or_default();
        format!(
            "this guild's ingest budget for the hour is used up ({} of {} MiB, {} of {} lines \
             read); reading resumes at {} UTC, losing nothing — a higher premium tier reads more",
            mib(self.bytes),
            mib(self.max_bytes),
            self.lines,
            self.max_lines,
            until.get(11..16).unwrap_or(&until),
        )
    }
}

pub struct IngestBudget {
    counters: mongodb::Collection<Document>,
    paused: Mutex<HashMap<u64, Pause>>,
}

impl IngestBudget {
    pub fn new(db: &mongodb::Database) -> Self {
        Self {
            counters: db.collection(collections::INGEST_BUDGET),
            paused: Mutex::new(HashMap::new()),
        }
    }

    /// The guild's pause, while it lasts.
    pub fn paused(&self, guild: u64) -> Option<Pause> {
        let now = DateTime::now().timestamp_millis();
        let mut paused = self.paused.lock().ok()?;
        match paused.get(&guild) {
            Some(p) if p.until_ms > now => Some(p.clone()),
            Some(_) => {
                paused.remove(&guild);
                None
            }
            None => None,
        }
    }

    /// Adds what a poll read to the guild's hour; the pause, when that used the budget up.
    pub async fn spend(
        &self,
        guild: u64,
        bytes: u64,
        lines: u64,
        limits: &TierLimits,
    ) -> Result<Option<Pause>, mongodb::error::Error> {
        if bytes == 0 && lines == 0 {
            return Ok(None);
        }
        let now = DateTime::now().timestamp_millis();
        let hour = now / HOUR_MS;
        let until_ms = (hour + 1) * HOUR_MS;
        let counter = self
            .counters
            .find_one_and_update(
                doc! { "_id": format!("{guild}:{hour}") },
                doc! {
                    "$inc": {
                        "bytes": i64::try_from(bytes).unwrap_or(i64::MAX),
                        "lines": i64::try_from(lines).unwrap_or(i64::MAX),
                    },
                    "$setOnInsert": {
                        "guild_id": guild.to_string(),
                        // Swept once the hour is long over.
                        "expires_at": DateTime::from_millis(until_ms + HOUR_MS),
                        "schema_version": SCHEMA_VERSION,
                    },
                },
            )
            .with_options(
                FindOneAndUpdateOptions::builder()
                    .upsert(true)
                    .return_document(ReturnDocument::After)
                    .build(),
            )
            .await?;
        let used = |field: &str| {
            counter
                .as_ref()
                .and_then(|c| c.get_i64(field).ok())
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0)
        };
        let pause = Pause {
            until_ms,
            bytes: used("bytes"),
            lines: used("lines"),
            max_bytes: u64::from(limits.ingest_mib_per_hour) * 1024 * 1024,
            max_lines: u64::from(limits.ingest_lines_per_hour),
        };
        if pause.bytes < pause.max_bytes && pause.lines < pause.max_lines {
            return Ok(None);
        }
        tracing::warn!(
            guild,
            bytes = pause.bytes,
            lines = pause.lines,
            "ingest budget for the hour used up; the guild's servers pause until the next hour"
        );
        if let Ok(mut paused) = self.paused.lock() {
            paused.insert(guild, pause.clone());
        }
        Ok(Some(pause))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_says_what_was_used_and_when_reading_resumes() {
        let pause = Pause {
            until_ms: 1_767_229_200_000, // 2026-01-01 01:00 UTC
            bytes: 70 * 1024 * 1024,
            lines: 12,
            max_bytes: 64 * 1024 * 1024,
            max_lines: 250_000,
        };
        let text = pause.message();
        assert!(text.contains("70 of 64 MiB"), "{text}");
        assert!(text.contains("12 of 250000 lines"), "{text}");
        assert!(text.contains("resumes at 01:00 UTC"), "{text}");
    }
}
