//! What the gateways post: a subscriber's notifications for its shard range, streamed in
//! order from the outbox ([`Subscription`]), and its acknowledgements.

use std::pin::Pin;

use futures_util::Stream;
use mongodb::bson::Document;
use tonic::{Request, Response, Status};
use tower_proto::v1::{
    AckNotificationsReply, AckNotificationsRequest, Notification, NotificationsRequest, ServerRef,
};
use tower_store::ids::GuildId;

use tower_store::ids::ShardRange;
use tower_store::subscription::{self, Subscription};

use super::{Worker, storage_error};

pub(super) type NotificationStream =
    Pin<Box<dyn Stream<Item = Result<Notification, Status>> + Send>>;

impl Worker {
    pub(super) async fn notifications_rpc(
        &self,
        request: Request<NotificationsRequest>,
    ) -> Result<Response<NotificationStream>, Status> {
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

    pub(super) async fn ack_notifications_rpc(
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
        BountyEvent, BountyNotice, ConnectionKind, ConnectionNotice, EnvironmentDeathNotice,
        GameEventKind, GameEventNotice, HighlightKind, HighlightNotice, JackpotNotice, KillNotice,
        KillReward, Player, PlayerCountNotice, RecordedBy, RivalryChange, RivalryNotice,
        SuicideKind, SuicideNotice,
    };
    let data = d.get_document("data").ok()?;
    let player = |k: &str| {
        data.get_document(k).ok().map(|p| Player {
            eos_id: p.get_str("id").unwrap_or_default().to_owned(),
            name: p.get_str("name").unwrap_or_default().to_owned(),
            platform: p.get_str("platform").unwrap_or_default().to_owned(),
            faction_tag: p.get_str("faction_tag").unwrap_or_default().to_owned(),
        })
    };
    let text = |k: &str| data.get_str(k).unwrap_or_default().to_owned();
    let int = |d: &Document, k: &str| d.get_i64(k).unwrap_or(0);
    let reward = data.get_document("reward").ok().map(|r| KillReward {
        user_id: r
            .get_str("user_id")
            .ok()
            .and_then(|u| u.parse().ok())
            .unwrap_or(0),
        credits: int(r, "credits"),
        distance_bonus: int(r, "distance_bonus"),
        streak_bonus: int(r, "streak_bonus"),
        streak: u32::try_from(int(r, "streak")).unwrap_or(u32::MAX),
        balance: r.get_i64("balance").ok(),
    });
    let payload = match d.get_str("kind").ok()? {
        "kill" => Payload::Kill(KillNotice {
            killer: player("killer"),
            victim: player("victim"),
            weapon: text("weapon"),
            distance_m: u32::try_from(data.get_i64("distance_m").unwrap_or(0)).unwrap_or(0),
            roadkill: data.get_bool("roadkill").unwrap_or(false),
            killer_streak: reward.as_ref().map_or(0, |r| r.streak),
            reward,
            friendly: data.get_bool("friendly").unwrap_or(false),
            recorded: data.get_document("recorded").ok().map(|r| RecordedBy {
                user_id: r
                    .get_str("by")
                    .ok()
                    .and_then(|b| b.parse().ok())
                    .unwrap_or(0),
                location: r.get_str("location").unwrap_or_default().to_owned(),
            }),
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
            was: text("was"),
        }),
        "player_count" => Payload::PlayerCount(PlayerCountNotice {
            online: u32::try_from(data.get_i64("online").unwrap_or(0)).unwrap_or(0),
            queued: u32::try_from(data.get_i64("queued").unwrap_or(0)).unwrap_or(0),
        }),
        "jackpot" => Payload::Jackpot(JackpotNotice {
            user_id: data
                .get_str("user_id")
                .ok()
                .and_then(|u| u.parse().ok())
                .unwrap_or(0),
            game: text("game"),
            bet: int(data, "bet"),
            returned: int(data, "returned"),
            detail: text("detail"),
        }),
        "rivalry" => Payload::Rivalry(RivalryNotice {
            first: player("first"),
            second: player("second"),
            first_kills: int(data, "first_kills"),
            second_kills: int(data, "second_kills"),
            change: match data.get_str("change").unwrap_or_default() {
                "threshold" => RivalryChange::Threshold,
                "lead" => RivalryChange::Lead,
                "level" => RivalryChange::Level,
                _ => RivalryChange::Unspecified,
            } as i32,
            threshold: int(data, "threshold"),
            intensity: int(data, "intensity"),
            by_first: data.get_bool("by_first").unwrap_or(false),
            weapon: text("weapon"),
            mover_first: data.get_bool("mover_first").unwrap_or(false),
        }),
        "highlight" => Payload::Highlight(HighlightNotice {
            kind: match data.get_str("kind").unwrap_or_default() {
                "streak" => HighlightKind::Streak,
                "streak_end" => HighlightKind::StreakEnd,
                "revenge" => HighlightKind::Revenge,
                "long_shot" => HighlightKind::LongShot,
                _ => HighlightKind::Unspecified,
            } as i32,
            player: player("player"),
            other: player("other"),
            count: int(data, "count"),
            weapon: text("weapon"),
            distance_m: int(data, "distance_m"),
        }),
        "bounty" => Payload::Bounty(BountyNotice {
            bounty_id: text("bounty_id"),
            event: match data.get_str("event").unwrap_or_default() {
                "placed" => BountyEvent::Placed,
                "claimed" => BountyEvent::Claimed,
                "paid" => BountyEvent::Paid,
                "expired" => BountyEvent::Expired,
                "unclaimed" => BountyEvent::Unclaimed,
                _ => BountyEvent::Unspecified,
            } as i32,
            target: player("target"),
            reward: int(data, "reward"),
            reason: text("reason"),
            placed_by: data.get_str("placed_by").ok().and_then(|u| u.parse().ok()),
            expires_unix: int(data, "expires_unix"),
            hunter: player("hunter"),
            hunter_user: data
                .get_str("hunter_user")
                .ok()
                .and_then(|u| u.parse().ok()),
            paid: data.get_bool("paid").unwrap_or(false),
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
