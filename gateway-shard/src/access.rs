//! Who may run what. Admin commands need the guild owner, the Administrator permission,
//! the guild's admin role, or the bot owner; premium features need the guild's tier;
//! granting premium needs an admin of the home guild or the bot owner. Every refusal is
//! audited and says what would allow the command.

use mongodb::bson::{Document, doc};
use twilight_model::application::interaction::Interaction;
use twilight_model::guild::Permissions;

use tower_store::audit::AuditEntry;
use tower_store::guilds::GuildSettings;
use tower_store::tier::{Feature, Tier};

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

/// A command not admitted: what the caller is told, and the audit record of the refused
/// check (none when the check itself failed, say MongoDB did not answer). The record is
/// written while the refusal is answered, so the answer does not wait on the database.
#[derive(Debug)]
pub struct Refusal {
    pub error: CommandError,
    audit: Option<(&'static str, Document)>,
}

impl From<mongodb::error::Error> for Refusal {
    fn from(e: mongodb::error::Error) -> Self {
        Self {
            error: e.into(),
            audit: None,
        }
    }
}

impl Bot {
    /// Checks that the caller may run `command` and that their guild's tier unlocks
    /// `feature`, reading the guild's settings once; returns them for the command. A
    /// refusal is returned with its audit record, for [`Bot::audit_refusal`].
    pub async fn admit(
        &self,
        caller: &Caller,
        command: &str,
        access: Access,
        feature: Feature,
    ) -> Result<GuildSettings, Refusal> {
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
            return Err(Refusal {
                error: CommandError::refused(problem, fix),
                audit: Some(("permission.refused", doc! { "needs": needs })),
            });
        }
        match self.feature_refusal(command, feature, guild.tier) {
            Some(refusal) => Err(refusal),
            None => Ok(guild),
        }
    }

    /// Whether the caller counts as an admin of their guild.
    pub fn is_admin(&self, caller: &Caller, guild: &GuildSettings) -> bool {
        self.is_owner(caller.user_id)
            || caller.permissions.contains(Permissions::ADMINISTRATOR)
            || guild.admin_role.is_some_and(|r| caller.roles.contains(&r))
    }

    /// Refuses (and audits) a feature the guild's tier does not unlock; for checks made
    /// inside a command, whose answer comes later anyway.
    pub async fn require_feature(
        &self,
        caller: &Caller,
        command: &str,
        feature: Feature,
        tier: Tier,
    ) -> Result<(), CommandError> {
        match self.feature_refusal(command, feature, tier) {
            Some(refusal) => {
                self.audit_refusal(caller, command, &refusal).await;
                Err(refusal.error)
            }
            None => Ok(()),
        }
    }

    /// The refusal when `tier` does not unlock `feature`: it names the tier that does.
    fn feature_refusal(&self, command: &str, feature: Feature, tier: Tier) -> Option<Refusal> {
        if feature.is_unlocked_at(tier) {
            return None;
        }
        let needed = feature.min_tier();
        let name = &self.tiers.limits(needed).name;
        let error = CommandError::refused(
            format!(
                "`/{command}` needs the {name} tier (tier {}) or higher; this server is on {} (tier {}).",
                needed.get(),
                self.tiers.limits(tier).name,
                tier.get()
            ),
            format!("See /premium tiers; a bot admin can grant {name} with /admin premium."),
        );
        let detail = doc! { "feature": format!("{feature:?}"), "tier": i32::from(tier.get()), "needs": i32::from(needed.get()) };
        Some(Refusal {
            error,
            audit: Some(("premium.refused", detail)),
        })
    }

    /// Writes a refusal's audit record. A refusal that cannot be audited is still a
    /// refusal (the failure to audit is logged).
    pub async fn audit_refusal(&self, caller: &Caller, command: &str, refusal: &Refusal) {
        let Some((action, detail)) = &refusal.audit else {
            return;
        };
        if let Err(e) = self.audit(caller, action, command, detail.clone()).await {
            tracing::warn!(error = %e, command, "could not audit a refused check");
        }
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
