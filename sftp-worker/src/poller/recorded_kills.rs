//! Kills recorded by hand (`/rivalry record_kill`): counted by the worker that holds the
//! server, between two of its polls, as a batch of their own numbered after every batch
//! read, so the statistics, rivalries and killfeed take them through the same
//! exactly-once path as the game's own lines, and no poll's batch numbers collide with
//! them.

use tower_store::cursor_store::{
    OpenFoldersError, PRIMARY_KILLFEED, RecordedKill, StoreSink, is_fenced,
};

use super::{Poller, Refused};
use crate::pool::ServerKey;

/// How many recorded kills may wait for one server's next poll.
const MAX_WAITING: usize = 25;

/// A kill asked to be recorded, and who waits for its outcome.
pub struct AskedKill {
    pub kill: KillToRecord,
    pub reply: tokio::sync::oneshot::Sender<Result<Recorded, Refused>>,
}

/// What an admin said happened.
#[derive(Debug, Clone)]
pub struct KillToRecord {
    /// (name, EOS id) of each player.
    pub killer: (String, String),
    pub victim: (String, String),
    pub weapon: String,
    pub location: Option<String>,
    pub by: u64,
    /// When it was asked (Unix seconds, UTC).
    pub asked_at: i64,
    /// The request's id: its line is fixed by its first attempt (empty: not kept).
    pub request_id: String,
}

impl KillToRecord {
    /// The killfeed line for this kill at `at` (game-server time), or why it cannot be one.
    pub fn line(&self, at: i64) -> Result<String, tower_ingest::killfeed::Malformed> {
        tower_ingest::killfeed::recorded_kill_line(
            at,
            (&self.killer.0, &self.killer.1),
            (&self.victim.0, &self.victim.1),
            &self.weapon,
        )
    }
}

/// A recorded kill's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// False: the same line was counted before (the request was retried).
    pub counted: bool,
    /// The line's time in the game server's clock.
    pub at: i64,
}

type Waiting = tokio::sync::oneshot::Receiver<Result<Recorded, Refused>>;

impl Poller {
    /// Asks for a kill to be recorded on a server this worker holds: it is counted at the
    /// end of the server's next poll (now).
    pub fn record_kill(&self, key: &ServerKey, kill: KillToRecord) -> Result<Waiting, Refused> {
        let mut runtime = self.runtime.lock().map_err(|_| Refused::NotHere)?;
        let rt = runtime
            .get_mut(key)
            .filter(|rt| rt.held)
            .ok_or(Refused::NotHere)?;
        if rt.recorded_kills.len() >= MAX_WAITING {
            return Err(Refused::Busy);
        }
        let (reply, rx) = tokio::sync::oneshot::channel();
        rt.recorded_kills.push(AskedKill { kill, reply });
        if !rt.in_flight {
            rt.next_due = Some(std::time::Instant::now());
        }
        Ok(rx)
    }

    /// Counts the kills recorded for the server, if any: called by its poll under lease
    /// `token`, after its batches and before the next poll can start. Returns whether the
    /// server's cursors were written (what the poll kept of them is then stale). While a
    /// batch read from the game server is pending, the kills wait for the next poll, which
    /// finishes it first.
    pub(super) async fn record_asked_kills(&self, key: &ServerKey, token: i64) -> bool {
        let asked = self.runtime.lock().ok().and_then(|mut r| {
            let rt = r.get_mut(key)?;
            let ours = rt.held
                && rt.token == token
                && rt.leased_at.is_some_and(|t| t.elapsed() < self.lease);
            let asked = std::mem::take(&mut rt.recorded_kills);
            (!asked.is_empty()).then_some((asked, ours))
        });
        let Some((asked, ours)) = asked else {
            return false;
        };
        let refuse = |asked: Vec<AskedKill>, why: Refused| {
            for a in asked {
                let _ = a.reply.send(Err(why.clone()));
            }
        };
        if !ours {
            refuse(asked, Refused::NotHere);
            return false;
        }
        // As the first poll under a lease does, before anything is numbered: the cursors
        // fenced with this token (a worker that held the server before can no longer
        // write them) and a season close cut short finished (a kill counted into a half
        // closed season would be archived with it).
        if let Err(e) = self.cursors.fence(key.0, &key.1, token).await {
            let why = match is_fenced(&e) {
                true => Refused::NotHere,
                false => Refused::Failed(e.to_string()),
            };
            refuse(asked, why);
            return false;
        }
        if let Err(e) = self.seasons.finish_unfinished(key.0, &key.1).await {
            refuse(asked, Refused::Failed(e.to_string()));
            return false;
        }
        let slots = match self.cursors.load_killfeed_slots(key.0, &key.1).await {
            Ok(slots) => slots,
            Err(e) => {
                refuse(asked, Refused::Failed(e.to_string()));
                return false;
            }
        };
        // The first folder's clock (every folder is the same game server's).
        let clock_ahead = slots
            .states
            .get(PRIMARY_KILLFEED)
            .and_then(|s| s.clock_ahead)
            .unwrap_or(0);
        let mut sink =
            match StoreSink::for_recording(key.0, &key.1, token, slots, &self.stats, &self.cursors)
            {
                Ok(sink) => sink,
                Err(OpenFoldersError::PendingElsewhere(_)) => {
                    // The next poll finishes the interrupted batch; the kills are counted after.
                    if let Ok(mut r) = self.runtime.lock()
                        && let Some(rt) = r.get_mut(key)
                    {
                        // Those whose caller stopped waiting are dropped: nothing was written.
                        rt.recorded_kills
                            .extend(asked.into_iter().filter(|a| !a.reply.is_closed()));
                        rt.next_due = Some(std::time::Instant::now());
                    }
                    return false;
                }
                Err(OpenFoldersError::Fenced) => {
                    refuse(asked, Refused::NotHere);
                    return false;
                }
                Err(e) => {
                    refuse(asked, Refused::Failed(e.to_string()));
                    return false;
                }
            };
        sink.outbox = Some(&self.outbox);
        let mut wrote = false;
        let mut asked = asked.into_iter();
        while let Some(a) = asked.next() {
            // Dated in the game server's clock, as its own lines are.
            let at = a.kill.asked_at.saturating_add(clock_ahead);
            let line = match a.kill.line(at) {
                Ok(line) => line,
                Err(e) => {
                    let _ = a.reply.send(Err(Refused::Failed(format!(
                        "the kill is not a killfeed line: {e}"
                    ))));
                    continue;
                }
            };
            // A request asked before (its reply lost) is the line its first attempt fixed.
            let line = match a.kill.request_id.as_str() {
                "" => Ok(line),
                id => self.cursors.recorded_line(key.0, &key.1, id, &line).await,
            };
            let line = match line {
                Ok(line) => line,
                Err(e) => {
                    let _ = a.reply.send(Err(Refused::Failed(e.to_string())));
                    refuse(asked.collect(), Refused::Failed(e.to_string()));
                    break;
                }
            };
            let at = tower_ingest::killfeed::parse_line(line.as_bytes()).map_or(at, |l| l.at);
            let kill = RecordedKill {
                line,
                by: a.kill.by.to_string(),
                location: a.kill.location.clone(),
                imported: false,
            };
            wrote = true;
            let outcome = sink.record_kills(vec![kill]).await;
            if let Err(e) = &outcome {
                tracing::warn!(guild = key.0, server = %key.1, error = %e, "recording a kill failed");
            }
            match outcome {
                Ok(n) => {
                    let _ = a.reply.send(Ok(Recorded { counted: n > 0, at }));
                }
                // A newer holder fenced the cursors: nothing was written; it is asked.
                Err(e) if is_fenced(&e) => {
                    let _ = a.reply.send(Err(Refused::NotHere));
                    refuse(asked.collect(), Refused::NotHere);
                    break;
                }
                Err(e) => {
                    // Its pending record, if written, is finished by the server's next
                    // poll; the kills after it are not recorded.
                    let _ = a.reply.send(Err(Refused::Failed(format!(
                        "{e}; if it was written, the server's next poll counts it"
                    ))));
                    refuse(asked.collect(), Refused::Failed(e.to_string()));
                    break;
                }
            }
        }
        if wrote
            && let Ok(mut r) = self.runtime.lock()
            && let Some(rt) = r.get_mut(key)
        {
            // Read from MongoDB next time: the batch numbers moved on.
            rt.kept = None;
        }
        wrote
    }
}
