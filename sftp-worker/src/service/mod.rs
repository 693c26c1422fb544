//! The `tower.v1.SftpWorker` gRPC service.
//!
//! Every call is scoped by guild: a request names a (guild, server id) pair and only that
//! guild's documents are read, so one guild can never reach another guild's servers.
//! A backfill is a poll started at once whose progress is streamed; it runs on the worker
//! that holds the server's lease (another worker answers FAILED_PRECONDITION).
//!
//! This file holds the [`Worker`], what its calls share (finding a guild's server,
//! connecting within the guild's quota, reporting errors) and the RPC table; each RPC's
//! work is in the file of its duty: [`sftp_commands`] (`/test_sftp`, `/list_sftp_files`),
//! [`server_status`] (`/csv_status`), [`backfills`] (`/historical_parse`), [`seasons`]
//! (`/reset_stats`), [`recorded_kills`] (`/rivalry record_kill`),
//! [`notification_stream`] (what the gateways post).

mod backfills;
mod notification_stream;
mod recorded_kills;
mod seasons;
mod server_status;
mod sftp_commands;

use backfills::ProgressStream;
use notification_stream::NotificationStream;

use std::sync::Arc;

use tonic::{Request, Response, Status};
use tower_daemon::config::SftpConfig;
use tower_daemon::telemetry::Telemetry;
use tower_proto::v1::sftp_worker_server::SftpWorker;
use tower_proto::v1::{
    AckNotificationsReply, AckNotificationsRequest, CloseSeasonReply, CloseSeasonRequest,
    ErrorContext, ListFilesReply, ListFilesRequest, NotificationsRequest, RecordKillReply,
    RecordKillRequest, ServerRef, ServerStatusReply, ServerStatusRequest, StartBackfillRequest,
    TestServerReply, TestServerRequest, WatchBackfillRequest,
};
use tower_store::db::Database;
use tower_store::game_servers::{GameServer, GameServerError, GameServerStore};
use tower_store::guilds::GuildStore;
use tower_store::ids::{GuildId, ServerId};
use tower_store::secret::SecretKey;
use tower_store::tier::{Tier, TierTable};

use crate::connection::{SftpConnection, Step, Target, Timeouts};
use crate::poller::Poller;
use tower_daemon::shutdown::Shutdown;

pub struct Worker {
    db: Database,
    poller: Arc<Poller>,
    shutdown: Shutdown,
    servers: GameServerStore,
    guilds: GuildStore,
    tiers: TierTable,
    sftp: SftpConfig,
    secret_key: Option<Arc<SecretKey>>,
    telemetry: Telemetry,
    instance: String,
}

/// What a command's connection holds: this worker's permits and a guild slot, given back
/// when dropped (after the connection is closed).
struct Held {
    _permits: crate::pool::Permits,
    _slot: crate::slots::Slot,
}

impl Worker {
    pub fn new(
        db: Database,
        config: &tower_daemon::config::Config,
        secret_key: Option<Arc<SecretKey>>,
        telemetry: Telemetry,
        instance: String,
        poller: Arc<Poller>,
        shutdown: Shutdown,
    ) -> Self {
        Self {
            servers: GameServerStore::new(&db),
            guilds: GuildStore::new(&db),
            poller,
            shutdown,
            db,
            tiers: config.premium.tiers.clone(),
            sftp: config.sftp.clone(),
            secret_key,
            telemetry,
            instance,
        }
    }

    /// The guild's premium tier; a guild with no record is tier 0.
    async fn guild_tier(&self, guild_id: u64) -> Result<Tier, Status> {
        self.guilds.tier(guild_id).await.map_err(storage_error)
    }

    /// The guild's server named by the request, never another guild's.
    async fn server(&self, server: Option<ServerRef>) -> Result<GameServer, Status> {
        let server = server.ok_or_else(|| {
            Status::invalid_argument("server (guild id and server id) is required")
        })?;
        if server.guild_id == 0 {
            return Err(Status::invalid_argument("guild_id is required"));
        }
        let id = ServerId::parse(&server.server_id).map_err(Status::invalid_argument)?;
        self.servers
            .get(GuildId(server.guild_id), &id)
            .await
            .map_err(|e| match e {
                GameServerError::NotFound(_) => Status::not_found(e.to_string()),
                other => storage_error_of(&other),
            })
    }

    /// Connects to a server's host, pinning its host key on first use.
    async fn connect(
        &self,
        server: &GameServer,
        steps: &mut Vec<Step>,
    ) -> Result<(SftpConnection, Held), (String, String)> {
        // A test or a listing is a connection of the guild's too: it waits for a slot.
        let tier = self
            .guild_tier(server.guild.0)
            .await
            .map_err(|s| ("database".to_owned(), s.message().to_owned()))?;
        let quota = self.tiers.limits(tier).sftp_connections;
        let permits = self
            .poller
            .pools
            .acquire(server.guild.0, quota)
            .await
            .ok_or_else(|| {
                (
                    "sftp.pool".to_owned(),
                    "the connection pool is closed".to_owned(),
                )
            })?;
        let slot = self
            .poller
            .pools
            .room_for_new(server.guild.0, quota)
            .await
            .map_err(|e| ("sftp.connection_slot".to_owned(), e.to_string()))?;
        let key = self.secret_key.as_deref().ok_or_else(|| {
            (
                "config.no_secret_key".to_owned(),
                "this worker has no secret key to open stored credentials".to_owned(),
            )
        })?;
        let credential = server.credential(key).map_err(|e| {
            (
                "secrets.open".to_owned(),
                format!("the stored credential cannot be opened: {e}"),
            )
        })?;
        let target = Target::of(server, &credential);
        let _turn = self
            .poller
            .pools
            .handshakes
            .turn(&server.host)
            .await
            .ok_or_else(|| {
                (
                    "sftp.pool".to_owned(),
                    "the connection pool is closed".to_owned(),
                )
            })?;
        let conn = SftpConnection::open(
            &target,
            &self.sftp.addresses,
            Timeouts::from_config(&self.sftp),
            steps,
        )
        .await
        .map_err(|e| (e.kind.code().to_owned(), e.message))?;
        if server.host_key_sha256.is_none()
            && !conn.host_key.is_empty()
            && let Err(e) = self
                .servers
                .pin_host_key(server.guild, &server.server, &conn.host_key)
                .await
        {
            tracing::warn!(error = %e, "host key not pinned; it will be pinned next time");
        }
        Ok((
            conn,
            Held {
                _permits: permits,
                _slot: slot,
            },
        ))
    }

    fn report(&self, server: &GameServer, kind: &str, message: &str, command: &str) -> String {
        self.telemetry.error(
            kind,
            message,
            "sftp_worker::service",
            Some(ErrorContext {
                guild_id: server.guild.0,
                server_id: server.server.to_string(),
                command: command.to_owned(),
                shard: None,
            }),
        )
    }
}

pub(super) fn storage_error(e: mongodb::error::Error) -> Status {
    tracing::warn!(error = %e, "worker storage call failed");
    Status::unavailable("the database is unavailable; retry shortly")
}

fn storage_error_of(e: &GameServerError) -> Status {
    tracing::warn!(error = %e, "game server lookup failed");
    Status::unavailable("the database is unavailable; retry shortly")
}

#[tonic::async_trait]
impl SftpWorker for Worker {
    async fn test_server(
        &self,
        request: Request<TestServerRequest>,
    ) -> Result<Response<TestServerReply>, Status> {
        self.test_server_rpc(request).await
    }

    async fn list_files(
        &self,
        request: Request<ListFilesRequest>,
    ) -> Result<Response<ListFilesReply>, Status> {
        self.list_files_rpc(request).await
    }

    async fn server_status(
        &self,
        request: Request<ServerStatusRequest>,
    ) -> Result<Response<ServerStatusReply>, Status> {
        self.server_status_rpc(request).await
    }

    type StartBackfillStream = ProgressStream;

    async fn start_backfill(
        &self,
        request: Request<StartBackfillRequest>,
    ) -> Result<Response<Self::StartBackfillStream>, Status> {
        self.start_backfill_rpc(request).await
    }

    type WatchBackfillStream = ProgressStream;

    async fn watch_backfill(
        &self,
        request: Request<WatchBackfillRequest>,
    ) -> Result<Response<Self::WatchBackfillStream>, Status> {
        self.watch_backfill_rpc(request).await
    }

    async fn close_season(
        &self,
        request: Request<CloseSeasonRequest>,
    ) -> Result<Response<CloseSeasonReply>, Status> {
        self.close_season_rpc(request).await
    }

    async fn record_kill(
        &self,
        request: Request<RecordKillRequest>,
    ) -> Result<Response<RecordKillReply>, Status> {
        self.record_kill_rpc(request).await
    }

    type NotificationsStream = NotificationStream;

    async fn notifications(
        &self,
        request: Request<NotificationsRequest>,
    ) -> Result<Response<Self::NotificationsStream>, Status> {
        self.notifications_rpc(request).await
    }

    async fn ack_notifications(
        &self,
        request: Request<AckNotificationsRequest>,
    ) -> Result<Response<AckNotificationsReply>, Status> {
        self.ack_notifications_rpc(request).await
    }
}
