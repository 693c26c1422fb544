//! Who may run what. Admin commands need the guild owner, the Administrator permission,
//! the guild's admin role, or the bot owner; premium features need the guild's tier;
//! granting premium needs an admin of the home guild or the bot owner. Every refusal is
//! audited and says what would allow the command.

use mongodb::bson::doc;
use twilight_model::application::interaction::Interaction;
use twilight_model::guild::Permissions;

use tower_shared::audit::AuditEntry;
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

impl Bot {
    /// Whether the caller counts as an admin of their guild.
    pub async fn is_admin(&self, caller: &Caller) -> Result<bool, CommandError> {
        if self.is_owner(caller.user_id) || caller.permissions.contains(Permissions::ADMINISTRATOR)
        {
            return Ok(true);
        }
        let settings = self.guilds.settings(caller.guild_id).await?;
        Ok(settings
            .admin_role
            .is_some_and(|r| caller.roles.contains(&r)))
    }

    pub async fn require_admin(&self, caller: &Caller, command: &str) -> Result<(), CommandError> {
        if self.is_admin(caller).await? {
            return Ok(());
        }
        self.audit_refusal(
            caller,
            command,
            "permission.refused",
            doc! { "needs": "admin" },
        )
        .await;
        Err(CommandError::refused(
            format!("`/{command}` is for this server's admins."),
            "Ask someone with the Administrator permission or the bot admin role (/admin setrole).",
        ))
    }

    /// Refuses when the guild's tier is below the feature's, naming the tier that unlocks it.
    pub async fn require_feature(
        &self,
        caller: &Caller,
        command: &str,
        feature: Feature,
    ) -> Result<Tier, CommandError> {
        let tier = self.guilds.tier(caller.guild_id).await?;
        if feature.is_unlocked_at(tier) {
            return Ok(tier);
        }
        let needed = feature.min_tier();
        let name = &self.tiers.limits(needed).name;
        self.audit_refusal(
            caller,
            command,
            "premium.refused",
            doc! { "feature": format!("{feature:?}"), "tier": i32::from(tier.get()), "needs": i32::from(needed.get()) },
        )
        .await;
        Err(CommandError::refused(
            format!(
                "`/{command}` needs the {name} tier (tier {}) or higher; this server is on {} (tier {}).",
                needed.get(),
                self.tiers.limits(tier).name,
                tier.get()
            ),
            format!("See /premium tiers; a bot admin can grant {name} with /admin premium."),
        ))
    }

    /// Only admins of the home guild (or the bot owner) grant premium.
    pub async fn require_premium_granter(
        &self,
        caller: &Caller,
        command: &str,
    ) -> Result<(), CommandError> {
        if self.is_owner(caller.user_id) {
            return Ok(());
        }
        let home = self.home_guild().await?;
        if home == Some(caller.guild_id) && self.is_admin(caller).await? {
            return Ok(());
        }
        self.audit_refusal(
            caller,
            command,
            "permission.refused",
            doc! { "needs": "home guild admin" },
        )
        .await;
        Err(CommandError::refused(
            "Premium is granted only by admins of the bot's home server, or the bot owner.",
            "Ask the bot's operators to grant it.",
        ))
    }

    pub async fn require_bot_owner(
        &self,
        caller: &Caller,
        command: &str,
    ) -> Result<(), CommandError> {
        if self.is_owner(caller.user_id) {
            return Ok(());
        }
        self.audit_refusal(
            caller,
            command,
            "permission.refused",
            doc! { "needs": "bot owner" },
        )
        .await;
        Err(CommandError::refused(
            format!("`/{command}` is for the bot's owner."),
            "Ask the bot's operators.",
        ))
    }

    async fn audit_refusal(
        &self,
        caller: &Caller,
        command: &str,
        action: &str,
        detail: mongodb::bson::Document,
    ) {
        let entry = AuditEntry {
            guild_id: caller.guild_id,
            actor: caller.user_id,
            action,
            command,
            detail,
        };
        if let Err(e) = self.audit.record(entry).await {
            tracing::warn!(error = %e, command, "could not audit a refused check");
        }
    }
}
