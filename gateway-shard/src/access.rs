//! Who may run what. Admin commands need the guild owner, the Administrator permission,
//! the guild's admin role, or the bot owner; premium features need the guild's tier;
//! granting premium needs an admin of the home guild or the bot owner. Every refusal is
//! audited and says what would allow the command.

use mongodb::bson::{Document, doc};
use twilight_model::application::interaction::Interaction;
use twilight_model::guild::Permissions;

use tower_shared::audit::AuditEntry;
use tower_shared::guilds::GuildSettings;
use tower_shared::tier::{Feature, Tier};

use crate::bot::Bot;
use crate::reply::CommandError;

/// The user behind an interaction, in a guild.
#[derive(Debug, Clone)]
pub struct Caller {
    pub guild_id: u64,
    pub user_id: u64,
    pub permissions: Permissions,
    pub roles: Vec<u64>,
}

impl Caller {
    /// `None` outside a guild (DMs), where no command of this bot works.
    pub fn of(interaction: &Interaction) -> Option<Self> {
        let guild_id = interaction.guild_id?.get();
        let member = interaction.member.as_ref()?;
        let user_id = member
            .user
            .as_ref()
            .map(|u| u.id.get())
            .or_else(|| interaction.author_id().map(|id| id.get()))?;
        Some(Self {
            guild_id,
            user_id,
            // Discord computes this for the interaction; the owner has every permission.
            permissions: member.permissions.unwrap_or_else(Permissions::empty),
            roles: member.roles.iter().map(|r| r.get()).collect(),
        })
    }
}

/// Who may run a command, checked before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Anyone,
    /// The guild owner, Administrator, the guild's admin role, or the bot owner.
    Admin,
    /// Admins of the home guild, or the bot owner.
    PremiumGranter,
    BotOwner,
}

impl Access {
    /// What a refusal says (problem, what to do) and audits (`needs`).
    fn refusal(self, command: &str) -> (String, &'static str, &'static str) {
        match self {
            Self::Anyone | Self::Admin => (
                format!("`/{command}` is for this server's admins."),
                "Ask someone with the Administrator permission or the bot admin role (/admin setrole).",
                "admin",
            ),
            Self::PremiumGranter => (
                "Premium is granted only by admins of the bot's home server, or the bot owner."
                    .to_owned(),
                "Ask the bot's operators to grant it.",
                "home guild admin",
            ),
            Self::BotOwner => (
                format!("`/{command}` is for the bot's owner."),
                "Ask the bot's operators.",
                "bot owner",
            ),
        }
    }
}

impl Bot {
    /// Checks that the caller may run `command` and that their guild's tier unlocks
    /// `feature`, reading the guild's settings once; returns them for the command.
    pub async fn admit(
        &self,
        caller: &Caller,
        command: &str,
        access: Access,
        feature: Feature,
    ) -> Result<GuildSettings, CommandError> {
        let guild = self.settings.get(caller.guild_id).await?;
        let allowed = match access {
            Access::Anyone => true,
            Access::Admin => self.is_admin(caller, &guild),
            Access::PremiumGranter => {
                self.is_owner(caller.user_id)
                    || (self.is_admin(caller, &guild)
                        && self.home_guild().await? == Some(caller.guild_id))
            }
            Access::BotOwner => self.is_owner(caller.user_id),
        };
        if !allowed {
            let (problem, fix, needs) = access.refusal(command);
            let detail = doc! { "needs": needs };
            return Err(self
                .refuse(
                    caller,
                    command,
                    "permission.refused",
                    detail,
                    CommandError::refused(problem, fix),
                )
                .await);
        }
        self.require_feature(caller, command, feature, guild.tier)
            .await?;
        Ok(guild)
    }

    /// Whether the caller counts as an admin of their guild.
    pub fn is_admin(&self, caller: &Caller, guild: &GuildSettings) -> bool {
        self.is_owner(caller.user_id)
            || caller.permissions.contains(Permissions::ADMINISTRATOR)
            || guild.admin_role.is_some_and(|r| caller.roles.contains(&r))
    }

    /// Refuses when `tier` is below the feature's, naming the tier that unlocks it.
    pub async fn require_feature(
        &self,
        caller: &Caller,
        command: &str,
        feature: Feature,
        tier: Tier,
    ) -> Result<(), CommandError> {
        if feature.is_unlocked_at(tier) {
            return Ok(());
        }
        let needed = feature.min_tier();
        let name = &self.tiers.limits(needed).name;
        let refusal = CommandError::refused(
            format!(
                "`/{command}` needs the {name} tier (tier {}) or higher; this server is on {} (tier {}).",
                needed.get(),
                self.tiers.limits(tier).name,
                tier.get()
            ),
            format!("See /premium tiers; a bot admin can grant {name} with /admin premium."),
        );
        let detail = doc! { "feature": format!("{feature:?}"), "tier": i32::from(tier.get()), "needs": i32::from(needed.get()) };
        Err(self
            .refuse(caller, command, "premium.refused", detail, refusal)
            .await)
    }

    /// Audits a refusal and hands it back. A refusal that cannot be audited is still a
    /// refusal (the failure to audit is logged).
    async fn refuse(
        &self,
        caller: &Caller,
        command: &str,
        action: &str,
        detail: Document,
        refusal: CommandError,
    ) -> CommandError {
        if let Err(e) = self.audit(caller, action, command, detail).await {
            tracing::warn!(error = %e, command, "could not audit a refused check");
        }
        refusal
    }

    /// Records an action by the caller in the audit log.
    pub async fn audit(
        &self,
        caller: &Caller,
        action: &str,
        command: &str,
        detail: Document,
    ) -> Result<(), mongodb::error::Error> {
        self.audit
            .record(AuditEntry {
                guild_id: caller.guild_id,
                actor: caller.user_id,
                action,
                command,
                detail,
            })
            .await
    }
}
