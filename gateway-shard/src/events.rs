//! What the gateway-shard does with each Discord event. Runs on its own task per event,
//! never on a shard's receive loop.

use std::sync::Arc;

use twilight_gateway::Event;

use crate::bot::Bot;

pub async fn handle(bot: Arc<Bot>, shard: u32, event: Event) {
    match event {
        Event::InteractionCreate(interaction) => {
            crate::interactions::handle(bot, shard, interaction.0).await;
        }
        Event::GuildCreate(guild) => {
            tracing::debug!(shard, guild = %guild.id(), "guild available");
        }
        Event::GuildDelete(guild) => {
            tracing::debug!(shard, guild = %guild.id, unavailable = ?guild.unavailable, "guild gone");
        }
        other => {
            tracing::trace!(shard, kind = ?other.kind(), "event not handled");
        }
    }
}
