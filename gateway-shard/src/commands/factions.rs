//! `/faction create|info|list|join|leave|add|remove|promote|edit|stats|delete|set_require_approval`
//! and the "View Faction" member menu (EARLIER-BOT.md §2.14; tier 3): groups of players on
//! a server, kept by [`tower_store::factions`]. Names, options and messages are the
//! earlier bot's; `server_id` may be omitted (the guild's default server, else its first).
//! Leaving and deleting ask first (Confirm / Cancel, only for who ran it, three minutes).

use twilight_model::channel::message::Embed;
use twilight_util::builder::embed::{EmbedBuilder, EmbedFieldBuilder};

use tower_daemon::telemetry::now_unix_ms;
use tower_store::factions::{
    COLOURS, Faction, FactionError, FactionFields, FactionStats, Factions, NewFaction, Role,
    parse_colour,
};
use tower_store::game_servers::GameServer;
use tower_store::guilds::GuildSettings;

use crate::access::Caller;
use crate::bot::Bot;
use crate::embeds::{colour, shown};
use crate::options::Invocation;
use crate::reply::{CommandError, Reply};

/// The user context menu's name (a member → Apps → View Faction).
pub const VIEW_FACTION: &str = "View Faction";

/// How long the Confirm and Cancel buttons work (the earlier bot's view timeout).
const CONFIRM_FOR_SECS: i64 = 180;

/// Members' records shown on `/faction stats`.
const TOP_PLAYERS: usize = 5;

pub async fn run(
    bot: &Bot,
    caller: &Caller,
    guild: &GuildSettings,
    inv: &Invocation,
) -> Result<Reply, CommandError> {
    let server = one_server(bot, caller, inv).await?;
    let factions = Factions::new(&bot.db);
    let server_id = server.server.as_str();
    let g = caller.guild_id;
    let admin = bot.is_admin(caller, guild);
    match inv.path.as_str() {
        "faction create" => {
            let links = bot.links.of_user(g, caller.user_id).await.map_err(failed)?;
            if !links.iter().any(|l| l.server_id == server_id) {
                return Ok(notice(
                    "No Linked Player",
                    format!(
                        "You need a linked player on server `{}` to create a faction. Use `/link` first.",
                        shown(&server.name, 100)
                    ),
                ));
            }
            let colour = match inv.opt_str("color")? {
                Some(c) => Some(colour_of(c)?),
                None => None,
            };
            let new = NewFaction {
                name: inv.str("name")?,
                tag: inv.str("tag")?,
                description: inv.opt_str("description")?.unwrap_or_default(),
                colour,
            };
            let f = factions
                .create(g, server_id, caller.user_id, &new)
                .await
                .map_err(|e| refusal(e, "before creating a new one"))?;
            let embed = EmbedBuilder::new()
                .title("Faction Created")
                .description(format!(
                    "You have successfully created the faction **{}** [{}].",
                    shown(&f.name, 32),
                    shown(&f.tag, 10)
                ))
                .color(f.colour.unwrap_or(colour::SUCCESS))
                .field(EmbedFieldBuilder::new(
                    "Description",
                    shown(non_empty(&f.description, "No description."), 1000),
                ))
                .field(EmbedFieldBuilder::new("Members", "1").inline())
                .build();
            Ok(Reply::embed(embed))
        }
        "faction info" => {
            let f = named(&factions, g, &server, inv.str("name")?).await?;
            Ok(Reply::embed(faction_embed(&factions, &f, None).await?))
        }
        "faction list" => {
            let list = factions.list(g, server_id).await.map_err(failed)?;
            if list.is_empty() {
                return Ok(notice(
                    "No Factions",
                    "There are no factions on this server yet. Use `/faction create` to create one.",
                ));
            }
            let mut embeds = Vec::with_capacity(list.len());
            for f in &list {
                embeds.push(faction_embed(&factions, f, None).await?);
            }
            Ok(Reply::embeds(embeds))
        }
        "faction join" => {
            let f = named(&factions, g, &server, inv.str("name")?).await?;
            factions
                .join(&f, caller.user_id, false)
                .await
                .map_err(|e| refusal(e, "before joining another"))?;
            Ok(Reply::done(
                "Faction Joined",
                format!(
                    "You have successfully joined **{}** [{}].",
                    shown(&f.name, 32),
                    shown(&f.tag, 10)
                ),
            ))
        }
        "faction leave" => {
            let Some((f, role)) = factions
                .of_user(g, server_id, caller.user_id)
                .await
                .map_err(failed)?
            else {
                return Ok(not_in_faction(&server));
            };
            if role == Role::Leader {
                return Ok(notice(
                    "Faction Leader",
                    "You are the leader of this faction. Transfer leadership with `/faction promote` before leaving.",
                ));
            }
            Ok(ask(
                caller,
                server_id,
                &f,
                Action::Leave,
                format!(
                    "Are you sure you want to leave **{}** [{}]?",
                    shown(&f.name, 32),
                    shown(&f.tag, 10)
                ),
            ))
        }
        "faction add" | "faction remove" => {
            let f = named(&factions, g, &server, inv.str("faction_name")?).await?;
            let (user, player) = linked_player(bot, g, &server, inv.str("player_name")?).await?;
            if inv.path == "faction add" {
                match factions.join(&f, user, true).await {
                    Err(FactionError::AlreadyMember(other)) => {
                        return Err(CommandError::invalid(
                            format!(
                                "**{}** is already a member of {other}.",
                                shown(&player, 100)
                            ),
                            "Remove them from that faction first (/faction remove).",
                        ));
                    }
                    other => other.map_err(|e| refusal(e, ""))?,
                }
                // Their kills from before count only when the admin asks.
                let history = inv.opt_bool("count_earlier_kills")?.unwrap_or(false);
                if history {
                    factions
                        .count_history(&f, user)
                        .await
                        .map_err(|e| refusal(e, ""))?;
                }
                return Ok(Reply::done(
                    "Member Added",
                    format!(
                        "**{}** is now a member of **{}** [{}].{}",
                        shown(&player, 100),
                        shown(&f.name, 32),
                        shown(&f.tag, 10),
                        if history {
                            " Their earlier kills and deaths count for it too."
                        } else {
                            ""
                        }
                    ),
                ));
            }
            match factions.remove(&f, user).await {
                Err(FactionError::LeaderMustTransfer) => Ok(notice(
                    "Cannot Remove Leader",
                    "Cannot remove the faction leader. Transfer leadership first.",
                )),
                other => {
                    other.map_err(|e| refusal(e, ""))?;
                    Ok(Reply::done(
                        "Member Removed",
                        format!(
                            "**{}** was removed from **{}** [{}].",
                            shown(&player, 100),
                            shown(&f.name, 32),
                            shown(&f.tag, 10)
                        ),
                    ))
                }
            }
        }
        "faction promote" => {
            let f = named(&factions, g, &server, inv.str("faction_name")?).await?;
            leader_or_admin(&f, caller, admin)?;
            let (user, player) = linked_player(bot, g, &server, inv.str("player_name")?).await?;
            let role = match inv.opt_str("role")?.unwrap_or("officer") {
                "leader" => Role::Leader,
                "member" => Role::Member,
                _ => Role::Officer,
            };
            if role == Role::Leader {
                // The lead is not taken back by the leader alone: asked first.
                if !factions
                    .members(&f)
                    .await
                    .map_err(failed)?
                    .iter()
                    .any(|m| m.user_id == user)
                {
                    return Err(refusal(FactionError::NotMember, ""));
                }
                return Ok(ask(
                    caller,
                    server.server.as_str(),
                    &f,
                    Action::HandOver(user),
                    format!(
                        "Are you sure you want to transfer leadership of **{}** to **{}**? You will be demoted to officer.",
                        shown(&f.name, 32),
                        shown(&player, 100)
                    ),
                ));
            }
            factions
                .set_role(&f, user, role)
                .await
                .map_err(|e| refusal(e, ""))?;
            let done = match role {
                Role::Leader => "Transferred leadership to".to_owned(),
                r => format!("Promoted to {}", r.as_str()),
            };
            Ok(Reply::done(
                "Member Promoted",
                format!(
                    "Successfully {done} **{}** in **{}** [{}].",
                    shown(&player, 100),
                    shown(&f.name, 32),
                    shown(&f.tag, 10)
                ),
            ))
        }
        "faction edit" => {
            let f = named(&factions, g, &server, inv.str("faction_name")?).await?;
            leader_or_admin(&f, caller, admin)?;
            let fields = FactionFields {
                name: inv.opt_str("new_name")?.map(str::to_owned),
                tag: inv.opt_str("new_tag")?.map(str::to_owned),
                description: inv.opt_str("description")?.map(str::to_owned),
                colour: match inv.opt_str("color")? {
                    Some(c) => Some(colour_of(c)?),
                    None => None,
                },
            };
            if fields == FactionFields::default() {
                return Ok(notice("No Changes", "No changes specified."));
            }
            let edited = factions
                .edit(&f, &fields)
                .await
                .map_err(|e| refusal(e, ""))?;
            let mut changed = Vec::new();
            if fields.name.is_some() {
                changed.push(format!("Name: {}", shown(&edited.name, 32)));
            }
            if fields.tag.is_some() {
                changed.push(format!("Tag: {}", shown(&edited.tag, 10)));
            }
            if fields.description.is_some() {
                changed.push(format!("Description: {}", shown(&edited.description, 200)));
            }
            if let Some(c) = edited.colour.filter(|_| fields.colour.is_some()) {
                changed.push(format!("Color: #{c:06X}"));
            }
            Ok(Reply::done("Faction Updated", changed.join("\n")))
        }
        "faction stats" => {
            let f = match inv.opt_str("faction_name")? {
                Some(name) => named(&factions, g, &server, name).await?,
                None => match factions
                    .of_user(g, server_id, caller.user_id)
                    .await
                    .map_err(failed)?
                {
                    Some((f, _)) => f,
                    None => return Ok(not_in_faction(&server)),
                },
            };
            let stats = factions.stats(&f).await.map_err(failed)?;
            let embed = stats_embed(&f, &stats);
            Ok(Reply::embed(embed))
        }
        "faction delete" => {
            let f = named(&factions, g, &server, inv.str("faction_name")?).await?;
            leader_or_admin(&f, caller, admin)?;
            Ok(ask(
                caller,
                server_id,
                &f,
                Action::Delete,
                format!(
                    "Are you sure you want to delete **{}** [{}]? Its members leave it; its history is kept for the season archive.",
                    shown(&f.name, 32),
                    shown(&f.tag, 10)
                ),
            ))
        }
        "faction set_require_approval" => {
            let f = named(&factions, g, &server, inv.str("faction_name")?).await?;
            leader_or_admin(&f, caller, admin)?;
            let require = inv.opt_bool("require_approval")?.ok_or_else(|| {
                CommandError::invalid("require_approval is missing.", "Choose True or False.")
            })?;
            factions
                .set_require_approval(&f, require)
                .await
                .map_err(failed)?;
            Ok(Reply::done(
                "Faction Updated",
                format!(
                    "**{}** [{}] {}.",
                    shown(&f.name, 32),
                    shown(&f.tag, 10),
                    if require {
                        "now requires approval to join"
                    } else {
                        "is now open to join"
                    }
                ),
            ))
        }
        other => Err(super::unknown(other)),
    }
}

/// "View Faction" on a member: their faction on the chosen server, with their role.
pub async fn of_member(
    bot: &Bot,
    caller: &Caller,
    inv: &Invocation,
) -> Result<Reply, CommandError> {
    let Some(member) = inv.target_user else {
        return Err(super::unknown(&inv.path));
    };
    let server = one_server(bot, caller, inv).await?;
    let factions = Factions::new(&bot.db);
    match factions
        .of_user(caller.guild_id, server.server.as_str(), member)
        .await
        .map_err(failed)?
    {
        Some((f, role)) => Ok(Reply::embed(
            faction_embed(&factions, &f, Some(role)).await?,
        )),
        None => Ok(notice(
            "No Faction",
            format!(
                "<@{member}> is not in a faction on server `{}`.",
                shown(&server.name, 100)
            ),
        )),
    }
}

/// What a Confirm or Cancel button asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Leave,
    Delete,
    /// The lead handed to this member.
    HandOver(u64),
}

/// A Confirm or Cancel button of `/faction leave`, `/faction delete` or a lead handed
/// over (`/faction promote role:leader`), carried in its `custom_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactionButton {
    pub confirm: bool,
    pub action: Action,
    pub caller: u64,
    pub expires_unix: i64,
    pub server: String,
    pub faction_id: String,
}

impl FactionButton {
    pub const PREFIX: &'static str = "fa";

    pub fn custom_id(&self) -> String {
        let mut id = format!(
            "{}|{}|{}|{}|{}|{}|{}",
            Self::PREFIX,
            if self.confirm { "y" } else { "n" },
            match self.action {
                Action::Leave => "l",
                Action::Delete => "d",
                Action::HandOver(_) => "h",
            },
            super::buttons::radix36(self.caller),
            super::buttons::radix36_time(self.expires_unix),
            self.server,
            self.faction_id
        );
        if let Action::HandOver(to) = self.action {
            id.push('|');
            id.push_str(&super::buttons::radix36(to));
        }
        id
    }

    pub fn parse(custom_id: &str) -> Option<Self> {
        let mut parts = custom_id.split('|');
        if parts.next()? != Self::PREFIX {
            return None;
        }
        let confirm = match parts.next()? {
            "y" => true,
            "n" => false,
            _ => return None,
        };
        let action = parts.next()?;
        let caller = super::buttons::from_radix36(parts.next()?)?;
        let expires_unix = i64::try_from(super::buttons::from_radix36(parts.next()?)?).ok()?;
        let server = parts.next()?.to_owned();
        let faction_id = parts.next()?.to_owned();
        let action = match action {
            "l" => Action::Leave,
            "d" => Action::Delete,
            "h" => Action::HandOver(super::buttons::from_radix36(parts.next()?)?),
            _ => return None,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(Self {
            confirm,
            action,
            caller,
            expires_unix,
            server,
            faction_id,
        })
    }
}

/// A Confirm or Cancel button pressed: the message edited to the outcome, or a private
/// refusal.
pub async fn pressed(bot: &Bot, caller: &Caller, custom_id: &str) -> Result<Reply, CommandError> {
    let button = FactionButton::parse(custom_id).ok_or_else(super::buttons::not_ours)?;
    let rules = super::buttons::PressRules {
        owner: button.caller,
        expires_unix: button.expires_unix,
        noun: "buttons",
        not_yours: "Only who ran this command can confirm or cancel it.",
        expired: "Nothing was changed. Run the command again.",
    };
    if let Some(refusal) = rules.refusal(caller.user_id) {
        return Ok(refusal);
    }
    if !button.confirm {
        return Ok(Reply::done("Cancelled", "Nothing was changed."));
    }
    let factions = Factions::new(&bot.db);
    let Some(f) = factions
        .get(caller.guild_id, &button.server, &button.faction_id)
        .await
        .map_err(failed)?
        .filter(|f| f.deleted_unix.is_none())
    else {
        return Ok(notice(
            "Faction Not Found",
            "That faction no longer exists.",
        ));
    };
    match button.action {
        Action::Leave => {
            // The faction the question named: one joined since is not left by this press.
            match factions.remove(&f, caller.user_id).await {
                Err(FactionError::NotMember) => {
                    return Ok(notice(
                        "Not in a Faction",
                        format!(
                            "You are no longer a member of **{}** [{}].",
                            shown(&f.name, 32),
                            shown(&f.tag, 10)
                        ),
                    ));
                }
                Err(FactionError::LeaderMustTransfer) => {
                    return Ok(notice(
                        "Faction Leader",
                        "You are the leader of this faction. Transfer leadership with `/faction promote` before leaving.",
                    ));
                }
                other => other.map_err(|e| refusal(e, ""))?,
            }
            Ok(Reply::done(
                "Faction Left",
                format!(
                    "You have left **{}** [{}].",
                    shown(&f.name, 32),
                    shown(&f.tag, 10)
                ),
            ))
        }
        Action::HandOver(to) => {
            // Still the leader or an admin now (the lead may have been handed over since).
            let guild = bot.settings.get(caller.guild_id).await.map_err(failed)?;
            leader_or_admin(&f, caller, bot.is_admin(caller, &guild))?;
            factions
                .set_role(&f, to, Role::Leader)
                .await
                .map_err(|e| refusal(e, ""))?;
            // Named by their player on the server, as the question named them.
            // (The lead is handed over already: a failed read only names them otherwise.)
            let player = bot
                .links
                .of_user(caller.guild_id, to)
                .await
                .unwrap_or_default()
                .into_iter()
                .find(|l| l.server_id == button.server)
                .map_or(format!("<@{to}>"), |l| shown(&l.player_name, 100));
            Ok(Reply::done(
                "Member Promoted",
                format!(
                    "Successfully Transferred leadership to **{player}** in **{}** [{}].",
                    shown(&f.name, 32),
                    shown(&f.tag, 10)
                ),
            ))
        }
        Action::Delete => {
            // Still the leader or an admin now (the lead may have been handed over since).
            let guild = bot.settings.get(caller.guild_id).await.map_err(failed)?;
            leader_or_admin(&f, caller, bot.is_admin(caller, &guild))?;
            factions.delete(&f).await.map_err(failed)?;
            Ok(Reply::done(
                "Faction Deleted",
                format!(
                    "**{}** [{}] was deleted. Its history is kept for the season archive.",
                    shown(&f.name, 32),
                    shown(&f.tag, 10)
                ),
            ))
        }
    }
}

/// The question of a leave or a delete, with its buttons.
fn ask(caller: &Caller, server_id: &str, f: &Faction, action: Action, question: String) -> Reply {
    let button = |confirm| FactionButton {
        confirm,
        action,
        caller: caller.user_id,
        expires_unix: now_unix_ms() / 1000 + CONFIRM_FOR_SECS,
        server: server_id.to_owned(),
        faction_id: f.id.clone(),
    };
    let row = super::buttons::confirm_row(
        match action {
            Action::Leave => "Leave",
            Action::Delete => "Delete",
            Action::HandOver(_) => "Hand Over",
        },
        button(true).custom_id(),
        button(false).custom_id(),
    );
    let embed = EmbedBuilder::new()
        .title(match action {
            Action::Leave => "Leave Faction?",
            Action::Delete => "Delete Faction?",
            Action::HandOver(_) => "Hand Over the Lead?",
        })
        .description(question)
        .color(colour::WARNING)
        .build();
    Reply::embed(embed).with_components(vec![row])
}

/// [`faction_card`], with the faction's members read.
async fn faction_embed(
    factions: &Factions,
    f: &Faction,
    role: Option<Role>,
) -> Result<Embed, CommandError> {
    let members = factions.members(f).await.map_err(failed)?;
    let officers = members.iter().filter(|m| m.role == Role::Officer).count();
    let plain = members.iter().filter(|m| m.role == Role::Member).count();
    Ok(faction_card(f, officers, plain, role))
}

/// The earlier bot's faction embed: name and tag, description, leader, membership (its
/// officers and other members); with `role`, a member's.
pub fn faction_card(f: &Faction, officers: usize, plain: usize, role: Option<Role>) -> Embed {
    let mut e = EmbedBuilder::new()
        .title(format!("{} [{}]", shown(&f.name, 32), shown(&f.tag, 10)))
        .description(shown(non_empty(&f.description, "No description."), 1000))
        .color(f.colour.unwrap_or(colour::INFO))
        .field(EmbedFieldBuilder::new("Leader", format!("<@{}>", f.leader_id)).inline())
        .field(
            EmbedFieldBuilder::new(
                "Membership",
                format!("👑 Leader: 1\n🛡️ Officers: {officers}\n👥 Members: {plain}"),
            )
            .inline(),
        )
        .field(
            EmbedFieldBuilder::new(
                "Joining",
                if f.require_approval {
                    "Approval required"
                } else {
                    "Open"
                },
            )
            .inline(),
        );
    if let Some(role) = role {
        let shown_role = match role {
            Role::Leader => "Leader",
            Role::Officer => "Officer",
            Role::Member => "Member",
        };
        e = e.field(EmbedFieldBuilder::new("Role", shown_role).inline());
    }
    e.build()
}

/// `/faction stats`: kills, deaths, K/D to 2 decimals, friendly kills, the top members.
pub fn stats_embed(f: &Faction, stats: &FactionStats) -> Embed {
    let top: Vec<String> = stats
        .players
        .iter()
        .take(TOP_PLAYERS)
        .map(|p| {
            format!(
                "**{}**: {} kills, {} deaths",
                shown(&p.name, 64),
                p.kills,
                p.deaths
            )
        })
        .collect();
    EmbedBuilder::new()
        .title(format!(
            "📊 {} [{}] Statistics",
            shown(&f.name, 32),
            shown(&f.tag, 10)
        ))
        .description("Members' kills and deaths while they were members.")
        .color(f.colour.unwrap_or(colour::INFO))
        .field(EmbedFieldBuilder::new("Kills", stats.kills.to_string()).inline())
        .field(EmbedFieldBuilder::new("Deaths", stats.deaths.to_string()).inline())
        .field(EmbedFieldBuilder::new("K/D Ratio", format!("{:.2}", stats.kd())).inline())
        .field(EmbedFieldBuilder::new("Friendly Kills", stats.friendly_kills.to_string()).inline())
        .field(EmbedFieldBuilder::new(
            "Top Players",
            if top.is_empty() {
                "No kills yet.".to_owned()
            } else {
                top.join("\n")
            },
        ))
        .build()
}

/// The one server a faction command is about.
async fn one_server(
    bot: &Bot,
    caller: &Caller,
    inv: &Invocation,
) -> Result<GameServer, CommandError> {
    let servers =
        super::chosen_servers(bot, caller, inv, super::WhenOmitted::DefaultServer).await?;
    servers
        .into_iter()
        .next()
        .ok_or_else(|| super::unknown(&inv.path))
}

/// A live faction of the server by name or tag, or the answer that there is none.
async fn named(
    factions: &Factions,
    guild_id: u64,
    server: &GameServer,
    name: &str,
) -> Result<Faction, CommandError> {
    factions
        .find(guild_id, server.server.as_str(), name)
        .await
        .map_err(failed)?
        .ok_or_else(|| {
            CommandError::invalid(
                format!(
                    "No faction named `{}` on server `{}`.",
                    shown(name.trim(), 32),
                    shown(&server.name, 100)
                ),
                "See `/faction list` for the server's factions.",
            )
        })
}

/// The Discord user a player (by name) is linked to on the server, and the player's name.
async fn linked_player(
    bot: &Bot,
    guild_id: u64,
    server: &GameServer,
    name: &str,
) -> Result<(u64, String), CommandError> {
    let server_id = server.server.as_str();
    let player = bot
        .stats
        .player(guild_id, server_id, name.trim())
        .await
        .map_err(failed)?
        .ok_or_else(|| {
            CommandError::invalid(
                format!(
                    "No player named `{}` on server `{}`.",
                    shown(name.trim(), 100),
                    shown(&server.name, 100)
                ),
                "Check the name, as the killfeed shows it.",
            )
        })?;
    let user = bot
        .links
        .holder(guild_id, server_id, &player.player_id)
        .await
        .map_err(failed)?
        .ok_or_else(|| {
            CommandError::invalid(
                format!(
                    "`{}` is not linked to a Discord member.",
                    shown(&player.stats.name, 100)
                ),
                "A member links their player with `/link` first.",
            )
        })?;
    Ok((user, player.stats.name))
}

fn leader_or_admin(f: &Faction, caller: &Caller, admin: bool) -> Result<(), CommandError> {
    match admin || f.leader_id == caller.user_id {
        true => Ok(()),
        false => Err(CommandError::refused(
            "Only the faction's leader or an admin can do this.",
            "Ask the faction's leader.",
        )),
    }
}

fn colour_of(text: &str) -> Result<u32, CommandError> {
    parse_colour(text).ok_or_else(|| {
        let names: Vec<&str> = COLOURS.iter().map(|(n, _)| *n).collect();
        CommandError::invalid(
            "Invalid Color — use a hex code like #FF0000 or a color name.",
            format!("Color names: {}.", names.join(", ")),
        )
    })
}

/// A refusal from the store in the earlier bot's words (`already`: what an existing
/// member is told to do first).
fn refusal(e: FactionError, already: &str) -> CommandError {
    match e {
        FactionError::Db(e) => failed(e),
        FactionError::AlreadyMember(f) => CommandError::invalid(
            format!("Already in Faction — You are already a member of {f}."),
            match already {
                "" => "Leave your current faction first.".to_owned(),
                _ => format!("Leave your current faction {already}."),
            },
        ),
        other => CommandError::invalid(other.to_string(), "Check the command and try again."),
    }
}

fn not_in_faction(server: &GameServer) -> Reply {
    notice(
        "Not in a Faction",
        format!(
            "You are not in a faction on server `{}`.",
            shown(&server.name, 100)
        ),
    )
}

fn failed(e: impl std::fmt::Display) -> CommandError {
    CommandError::failed("The factions could not be read", e)
}

fn non_empty<'a>(text: &'a str, otherwise: &'a str) -> &'a str {
    if text.trim().is_empty() {
        otherwise
    } else {
        text
    }
}

fn notice(title: &str, text: impl Into<String>) -> Reply {
    Reply::embed(
        EmbedBuilder::new()
            .title(title)
            .description(text)
            .color(colour::INFO)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faction_buttons_round_trip_within_discords_100_characters() {
        let b = FactionButton {
            confirm: true,
            action: Action::Delete,
            caller: u64::MAX,
            expires_unix: 4_102_444_800,
            server: "9".repeat(tower_store::ids::ServerId::MAX_LEN),
            faction_id: "f".repeat(24),
        };
        let id = b.custom_id();
        assert!(id.len() <= 100, "{} characters", id.len());
        assert_eq!(FactionButton::parse(&id), Some(b.clone()));
        let handing = FactionButton {
            action: Action::HandOver(u64::MAX),
            ..b
        };
        let id = handing.custom_id();
        assert!(id.len() <= 100, "{} characters", id.len());
        assert_eq!(FactionButton::parse(&id), Some(handing));
        assert_eq!(FactionButton::parse("fa|y|h|1|1|s|f"), None);
        assert_eq!(FactionButton::parse("fa|y|x|1|1|s|f"), None);
        assert_eq!(FactionButton::parse("rm|y|l|1|1|s|f"), None);
    }
}
