//! Identifiers in the product's words.
//!
//! Discord ids are snowflakes (`u64`); MongoDB stores them as strings, as the earlier bot
//! did, so documents stay importable and sort-safe in every driver.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A Discord guild (server) id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct GuildId(pub u64);

impl fmt::Display for GuildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<GuildId> for String {
    fn from(id: GuildId) -> Self {
        id.0.to_string()
    }
}

impl TryFrom<String> for GuildId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
            .map(GuildId)
            .map_err(|_| format!("`{s}` is not a Discord guild id"))
    }
}

/// The game's numeric server id, as a guild admin typed it in `/setup addserver`.
/// Unique within a guild, not across guilds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServerId(String);

impl ServerId {
    pub const MAX_LEN: usize = 32;

    /// Digits only (as Deadside ids are), at most [`Self::MAX_LEN`].
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() || s.len() > Self::MAX_LEN || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "`{s}` is not a game server id (the numeric id shown in the server's folder name)"
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ServerId> for String {
    fn from(id: ServerId) -> Self {
        id.0
    }
}

impl TryFrom<String> for ServerId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

/// A contiguous range of Discord shards `first..=last` out of `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardRange {
    pub first: u32,
    pub last: u32,
    pub total: u32,
}

impl ShardRange {
    /// The shard a guild lives on: Discord's `(guild_id >> 22) % total`.
    pub fn shard_of(guild: GuildId, total: u32) -> u32 {
        ((guild.0 >> 22) % u64::from(total.max(1))) as u32
    }

    pub fn contains_guild(&self, guild: GuildId) -> bool {
        let shard = Self::shard_of(guild, self.total);
        (self.first..=self.last).contains(&shard)
    }

    pub fn shards(&self) -> impl Iterator<Item = u32> {
        self.first..=self.last
    }
}

impl fmt::Display for ShardRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..={}/{}", self.first, self.last, self.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_ids_are_numeric() {
        assert!(ServerId::parse(" 7020 ").is_ok_and(|s| s.as_str() == "7020"));
        assert!(ServerId::parse("").is_err());
        assert!(ServerId::parse("12a").is_err());
        assert!(ServerId::parse(&"1".repeat(33)).is_err());
    }

    #[test]
    fn guilds_map_to_discord_shards() {
        // 197038439483310086 >> 22 = 46977624770 (even, and ≡ 2 mod 3).
        let guild = GuildId(197_038_439_483_310_086);
        assert_eq!(ShardRange::shard_of(guild, 2), 0);
        assert_eq!(ShardRange::shard_of(guild, 3), 2);
        let range = ShardRange {
            first: 1,
            last: 2,
            total: 3,
        };
        assert!(range.contains_guild(guild));
        assert!(
            !ShardRange {
                first: 0,
                last: 1,
                total: 3
            }
            .contains_guild(guild)
        );
    }

    #[test]
    fn guild_ids_round_trip_as_strings() {
        let id = GuildId(42);
        assert_eq!(String::from(id), "42");
        assert_eq!(GuildId::try_from("42".to_owned()), Ok(id));
        assert!(GuildId::try_from("x".to_owned()).is_err());
    }
}
