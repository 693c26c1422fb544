//! The earlier bot's `player_links`: a Discord user's in-game player on one server.
//!
//! Its `/link` never wrote one (the model methods it called did not exist), but a database
//! may hold links from an older version or written by hand, in one of two shapes:
//! `{server_id, guild_id, discord_id, player_id, player_name, verified}`, which this bot
//! keeps, and `{player_id, guild_id, link_type, linked_id, status}`, which names no server
//! (so it cannot say which server's player it is) and is reported.

use std::collections::HashMap;

use mongodb::bson::Document;
use tower_store::player_links::{PlayerLink, PlayerLinks};

use super::{Report, ServerIds, discord_id, id_text, shown_id};

/// Imports every link it can; a link this bot already has for the same user and server
/// is left as it is.
pub(super) async fn import(
    links: &[Document],
    servers: &ServerIds,
    store: &PlayerLinks,
    dry_run: bool,
    report: &mut Report,
) -> Result<(), String> {
    for d in links {
        let id = shown_id(d);
        let Some(guild) = discord_id(d.get("guild_id")) else {
            report.skip("player_links", id, "no readable guild_id");
            continue;
        };
        if d.get_str("status").ok() == Some("inactive") {
            report.skip("player_links", id, "unlinked in the earlier bot");
            continue;
        }
        let Some(discord) = discord_id(d.get("discord_id")).or(discord_id(d.get("linked_id")))
        else {
            report.skip("player_links", id, "no readable Discord user id");
            continue;
        };
        let Some(legacy_server) = d.get("server_id").and_then(id_text) else {
            report.skip(
                "player_links",
                id,
                "names no game server (this shape of link has none)",
            );
            continue;
        };
        let Some(server) = servers.ours(guild, &legacy_server) else {
            report.skip(
                "player_links",
                id,
                format!("server_id {legacy_server:?} is no imported server of guild {guild}"),
            );
            continue;
        };
        let Some(player_id) = d
            .get_str("player_id")
            .ok()
            .map(str::trim)
            .filter(|p| p.len() == 32 && p.bytes().all(|b| b.is_ascii_hexdigit()))
        else {
            report.skip("player_links", id, "no player id (32 hex digits)");
            continue;
        };
        let link = PlayerLink {
            server_id: server,
            player_id: player_id.to_ascii_lowercase(),
            player_name: d.get_str("player_name").unwrap_or_default().to_owned(),
        };
        // One Discord user per player and server, as /link keeps it.
        if let Some(other) = store
            .holder(guild, &link.server_id, &link.player_id)
            .await
            .map_err(|e| format!("MongoDB: {e}"))?
            .filter(|h| *h != discord)
        {
            report.skip(
                "player_links",
                id,
                format!("the player is linked to another Discord user here ({other})"),
            );
            continue;
        }
        let added = if dry_run {
            !store
                .of_user(guild, discord)
                .await
                .map_err(|e| format!("MongoDB: {e}"))?
                .iter()
                .any(|l| l.server_id == link.server_id)
        } else {
            store
                .link_if_absent(guild, discord, &link)
                .await
                .map_err(|e| format!("MongoDB: {e}"))?
        };
        match added {
            true => Report::count(&mut report.imported, "player_links"),
            false => Report::count(&mut report.already, "player_links"),
        }
    }
    Ok(())
}

/// Who is linked to a player on an imported server, for the imports that name players
/// (factions, balances): the links this bot holds, and in a dry run (nothing written yet)
/// the earlier bot's own active links, as [`import`] would take them.
pub(super) struct LinkedUsers<'a> {
    store: &'a PlayerLinks,
    earlier: HashMap<(u64, String, String), u64>,
}

impl<'a> LinkedUsers<'a> {
    pub(super) fn new(
        store: &'a PlayerLinks,
        legacy_links: &[Document],
        servers: &ServerIds,
        dry_run: bool,
    ) -> Self {
        let earlier = legacy_links
            .iter()
            .filter(|_| dry_run)
            .filter(|l| l.get_str("status").ok() != Some("inactive"))
            .filter_map(|l| {
                let guild = discord_id(l.get("guild_id"))?;
                let server = servers.ours(guild, &l.get("server_id").and_then(id_text)?)?;
                let user = discord_id(l.get("discord_id")).or(discord_id(l.get("linked_id")))?;
                let player = l.get_str("player_id").ok()?.trim().to_ascii_lowercase();
                Some(((guild, server, player), user))
            })
            .collect();
        Self { store, earlier }
    }

    /// The Discord user linked to `player` (an EOS id, lower case) on the server.
    pub(super) async fn of(
        &self,
        guild: u64,
        server: &str,
        player: &str,
    ) -> Result<Option<u64>, String> {
        let held = self
            .store
            .holder(guild, server, player)
            .await
            .map_err(|e| format!("MongoDB: {e}"))?;
        Ok(held.or_else(|| {
            self.earlier
                .get(&(guild, server.to_owned(), player.to_owned()))
                .copied()
        }))
    }
}
