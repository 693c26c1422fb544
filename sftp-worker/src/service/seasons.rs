//! `/reset_stats`: a server's statistics season closed by the worker that holds it, at the
//! end of its next poll (see [`crate::poller::Poller::close_season`]).

use std::time::Duration;

use tonic::{Request, Response, Status};
use tower_proto::v1::{CloseSeasonReply, CloseSeasonRequest};
use tower_store::seasons::{CloseOutcome, MAX_LABEL_CHARS};

use super::Worker;
use crate::poller::CloseRefused;

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
        let waiting = self
            .poller
            .close_season(&key, (!label.is_empty()).then_some(label), r.closed_by)
            .map_err(|refused| match refused {
                CloseRefused::NotHere => Status::failed_precondition(format!(
                    "server {} is not polled by this worker right now",
                    key.1
                )),
                CloseRefused::Busy => Status::aborted(format!(
                    "a season close of server {} is already under way",
                    key.1
                )),
            })?;
        let outcome = tokio::time::timeout(CLOSE_WAIT, waiting)
            .await
            .map_err(|_| {
                Status::deadline_exceeded(
                    "the season close is still waiting for the server's poll; it will run, ask /stats season in a minute",
                )
            })?
            .map_err(|_| Status::aborted("the worker stopped before closing the season"))?
            .map_err(Status::unavailable)?;
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
