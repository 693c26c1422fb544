//! `/reset_stats`: a server's statistics season closed by the worker that holds it, at the
//! end of its next poll (see [`crate::poller::Poller::close_season`]).

use std::time::Duration;

use tonic::{Request, Response, Status};
use tower_proto::v1::{CloseSeasonReply, CloseSeasonRequest};
use tower_store::seasons::{CloseOutcome, MAX_LABEL_CHARS};

use super::Worker;
use crate::poller::Refused;

/// How long a close may wait for the server's poll in progress and then run.
const CLOSE_WAIT: Duration = Duration::from_secs(60);

impl Worker {
    pub(super) async fn close_season_rpc(
        &self,
        request: Request<CloseSeasonRequest>,
    ) -> Result<Response<CloseSeasonReply>, Status> {
        let r = request.into_inner();
        let label = r.label.trim().to_owned();
        if label.chars().count() > MAX_LABEL_CHARS {
            return Err(Status::invalid_argument(format!(
                "a season label has at most {MAX_LABEL_CHARS} characters"
            )));
        }
        let server = self.server(r.server).await?;
        let key = (server.guild.0, server.server.to_string());
        let refused = |refused: Refused| match refused {
            // The gateway then asks the other workers.
            Refused::NotHere => Status::failed_precondition(format!(
                "server {} is not polled by this worker right now",
                key.1
            )),
            Refused::Busy => Status::aborted(format!(
                "a season close of server {} is already under way",
                key.1
            )),
            // Not "unavailable": the gateway would ask another worker and hide the cause.
            Refused::Failed(e) => Status::internal(format!(
                "the database failed while closing the season ({e}); it is finished before the server's next batch"
            )),
        };
        let waiting = self
            .poller
            .close_season(&key, (!label.is_empty()).then_some(label), r.closed_by)
            .map_err(refused)?;
        let outcome = tokio::time::timeout(CLOSE_WAIT, waiting)
            .await
            .map_err(|_| {
                Status::deadline_exceeded(
                    "the season close is still waiting for the server's poll (an interrupted batch is finished first); it runs when that poll succeeds: see /stats season",
                )
            })?
            // The server's entry went (its lease moved): another worker may hold it now.
            .map_err(|_| refused(Refused::NotHere))?
            .map_err(refused)?;
        let (season, already_closed) = match outcome {
            CloseOutcome::Closed(s) => (s, false),
            CloseOutcome::AlreadyClosed(s) => (s, true),
        };
        Ok(Response::new(CloseSeasonReply {
            label: season.label,
            number: season.number,
            players: season.players,
            kills: season.kills,
            already_closed,
        }))
    }
}
