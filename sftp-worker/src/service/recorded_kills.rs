//! `/rivalry record_kill`: a kill an admin records by hand, counted by the worker that holds
//! the server between two of its polls (see [`crate::poller::Poller::record_kill`]).

use std::time::Duration;

use tonic::{Request, Response, Status};
use tower_proto::v1::{RecordKillReply, RecordKillRequest};

use super::Worker;
use crate::poller::{KillToRecord, Refused};

/// How long recording may wait for the server's poll in progress and then run.
const RECORD_WAIT: Duration = Duration::from_secs(60);
/// The longest weapon and location an admin may give (characters).
pub const MAX_WEAPON_CHARS: usize = 64;
pub const MAX_LOCATION_CHARS: usize = 100;

impl Worker {
    pub(super) async fn record_kill_rpc(
        &self,
        request: Request<RecordKillRequest>,
    ) -> Result<Response<RecordKillReply>, Status> {
        let r = request.into_inner();
        let weapon = match r.weapon.trim() {
            "" => "Unknown".to_owned(),
            w if w.chars().count() > MAX_WEAPON_CHARS => {
                return Err(Status::invalid_argument(format!(
                    "a weapon has at most {MAX_WEAPON_CHARS} characters"
                )));
            }
            w => w.to_owned(),
        };
        let location = r.location.trim();
        if location.chars().count() > MAX_LOCATION_CHARS || location.contains(['\n', '\r']) {
            return Err(Status::invalid_argument(format!(
                "a location is one line of at most {MAX_LOCATION_CHARS} characters"
            )));
        }
        let kill = KillToRecord {
            killer: (r.killer_name, r.killer_id),
            victim: (r.victim_name, r.victim_id),
            weapon,
            location: (!location.is_empty()).then(|| location.to_owned()),
            by: r.recorded_by,
            asked_at: r.asked_at_unix,
            request_id: r.request_id,
        };
        // Refused now, not after the poll: the line's time does not change whether it is one.
        kill.line(r.asked_at_unix).map_err(|e| {
            Status::invalid_argument(format!(
                "the kill cannot be written as a killfeed line ({e}): the same player twice, or a ';' in a name or the weapon"
            ))
        })?;
        let server = self.server(r.server).await?;
        let key = (server.guild.0, server.server.to_string());
        let refused = |refused: Refused| match refused {
            // The gateway then asks the other workers.
            Refused::NotHere => Status::failed_precondition(format!(
                "server {} is not polled by this worker right now",
                key.1
            )),
            Refused::Busy => Status::resource_exhausted(format!(
                "too many kills are waiting to be recorded on server {}; try again in a minute",
                key.1
            )),
            // Not "unavailable": the gateway would ask another worker and hide the cause.
            Refused::Failed(e) => Status::internal(format!("the kill could not be recorded: {e}")),
        };
        let waiting = self.poller.record_kill(&key, kill).map_err(refused)?;
        let recorded = tokio::time::timeout(RECORD_WAIT, waiting)
            .await
            .map_err(|_| {
                Status::deadline_exceeded(
                    "the kill is still waiting for the server's poll (an interrupted batch is finished first); it is counted when that poll succeeds",
                )
            })?
            // The server's entry went (its lease moved): another worker may hold it now.
            .map_err(|_| refused(Refused::NotHere))?
            .map_err(refused)?;
        Ok(Response::new(RecordKillReply {
            counted: recorded.counted,
            at_unix: recorded.at,
        }))
    }
}
