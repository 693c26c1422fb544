//! `/setup`: add, remove and list game servers, and choose their channels.

use twilight_util::builder::embed::{EmbedBuilder, EmbedFieldBuilder};

use tower_store::game_servers::{
    Channels, Credential, GameServer, GameServerError, NewGameServer, within_slots,
};
use tower_store::guilds::GuildSettings;
use tower_store::ids::{GuildId, ServerId};
use tower_store::secret::Redacted;
use tower_store::tier::{Feature, Tier};

use crate::access::Caller;
use crate::bot::Bot;
use crate::embeds::{clip, code, colour, shown};
use crate::options::Invocation;
use crate::progress::Progress;
use crate::reply::{CommandError, Reply};

pub async fn run(
    bot: &Bot,
    caller: &Caller,
    guild: &GuildSettings,
    inv: &Invocation,
    progress: &Progress,
) -> Result<Reply, CommandError> {
    match inv.path.as_str() {
        "setup addserver" => add(bot, caller, guild.tier, inv, progress).await,
        "setup removeserver" => {
            super::removal::ask(bot, caller, &inv.server_id("server_id")?).await
        }
        "setup list_servers" => list(bot, caller, guild.tier).await,
        "setup check" => super::setup_check::run(bot, caller, guild, inv).await,
        "setup channels" => channels(bot, caller, guild, inv).await,
        other => Err(super::unknown(other)),
    }
}

async fn add(
    bot: &Bot,
    caller: &Caller,
    tier: Tier,
    inv: &Invocation,
    progress: &Progress,
) -> Result<Reply, CommandError> {
    let guild = GuildId(caller.guild_id);
    let server = inv.server_id("server_id")?;
    let name = inv.str("server_name")?.trim();
    let host = inv.str("host")?.trim();
    let username = inv.str("username")?.trim();
    let password = inv.str("password")?;
    let port = u16::try_from(inv.int("port")?)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| {
            CommandError::invalid(
                "The port must be between 1 and 65535.",
                "Use the SFTP port your host gave you (often 22 or 8822).",
            )
        })?;
    if name.is_empty() || username.is_empty() || password.is_empty() {
        return Err(CommandError::invalid(
            "The server name, user name and password cannot be empty.",
            "Fill them in with your host's SFTP details.",
        ));
    }
    if host.is_empty() || host.contains(char::is_whitespace) || host.contains('/') {
        return Err(CommandError::invalid(
            format!("`{}` is not a host name or address.", code(host, 60)),
            "Use the SFTP host only, like `sftp.example.com` or `203.0.113.7`, without `sftp://` or a path.",
        ));
    }
    let slots = bot.tiers.limits(tier).game_servers;
    let no_slot = |used: u64| {
        let next = Tier::all()
            .find(|t| bot.tiers.limits(*t).game_servers > slots)
            .map(|t| {
                format!(
                    "{} (tier {}) allows {}.",
                    bot.tiers.limits(t).name,
                    t.get(),
                    bot.tiers.limits(t).game_servers
                )
            })
            .unwrap_or_else(|| "No tier allows more.".to_owned());
        CommandError::refused(
            format!(
                "This server's tier ({}) allows {slots} game server(s) and {used} are set up.",
                bot.tiers.limits(tier).name
            ),
            format!("Remove one with /setup removeserver, or upgrade: {next} See /premium tiers."),
        )
    };
    let used = bot.servers.count(guild).await?;
    if used >= u64::from(slots) {
        return Err(no_slot(used));
    }
    // The earlier bot's progress steps, shown while each one takes a moment.
    progress.step(
        "Adding Server…",
        format!("Saving **{}** (`{server}`)…", shown(name, 100)),
    );
    // Checked again as it is added: two admins adding at once cannot both take the last slot.
    let added = bot
        .servers
        .add_within(
            guild,
            NewGameServer {
                server: server.clone(),
                name: clip(name, 100),
                host: host.to_owned(),
                port,
                username: username.to_owned(),
                credential: Credential::Password(Redacted::new(password.to_owned())),
            },
            bot.secret_key.as_ref(),
            slots,
        )
        .await;
    match added {
        Err(GameServerError::NoSlot { .. }) => {
            return Err(no_slot(bot.servers.count(guild).await?));
        }
        other => other?,
    }
    // The connection tested at once, as the earlier bot did: an admin learns of a wrong
    // password now, not from the admin channel later.
    progress.step(
        "Adding Server…",
        format!(
            "Testing connection to `{}:{port}`, then looking for the killfeed and log files…",
            code(host, 100)
        ),
    );
    let status = match tokio::time::timeout(
        INLINE_TEST_FOR,
        super::sftp::test_reply(bot, caller, &server),
    )
    .await
    {
        Ok(Ok(test)) => connection_status(&test),
        Ok(Err(_)) => "Not tested: no worker answered. Run `/test_sftp` once one runs.".to_owned(),
        Err(_) => "Still testing after a while; `/test_sftp` shows the result.".to_owned(),
    };
    let embed = EmbedBuilder::new()
        .title("Server added")
        .description(format!(
            "**{}** (`{server}`) at `{}:{port}` is added; its password is stored encrypted.\n\
             Its killfeed history is counted first (not posted), then new kills are posted as they happen.",
            shown(name, 100),
            code(host, 100)
        ))
        .color(colour::SUCCESS)
        .field(EmbedFieldBuilder::new("Connection Status", clip(&status, 1024)))
        .field(EmbedFieldBuilder::new(
            "Next Steps",
            "Choose channels with `/setup channels`, then `/killfeed start`.",
        ))
        .build();
    Ok(Reply::embed(embed))
}

/// How long `/setup addserver` waits for its connection test.
const INLINE_TEST_FOR: std::time::Duration = std::time::Duration::from_secs(8);

/// A connection test in a line or two: connected, with what was found, or the step that
/// failed and what to do.
fn connection_status(test: &tower_proto::v1::TestServerReply) -> String {
    if test.ok {
        let log = if test.log_path.is_empty() {
            "no server log found".to_owned()
        } else {
            "server log found".to_owned()
        };
        return format!(
            "✅ Connection successful: {} killfeed file(s), {log}.",
            test.csv_files
        );
    }
    let failed = test
        .steps
        .iter()
        .find(|s| !s.ok)
        .map(|s| format!("{}: {}", s.name, clip(&s.detail, 300)))
        .unwrap_or_else(|| "the connection failed".to_owned());
    format!(
        "❌ {failed}\nThe server is kept and retried; fix the details with `/setup removeserver` \
         and `/setup addserver`, or see `/setup check`."
    )
}

fn channel_line(server: &GameServer) -> String {
    let c = &server.channels;
    let show = |id: Option<u64>| {
        id.map(|i| format!("<#{i}>"))
            .unwrap_or_else(|| "—".to_owned())
    };
    let mut line = format!(
        "killfeed {} · events {} · connections {} · player count {}",
        show(c.killfeed),
        show(c.events),
        show(c.connections),
        show(c.voice_status)
    );
    // The economy's channels, once one is set (tier 2).
    if c.bounty.is_some() || c.economy.is_some() {
        line.push_str(&format!(
            " · bounties {} · economy {}",
            show(c.bounty),
            show(c.economy)
        ));
    }
    line
}

async fn list(bot: &Bot, caller: &Caller, tier: Tier) -> Result<Reply, CommandError> {
    let servers = bot.servers.list(GuildId(caller.guild_id)).await?;
    let limits = bot.tiers.limits(tier);
    let used = format!(
        "{} of {} used ({} tier).",
        servers.len(),
        limits.game_servers,
        limits.name
    );
    // After a downgrade, the oldest servers keep the tier's slots; the rest are paused.
    let covered: Vec<&ServerId> = within_slots(&servers, limits.game_servers)
        .into_iter()
        .map(|s| &s.server)
        .collect();
    Ok(super::servers_reply(
        "Game servers",
        &servers,
        Some(used),
        "No game server is set up yet. An admin adds one with `/setup addserver`.",
        |s| {
            let paused = if covered.contains(&&s.server) {
                String::new()
            } else {
                format!(
                    "\n⏸️ paused: beyond the {} game server(s) of the {} tier (the oldest are \
                     read); remove one or upgrade",
                    limits.game_servers, limits.name
                )
            };
            format!(
                "killfeed {} · events {}\n{}{paused}",
                if s.feeds.killfeed { "on" } else { "off" },
                if s.feeds.events { "on" } else { "off" },
                channel_line(s)
            )
        },
    ))
}

async fn channels(
    bot: &Bot,
    caller: &Caller,
    guild: &GuildSettings,
    inv: &Invocation,
) -> Result<Reply, CommandError> {
    let tier = guild.tier;
    let server: ServerId = inv.server_id("server_id")?;
    let wanted = Channels {
        killfeed: inv.opt_channel("killfeed_channel")?,
        events: inv.opt_channel("events_channel")?,
        connections: inv.opt_channel("connections_channel")?,
        voice_status: inv.opt_channel("voice_status_channel")?,
        bounty: inv.opt_channel("bounty_channel")?,
        economy: inv.opt_channel("economy_channel")?,
    };
    let admin_channel = inv.opt_channel("admin_channel")?;
    // As the earlier bot: a feed's channel is set only where its tier allows the feed.
    for (given, feature) in [
        (wanted.events, Feature::EventsFeed),
        (wanted.connections, Feature::ConnectionsFeed),
        (wanted.voice_status, Feature::VoicePlayerCount),
        (wanted.bounty, Feature::Bounties),
        (wanted.economy, Feature::Economy),
    ] {
        if given.is_some() {
            bot.require_feature(caller, &inv.path, feature, tier)
                .await?;
        }
    }
    if let Some(channel) = admin_channel {
        bot.guilds
            .set_admin_channel(caller.guild_id, channel)
            .await
            .map_err(|e| CommandError::failed("Could not save the admin channel", e))?;
        bot.settings.forget(caller.guild_id);
    }
    // No channel given: shows the current ones.
    let title = if wanted == Channels::default() && admin_channel.is_none() {
        "Channels"
    } else {
        "Channels saved"
    };
    let updated = bot
        .servers
        .set_channels(GuildId(caller.guild_id), &server, &wanted)
        .await?;
    // Saving the channels is how an admin says the permissions are fixed: posting tries
    // every channel of the guild again.
    bot.channel_blocks
        .clear_guild(caller.guild_id)
        .await
        .map_err(|e| CommandError::failed("Could not clear the refused channels", e))?;
    let admin_line = match admin_channel.or(guild.admin_channel) {
        Some(c) => format!("admin notes (all servers): <#{c}>"),
        None => "admin notes: privately, to the next admin who runs a command \
                 (`admin_channel:` sets a channel)"
            .to_owned(),
    };
    Ok(Reply::done(
        title,
        format!("`{server}`: {}\n{admin_line}", channel_line(&updated)),
    ))
}
