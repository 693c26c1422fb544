//! `/historical_parse`: a backfill started on the worker that holds the server, and its
//! progress streamed to whoever watches.

use std::pin::Pin;

use futures_util::Stream;
use tonic::{Request, Response, Status};
use tower_proto::v1::{BackfillProgress, StartBackfillRequest, WatchBackfillRequest};

use super::Worker;
use crate::poller::BackfillRefused;

pub(super) type ProgressStream =
    Pin<Box<dyn Stream<Item = Result<BackfillProgress, Status>> + Send>>;

impl Worker {
    pub(super) async fn start_backfill_rpc(
        &self,
        request: Request<StartBackfillRequest>,
    ) -> Result<Response<ProgressStream>, Status> {
        let r = request.into_inner();
        let server = self.server(r.server).await?;
        let key = (server.guild.0, server.server.to_string());
        let id = format!(
            "{}:{}:{}",
            key.0,
            key.1,
            tower_daemon::telemetry::now_unix_ms()
        );
        let progress =
            self.poller
                .start_backfill(&key, id, r.days)
                .map_err(|refused| match refused {
                    BackfillRefused::NotHere => not_here(&key),
                    running @ BackfillRefused::Running { .. } => {
                        Status::resource_exhausted(running.to_string())
                    }
                })?;
        Ok(Response::new(follow(progress)))
    }

    pub(super) async fn watch_backfill_rpc(
        &self,
        request: Request<WatchBackfillRequest>,
    ) -> Result<Response<ProgressStream>, Status> {
        let id = request.into_inner().backfill_id;
        let mut parts = id.split(':');
        let (Some(guild), Some(server)) = (
            parts.next().and_then(|g| g.parse::<u64>().ok()),
            parts.next(),
        ) else {
            return Err(Status::invalid_argument(
                "not a backfill id this worker gave out",
            ));
        };
        let key = (guild, server.to_owned());
        let progress = self
            .poller
            .watch_backfill(&key)
            .filter(|p| p.borrow().backfill_id == id)
            .ok_or_else(|| {
                Status::not_found(format!(
                    "no backfill {id} is running on this worker (it may have finished)"
                ))
            })?;
        Ok(Response::new(follow(progress)))
    }
}

fn not_here(key: &(u64, String)) -> Status {
    Status::failed_precondition(format!(
        "server {} is not polled by this worker right now (another worker holds it, or it was just added: retry in a few seconds)",
        key.1
    ))
}

/// Streams a backfill's progress until it is done or failed.
fn follow(mut progress: tokio::sync::watch::Receiver<BackfillProgress>) -> ProgressStream {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let p = progress.borrow_and_update().clone();
            let finished = p.has_ended();
            if tx.send(Ok(p)).await.is_err() || finished {
                return;
            }
            if progress.changed().await.is_err() {
                return;
            }
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}
