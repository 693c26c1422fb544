//! What the killfeed's weapon names are: their category (the earlier bot's seven, and the
//! death types that are not weapons), and what each weapon is (type, ammunition, damage,
//! fire modes, range) for `/stats weapon`.
//!
//! The categories are the earlier bot's table (`WEAPON_CATEGORIES`), with the weapons it
//! did not know but live servers' killfeeds name (`AK-mod`, `RPK-mod`, `N4`, `M99`,
//! `GRM-40`, `Stronger Explosive Charge`, `boat`) placed where they belong. A name in no
//! category is counted under [`Category::Other`], never dropped.

/// A weapon category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    AssaultRifles,
    Shotguns,
    Pistols,
    Smgs,
    SniperRifles,
    Melee,
    Special,
    /// Not weapons: how a player died without one (`falling`, `suicide_by_relocation`).
    DeathTypes,
    /// A name the table does not know yet.
    Other,
}

impl Category {
    /// The categories a weapon can be in, in the earlier bot's order.
    pub const WEAPONS: [Category; 7] = [
        Category::AssaultRifles,
        Category::Shotguns,
        Category::Pistols,
        Category::Smgs,
        Category::SniperRifles,
        Category::Melee,
        Category::Special,
    ];

    /// The earlier bot's key (`assault_rifles`, …).
    pub fn key(self) -> &'static str {
        match self {
            Self::AssaultRifles => "assault_rifles",
            Self::Shotguns => "shotguns",
            Self::Pistols => "pistols",
            Self::Smgs => "smgs",
            Self::SniperRifles => "sniper_rifles",
            Self::Melee => "melee",
            Self::Special => "special",
            Self::DeathTypes => "death_types",
            Self::Other => "other",
        }
    }

    /// As shown to users.
    pub fn label(self) -> &'static str {
        match self {
            Self::AssaultRifles => "Assault Rifles",
            Self::Shotguns => "Shotguns",
            Self::Pistols => "Pistols",
            Self::Smgs => "SMGs",
            Self::SniperRifles => "Sniper Rifles",
            Self::Melee => "Melee",
            Self::Special => "Special",
            Self::DeathTypes => "Death types",
            Self::Other => "Other",
        }
    }

    /// The weapons in this category.
    pub fn members(self) -> &'static [&'static str] {
        match self {
            Self::AssaultRifles => &[
                "AK-SU", "AK-SM", "AR4", "AR4-M", "Skar", "MG-36", "NK417", "AK-mod", "RPK-mod",
                "N4",
            ],
            Self::Shotguns => &["IZH-43", "Sawed-Off Shotgun", "M133", "MS590"],
            Self::Pistols => &[
                "IZH-70", "TTk", "Berta M9", "Scorp", "C1911", "P900", "F-57", "R-5",
            ],
            Self::Smgs => &["BB-19", "PP-3000", "F-10", "Fasam", "UMR45", "UAG"],
            Self::SniperRifles => &["Mosin", "Mosin-K", "VSD", "Grom", "MR5", "S85", "M99"],
            Self::Melee => &[
                "Folding Knife",
                "Combat Knife",
                "Woodcutter's Axe",
                "Fire Axe",
            ],
            Self::Special => &[
                "Dynamite",
                "land_vehicle",
                "GRM-40",
                "Stronger Explosive Charge",
                "boat",
            ],
            Self::DeathTypes => &["falling", "suicide_by_relocation"],
            Self::Other => &[],
        }
    }

    /// The category of a killfeed weapon name (exactly as the killfeed writes it).
    pub fn of(weapon: &str) -> Category {
        Self::WEAPONS
            .into_iter()
            .chain([Self::DeathTypes])
            .find(|c| c.members().contains(&weapon))
            .unwrap_or(Self::Other)
    }
}

/// What a weapon is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeaponDetails {
    pub kind: &'static str,
    pub ammo: Option<&'static str>,
    pub damage: Option<u16>,
    pub fire_rate: Option<&'static str>,
    pub range: Option<&'static str>,
    pub description: &'static str,
}

const fn gun(
    kind: &'static str,
    ammo: &'static str,
    damage: u16,
    fire_rate: &'static str,
    range: &'static str,
    description: &'static str,
) -> WeaponDetails {
    WeaponDetails {
        kind,
        ammo: Some(ammo),
        damage: Some(damage),
        fire_rate: Some(fire_rate),
        range: Some(range),
        description,
    }
}

const fn other(
    kind: &'static str,
    damage: Option<u16>,
    range: Option<&'static str>,
    description: &'static str,
) -> WeaponDetails {
    WeaponDetails {
        kind,
        ammo: None,
        damage,
        fire_rate: None,
        range,
        description,
    }
}

const AUTO: &str = "Full-Auto/Single";
const AR: &str = "Assault Rifle";
const SR: &str = "Sniper Rifle";
const SMG: &str = "SMG";

/// The earlier bot's weapon facts (type, ammunition, damage, fire modes, range).
const DETAILS: &[(&str, WeaponDetails)] = &[
    (
        "AK-SU",
        gun(
            AR,
            "5.45x39mm",
            38,
            AUTO,
            "Medium",
            "Compact rifle, moderate damage, easy recoil.",
        ),
    ),
    (
        "AK-SM",
        gun(
            AR,
            "7.62x39mm",
            45,
            AUTO,
            "Medium",
            "Reliable rifle: more damage, more recoil.",
        ),
    ),
    (
        "AR4",
        gun(
            AR,
            "5.56x45mm",
            40,
            "Full-Auto/Burst/Single",
            "Medium-Long",
            "Accurate all-round rifle.",
        ),
    ),
    (
        "AR4-M",
        gun(
            AR,
            "5.56x45mm",
            38,
            "Full-Auto/Burst/Single",
            "Medium",
            "Shorter AR4: less range, better handling.",
        ),
    ),
    (
        "Skar",
        gun(
            AR,
            "7.62x51mm",
            52,
            AUTO,
            "Medium-Long",
            "Battle rifle with heavy hits and good range.",
        ),
    ),
    (
        "MG-36",
        gun(
            AR,
            "5.56x45mm",
            38,
            "Full-Auto/Burst",
            "Medium-Long",
            "Large magazine, steady fire.",
        ),
    ),
    (
        "NK417",
        gun(
            AR,
            "7.62x51mm",
            55,
            AUTO,
            "Long",
            "Battle rifle: high damage, very accurate.",
        ),
    ),
    (
        "Mosin",
        gun(
            SR,
            "7.62x54mmR",
            75,
            "Bolt-Action",
            "Long",
            "Classic bolt-action: heavy and accurate.",
        ),
    ),
    (
        "Mosin-K",
        gun(
            SR,
            "7.62x54mmR",
            70,
            "Bolt-Action",
            "Medium-Long",
            "Shortened Mosin, quicker to handle.",
        ),
    ),
    (
        "VSD",
        gun(
            SR,
            "7.62x54mmR",
            85,
            "Semi-Auto",
            "Very Long",
            "Semi-automatic sniper rifle.",
        ),
    ),
    (
        "Grom",
        gun(
            SR,
            "7.62x54mmR",
            95,
            "Bolt-Action",
            "Very Long",
            "Powerful, precise bolt-action.",
        ),
    ),
    (
        "MR5",
        gun(
            SR,
            "7.62x51mm",
            80,
            "Semi-Auto",
            "Long",
            "Marksman rifle with fast follow-up shots.",
        ),
    ),
    (
        "S85",
        gun(
            SR,
            "8.5x70mm",
            105,
            "Bolt-Action",
            "Extreme",
            "Heavy sniper rifle, the longest reach.",
        ),
    ),
    (
        "IZH-43",
        gun(
            "Shotgun",
            "12 Gauge",
            95,
            "Break-Action",
            "Close",
            "Double barrel: deadly up close.",
        ),
    ),
    (
        "Sawed-Off Shotgun",
        gun(
            "Shotgun",
            "12 Gauge",
            90,
            "Break-Action",
            "Very Close",
            "Wide spread, short reach.",
        ),
    ),
    (
        "M133",
        gun(
            "Shotgun",
            "12 Gauge",
            85,
            "Pump-Action",
            "Close",
            "Reliable pump-action.",
        ),
    ),
    (
        "MS590",
        gun(
            "Shotgun",
            "12 Gauge",
            87,
            "Pump-Action",
            "Close",
            "Tactical pump-action.",
        ),
    ),
    (
        "IZH-70",
        gun(
            "Pistol",
            "9x18mm",
            25,
            "Semi-Auto",
            "Close",
            "Common pistol, quick to fire.",
        ),
    ),
    (
        "TTk",
        gun(
            "Pistol",
            "7.62x25mm",
            35,
            "Semi-Auto",
            "Close",
            "Military pistol with good penetration.",
        ),
    ),
    (
        "Berta M9",
        gun(
            "Pistol",
            "9x19mm",
            30,
            "Semi-Auto",
            "Close",
            "Standard sidearm, balanced.",
        ),
    ),
    (
        "Scorp",
        gun(
            "Pistol",
            "9x19mm",
            28,
            "Semi-Auto",
            "Close",
            "Compact pistol, good capacity.",
        ),
    ),
    (
        "C1911",
        gun(
            "Pistol",
            ".45 ACP",
            45,
            "Semi-Auto",
            "Close",
            "Heavy pistol, small magazine.",
        ),
    ),
    (
        "P900",
        gun(
            "Pistol",
            "9x19mm",
            32,
            "Semi-Auto",
            "Close",
            "Modern polymer pistol.",
        ),
    ),
    (
        "F-57",
        gun(
            "Pistol",
            "5.7x28mm",
            28,
            "Semi-Auto",
            "Close-Medium",
            "High capacity, low recoil.",
        ),
    ),
    (
        "R-5",
        gun(
            "Pistol",
            ".357 Magnum",
            55,
            "Double-Action",
            "Close-Medium",
            "Revolver: big hits, few rounds.",
        ),
    ),
    (
        "BB-19",
        gun(
            SMG,
            "9x19mm",
            28,
            AUTO,
            "Close-Medium",
            "Compact, fast-firing SMG.",
        ),
    ),
    (
        "PP-3000",
        gun(
            SMG,
            "9x19mm",
            30,
            AUTO,
            "Close-Medium",
            "Modern, dependable SMG.",
        ),
    ),
    (
        "F-10",
        gun(
            SMG,
            "10mm Auto",
            35,
            AUTO,
            "Close-Medium",
            "Hard-hitting larger-calibre SMG.",
        ),
    ),
    (
        "Fasam",
        gun(
            SMG,
            "9x19mm",
            27,
            "Full-Auto/Burst/Single",
            "Close-Medium",
            "SMG with three fire modes.",
        ),
    ),
    (
        "UMR45",
        gun(
            SMG,
            ".45 ACP",
            40,
            AUTO,
            "Close-Medium",
            ".45 SMG with strong stopping power.",
        ),
    ),
    (
        "UAG",
        gun(
            SMG,
            "9x19mm",
            32,
            AUTO,
            "Close-Medium",
            "Compact SMG with a folding stock.",
        ),
    ),
    (
        "Folding Knife",
        other(
            "Melee",
            Some(35),
            Some("Melee"),
            "Common knife for quiet kills.",
        ),
    ),
    (
        "Combat Knife",
        other(
            "Melee",
            Some(45),
            Some("Melee"),
            "Military knife, more lethal.",
        ),
    ),
    (
        "Woodcutter's Axe",
        other("Melee", Some(65), Some("Melee"), "Heavy axe, slow swing."),
    ),
    (
        "Fire Axe",
        other(
            "Melee",
            Some(70),
            Some("Melee"),
            "Two-handed axe, the hardest melee hit.",
        ),
    ),
    (
        "Dynamite",
        other(
            "Explosive",
            Some(150),
            Some("Area Effect"),
            "Thrown explosive with wide damage.",
        ),
    ),
    (
        "land_vehicle",
        other(
            "Vehicle",
            Some(100),
            Some("Contact"),
            "Run over by a vehicle.",
        ),
    ),
    (
        "falling",
        other("Environmental Death", None, None, "A fall from height."),
    ),
    (
        "suicide_by_relocation",
        other(
            "System",
            None,
            None,
            "A respawn or a teleport by the server.",
        ),
    ),
];

/// What `weapon` is, when the table knows it.
pub fn details(weapon: &str) -> Option<&'static WeaponDetails> {
    DETAILS.iter().find(|(w, _)| *w == weapon).map(|(_, d)| d)
}

/// What a user should know about a "weapon" that is not one (the earlier bot's notes).
pub fn special_note(weapon: &str) -> Option<&'static str> {
    match weapon {
        "land_vehicle" => Some("Vehicle kills represent players killed by vehicles."),
        "falling" | "suicide_by_relocation" => {
            Some("This represents a death type rather than an actual weapon.")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_weapon_of_the_fixtures_has_a_category_and_death_types_are_apart() {
        for weapon in [
            "IZH-43",
            "AK-mod",
            "M99",
            "Stronger Explosive Charge",
            "boat",
        ] {
            assert!(
                Category::WEAPONS.contains(&Category::of(weapon)),
                "{weapon}"
            );
        }
        assert_eq!(Category::of("falling"), Category::DeathTypes);
        assert_eq!(Category::of("Railgun"), Category::Other);
        assert_eq!(Category::of("MR5"), Category::SniperRifles);
        // No weapon in two categories.
        let mut all: Vec<&str> = Category::WEAPONS
            .into_iter()
            .flat_map(|c| c.members().iter().copied())
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
        // Every detailed weapon has a category.
        for (w, _) in DETAILS {
            assert_ne!(Category::of(w), Category::Other, "{w}");
        }
    }
}
