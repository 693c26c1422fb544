//! Registers the global command set with Discord at start, only when it changed: the
//! SHA-256 of the schema's JSON is kept in `gateway_state`, so restarts and the other
//! gateway-shard processes do not re-register (Discord limits command updates).

use std::future::IntoFuture;

use mongodb::bson::{DateTime, Document, doc};
use twilight_model::application::command::Command;

use tower_store::db::collections;
use tower_store::schema::SCHEMA_VERSION;

use crate::bot::Bot;
use crate::rest::RestError;

/// The command set as committed (`gateway-shard/commands.json`): pretty JSON, one trailing
/// newline.
pub fn schema_json(commands: &[Command]) -> String {
    let mut json = serde_json::to_string_pretty(commands).unwrap_or_default();
    json.push('\n');
    json
}

fn hash(json: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, json.as_bytes());
    tower_ingest::hex::encode(d.as_ref())
}

/// What [`register`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    Unchanged,
    Registered { commands: usize },
}

#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error("database: {0}")]
    Db(#[from] mongodb::error::Error),
    #[error("Discord: {0}")]
    Discord(#[from] RestError),
}

pub async fn register(bot: &Bot, commands: &[Command]) -> Result<Registration, RegistrationError> {
    let state = bot
        .db
        .raw()
        .collection::<Document>(collections::GATEWAY_STATE);
    let id = format!("commands:{}", bot.application_id);
    let digest = hash(&schema_json(commands));
    let stored = state.find_one(doc! { "_id": &id }).await?;
    if stored.as_ref().and_then(|d| d.get_str("sha256").ok()) == Some(digest.as_str()) {
        return Ok(Registration::Unchanged);
    }
    let client = bot.http.interaction(bot.application_id);
    bot.rate_limits
        .send(|| client.set_global_commands(commands).into_future())
        .await?;
    state
        .update_one(
            doc! { "_id": &id },
            doc! { "$set": { "sha256": &digest, "registered_at": DateTime::now(), "schema_version": SCHEMA_VERSION } },
        )
        .upsert(true)
        .await?;
    Ok(Registration::Registered {
        commands: commands.len(),
    })
}
