//! The `tower.v1.SftpWorker` gRPC service.
//!
//! Every call is scoped by guild: a request names a (guild, server id) pair and only that
//! guild's documents are read, so one guild can never reach another guild's servers.
//! A backfill is a poll started at once whose progress is streamed; it runs on the worker
//! that holds the server's lease (another worker answers FAILED_PRECONDITION).

use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures_util::{Stream, TryStreamExt};
use mongodb::bson::{Document, doc};
use tonic::{Request, Response, Status};
use tower_proto::v1::sftp_worker_server::SftpWorker;
use tower_proto::v1::{
    AckNotificationsReply, AckNotificationsRequest, BackfillProgress, BackfillState, BreakerState,
    ErrorContext, FileEntry, ListFilesReply, ListFilesRequest, Notification, NotificationsRequest,
    PoolUse, ServerRef, ServerStatus, ServerStatusReply, ServerStatusRequest, StartBackfillRequest,
    TestServerReply, TestServerRequest, TestStep, WatchBackfillRequest,
};
use tower_shared::config::SftpConfig;
use tower_shared::db::{Database, collections};
use tower_shared::game_servers::{GameServer, GameServerError, GameServerStore};
use tower_shared::guilds::GuildStore;
use tower_shared::ids::{GuildId, ServerId};
use tower_shared::secret::SecretKey;
use tower_shared::source::ByteSource;
use tower_shared::source::SourceErrorKind;
use tower_shared::telemetry::Telemetry;
use tower_shared::tier::{Tier, TierTable};

use crate::connection::{SftpConnection, Step, Target, Timeouts};
use crate::discovery::discover;
use crate::poller::Poller;
use tower_shared::ids::ShardRange;
use tower_shared::shutdown::Shutdown;
use tower_shared::subscription::{self, Subscription};

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

/// How long a command waits for one of its guild's connection slots.
const SLOT_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// What a command's connection holds: this worker's permits and a guild slot, given back
/// when dropped (after the connection is closed).
struct Held {
    _permits: crate::pool::Permits,
    _slot: crate::slots::Slot,
}

/// Most entries `ListFiles` returns.
const MAX_LIST: usize = 1000;

impl Worker {
    pub fn new(
        db: Database,
        config: &tower_shared::config::Config,
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

    fn timeouts(&self) -> Timeouts {
        Timeouts {
            connect: std::time::Duration::from_secs(self.sftp.connect_timeout_secs.max(1)),
            operation: std::time::Duration::from_secs(self.sftp.operation_timeout_secs.max(1)),
            keepalive: std::time::Duration::from_secs(self.sftp.keepalive_secs.max(1)),
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
        self.poller.pools.make_room(server.guild.0, quota).await;
        let slot = self
            .poller
            .pools
            .slot(server.guild.0, quota, SLOT_WAIT)
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
        let target = Target {
            host: &server.host,
            port: server.port,
            username: &server.username,
            credential: &credential,
            pinned_host_key: server.host_key_sha256.as_deref(),
        };
        let conn = SftpConnection::open(&target, &self.sftp.addresses, self.timeouts(), steps)
            .await
            .map_err(|e| (format!("sftp.{:?}", e.kind).to_ascii_lowercase(), e.message))?;
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

fn storage_error(e: mongodb::error::Error) -> Status {
    tracing::warn!(error = %e, "worker storage call failed");
    Status::unavailable("the database is unavailable; retry shortly")
}

fn storage_error_of(e: &GameServerError) -> Status {
    tracing::warn!(error = %e, "game server lookup failed");
    Status::unavailable("the database is unavailable; retry shortly")
}

fn proto_step(s: &Step) -> TestStep {
    TestStep {
        name: s.name.to_owned(),
        ok: s.ok,
        detail: s.detail.clone(),
        elapsed_ms: u64::try_from(s.elapsed.as_millis()).unwrap_or(u64::MAX),
    }
}

/// `*` any run of characters, `?` one character, case-insensitive; empty matches
/// everything. Linear backtracking (one remembered star), so no pattern can make it slow.
fn glob_match(pattern: &str, name: &str) -> bool {
    if pattern.is_empty() {
        return true;
    }
    let p: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let n: Vec<char> = name.chars().flat_map(char::to_lowercase).collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
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
            let finished =
                p.state == BackfillState::Done as i32 || p.state == BackfillState::Failed as i32;
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

type ProgressStream = Pin<Box<dyn Stream<Item = Result<BackfillProgress, Status>> + Send>>;
type NotificationStream = Pin<Box<dyn Stream<Item = Result<Notification, Status>> + Send>>;

#[tonic::async_trait]
impl SftpWorker for Worker {
    async fn test_server(
        &self,
        request: Request<TestServerRequest>,
    ) -> Result<Response<TestServerReply>, Status> {
        let server = self.server(request.into_inner().server).await?;
        let mut steps = Vec::new();
        let (conn, _held) = match self.connect(&server, &mut steps).await {
            Ok(c) => c,
            Err((kind, message)) => {
                let error_id = self.report(&server, &kind, &message, "test_sftp");
                return Ok(Response::new(TestServerReply {
                    ok: false,
                    steps: steps.iter().map(proto_step).collect(),
                    error_id,
                    ..TestServerReply::default()
                }));
            }
        };
        let source = conn.source();
        let start = Instant::now();
        let found = discover(&source, server.server.as_str()).await;
        let elapsed = start.elapsed();
        let host_key = conn.host_key.clone();
        conn.close().await;
        let mut reply = TestServerReply {
            host_key_sha256: host_key,
            ..TestServerReply::default()
        };
        match found {
            Ok(layout) => {
                let killfeed_ok = !layout.killfeed_dirs.is_empty();
                steps.push(Step {
                    name: "find_killfeed",
                    ok: killfeed_ok,
                    detail: if killfeed_ok {
                        format!(
                            "{} CSV files in {}",
                            layout.csv_files,
                            layout.killfeed_dirs.join(", ")
                        )
                    } else {
                        format!(
                            "no deathlogs/world_* folder found ({} folders searched)",
                            layout.dirs_searched
                        )
                    },
                    elapsed,
                });
                steps.push(Step {
                    name: "find_log",
                    ok: layout.log_path.is_some(),
                    detail: layout
                        .log_path
                        .clone()
                        .unwrap_or_else(|| "no Deadside.log found".to_owned()),
                    elapsed,
                });
                reply.ok = killfeed_ok;
                reply.killfeed_folders = layout
                    .folders
                    .iter()
                    .map(|f| tower_proto::v1::KillfeedFolder {
                        path: f.path.clone(),
                        csv_files: f.csv_files,
                        newest_file: f.newest.as_ref().map(|n| n.0.clone()).unwrap_or_default(),
                        newest_mtime_unix: f.newest.as_ref().map_or(0, |n| n.1),
                    })
                    .collect();
                reply.killfeed_dirs = layout.killfeed_dirs;
                reply.log_path = layout.log_path.unwrap_or_default();
                reply.csv_files = layout.csv_files;
            }
            Err(e) => {
                let message = format!("searching the server's folders failed: {e}");
                steps.push(Step {
                    name: "find_killfeed",
                    ok: false,
                    detail: message.clone(),
                    elapsed,
                });
                reply.error_id = self.report(&server, "sftp.discovery", &message, "test_sftp");
            }
        }
        if !reply.ok && reply.error_id.is_empty() {
            reply.error_id = self.report(
                &server,
                "sftp.no_killfeed",
                "no killfeed folder found",
                "test_sftp",
            );
        }
        reply.steps = steps.iter().map(proto_step).collect();
        Ok(Response::new(reply))
    }

    async fn list_files(
        &self,
        request: Request<ListFilesRequest>,
    ) -> Result<Response<ListFilesReply>, Status> {
        let r = request.into_inner();
        let server = self.server(r.server).await?;
        let mut steps = Vec::new();
        let (conn, _held) =
            self.connect(&server, &mut steps)
                .await
                .map_err(|(kind, message)| {
                    let id = self.report(&server, &kind, &message, "list_sftp_files");
                    Status::failed_precondition(format!("{message} (error id {id})"))
                })?;
        let source = conn.source();
        let path = if r.path.trim().is_empty() {
            discover(&source, server.server.as_str())
                .await
                .ok()
                .and_then(|l| l.killfeed_dirs.into_iter().next())
                .unwrap_or_default()
        } else {
            r.path.trim().to_owned()
        };
        let listed = source.list(&path).await;
        conn.close().await;
        let entries = listed.map_err(|e| {
            let message = format!(
                "cannot list {}: {}",
                if path.is_empty() {
                    "the home folder"
                } else {
                    &path
                },
                e.message
            );
            match e.kind {
                SourceErrorKind::TooLarge => Status::resource_exhausted(message),
                _ => Status::not_found(message),
            }
        })?;
        let limit = if r.limit == 0 {
            100
        } else {
            (r.limit as usize).min(MAX_LIST)
        };
        let matching: Vec<FileEntry> = entries
            .into_iter()
            .filter(|e| glob_match(&r.pattern, &e.name))
            .map(|e| FileEntry {
                path: e.path,
                size: e.size,
                mtime_unix: e.mtime,
                is_dir: e.is_dir,
            })
            .collect();
        let truncated = matching.len() > limit;
        Ok(Response::new(ListFilesReply {
            entries: matching.into_iter().take(limit).collect(),
            truncated,
        }))
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
        let statuses: Vec<Document> = self
            .db
            .raw()
            .collection::<Document>(collections::SERVER_STATUS)
            .find(doc! { "guild_id": &guild })
            .await
            .map_err(storage_error)?
            .try_collect()
            .await
            .map_err(storage_error)?;
        // Where reading stands, per server: the killfeed file and the log (one query).
        let ids: Vec<&str> = servers
            .iter()
            .filter_map(|s| s.get_str("server_id").ok())
            .collect();
        let mut cursors = tower_shared::cursor_store::CursorStore::new(&self.db)
            .cursors(r.guild_id, &ids)
            .await
            .map_err(storage_error)?;
        let servers = servers
            .iter()
            .map(|s| {
                let id = s.get_str("server_id").unwrap_or_default();
                let st = statuses
                    .iter()
                    .find(|d| d.get_str("server_id").ok() == Some(id));
                let int = |k: &str| st.and_then(|d| d.get_i64(k).ok()).unwrap_or(0);
                ServerStatus {
                    server: Some(ServerRef {
                        guild_id: r.guild_id,
                        server_id: id.to_owned(),
                    }),
                    enabled: s.get_bool("enabled").unwrap_or(true),
                    cursors: cursors
                        .remove(id)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(kind, c)| tower_proto::v1::FileCursor {
                            file: c.file,
                            offset: c.offset,
                            size: c.size,
                            mtime_unix: c.mtime,
                            kind,
                        })
                        .collect(),
                    last_poll_unix_ms: st
                        .and_then(|d| d.get_datetime("last_poll").ok())
                        .map_or(0, |t| t.timestamp_millis()),
                    lag_ms: u64::try_from(int("lag_ms")).unwrap_or(0),
                    breaker: st
                        .and_then(|d| d.get_i32("breaker").ok())
                        .unwrap_or(BreakerState::Closed as i32),
                    last_error: st
                        .and_then(|d| d.get_str("last_error").ok())
                        .unwrap_or_default()
                        .to_owned(),
                    poll_interval_secs: limits.killfeed_poll_secs,
                    worker_instance: st
                        .and_then(|d| d.get_str("worker").ok())
                        .unwrap_or(&self.instance)
                        .to_owned(),
                    stale_notices: u64::try_from(int("stale_notices")).unwrap_or(0),
                    quiet_lines: u64::try_from(int("quiet_lines")).unwrap_or(0),
                    lost_bytes: u64::try_from(int("lost_bytes")).unwrap_or(0),
                    blocked_notices: u64::try_from(int("blocked_notices")).unwrap_or(0),
                    // Only while the pause lasts.
                    paused: st
                        .filter(|d| {
                            d.get_datetime("paused_until")
                                .is_ok_and(|t| *t > mongodb::bson::DateTime::now())
                        })
                        .and_then(|d| d.get_str("paused").ok())
                        .unwrap_or_default()
                        .to_owned(),
                }
            })
            .collect();
        let usage = self.poller.pools.usage(r.guild_id);
        Ok(Response::new(ServerStatusReply {
            servers,
            pool: Some(PoolUse {
                guild_id: r.guild_id,
                open: usage.open,
                busy: usage.busy,
                limit: limits.sftp_connections,
            }),
        }))
    }

    type StartBackfillStream = ProgressStream;

    async fn start_backfill(
        &self,
        request: Request<StartBackfillRequest>,
    ) -> Result<Response<Self::StartBackfillStream>, Status> {
        let r = request.into_inner();
        if r.days != 0 {
            return Err(Status::invalid_argument(
                "a backfill reads every CSV file not yet counted; limiting it to recent days is not supported",
            ));
        }
        let server = self.server(r.server).await?;
        let key = (server.guild.0, server.server.to_string());
        let id = format!(
            "{}:{}:{}",
            key.0,
            key.1,
            tower_shared::telemetry::now_unix_ms()
        );
        let progress = self
            .poller
            .start_backfill(&key, id)
            .ok_or_else(|| not_here(&key))?;
        Ok(Response::new(follow(progress)))
    }

    type WatchBackfillStream = ProgressStream;

    async fn watch_backfill(
        &self,
        request: Request<WatchBackfillRequest>,
    ) -> Result<Response<Self::WatchBackfillStream>, Status> {
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

    type NotificationsStream = NotificationStream;

    async fn notifications(
        &self,
        request: Request<NotificationsRequest>,
    ) -> Result<Response<Self::NotificationsStream>, Status> {
        let r = request.into_inner();
        let shards = r
            .shards
            .ok_or_else(|| Status::invalid_argument("shards (first, last, total) are required"))?;
        if shards.total == 0 || shards.first > shards.last || shards.last >= shards.total {
            return Err(Status::invalid_argument(
                "shards must satisfy first <= last < total",
            ));
        }
        let range = ShardRange {
            first: shards.first,
            last: shards.last,
            total: shards.total,
        };
        if r.subscriber.trim().is_empty() {
            return Err(Status::invalid_argument(
                "subscriber (a durable name) is required",
            ));
        }
        let after = if r.resume_after.is_empty() {
            None
        } else {
            Some(r.resume_after.parse().map_err(|_| {
                Status::invalid_argument("resume_after is not a cursor this worker gave out")
            })?)
        };
        let mut subscription = Subscription::resume(&self.db, &r.subscriber, after)
            .await
            .map_err(storage_error)?;
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            loop {
                let batch = match subscription.next().await {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = tx
                            .send(Err(Status::unavailable(format!("outbox unavailable: {e}"))))
                            .await;
                        return;
                    }
                };
                let idle = batch.is_empty();
                for d in batch {
                    let Some(n) = notification(&d) else { continue };
                    let in_range = n
                        .server
                        .as_ref()
                        .is_some_and(|s| range.contains_guild(GuildId(s.guild_id)));
                    if in_range && tx.send(Ok(n)).await.is_err() {
                        return; // the subscriber went away
                    }
                }
                if idle {
                    // Nothing new: look again shortly (ends with shutdown or the subscriber).
                    tokio::select! {
                        () = tokio::time::sleep(std::time::Duration::from_millis(250)) => {}
                        () = shutdown.wait() => return,
                        () = tx.closed() => return,
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn ack_notifications(
        &self,
        request: Request<AckNotificationsRequest>,
    ) -> Result<Response<AckNotificationsReply>, Status> {
        let r = request.into_inner();
        if r.subscriber.trim().is_empty() {
            return Err(Status::invalid_argument("subscriber is required"));
        }
        let seqs: Vec<i64> = r.cursors.iter().filter_map(|c| c.parse().ok()).collect();
        subscription::acknowledge(&self.db, &r.subscriber, &seqs)
            .await
            .map_err(storage_error)?;
        Ok(Response::new(AckNotificationsReply {
            acknowledged: u32::try_from(seqs.len()).unwrap_or(u32::MAX),
        }))
    }
}

/// An outbox document as the proto notification.
fn notification(d: &Document) -> Option<Notification> {
    use tower_proto::v1::notification::Payload;
    use tower_proto::v1::{
        ConnectionKind, ConnectionNotice, EnvironmentDeathNotice, GameEventKind, GameEventNotice,
        KillNotice, Player, PlayerCountNotice, SuicideKind, SuicideNotice,
    };
    let data = d.get_document("data").ok()?;
    let player = |k: &str| {
        data.get_document(k).ok().map(|p| Player {
            eos_id: p.get_str("id").unwrap_or_default().to_owned(),
            name: p.get_str("name").unwrap_or_default().to_owned(),
            platform: p.get_str("platform").unwrap_or_default().to_owned(),
        })
    };
    let text = |k: &str| data.get_str(k).unwrap_or_default().to_owned();
    let payload = match d.get_str("kind").ok()? {
        "kill" => Payload::Kill(KillNotice {
            killer: player("killer"),
            victim: player("victim"),
            weapon: text("weapon"),
            distance_m: u32::try_from(data.get_i64("distance_m").unwrap_or(0)).unwrap_or(0),
            roadkill: data.get_bool("roadkill").unwrap_or(false),
            killer_streak: 0,
        }),
        "suicide" => Payload::Suicide(SuicideNotice {
            player: player("player"),
            kind: match data.get_str("suicide_kind").unwrap_or_default() {
                "menu" => SuicideKind::Menu,
                "fall" => SuicideKind::Fall,
                "vehicle" => SuicideKind::Vehicle,
                _ => SuicideKind::Other,
            } as i32,
            cause: text("cause"),
        }),
        "environment" => Payload::EnvironmentDeath(EnvironmentDeathNotice {
            player: player("player"),
        }),
        "connection" => Payload::Connection(ConnectionNotice {
            player: player("player"),
            kind: if data.get_str("connection").ok() == Some("left") {
                ConnectionKind::Left
            } else {
                ConnectionKind::Joined
            } as i32,
        }),
        "player_count" => Payload::PlayerCount(PlayerCountNotice {
            online: u32::try_from(data.get_i64("online").unwrap_or(0)).unwrap_or(0),
            queued: u32::try_from(data.get_i64("queued").unwrap_or(0)).unwrap_or(0),
        }),
        "event" => Payload::GameEvent(GameEventNotice {
            kind: match data.get_str("event").unwrap_or_default() {
                "mission" => GameEventKind::Mission,
                "airdrop" => GameEventKind::Airdrop,
                "helicrash" => GameEventKind::Helicrash,
                "trader" => GameEventKind::Trader,
                "convoy" => GameEventKind::Convoy,
                "server_restart" => GameEventKind::ServerRestart,
                _ => GameEventKind::Unspecified,
            } as i32,
            name: text("name"),
            state: text("state"),
            level: u32::try_from(data.get_i32("level").unwrap_or(0)).unwrap_or(0),
        }),
        _ => return None,
    };
    Some(Notification {
        cursor: d.get_i64("seq").ok()?.to_string(),
        server: Some(ServerRef {
            guild_id: d.get_str("guild_id").ok()?.parse().ok()?,
            server_id: d.get_str("server_id").ok()?.to_owned(),
        }),
        occurred_unix_ms: d
            .get_datetime("at")
            .map(|t| t.timestamp_millis())
            .unwrap_or(0),
        recorded_unix_ms: d
            .get_datetime("created_at")
            .map(|t| t.timestamp_millis())
            .unwrap_or(0),
        payload: Some(payload),
    })
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn patterns_match_like_a_shell() {
        assert!(glob_match("", "anything"));
        assert!(glob_match("*.csv", "2025.05.01-00.00.00.csv"));
        assert!(glob_match("2025.05.*", "2025.05.01-00.00.00.csv"));
        assert!(!glob_match("*.csv", "Deadside.log"));
        assert!(glob_match("Deadside.???", "deadside.log"));
        assert!(glob_match("*a*b*", "xxaxxbxx"));
        assert!(!glob_match("*a*b", "xxaxxbxx"));
        // A pattern built to backtrack badly still answers at once.
        let nasty = format!("{}x", "*".repeat(30));
        assert!(!glob_match(&nasty, &"a".repeat(200)));
    }
}
