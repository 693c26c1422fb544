//! `/csv_status` and `/log_status`: each of a guild's servers as the workers last saw it
//! (cursors, last poll, lag, breaker, counts), and the guild's connection use.

use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};
use tonic::{Request, Response, Status};
use tower_proto::v1::{
    BreakerState, PoolUse, ServerRef, ServerStatus, ServerStatusReply, ServerStatusRequest,
};
use tower_store::db::collections;

use super::{Worker, storage_error};

impl Worker {
    pub(super) async fn server_status_rpc(
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
        let mut cursors = tower_store::cursor_store::CursorStore::new(&self.db)
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
}
