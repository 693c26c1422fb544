//! `/premium tiers|status|features|upgrade|theme` and `/admin
//! premium|sethomeguild|setrole|status|help`. Every grant and upgrade request is audited.

use mongodb::bson::doc;
use twilight_util::builder::embed::{EmbedBuilder, EmbedFieldBuilder};

use tower_store::guilds::GuildSettings;
use tower_store::ids::GuildId;
use tower_store::tier::{Feature, Tier};

use crate::access::Caller;
use crate::bot::Bot;
use crate::embeds::{Theme, colour};
use crate::options::Invocation;
use crate::reply::{CommandError, Reply};

/// Features as users know them, for `/premium features`.
const FEATURES: [(Feature, &str); 20] = [
    (Feature::Killfeed, "Killfeed"),
    (Feature::ServerSetup, "Server setup"),
    (Feature::Backfill, "Historical parse"),
    (Feature::PlayerLinking, "Player linking"),
    (Feature::Help, "Help"),
    (Feature::PremiumInfo, "Premium info"),
    (Feature::Diagnostics, "SFTP diagnostics"),
    (Feature::Stats, "Player and server stats"),
    (Feature::Leaderboards, "Leaderboards"),
    (Feature::WeaponStats, "Weapon stats"),
    (
        Feature::Economy,
        "Economy (balances, daily rewards, transfers)",
    ),
    (Feature::Rivalries, "Rivalries and bounties"),
    (Feature::Seasons, "Statistics seasons (/reset_stats)"),
    (Feature::DelayedKillfeed, "Delayed killfeed"),
    (Feature::EventsFeed, "Events feed"),
    (Feature::ConnectionsFeed, "Connections feed"),
    (Feature::VoicePlayerCount, "Voice channel player count"),
    (Feature::Factions, "Factions"),
    (Feature::CustomThemes, "Custom themes"),
    (Feature::Gambling, "Gambling"),
];

pub async fn run(
    bot: &Bot,
    caller: &Caller,
    guild: &GuildSettings,
    inv: &Invocation,
) -> Result<Reply, CommandError> {
    match inv.path.as_str() {
        "premium tiers" => {
            let mut b = EmbedBuilder::new()
                .title("Premium tiers")
                .color(colour::INFO);
            for l in bot.tiers.rows() {
                b = b.field(EmbedFieldBuilder::new(
                    format!("{} · {}", l.tier.get(), l.name),
                    format!(
                        "{} game server(s) · {} SFTP connections · killfeed every {} s",
                        l.game_servers, l.sftp_connections, l.killfeed_poll_secs
                    ),
                ));
            }
            Ok(Reply::embed(b.build()))
        }
        "premium status" => {
            let tier = guild.tier;
            let l = bot.tiers.limits(tier);
            let used = bot.servers.count(GuildId(caller.guild_id)).await?;
            Ok(Reply::embed(
                EmbedBuilder::new()
                    .title(format!("{} (tier {})", l.name, tier.get()))
                    .description(format!(
                        "Game servers: {used} of {}\nSFTP connections: up to {}\nKillfeed checked every {} s",
                        l.game_servers, l.sftp_connections, l.killfeed_poll_secs
                    ))
                    .color(colour::INFO)
                    .build(),
            ))
        }
        "premium features" => {
            let tier = guild.tier;
            let lines: Vec<String> = FEATURES
                .iter()
                .map(|(f, name)| {
                    let need = f.min_tier();
                    let mark = if f.is_unlocked_at(tier) {
                        "✅"
                    } else {
                        "🔒"
                    };
                    format!(
                        "{mark} {name} — {} (tier {})",
                        bot.tiers.limits(need).name,
                        need.get()
                    )
                })
                .collect();
            Ok(Reply::embed(
                EmbedBuilder::new()
                    .title("Features by tier")
                    .description(lines.join("\n"))
                    .color(colour::INFO)
                    .build(),
            ))
        }
        "premium upgrade" => upgrade(bot, caller, guild, inv).await,
        "premium theme" => theme(bot, caller, inv).await,
        "admin help" => Ok(super::help::admin()),
        "admin premium" => grant(bot, caller, inv).await,
        "admin sethomeguild" => {
            bot.audit(caller, "admin.set_home_guild", &inv.path, doc! {})
                .await?;
            bot.guilds.set_home_guild(caller.guild_id).await?;
            Ok(Reply::done(
                "Home server set",
                "Admins of this Discord server can now grant premium with /admin premium.",
            ))
        }
        "admin setrole" => {
            let role = inv.role("role")?;
            let detail = doc! { "role": role.to_string() };
            bot.audit(caller, "admin.set_role", &inv.path, detail)
                .await?;
            bot.guilds.set_admin_role(caller.guild_id, role).await?;
            bot.settings.forget(caller.guild_id);
            Ok(Reply::done(
                "Admin role set",
                format!("Members with <@&{role}> can now use admin commands here."),
            ))
        }
        "admin status" => {
            let settings = guild;
            let servers = bot.servers.count(GuildId(caller.guild_id)).await?;
            let home = bot.home_guild().await?;
            Ok(Reply::embed(
                EmbedBuilder::new()
                    .title("Bot status")
                    .color(colour::INFO)
                    .field(
                        EmbedFieldBuilder::new(
                            "Tier",
                            format!(
                                "{} ({})",
                                bot.tiers.limits(settings.tier).name,
                                settings.tier.get()
                            ),
                        )
                        .inline(),
                    )
                    .field(EmbedFieldBuilder::new("Game servers", servers.to_string()).inline())
                    .field(
                        EmbedFieldBuilder::new(
                            "Admin role",
                            settings
                                .admin_role
                                .map(|r| format!("<@&{r}>"))
                                .unwrap_or_else(|| "—".to_owned()),
                        )
                        .inline(),
                    )
                    .field(
                        EmbedFieldBuilder::new(
                            "Home server",
                            if home == Some(caller.guild_id) {
                                "this one"
                            } else {
                                "another"
                            },
                        )
                        .inline(),
                    )
                    .field(EmbedFieldBuilder::new("Shards", bot.shards.to_string()).inline())
                    .field(EmbedFieldBuilder::new("Version", tower_daemon::VERSION).inline())
                    .build(),
            ))
        }
        other => Err(super::unknown(other)),
    }
}

async fn grant(bot: &Bot, caller: &Caller, inv: &Invocation) -> Result<Reply, CommandError> {
    let raw = inv.str("guild_id")?.trim();
    let guild_id: u64 = raw.parse().ok().filter(|g| *g > 0).ok_or_else(|| {
        CommandError::invalid(
            format!(
                "`{}` is not a Discord server id.",
                crate::embeds::clip(raw, 30)
            ),
            "Copy the server's id (Developer Mode → right-click the server → Copy Server ID).",
        )
    })?;
    let tier = u8::try_from(inv.int("tier")?)
        .ok()
        .and_then(Tier::new)
        .ok_or_else(|| {
            CommandError::invalid("The tier must be 0 to 4.", "Pick a tier from the list.")
        })?;
    // Audited before it takes effect: no grant without its record. (The tier it replaces
    // is the previous grant's `to`.)
    let detail = doc! { "target_guild": guild_id.to_string(), "to": i32::from(tier.get()) };
    bot.audit(caller, "premium.grant", &inv.path, detail)
        .await?;
    let before = bot.guilds.set_tier(guild_id, tier).await?;
    bot.settings.forget(guild_id);
    Ok(Reply::done(
        "Premium granted",
        format!(
            "Discord server `{guild_id}` is now {} (tier {}), was {} (tier {}).",
            bot.tiers.limits(tier).name,
            tier.get(),
            bot.tiers.limits(before).name,
            before.get()
        ),
    ))
}

/// How often a guild may ask for an upgrade.
const UPGRADE_REQUESTS_EVERY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// `/premium upgrade`: a request posted to the home server's admin channel, with the
/// command that grants it; once a day per guild, audited.
async fn upgrade(
    bot: &Bot,
    caller: &Caller,
    guild: &GuildSettings,
    inv: &Invocation,
) -> Result<Reply, CommandError> {
    let next = Tier::all().find(|t| *t > guild.tier).ok_or_else(|| {
        CommandError::invalid(
            format!(
                "This guild is already at the maximum premium tier ({}).",
                bot.tiers.limits(guild.tier).name
            ),
            "Nothing to ask for: every feature is unlocked.",
        )
    })?;
    let no_channel = || {
        CommandError::invalid(
            "Could not find an admin channel in the home guild.",
            "Please contact the bot owner directly.",
        )
    };
    let home = bot.home_guild().await?.ok_or_else(no_channel)?;
    let channel = bot
        .guilds
        .settings(home)
        .await?
        .admin_channel
        .and_then(twilight_model::id::Id::new_checked)
        .ok_or_else(no_channel)?;
    if !bot
        .guilds
        .claim_upgrade_request(caller.guild_id, UPGRADE_REQUESTS_EVERY)
        .await?
    {
        return Err(CommandError::invalid(
            "This guild already asked for an upgrade today.",
            "The home server's admins have it; ask again tomorrow.",
        ));
    }
    bot.audit(
        caller,
        "premium.upgrade_requested",
        &inv.path,
        doc! { "from": i32::from(guild.tier.get()), "to": i32::from(next.get()) },
    )
    .await?;
    let servers = bot.servers.count(GuildId(caller.guild_id)).await?;
    let mut request = EmbedBuilder::new()
        .title("Premium Upgrade Request")
        .description("A guild has requested a premium upgrade.")
        .color(0xF1_C4_0F)
        .field(EmbedFieldBuilder::new("Guild ID", caller.guild_id.to_string()).inline())
        .field(
            EmbedFieldBuilder::new(
                "Current Tier",
                format!(
                    "{} ({})",
                    bot.tiers.limits(guild.tier).name,
                    guild.tier.get()
                ),
            )
            .inline(),
        )
        .field(
            EmbedFieldBuilder::new(
                "Requested By",
                format!("<@{}> ({})", caller.user_id, caller.user_id),
            )
            .inline(),
        )
        .field(EmbedFieldBuilder::new("Current Servers", servers.to_string()).inline())
        .field(EmbedFieldBuilder::new(
            "Approve Command",
            format!(
                "`/admin premium guild_id:{} tier:{}`",
                caller.guild_id,
                next.get()
            ),
        ));
    if let Some(now) = crate::embeds::now_timestamp() {
        request = request.timestamp(now);
    }
    let request = request.build();
    let posted = bot
        .rate_limits
        .send(|| {
            bot.http
                .create_message(channel)
                .embeds(std::slice::from_ref(&request))
                .into_future()
        })
        .await;
    if let Err(e) = posted {
        // Not posted: the guild may ask again at once.
        bot.guilds.release_upgrade_request(caller.guild_id).await?;
        return Err(CommandError::failed("The request could not be posted", e));
    }
    Ok(Reply::done(
        "Request Sent",
        "Your premium upgrade request has been sent to the administrators. You will be notified once your request has been processed.",
    ))
}

/// `/premium theme theme`: the guild's colours, answered in the new theme.
async fn theme(bot: &Bot, caller: &Caller, inv: &Invocation) -> Result<Reply, CommandError> {
    let chosen = inv.str("theme")?;
    let Some(theme) = Theme::known(chosen) else {
        return Err(CommandError::invalid(
            format!(
                "The theme '{}' does not exist.",
                crate::embeds::clip(chosen, 40)
            ),
            "Pick one from the list: Default, Midnight, Blood, Gold, Toxic or Ghost.",
        ));
    };
    let stored = Theme::CHOICES
        .iter()
        .find(|(label, _)| *label == theme.label())
        .map_or("default", |(_, value)| value);
    bot.guilds.set_theme(caller.guild_id, stored).await?;
    bot.settings.forget(caller.guild_id);
    Ok(Reply::embed(
        EmbedBuilder::new()
            .title("Theme Set Successfully")
            .description(format!(
                "Your guild's theme has been set to **{}**. All embeds will now use this theme.",
                theme.label()
            ))
            .color(theme.kill())
            .field(EmbedFieldBuilder::new(
                "Preview",
                "This is a preview of your new theme.",
            ))
            .build(),
    ))
}
