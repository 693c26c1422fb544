//! The `tower.v1.SftpWorker` gRPC service.
//!
//! Every call is scoped by guild: a request names a (guild, server id) pair and only that
//! guild's documents are read, so one guild can never reach another guild's servers.
//! The SFTP-backed calls (test, list, backfill, notifications) arrive with the SFTP pools;
//! until then they answer UNIMPLEMENTED with a message that says so.

use std::pin::Pin;

use futures_util::{Stream, TryStreamExt};
use mongodb::bson::{Document, doc};
use tonic::{Request, Response, Status};
use tower_proto::v1::sftp_worker_server::SftpWorker;
use tower_proto::v1::{
    AckNotificationsReply, AckNotificationsRequest, BackfillProgress, BreakerState, ListFilesReply,
    ListFilesRequest, Notification, NotificationsRequest, PoolUse, ServerRef, ServerStatus,
    ServerStatusReply, ServerStatusRequest, StartBackfillRequest, TestServerReply,
    TestServerRequest, WatchBackfillRequest,
};
use tower_shared::db::{Database, collections};
use tower_shared::tier::{Tier, TierTable};

pub struct Worker {
    db: Database,
    tiers: TierTable,
    instance: String,
}

impl Worker {
    pub fn new(db: Database, tiers: TierTable, instance: String) -> Self {
        Self {
            db,
            tiers,
            instance,
        }
    }

    /// The guild's premium tier; a guild with no record is tier 0.
    async fn guild_tier(&self, guild_id: u64) -> Result<Tier, Status> {
        let guild = self
            .db
            .raw()
            .collection::<Document>(collections::GUILDS)
            .find_one(doc! { "guild_id": guild_id.to_string() })
            .await
            .map_err(storage_error)?;
        let tier = guild
            .and_then(|g| {
                g.get_i32("premium_tier").ok().or_else(|| {
                    g.get_i64("premium_tier")
                        .ok()
                        .and_then(|t| i32::try_from(t).ok())
                })
            })
            .and_then(|t| u8::try_from(t).ok())
            .and_then(Tier::new)
            .unwrap_or_default();
        Ok(tier)
    }
}

fn storage_error(e: mongodb::error::Error) -> Status {
    tracing::warn!(error = %e, "worker storage call failed");
    Status::unavailable("the database is unavailable; retry shortly")
}

fn not_yet(what: &str) -> Status {
    Status::unimplemented(format!(
        "{what} needs the SFTP connection pools, which this worker version does not have yet"
    ))
}

type ProgressStream = Pin<Box<dyn Stream<Item = Result<BackfillProgress, Status>> + Send>>;
type NotificationStream = Pin<Box<dyn Stream<Item = Result<Notification, Status>> + Send>>;

#[tonic::async_trait]
impl SftpWorker for Worker {
    async fn test_server(
        &self,
        _request: Request<TestServerRequest>,
    ) -> Result<Response<TestServerReply>, Status> {
        Err(not_yet("testing a server"))
    }

    async fn list_files(
        &self,
        _request: Request<ListFilesRequest>,
    ) -> Result<Response<ListFilesReply>, Status> {
        Err(not_yet("listing files"))
    }

    async fn server_status(
        &self,
        request: Request<ServerStatusRequest>,
    ) -> Result<Response<ServerStatusReply>, Status> {
        let r = request.into_inner();
        if r.guild_id == 0 {
            return Err(Status::invalid_argument("guild_id is required"));
        }
        let guild = r.guild_id.to_string();
        let mut filter = doc! { "guild_id": &guild };
        if !r.server_id.is_empty() {
            filter.insert("server_id", &r.server_id);
        }
        let tier = self.guild_tier(r.guild_id).await?;
        let limits = self.tiers.limits(tier);
        let servers: Vec<Document> = self
            .db
            .raw()
            .collection::<Document>(collections::GAME_SERVERS)
            .find(filter)
            .sort(doc! { "server_id": 1 })
            .await
            .map_err(storage_error)?
            .try_collect()
            .await
            .map_err(storage_error)?;
        if !r.server_id.is_empty() && servers.is_empty() {
            return Err(Status::not_found(format!(
                "this guild has no server with id {}",
                r.server_id
            )));
        }
        let servers = servers
            .iter()
            .map(|s| ServerStatus {
                server: Some(ServerRef {
                    guild_id: r.guild_id,
                    server_id: s.get_str("server_id").unwrap_or_default().to_owned(),
                }),
                enabled: s.get_bool("enabled").unwrap_or(true),
                cursors: Vec::new(),
                last_poll_unix_ms: 0,
                lag_ms: 0,
                breaker: BreakerState::Closed as i32,
                last_error: String::new(),
                poll_interval_secs: limits.killfeed_poll_secs,
                worker_instance: self.instance.clone(),
            })
            .collect();
        Ok(Response::new(ServerStatusReply {
            servers,
            pool: Some(PoolUse {
                guild_id: r.guild_id,
                open: 0,
                busy: 0,
                limit: limits.sftp_connections,
            }),
        }))
    }

    type StartBackfillStream = ProgressStream;

    async fn start_backfill(
        &self,
        _request: Request<StartBackfillRequest>,
    ) -> Result<Response<Self::StartBackfillStream>, Status> {
        Err(not_yet("backfill"))
    }

    type WatchBackfillStream = ProgressStream;

    async fn watch_backfill(
        &self,
        _request: Request<WatchBackfillRequest>,
    ) -> Result<Response<Self::WatchBackfillStream>, Status> {
        Err(not_yet("backfill"))
    }

    type NotificationsStream = NotificationStream;

    async fn notifications(
        &self,
        _request: Request<NotificationsRequest>,
    ) -> Result<Response<Self::NotificationsStream>, Status> {
        Err(not_yet("the notification stream"))
    }

    async fn ack_notifications(
        &self,
        _request: Request<AckNotificationsRequest>,
    ) -> Result<Response<AckNotificationsReply>, Status> {
        Err(not_yet("the notification stream"))
    }
}
