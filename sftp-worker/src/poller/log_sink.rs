//! The log path of a poll: server-log records into connection, game-event and
//! player-count notifications, then the log's cursor.

use mongodb::bson::{DateTime, Document, doc};
use tower_ingest::cursor::{FileCursor, LogRestart};
use tower_ingest::reader::LogSink;
use tower_ingest::server_log::{LogEvent, LogRecord, PlayerCounts};
use tower_store::cursor_store::{CursorStore, LogState};
use tower_store::outbox::{Notice, Outbox};

/// Server-log lines → connection, event and player-count notifications, then the cursor.
pub(super) struct ServerLogSink<'a> {
    pub(super) guild: u64,
    pub(super) server_id: &'a str,
    /// No cursor yet: what the log holds now is history.
    pub(super) first_read: bool,
    /// Where the log's history ends ([`LogState::quiet_until`]).
    pub(super) quiet_until: Option<u64>,
    pub(super) counts: PlayerCounts,
    pub(super) cursors: &'a CursorStore,
    pub(super) outbox: &'a Outbox,
    pub(super) fence: i64,
    /// The state last written, if this poll wrote one.
    pub(super) saved: Option<LogState>,
}

impl LogSink for ServerLogSink<'_> {
    type Error = mongodb::error::Error;

    async fn apply(
        &mut self,
        restart: Option<LogRestart>,
        records: &[(u64, LogRecord<'_>)],
        cursor: &FileCursor,
    ) -> Result<(), Self::Error> {
        let (g, s) = (self.guild, self.server_id);
        // Keyed by the log's first line, not its head hash, which changes while a log
        // under HEAD_LEN bytes grows: a retried read gives the same keys.
        let log_id = format!("{g}:{s}:{}", cursor.log_id);
        let mut notices = Vec::new();
        let before = (self.counts.online(), self.counts.queued());
        match restart {
            Some(LogRestart::Truncated | LogRestart::Replaced) => {
                self.counts.apply(&LogEvent::Restart);
                // A new log after a restart is live from its first line.
                self.quiet_until = None;
            }
            // The first read: what is there is history, announced by nobody.
            Some(LogRestart::New) if self.first_read => self.quiet_until = Some(cursor.size),
            _ => {}
        }
        for (offset, record) in records {
            self.counts.apply(&record.event);
            let at_ms = record
                .at_ms
                .unwrap_or_else(|| DateTime::now().timestamp_millis());
            let notice = |kind: &'static str, data: Document| Notice {
                key: format!("l:{log_id}:{offset}"),
                guild_id: g,
                server_id: s.to_owned(),
                kind,
                at_ms,
                data,
            };
            if self.quiet_until.is_some_and(|end| *offset < end) {
                continue;
            }
            match &record.event {
                LogEvent::Joined { eos_id } => notices.push(notice(
                    "connection",
                    doc! { "player": { "id": eos_id }, "connection": "joined" },
                )),
                LogEvent::Left { eos_id } => notices.push(notice(
                    "connection",
                    doc! { "player": { "id": eos_id }, "connection": "left" },
                )),
                LogEvent::Queued { .. } => {}
                e if e.is_announced() => notices.push(notice("event", event_doc(e))),
                _ => {}
            }
        }
        let after = (self.counts.online(), self.counts.queued());
        if after != before {
            notices.push(Notice {
                key: format!("p:{log_id}:{}", cursor.offset),
                guild_id: g,
                server_id: s.to_owned(),
                kind: "player_count",
                at_ms: DateTime::now().timestamp_millis(),
                data: doc! { "online": after.0 as i64, "queued": after.1 as i64 },
            });
        }
        self.outbox.add(notices).await?;
        let (online, queued) = self.counts.ids();
        if self.quiet_until.is_some_and(|end| cursor.offset >= end) {
            self.quiet_until = None;
        }
        let state = LogState {
            cursor: Some(cursor.clone()),
            online,
            queued,
            quiet_until: self.quiet_until,
        };
        self.cursors
            .save_slot(g, s, "log", &state, Some(self.fence))
            .await?;
        self.saved = Some(state);
        Ok(())
    }
}

fn event_doc(e: &LogEvent<'_>) -> Document {
    match e {
        LogEvent::Mission { name, state, level } => {
            doc! { "event": "mission", "name": *name, "state": *state, "level": i32::from(*level) }
        }
        LogEvent::Airdrop { state } => {
            doc! { "event": "airdrop", "name": "AirDrop", "state": *state }
        }
        LogEvent::WorldEvent { kind, name, state } => {
            doc! { "event": format!("{kind:?}").to_ascii_lowercase(), "name": *name, "state": *state }
        }
        LogEvent::Restart => doc! { "event": "server_restart" },
        _ => doc! {},
    }
}
