//! The earlier bot's `bounties` (PD `models/bounty.py`): `{bounty_id, guild_id, server_id,
//! target_id, target_name, placed_by_id, placed_by_name, amount, status, bounty_type,
//! claimed_by_id, claimed_by_name, claimed_at, expires_at, created_at, requirement:
//! {reason}}`, as this bot keeps them ([`tower_store::bounties`]).
//!
//! Its statuses map as: `active` stays active (claimed by a kill here, refunded to its
//! placer when it expires, as this bot does); `claimed` is kept claimed and settled (the
//! earlier bot never paid hunters, so nothing is paid now); `expired` and `cancelled`
//! are kept expired and settled (nothing is refunded for the past). An `active` one past
//! its expiry is kept expired and settled too: its placer's money was in the earlier
//! bot's economy, which is not imported.

use mongodb::bson::{DateTime, Document};
use tower_store::bounties::{Bounties, Imported, Status};

use super::{Report, ServerIds, discord_id, id_text, number, shown_id};

pub(super) async fn import(
    bounties: &[Document],
    servers: &ServerIds,
    store: &Bounties,
    dry_run: bool,
    report: &mut Report,
) -> Result<(), String> {
    let now = DateTime::now();
    for d in bounties {
        let id = d
            .get("bounty_id")
            .and_then(id_text)
            .filter(|i| !i.is_empty())
            .unwrap_or_else(|| shown_id(d));
        let Some(guild) = discord_id(d.get("guild_id")) else {
            report.skip("bounties", id, "no readable guild_id");
            continue;
        };
        let Some(legacy_server) = d.get("server_id").and_then(id_text) else {
            report.skip("bounties", id, "names no game server");
            continue;
        };
        let Some(server) = servers.ours(guild, &legacy_server) else {
            report.skip(
                "bounties",
                id,
                format!("server_id {legacy_server:?} is no imported server of guild {guild}"),
            );
            continue;
        };
        let Some(target_id) = d
            .get_str("target_id")
            .ok()
            .map(str::trim)
            .filter(|p| p.len() == 32 && p.bytes().all(|b| b.is_ascii_hexdigit()))
        else {
            report.skip("bounties", id, "no target player id (32 hex digits)");
            continue;
        };
        let Some(reward) = d
            .get("amount")
            .or(d.get("reward"))
            .and_then(number)
            .filter(|n| *n > 0)
        else {
            report.skip("bounties", id, "no positive amount");
            continue;
        };
        let expires_at = d.get_datetime("expires_at").ok().copied();
        let status = match d.get_str("status").unwrap_or("active") {
            "active" if expires_at.is_some_and(|e| e > now) => Status::Active,
            "active" | "expired" | "cancelled" => Status::Expired,
            "claimed" => Status::Claimed,
            other => {
                report.skip("bounties", id, format!("unknown status {other:?}"));
                continue;
            }
        };
        let auto = d.get_str("bounty_type").ok() == Some("auto")
            || d.get_str("source").ok() == Some("auto");
        let reason = d
            .get_document("requirement")
            .ok()
            .and_then(|r| r.get_str("reason").ok())
            .or(d.get_str("reason").ok())
            .unwrap_or("No reason provided");
        let hunter = (status == Status::Claimed).then(|| {
            (
                d.get("claimed_by_id")
                    .and_then(id_text)
                    .unwrap_or_default()
                    .to_ascii_lowercase(),
                d.get_str("claimed_by_name").unwrap_or_default().to_owned(),
                d.get_datetime("claimed_at").ok().copied().unwrap_or(now),
            )
        });
        let imported = Imported {
            id: id.clone(),
            guild_id: guild,
            server_id: server,
            target_id: target_id.to_ascii_lowercase(),
            target_name: d.get_str("target_name").unwrap_or_default().to_owned(),
            reward,
            reason: reason.chars().take(200).collect(),
            placed_by: if auto {
                None
            } else {
                discord_id(d.get("placed_by_id")).or(discord_id(d.get("placed_by")))
            },
            created_at: d.get_datetime("created_at").ok().copied().unwrap_or(now),
            expires_at: expires_at.unwrap_or(now),
            status,
            hunter,
        };
        let added = if dry_run {
            store
                .get(&imported.id)
                .await
                .map_err(|e| format!("MongoDB: {e}"))?
                .is_none()
        } else {
            store
                .import(&imported)
                .await
                .map_err(|e| format!("MongoDB: {e}"))?
        };
        match added {
            true => Report::count(&mut report.imported, "bounties"),
            false => Report::count(&mut report.already, "bounties"),
        }
    }
    Ok(())
}
