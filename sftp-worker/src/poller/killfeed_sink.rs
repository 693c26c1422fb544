//! The killfeed path of a poll: every `deathlogs/world_*` folder read from its own cursor
//! (or, for a backfill of N days, from the first file written in them: read again, what
//! was counted is dropped), batches into the statistics and the outbox (the cursor store's
//! `StoreSink`), counted into a backfill's progress when one is followed.

use tower_ingest::cursor::FileCursor;
use tower_ingest::reader::{KillfeedSink, PollOutcome, poll_killfeed};
use tower_ingest::source::FileMeta;
use tower_proto::v1::{BackfillProgress, BackfillState};
use tower_store::cursor_store::{KillfeedSlots, OpenFoldersError, RecoverError, StoreSink};

use crate::discovery::Layout;
use crate::pool::key_id;
use crate::sftp_source::SftpSource;
use crate::status::Counter;

use super::Poller;
use super::poll::{PollFailure, database, failure, lease_lost};

impl Poller {
    /// Reads every killfeed folder of a server (`deathlogs/world_*`), each from its own
    /// cursor, all batches numbered in one sequence: first every interrupted batch is
    /// finished, then each folder reads what is new.
    pub(super) async fn poll_killfeed_folders(
        &self,
        (guild, sid): (u64, &str),
        source: &SftpSource<'_>,
        layout: &Layout,
        (token, kept): (i64, Option<KillfeedSlots>),
        (backfill, tier): (
            Option<&tokio::sync::watch::Sender<BackfillProgress>>,
            tower_store::tier::Tier,
        ),
        outcome: &mut PollOutcome,
    ) -> Result<KillfeedSlots, PollFailure> {
        // A server's killfeed delay holds its posts while the guild's tier has the feature.
        let delays_posts = tower_store::tier::Feature::DelayedKillfeed.is_unlocked_at(tier);
        let loaded = match kept {
            Some(kept) => kept,
            None => self
                .cursors
                .load_killfeed_slots(guild, sid)
                .await
                .map_err(|e| database(&e))?,
        };
        // Kills recorded by hand and cut short are finished first, from their pending
        // record: they need no folder (the first one may no longer be listed).
        let loaded = if loaded.recorded_pending() {
            let mut sink = StoreSink::for_recording(
                guild,
                sid,
                token,
                loaded.clone(),
                &self.stats,
                &self.cursors,
            )
            .map_err(open_failure)?;
            sink.outbox = Some(&self.outbox);
            sink.delays_posts = delays_posts;
            sink.finish_recorded().await.map_err(|e| database(&e))?;
            let mut loaded = loaded;
            loaded.states.insert(sink.slot.clone(), sink.state.clone());
            loaded
        } else {
            loaded
        };
        // What this poll leaves: the slots it read, with the states its sinks end with.
        let mut left = loaded.clone();
        let mut sinks = StoreSink::from_slots(
            guild,
            sid,
            &layout.killfeed_dirs,
            Some(token),
            loaded,
            &self.stats,
            &self.cursors,
        )
        .map_err(open_failure)?;
        // Kills pay their killers' linked users where the guild's tier has the economy.
        let rewards = tower_store::tier::Feature::Economy
            .is_unlocked_at(tier)
            .then_some(&self.rewards);
        // A backfill of N days reads again the files written in them.
        let read_again_since = backfill
            .map(|tx| tx.borrow().days)
            .filter(|&days| days > 0)
            .map(|days| {
                let now = tower_daemon::telemetry::now_unix_ms() / 1000;
                now.saturating_sub(i64::from(days) * 86_400)
            });
        for sink in &mut sinks {
            sink.outbox = Some(&self.outbox);
            sink.rewards = rewards;
            sink.delays_posts = delays_posts;
            sink.fence = Some(token);
            sink.backfill = backfill.is_some();
            sink.read_again_since = read_again_since;
            sink.recover(source).await.map_err(|e| match e {
                RecoverError::Db(e) => database(&e),
                other => failure("poll.killfeed", other.to_string(), true),
            })?;
        }
        let id = key_id(&(guild, sid.to_owned()));
        let mut progress = FoldersProgress::default();
        let mut seen = SeenPlayers::default();
        // Interrupted batches are finished: new ones are numbered after every folder's.
        let mut next_batch = StoreSink::next_batch_of(&sinks);
        let result = async {
            for (dir, sink) in layout.killfeed_dirs.iter().zip(&mut sinks) {
                // Batch numbers go on from the folder read before.
                sink.state.next_batch = sink.state.next_batch.max(next_batch);
                let cursor = sink.state.cursor.clone();
                let mut progress_sink = ProgressSink {
                    inner: &mut *sink,
                    backfill,
                    seen: &mut seen,
                    unread: Vec::new(),
                    unread_bytes: 0,
                    before: progress,
                };
                let polled = poll_killfeed(
                    source,
                    dir,
                    self.batch_bytes,
                    cursor,
                    &mut progress_sink,
                    outcome,
                )
                .await;
                progress = progress_sink.after();
                polled.map_err(|e| match e {
                    // The store failed, not the game server.
                    tower_ingest::reader::PollError::Sink(e) => database(&e),
                    other => failure("poll.killfeed", other.to_string(), true),
                })?;
                sink.settle().await.map_err(|e| database(&e))?;
                next_batch = sink.state.next_batch;
            }
            Ok(())
        }
        .await;
        for sink in &sinks {
            for (counter, n) in [
                (Counter::QuietLines, sink.quiet_lines),
                (Counter::LostBytes, sink.lost_bytes),
            ] {
                if n > 0 {
                    self.status.add(id.clone(), counter, n);
                }
            }
        }
        result?;
        for sink in &sinks {
            left.states.insert(sink.slot.clone(), sink.state.clone());
        }
        left.lease_token = Some(token);
        Ok(left)
    }
}

/// Why a server's killfeed slots could not be opened, as a poll failure.
fn open_failure(e: OpenFoldersError) -> PollFailure {
    match e {
        OpenFoldersError::Fenced => lease_lost(),
        OpenFoldersError::Db(e) => database(&e),
        other => failure("poll.killfeed", other.to_string(), true),
    }
}

/// Passes batches to the store and, when a backfill is followed, counts them into its
/// progress.
struct ProgressSink<'a, 'b> {
    inner: &'a mut StoreSink<'b>,
    backfill: Option<&'a tokio::sync::watch::Sender<BackfillProgress>>,
    /// The players the backfill's lines named, over every folder.
    seen: &'a mut SeenPlayers,
    /// The files of this folder with bytes left to read when the backfill started.
    unread: Vec<FileMeta>,
    /// Their bytes left to read.
    unread_bytes: u64,
    /// What the folders read before this one added (all done by now).
    before: FoldersProgress,
}

/// The players a backfill's lines named (EOS ids), for its summary.
#[derive(Debug, Default)]
struct SeenPlayers {
    players: std::collections::HashSet<String>,
    killers: std::collections::HashSet<String>,
    victims: std::collections::HashSet<String>,
}

impl SeenPlayers {
    /// Counts a batch's lines: (PvP kills, suicides).
    fn count(&mut self, batch: &[tower_ingest::ingest::Chunk<'_>]) -> (u64, u64) {
        use tower_ingest::killfeed::KillfeedEvent;
        let (mut kills, mut suicides) = (0, 0);
        for line in batch.iter().flat_map(|c| &c.events) {
            match &line.event {
                KillfeedEvent::Kill { killer, victim, .. } => {
                    kills += 1;
                    for id in [killer.id, victim.id] {
                        if !self.players.contains(id) {
                            self.players.insert(id.to_owned());
                        }
                    }
                    if !self.killers.contains(killer.id) {
                        self.killers.insert(killer.id.to_owned());
                    }
                    if !self.victims.contains(victim.id) {
                        self.victims.insert(victim.id.to_owned());
                    }
                }
                KillfeedEvent::Suicide { player, .. } => {
                    suicides += 1;
                    if !self.players.contains(player.id) {
                        self.players.insert(player.id.to_owned());
                    }
                }
                KillfeedEvent::EnvironmentDeath { victim } => {
                    if !self.players.contains(victim.id) {
                        self.players.insert(victim.id.to_owned());
                    }
                }
            }
        }
        (kills, suicides)
    }
}

/// A backfill's totals over the killfeed folders read so far.
#[derive(Debug, Default, Clone, Copy)]
struct FoldersProgress {
    files: u32,
    bytes: u64,
}

impl ProgressSink<'_, '_> {
    /// The totals once this folder is read too.
    fn after(&self) -> FoldersProgress {
        FoldersProgress {
            files: self
                .before
                .files
                .saturating_add(u32::try_from(self.unread.len()).unwrap_or(u32::MAX)),
            bytes: self.before.bytes.saturating_add(
                self.unread
                    .iter()
                    .map(|f| f.size)
                    .fold(0, u64::saturating_add),
            ),
        }
    }
}

impl KillfeedSink for ProgressSink<'_, '_> {
    type Error = mongodb::error::Error;

    fn history_end(&self) -> Option<&tower_ingest::cursor::ReadPoint> {
        self.inner.history_end()
    }

    fn earlier_position(&self) -> Option<&tower_ingest::earlier_position::EarlierPosition> {
        self.inner.earlier_position()
    }

    fn earlier_position_found(&mut self, point: tower_ingest::cursor::ReadPoint) {
        self.inner.earlier_position_found(point);
    }

    fn read_again_from(
        &mut self,
        files: &[FileMeta],
        cursor: Option<&FileCursor>,
    ) -> Option<FileCursor> {
        self.inner.read_again_from(files, cursor)
    }

    fn listed(&mut self, files: &[FileMeta], cursor: Option<&FileCursor>) {
        self.inner.listed(files, cursor);
        let Some(tx) = self.backfill else {
            return;
        };
        let unread = |f: &FileMeta| match cursor {
            Some(c) if f.name < c.file => 0,
            Some(c) if f.name == c.file => f.size.saturating_sub(c.offset),
            _ => f.size,
        };
        self.unread = files.iter().filter(|f| unread(f) > 0).cloned().collect();
        // Sizes are the SFTP server's word: a hostile one may claim u64::MAX per file.
        self.unread_bytes = files.iter().map(unread).fold(0, u64::saturating_add);
        let before = self.before;
        let unread_bytes = self.unread_bytes;
        tx.send_modify(|p| {
            p.state = BackfillState::Running as i32;
            p.files_total = before
                .files
                .saturating_add(u32::try_from(self.unread.len()).unwrap_or(u32::MAX));
            p.bytes_total = before.bytes.saturating_add(unread_bytes);
        });
    }

    async fn apply(
        &mut self,
        batch: &[tower_ingest::ingest::Chunk<'_>],
        cursor: &FileCursor,
    ) -> Result<(), Self::Error> {
        let before = (self.inner.totals.counted, self.inner.totals.duplicates);
        self.inner.apply(batch, cursor).await?;
        let Some(tx) = self.backfill else {
            return Ok(());
        };
        let counted = self.inner.totals.counted.saturating_sub(before.0);
        let already_counted = self.inner.totals.duplicates.saturating_sub(before.1);
        let finished = self
            .unread
            .iter()
            .filter(|f| f.name < cursor.file || (f.name == cursor.file && cursor.offset >= f.size))
            .count();
        let (kills, suicides) = self.seen.count(batch);
        let count =
            |set: &std::collections::HashSet<String>| u32::try_from(set.len()).unwrap_or(u32::MAX);
        let (players, killers, victims) = (
            count(&self.seen.players),
            count(&self.seen.killers),
            count(&self.seen.victims),
        );
        tx.send_modify(|p| {
            p.kills = p.kills.saturating_add(kills);
            p.suicides = p.suicides.saturating_add(suicides);
            p.counted = p.counted.saturating_add(counted);
            p.already_counted = p.already_counted.saturating_add(already_counted);
            (p.players, p.killers, p.victims) = (players, killers, victims);
            for chunk in batch {
                p.bytes_done = p.bytes_done.saturating_add(chunk.consumed as u64);
                p.lines = p.lines.saturating_add(chunk.lines);
                p.malformed_lines = p
                    .malformed_lines
                    .saturating_add(chunk.malformed.len() as u64);
            }
            p.files_done = self
                .before
                .files
                .saturating_add(u32::try_from(finished).unwrap_or(u32::MAX));
        });
        Ok(())
    }
}
