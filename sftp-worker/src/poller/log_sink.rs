//! The log path of a poll: server-log records into connection, game-event and
//! player-count notifications, then the log's cursor.

use mongodb::bson::{DateTime, Document, doc};
use tower_ingest::cursor::{FileCursor, LogRestart};
use tower_ingest::reader::LogSink;
use tower_ingest::server_log::{LogEvent, LogRecord, PlayerCounts};
use tower_store::cursor_store::{CursorStore, JoiningPlayer, LogState};
use tower_store::outbox::{Notice, Outbox};
use tower_store::renames::Rename;

use std::collections::HashMap;

/// The most players remembered at once (from join request to leaving; a server holds
/// far fewer).
const MAX_JOINING: usize = 500;

/// Server-log lines → connection, event and player-count notifications, then the cursor.
pub(super) struct ServerLogSink<'a> {
    pub(super) guild: u64,
    pub(super) server_id: &'a str,
    /// No cursor yet: what the log holds now is history.
    pub(super) first_read: bool,
    /// Where the log's history ends ([`LogState::quiet_until`]).
    pub(super) quiet_until: Option<u64>,
    pub(super) counts: PlayerCounts,
    /// [`LogState::joining`]: from a join request until the player leaves.
    pub(super) joining: std::collections::BTreeMap<String, JoiningPlayer>,
    pub(super) cursors: &'a CursorStore,
    pub(super) outbox: &'a Outbox,
    /// Joins under another name than the statistics know are kept here.
    pub(super) renames: &'a tower_store::renames::Renames,
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
                // A restart ends every session: nobody is joining or on the server.
                self.joining.clear();
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
            // Who is joining, kept across history too: a join request read as history
            // may be followed by a live join.
            let player = match &record.event {
                LogEvent::Queued {
                    eos_id,
                    name,
                    platform,
                } => {
                    // Bounded like the queue: a player never seen joining or leaving does
                    // not stay for ever.
                    if self.joining.len() >= MAX_JOINING
                        && let Some(oldest) = self
                            .joining
                            .iter()
                            .min_by_key(|(_, p)| p.requested_at_ms)
                            .map(|(id, _)| id.clone())
                    {
                        self.joining.remove(&oldest);
                    }
                    self.joining.insert(
                        eos_id.clone(),
                        JoiningPlayer {
                            name: name.clone(),
                            platform: platform.clone().unwrap_or_default(),
                            requested_at_ms: at_ms,
                        },
                    );
                    None
                }
                // Kept while the player is on the server, for the post when they leave.
                LogEvent::Joined { eos_id } => {
                    let known = self.joining.get(eos_id).cloned().unwrap_or_default();
                    Some(doc! { "id": eos_id, "name": known.name, "platform": known.platform })
                }
                LogEvent::Left { eos_id } => {
                    let known = self.joining.remove(eos_id).unwrap_or_default();
                    Some(doc! { "id": eos_id, "name": known.name, "platform": known.platform })
                }
                _ => None,
            };
            if self.quiet_until.is_some_and(|end| *offset < end) {
                continue;
            }
            match (&record.event, player) {
                (LogEvent::Joined { .. }, Some(player)) => notices.push(notice(
                    "connection",
                    doc! { "player": player, "connection": "joined" },
                )),
                (LogEvent::Left { .. }, Some(player)) => notices.push(notice(
                    "connection",
                    doc! { "player": player, "connection": "left" },
                )),
                (LogEvent::Queued { .. }, _) => {}
                (e, _) if e.is_announced() => notices.push(notice("event", event_doc(e))),
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
        let (last_joined, renamed) = self.mark_renames(&mut notices).await?;
        self.outbox.add(notices).await?;
        self.renames
            .remember((g, s), &last_joined, &renamed)
            .await?;
        let (online, queued) = self.counts.ids();
        if self.quiet_until.is_some_and(|end| cursor.offset >= end) {
            self.quiet_until = None;
        }
        let state = LogState {
            cursor: Some(cursor.clone()),
            online,
            queued,
            joining: self.joining.clone(),
            quiet_until: self.quiet_until,
        };
        self.cursors
            .save_slot(g, s, "log", &state, Some(self.fence))
            .await?;
        self.saved = Some(state);
        Ok(())
    }
}

impl ServerLogSink<'_> {
    /// A join under another name than the player was last known by on the server says
    /// which ("was"): one or two queries for the poll's joins, none without any. Returns
    /// what to remember once the notices are stored: each player's last join name, and
    /// the renames found.
    async fn mark_renames(
        &self,
        notices: &mut [Notice],
    ) -> Result<(HashMap<String, String>, Vec<(String, Rename)>), mongodb::error::Error> {
        let joined = |n: &Notice| {
            (n.kind == "connection" && n.data.get_str("connection").ok() == Some("joined"))
                .then(|| n.data.get_document("player").ok())
                .flatten()
                .and_then(|p| Some((p.get_str("id").ok()?, p.get_str("name").ok()?.trim())))
                .filter(|(_, name)| !name.is_empty())
                .map(|(id, name)| (id.to_owned(), name.to_owned()))
        };
        let mut ids: Vec<String> = notices
            .iter()
            .filter_map(joined)
            .map(|(id, _)| id)
            .collect();
        ids.sort();
        ids.dedup();
        let mut known = self
            .renames
            .known_names(self.guild, self.server_id, &ids)
            .await?;
        let mut last_joined = HashMap::new();
        let mut found = Vec::new();
        // In log order: a player who joins twice in one poll is compared with the first.
        for n in notices.iter_mut() {
            let Some((id, name)) = joined(n) else {
                continue;
            };
            if let Some(was) = known.get(&id).filter(|was| **was != name) {
                n.data.insert("was", was.as_str());
                found.push((
                    n.key.clone(),
                    Rename {
                        player_id: id.clone(),
                        from: was.clone(),
                        to: name.clone(),
                        at_ms: n.at_ms,
                    },
                ));
            }
            known.insert(id.clone(), name.clone());
            last_joined.insert(id, name);
        }
        Ok((last_joined, found))
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
