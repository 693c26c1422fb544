//! The audit log (`audit_log`): every premium grant and every refused permission or
//! premium check, with who, where and what. Never holds a secret.

use mongodb::bson::{DateTime, Document, doc};

use crate::db::{Database, collections};
use crate::schema::SCHEMA_VERSION;

/// One audited action.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    /// The guild the action was taken in.
    pub guild_id: u64,
    /// The Discord user who acted.
    pub actor: u64,
    /// `premium.grant`, `permission.refused`, `premium.refused`, `admin.set_home_guild`, …
    pub action: &'a str,
    /// The command that was used, e.g. `admin premium`.
    pub command: &'a str,
    pub detail: Document,
}

#[derive(Clone)]
pub struct AuditLog {
    entries: mongodb::Collection<Document>,
}

impl AuditLog {
    pub fn new(db: &Database) -> Self {
        Self {
            entries: db.raw().collection(collections::AUDIT_LOG),
        }
    }

    pub async fn record(&self, entry: AuditEntry<'_>) -> Result<(), mongodb::error::Error> {
        self.entries
            .insert_one(doc! {
                "guild_id": entry.guild_id.to_string(),
                "actor": entry.actor.to_string(),
                "action": entry.action,
                "command": entry.command,
                "detail": entry.detail,
                "at": DateTime::now(),
                "schema_version": SCHEMA_VERSION,
            })
            .await?;
        Ok(())
    }
}
