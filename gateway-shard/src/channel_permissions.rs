//! What the bot may do in a channel, read from Discord: the guild's roles, the bot's own
//! roles in the guild and the channel's overwrites, put together the way Discord does
//! (twilight-util's permission calculator). Used by `/setup check` to say which configured
//! channel lacks which permission, before a post is refused.

use twilight_model::channel::ChannelType;
use twilight_model::channel::permission_overwrite::PermissionOverwriteType;
use twilight_model::guild::Permissions;
use twilight_model::id::Id;
use twilight_model::id::marker::{GuildMarker, RoleMarker, UserMarker};
use twilight_util::permission_calculator::PermissionCalculator;

use crate::bot::Bot;
use crate::rest::RestError;

/// What posting a feed needs in a text channel.
pub const TO_POST: &[(Permissions, &str)] = &[
    (Permissions::VIEW_CHANNEL, "View Channel"),
    (Permissions::SEND_MESSAGES, "Send Messages"),
    (Permissions::EMBED_LINKS, "Embed Links"),
];
/// What renaming the player-count voice channel needs (Discord also wants Connect to edit
/// a voice channel, and player-count channels are often locked by denying it).
pub const TO_RENAME: &[(Permissions, &str)] = &[
    (Permissions::VIEW_CHANNEL, "View Channel"),
    (Permissions::CONNECT, "Connect"),
    (Permissions::MANAGE_CHANNELS, "Manage Channels"),
];

/// The bot's standing in one guild: enough to work out its permissions in any channel.
pub struct BotInGuild {
    guild: Id<GuildMarker>,
    user: Id<UserMarker>,
    everyone: Permissions,
    roles: Vec<(Id<RoleMarker>, Permissions)>,
    /// A timed-out member keeps only View Channel and Read Message History.
    pub timed_out: bool,
}

/// The bot's access to one channel.
#[derive(Debug, PartialEq, Eq)]
pub enum ChannelAccess {
    /// The channel as Discord shows it to the bot, and what the bot may do there.
    Seen {
        kind: ChannelType,
        permissions: Permissions,
        /// What an overwrite for the bot itself denies: it beats any role's allow, so
        /// the fix is to remove it, not to allow a role.
        denied_to_bot: Permissions,
    },
    /// Discord does not show the channel to the bot: deleted, or the bot may not see it.
    Unseen { status: Option<u16> },
}

impl ChannelAccess {
    /// The names of the permissions in `needed` that the bot lacks here (all of them when
    /// the channel cannot be seen).
    pub fn missing(&self, needed: &[(Permissions, &'static str)]) -> Vec<&'static str> {
        match self {
            Self::Seen { permissions, .. } => needed
                .iter()
                .filter(|(p, _)| !permissions.contains(*p))
                .map(|(_, name)| *name)
                .collect(),
            Self::Unseen { .. } => needed.iter().map(|(_, name)| *name).collect(),
        }
    }
}

impl BotInGuild {
    /// Reads the guild's roles and the bot's member from Discord (three REST calls).
    pub async fn read(bot: &Bot, guild_id: u64) -> Result<Self, RestError> {
        let Some(guild) = Id::<GuildMarker>::new_checked(guild_id) else {
            return Err(RestError::NoSuchId);
        };
        let user = bot
            .rate_limits
            .send(|| bot.http.current_user().into_future())
            .await?
            .model()
            .await
            .map_err(RestError::Body)?
            .id;
        let roles = bot
            .rate_limits
            .send(|| bot.http.roles(guild).into_future())
            .await?
            .models()
            .await
            .map_err(RestError::Body)?;
        let member = bot
            .rate_limits
            .send(|| bot.http.guild_member(guild, user).into_future())
            .await?
            .model()
            .await
            .map_err(RestError::Body)?;
        let now_ms = tower_daemon::telemetry::now_unix_ms();
        let timed_out = member
            .communication_disabled_until
            .is_some_and(|until| until.as_micros() / 1000 > now_ms);
        // @everyone's id is the guild's.
        let everyone = roles
            .iter()
            .find(|r| r.id.cast::<GuildMarker>() == guild)
            .map_or(Permissions::empty(), |r| r.permissions);
        let roles = roles
            .iter()
            .filter(|r| member.roles.contains(&r.id))
            .map(|r| (r.id, r.permissions))
            .collect();
        Ok(Self {
            guild,
            user,
            everyone,
            roles,
            timed_out,
        })
    }

    /// The bot's access to `channel_id` (one REST call). A channel Discord will not show
    /// is [`ChannelAccess::Unseen`], not an error.
    pub async fn in_channel(&self, bot: &Bot, channel_id: u64) -> Result<ChannelAccess, RestError> {
        let Some(id) = Id::new_checked(channel_id) else {
            return Ok(ChannelAccess::Unseen { status: None });
        };
        let channel = match bot
            .rate_limits
            .send(|| bot.http.channel(id).into_future())
            .await
        {
            Ok(response) => response.model().await.map_err(RestError::Body)?,
            Err(e) if matches!(e.status(), Some(403 | 404)) => {
                return Ok(ChannelAccess::Unseen { status: e.status() });
            }
            Err(e) => return Err(e),
        };
        let overwrites = channel.permission_overwrites.unwrap_or_default();
        let permissions =
            PermissionCalculator::new(self.guild, self.user, self.everyone, &self.roles)
                .in_channel(channel.kind, &overwrites);
        let denied_to_bot = overwrites
            .iter()
            .filter(|o| o.kind == PermissionOverwriteType::Member && o.id == self.user.cast())
            .fold(Permissions::empty(), |d, o| d | o.deny);
        Ok(ChannelAccess::Seen {
            kind: channel.kind,
            permissions,
            denied_to_bot,
        })
    }
}
