//! The earlier bot's `economy` (PD `models/economy.py`): `{player_id, discord_id,
//! server_id, balance, lifetime_earnings, lifetime_spent, transactions[]}`, one per player
//! and naming no guild. Its commands could not run (they called model methods it did not
//! define), so most databases hold none; a balance an older version left is carried over
//! as an opening balance on the ledger ([`tower_store::ledger`]), posted under a key of
//! its own, so running it again pays nothing twice.
//!
//! The account is the Discord user's on that game server: `discord_id`, else the user
//! linked to the player there. The guild is the one whose imported server the
//! `server_id` names (a document may say it: `guild_id`); a server id imported for two
//! guilds cannot say which, and is reported. Its transaction history is not copied.

use mongodb::bson::Document;
use tower_store::ledger::{AccountId, Entry, Ledger, Posted, Recorded, Source};
use tower_store::player_links::PlayerLinks;

use super::{Report, ServerIds, discord_id, id_text, number, shown_id};

pub(super) async fn import(
    docs: &[Document],
    legacy_links: &[Document],
    servers: &ServerIds,
    (ledger, links): (&Ledger, &PlayerLinks),
    dry_run: bool,
    report: &mut Report,
) -> Result<(), String> {
    let db = |e: mongodb::error::Error| format!("MongoDB: {e}");
    let linked = super::player_links::LinkedUsers::new(links, legacy_links, servers, dry_run);
    for d in docs {
        let id = shown_id(d);
        let Some(balance) = d.get("balance").and_then(number) else {
            report.skip("economy", id, "no readable balance");
            continue;
        };
        if balance <= 0 {
            report.skip("economy", id, "a balance of 0: nothing to carry over");
            continue;
        }
        let Some(legacy_server) = d.get("server_id").and_then(id_text) else {
            report.skip("economy", id, "names no game server");
            continue;
        };
        let place = match discord_id(d.get("guild_id")) {
            Some(guild) => servers.ours(guild, &legacy_server).map(|s| (guild, s)),
            None => match servers.anywhere(&legacy_server).as_slice() {
                [one] => Some(one.clone()),
                [] => None,
                _ => {
                    report.skip(
                        "economy",
                        id,
                        format!(
                            "server_id {legacy_server:?} was imported for several guilds and the balance names none"
                        ),
                    );
                    continue;
                }
            },
        };
        let Some((guild, server)) = place else {
            report.skip(
                "economy",
                id,
                format!("server_id {legacy_server:?} is no imported server"),
            );
            continue;
        };
        let player = d
            .get_str("player_id")
            .map(|p| p.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let user = match discord_id(d.get("discord_id")) {
            Some(u) => Some(u),
            None if player.is_empty() => None,
            None => linked.of(guild, &server, &player).await?,
        };
        let Some(user) = user else {
            report.skip(
                "economy",
                id,
                "no Discord user: no discord_id, and its player is linked to no one here",
            );
            continue;
        };
        let entry = Entry {
            key: format!("legacy-economy:{guild}:{id}"),
            account: AccountId {
                guild_id: guild,
                server_id: server,
                user_id: user,
            },
            amount: balance,
            source: Source::AdminAdjustment,
            details: "Balance carried over from the earlier bot".to_owned(),
            reference: id.clone(),
        };
        let added = if dry_run {
            matches!(
                ledger.state(&entry.key).await.map_err(db)?,
                Recorded::Missing
            )
        } else {
            match ledger.post(&entry).await.map_err(db)? {
                Posted::Applied { earlier, .. } => !earlier,
                // A credit is never refused; said all the same.
                Posted::Refused { .. } => {
                    report.skip("economy", id, "the ledger refused the opening balance");
                    continue;
                }
            }
        };
        match added {
            true => Report::count(&mut report.imported, "economy"),
            false => Report::count(&mut report.already, "economy"),
        }
    }
    Ok(())
}
