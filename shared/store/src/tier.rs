//! Premium tiers (PRODUCT.md §5): guild-scoped, each tier inherits everything below it.
//!
//! The limits per tier are configuration (`[[premium.tiers]]`); which tier unlocks which
//! feature is product policy and lives in code ([`Feature::min_tier`]).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A premium tier, 0 (Scavenger) to 4 (Overseer).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(try_from = "u8", into = "u8")]
pub struct Tier(u8);

impl Tier {
    pub const SCAVENGER: Tier = Tier(0);
    pub const SURVIVOR: Tier = Tier(1);
    pub const MERCENARY: Tier = Tier(2);
    pub const WARLORD: Tier = Tier(3);
    pub const OVERSEER: Tier = Tier(4);
    pub const MAX: Tier = Tier::OVERSEER;

    pub fn new(n: u8) -> Option<Tier> {
        (n <= Self::MAX.0).then_some(Tier(n))
    }

    pub fn get(self) -> u8 {
        self.0
    }

    pub fn all() -> impl Iterator<Item = Tier> {
        (0..=Self::MAX.0).map(Tier)
    }
}

impl TryFrom<u8> for Tier {
    type Error = String;
    fn try_from(n: u8) -> Result<Self, Self::Error> {
        Tier::new(n).ok_or_else(|| format!("tier {n} does not exist (tiers are 0 to 4)"))
    }
}

impl From<Tier> for u8 {
    fn from(t: Tier) -> u8 {
        t.0
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What a guild gets at one tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierLimits {
    pub tier: Tier,
    pub name: String,
    pub game_servers: u32,
    pub sftp_connections: u32,
    pub killfeed_poll_secs: u32,
    /// What the guild's servers may read per clock hour, killfeed and log together;
    /// past it, reading pauses until the next hour. Left out: the top tier's default.
    #[serde(default = "default_ingest_mib")]
    pub ingest_mib_per_hour: u32,
    #[serde(default = "default_ingest_lines")]
    pub ingest_lines_per_hour: u32,
}

fn default_ingest_mib() -> u32 {
    1024
}

fn default_ingest_lines() -> u32 {
    4_000_000
}

/// The tier table: one row per tier, 0 to 4, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TierTable(Vec<TierLimits>);

impl Default for TierTable {
    /// PRODUCT.md §5.
    fn default() -> Self {
        let row = |tier, name: &str, game_servers, sftp_connections, killfeed_poll_secs| {
            // The ingest budget doubles with each tier: 64 MiB and 250,000 lines an hour
            // at tier 0, many times what a busy server writes.
            let scale = 1u32 << tier;
            TierLimits {
                tier: Tier(tier),
                name: name.to_owned(),
                game_servers,
                sftp_connections,
                killfeed_poll_secs,
                ingest_mib_per_hour: 64 * scale,
                ingest_lines_per_hour: 250_000 * scale,
            }
        };
        TierTable(vec![
            row(0, "Scavenger", 1, 2, 60),
            row(1, "Survivor", 2, 5, 30),
            row(2, "Mercenary", 5, 10, 15),
            row(3, "Warlord", 10, 20, 10),
            row(4, "Overseer", 25, 40, 5),
        ])
    }
}

impl TierTable {
    /// Every tier present, in order, and a higher tier never gets less than a lower one.
    pub fn validate(&self) -> Result<(), String> {
        if self.0.len() != usize::from(Tier::MAX.0) + 1 {
            return Err(format!(
                "premium.tiers must list tiers 0 to {} (found {} rows)",
                Tier::MAX,
                self.0.len()
            ));
        }
        for (i, row) in self.0.iter().enumerate() {
            if usize::from(row.tier.0) != i {
                return Err(format!(
                    "premium.tiers row {i} is tier {}; rows must be in order 0 to 4",
                    row.tier
                ));
            }
            if row.game_servers == 0
                || row.sftp_connections == 0
                || row.killfeed_poll_secs == 0
                || row.ingest_mib_per_hour == 0
                || row.ingest_lines_per_hour == 0
            {
                return Err(format!("tier {}: limits must be at least 1", row.tier));
            }
        }
        for pair in self.0.windows(2) {
            let (lo, hi) = (&pair[0], &pair[1]);
            if hi.game_servers < lo.game_servers
                || hi.sftp_connections < lo.sftp_connections
                || hi.killfeed_poll_secs > lo.killfeed_poll_secs
                || hi.ingest_mib_per_hour < lo.ingest_mib_per_hour
                || hi.ingest_lines_per_hour < lo.ingest_lines_per_hour
            {
                return Err(format!(
                    "tier {} ({}) gives less than tier {} ({}); tiers inherit",
                    hi.tier, hi.name, lo.tier, lo.name
                ));
            }
        }
        Ok(())
    }

    /// The limits of `tier`. The table is validated at load, so every tier has a row.
    pub fn limits(&self, tier: Tier) -> &TierLimits {
        let index = usize::from(tier.0).min(self.0.len().saturating_sub(1));
        &self.0[index]
    }

    pub fn rows(&self) -> &[TierLimits] {
        &self.0
    }
}

/// Everything premium can gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    Killfeed,
    ServerSetup,
    Backfill,
    PlayerLinking,
    Help,
    PremiumInfo,
    Diagnostics,
    Stats,
    Leaderboards,
    WeaponStats,
    Rivalries,
    /// `/reset_stats` (a season close); the earlier bot gated it with rivalries.
    Seasons,
    /// `/killfeed delay`: a server's posts held back for a while.
    DelayedKillfeed,
    Bounties,
    Economy,
    Gambling,
    EventsFeed,
    ConnectionsFeed,
    Factions,
    VoicePlayerCount,
    CustomThemes,
}

impl Feature {
    /// The lowest tier that unlocks the feature (PRODUCT.md §5).
    pub fn min_tier(self) -> Tier {
        use Feature::*;
        match self {
            Killfeed | ServerSetup | Backfill | PlayerLinking | Help | PremiumInfo
            | Diagnostics => Tier::SCAVENGER,
            Stats | Leaderboards | WeaponStats => Tier::SURVIVOR,
            Rivalries | Seasons | DelayedKillfeed | Bounties | Economy | Gambling => {
                Tier::MERCENARY
            }
            EventsFeed | ConnectionsFeed | Factions | VoicePlayerCount => Tier::WARLORD,
            CustomThemes => Tier::OVERSEER,
        }
    }

    pub fn is_unlocked_at(self, tier: Tier) -> bool {
        tier >= self.min_tier()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_table_is_product_table() {
        let table = TierTable::default();
        assert_eq!(table.validate(), Ok(()));
        let warlord = table.limits(Tier::WARLORD);
        assert_eq!(
            (
                warlord.name.as_str(),
                warlord.game_servers,
                warlord.sftp_connections,
                warlord.killfeed_poll_secs
            ),
            ("Warlord", 10, 20, 10)
        );
        assert_eq!(table.limits(Tier::SCAVENGER).killfeed_poll_secs, 60);
        assert_eq!(table.limits(Tier::OVERSEER).game_servers, 25);
    }

    #[test]
    fn tiers_inherit_features() {
        assert!(Feature::Killfeed.is_unlocked_at(Tier::SCAVENGER));
        assert!(!Feature::Stats.is_unlocked_at(Tier::SCAVENGER));
        assert!(Feature::Stats.is_unlocked_at(Tier::OVERSEER));
        assert_eq!(Feature::VoicePlayerCount.min_tier(), Tier::WARLORD);
        assert_eq!(Feature::CustomThemes.min_tier(), Tier::OVERSEER);
    }

    #[test]
    fn a_table_where_a_higher_tier_gets_less_is_refused() {
        let mut table = TierTable::default();
        table.0[2].sftp_connections = 1;
        assert!(table.validate().is_err_and(|e| e.contains("tiers inherit")));
        let short = TierTable(TierTable::default().0[..3].to_vec());
        assert!(short.validate().is_err());
    }

    #[test]
    fn tier_numbers_outside_the_table_are_refused() {
        assert_eq!(Tier::new(4), Some(Tier::OVERSEER));
        assert_eq!(Tier::new(5), None);
        assert!(Tier::try_from(9).is_err());
    }
}
