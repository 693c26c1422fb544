//! The earlier bot's `factions` (PD `models/faction.py`), as this bot keeps them
//! ([`tower_store::factions`]), in either of the shapes its versions disagree on:
//! - the model's: `{guild_id, server_id, faction_name, faction_tag, description, color,
//!   owner_id, admin_ids[], member_ids[]}`;
//! - the one its cog read (`faction.leader_id`, `faction.require_approval`, members with
//!   a role): `{name, tag, leader_id, members: [{player_id, role}], require_approval}`.
//!
//! Members are players (EOS ids) there and Discord users here: each is the user linked to
//! that player on the server (links imported just before, or the earlier bot's own links
//! in a dry run). A member linked to no one is reported and left out. Imported members
//! count their earlier kills and deaths, as the earlier bot's faction statistics (its
//! members' totals) did. A faction whose name is here already is the same faction: only
//! the members it lacks are added, so running it again changes nothing.

use mongodb::bson::{Bson, Document};
use tower_store::factions::{FactionError, Factions, NewFaction, Role};
use tower_store::player_links::PlayerLinks;

use super::{Report, ServerIds, discord_id, id_text, number, shown_id};

/// An earlier faction's members: (EOS id, officer?), the leader first.
type Members = Vec<(String, bool)>;

pub(super) async fn import(
    docs: &[Document],
    legacy_links: &[Document],
    servers: &ServerIds,
    (factions, links): (&Factions, &PlayerLinks),
    dry_run: bool,
    report: &mut Report,
) -> Result<(), String> {
    let db = |e: mongodb::error::Error| format!("MongoDB: {e}");
    let linked = super::player_links::LinkedUsers::new(links, legacy_links, servers, dry_run);
    for d in docs {
        let id = shown_id(d);
        let Some(guild) = discord_id(d.get("guild_id")) else {
            report.skip("factions", id, "no readable guild_id");
            continue;
        };
        let Some(legacy_server) = d.get("server_id").and_then(id_text) else {
            report.skip("factions", id, "names no game server");
            continue;
        };
        let Some(server) = servers.ours(guild, &legacy_server) else {
            report.skip(
                "factions",
                id,
                format!("server_id {legacy_server:?} is no imported server of guild {guild}"),
            );
            continue;
        };
        let text = |a: &str, b: &str| {
            d.get_str(a)
                .or_else(|_| d.get_str(b))
                .unwrap_or_default()
                .to_owned()
        };
        let (name, tag) = (text("faction_name", "name"), text("faction_tag", "tag"));
        let new = NewFaction {
            name: &name,
            tag: &tag,
            description: d.get_str("description").unwrap_or_default(),
            colour: d.get("color").and_then(colour),
        };
        let Some(members) = members(d) else {
            report.skip("factions", id, "no leader (owner_id or leader_id)");
            continue;
        };
        // Each member's Discord user, as linked on the server.
        let mut users: Vec<(String, Option<u64>, bool)> = Vec::with_capacity(members.len());
        for (player, officer) in members {
            let user = linked.of(guild, &server, &player).await?;
            users.push((player, user, officer));
        }
        let Some(&(ref leader_player, Some(leader), _)) = users.first() else {
            report.skip(
                "factions",
                id,
                "its leader's player is linked to no Discord user here",
            );
            continue;
        };
        let leader_player = leader_player.clone();
        let existing = factions.find(guild, &server, &name).await.map_err(db)?;
        let faction = match existing {
            Some(f) if f.name.eq_ignore_ascii_case(name.trim()) => {
                Report::count(&mut report.already, "factions");
                Some(f)
            }
            _ if dry_run => {
                // Checked as creating it would check it.
                if let Err(e) = tower_store::factions::checked_name(&name)
                    .and_then(|_| tower_store::factions::checked_tag(&tag))
                {
                    report.skip("factions", id, e.to_string());
                    continue;
                }
                Report::count(&mut report.imported, "factions");
                None
            }
            _ => match factions.create(guild, &server, leader, &new).await {
                Ok(f) => {
                    Report::count(&mut report.imported, "factions");
                    let approval = d.get_bool("require_approval").unwrap_or(false);
                    factions
                        .set_require_approval(&f, approval)
                        .await
                        .map_err(db)?;
                    // The leader's record before founding counts, as the earlier bot's did.
                    counted(factions.count_history(&f, leader).await)?;
                    Some(f)
                }
                Err(FactionError::Db(e)) => return Err(db(e)),
                Err(e) => {
                    report.skip("factions", id, e.to_string());
                    continue;
                }
            },
        };
        for (player, user, officer) in users.into_iter().skip(1) {
            if player == leader_player {
                continue;
            }
            let member = format!("{id}:{player}");
            let Some(user) = user else {
                report.skip(
                    "faction_members",
                    member,
                    "the player is linked to no Discord user here",
                );
                continue;
            };
            let Some(f) = &faction else {
                // A dry run: the faction would be created, and the member added to it.
                Report::count(&mut report.imported, "faction_members");
                continue;
            };
            if dry_run {
                let theirs = factions.of_user(guild, &server, user).await.map_err(db)?;
                match theirs {
                    Some((g, _)) if g.id == f.id => {
                        Report::count(&mut report.already, "faction_members");
                    }
                    _ => Report::count(&mut report.imported, "faction_members"),
                }
                continue;
            }
            match factions.join(f, user, true).await {
                Ok(()) => Report::count(&mut report.imported, "faction_members"),
                Err(FactionError::AlreadyMember(n)) if n == f.name => {
                    Report::count(&mut report.already, "faction_members");
                    continue;
                }
                Err(FactionError::Db(e)) => return Err(db(e)),
                Err(e) => {
                    report.skip("faction_members", member, e.to_string());
                    continue;
                }
            }
            counted(factions.count_history(f, user).await)?;
            if officer {
                match factions.set_role(f, user, Role::Officer).await {
                    Ok(()) => {}
                    Err(FactionError::Db(e)) => return Err(db(e)),
                    Err(e) => report.skip("faction_members", member, e.to_string()),
                }
            }
        }
    }
    Ok(())
}

/// A membership's earlier record counted; a member gone meanwhile is no failure.
fn counted(r: Result<(), FactionError>) -> Result<(), String> {
    match r {
        Ok(()) | Err(FactionError::NotMember) => Ok(()),
        Err(e) => Err(format!("MongoDB: {e}")),
    }
}

/// The leader and members of an earlier faction, in either shape (leader first).
fn members(d: &Document) -> Option<Members> {
    let leader = player_id(d.get("owner_id").or(d.get("leader_id")))?;
    let mut out: Members = vec![(leader.clone(), false)];
    let officers: Vec<String> = d
        .get_array("admin_ids")
        .map(|a| a.iter().filter_map(|b| player_id(Some(b))).collect())
        .unwrap_or_default();
    let mut add = |player: String, officer: bool| {
        if !out.iter().any(|(p, _)| *p == player) {
            out.push((player, officer));
        }
    };
    for b in d
        .get_array("member_ids")
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        if let Some(p) = player_id(Some(b)) {
            let officer = officers.contains(&p);
            add(p, officer);
        }
    }
    for m in d
        .get_array("members")
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let Some(m) = m.as_document() else { continue };
        if let Some(p) = player_id(m.get("player_id")) {
            let officer = matches!(m.get_str("role"), Ok("officer" | "admin"));
            add(p, officer);
        }
    }
    Some(out)
}

/// An EOS player id (32 hex digits), lower case.
fn player_id(value: Option<&Bson>) -> Option<String> {
    let text = value.and_then(id_text)?;
    let text = text.trim();
    (text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| text.to_ascii_lowercase())
}

/// A colour as the earlier bot stored it: an integer, or `#RRGGBB`/a colour name.
fn colour(value: &Bson) -> Option<u32> {
    match value {
        Bson::String(s) => tower_store::factions::parse_colour(s),
        other => number(other)
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n <= 0xFF_FF_FF),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::doc;

    const A: &str = "0002ca35475e48e28fdf97e052dc130f";
    const B: &str = "00024afed387453195c040bb85708405";
    const C: &str = "00022ba2df89427c8a252ab6be1df3f3";

    #[test]
    fn both_shapes_give_the_leader_first_and_the_officers() {
        let model = doc! { "owner_id": A, "admin_ids": [A, B], "member_ids": [A, B, C] };
        assert_eq!(
            members(&model),
            Some(vec![
                (A.to_owned(), false),
                (B.to_owned(), true),
                (C.to_owned(), false)
            ])
        );
        let cog = doc! { "leader_id": A.to_uppercase(), "members": [
            { "player_id": A, "role": "leader" },
            { "player_id": B, "role": "member" },
            { "player_id": C, "role": "officer" },
            { "player_id": "not an id" },
        ] };
        assert_eq!(
            members(&cog),
            Some(vec![
                (A.to_owned(), false),
                (B.to_owned(), false),
                (C.to_owned(), true)
            ])
        );
        assert_eq!(members(&doc! { "member_ids": [A] }), None);
        assert_eq!(colour(&Bson::Int64(0x7289DA)), Some(0x7289DA));
        assert_eq!(colour(&Bson::String("#FF0000".to_owned())), Some(0xFF0000));
        assert_eq!(colour(&Bson::Int64(-1)), None);
    }
}
