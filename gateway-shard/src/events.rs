//! What the gateway-shard does with each Discord event. Runs on its own task per event,
//! never on a shard's receive loop.

use twilight_gateway::Event;

pub async fn handle(shard: u32, event: Event) {
    match event {
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
