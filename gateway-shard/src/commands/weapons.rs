//! `/stats weapon` and `/stats weapon_categories`, as the earlier bot answered them.
//!
//! `/stats weapon` matches any part of the name, in any case, and shows up to five
//! matching weapons as pages (the exact name first, then by kills): what the weapon is,
//! its kills, how many players used it, its kill distances and its top users. The page
//! buttons carry the page, the caller, their expiry, the server and the typed text, so
//! any gateway process answers them, across restarts.

use twilight_model::channel::message::Component;
use twilight_model::channel::message::component::ButtonStyle;
use twilight_util::builder::embed::{EmbedBuilder, EmbedFieldBuilder, EmbedFooterBuilder};
use twilight_util::builder::message::{ActionRowBuilder, ButtonBuilder};

use tower_daemon::telemetry::now_unix_ms;
use tower_ingest::weapons::{Category, details, special_note};
use tower_store::game_servers::GameServer;
use tower_store::ids::{GuildId, ServerId};
use tower_store::stats_query::WeaponRow;

use crate::access::Caller;
use crate::bot::Bot;
use crate::embeds::{clip, code, colour, shown};
use crate::reply::{CommandError, Reply};

/// How many matching weapons `/stats weapon` pages through.
const MAX_WEAPONS: u32 = 5;

/// A page button of `/stats weapon`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeaponPage {
    pub page: usize,
    pub caller: u64,
    pub expires_unix: i64,
    pub server: String,
    /// The text typed (cut to fit the button's 100 characters).
    pub typed: String,
}

impl WeaponPage {
    pub const PREFIX: &'static str = "sw";

    pub fn custom_id(&self) -> String {
        let head = format!(
            "{}|{}|{}|{}|{}|",
            Self::PREFIX,
            self.page,
            super::buttons::radix36(self.caller),
            super::buttons::radix36_time(self.expires_unix),
            self.server
        );
        let room = 100usize.saturating_sub(head.len());
        let mut typed = String::new();
        for c in self.typed.chars() {
            if typed.len() + c.len_utf8() > room {
                break;
            }
            typed.push(c);
        }
        head + &typed
    }

    pub fn parse(custom_id: &str) -> Option<Self> {
        // The typed text is last and may hold `|`.
        let mut parts = custom_id.splitn(6, '|');
        if parts.next()? != Self::PREFIX {
            return None;
        }
        let page = parts.next()?.parse().ok()?;
        let caller = super::buttons::from_radix36(parts.next()?)?;
        let expires_unix = i64::try_from(super::buttons::from_radix36(parts.next()?)?).ok()?;
        let server = parts.next()?.to_owned();
        let typed = parts.next()?.to_owned();
        Some(Self {
            page,
            caller,
            expires_unix,
            server,
            typed,
        })
    }
}

/// `/stats weapon server_id weapon_name`: the first matching weapon.
pub async fn weapon(
    bot: &Bot,
    caller: &Caller,
    server: &GameServer,
    typed: &str,
) -> Result<Reply, CommandError> {
    let button = WeaponPage {
        page: 0,
        caller: caller.user_id,
        expires_unix: now_unix_ms() / 1000 + super::stats::PAGE_BUTTONS_TTL_SECS,
        server: server.server.as_str().to_owned(),
        typed: typed.trim().to_owned(),
    };
    weapon_page(bot, caller, server, &button).await
}

/// A page button pressed: that page, or a private refusal.
pub async fn page_button(
    bot: &Bot,
    caller: &Caller,
    custom_id: &str,
) -> Result<Reply, CommandError> {
    let button = WeaponPage::parse(custom_id).ok_or_else(super::buttons::not_ours)?;
    let rules = super::buttons::PressRules {
        owner: button.caller,
        expires_unix: button.expires_unix,
        noun: "buttons",
        not_yours: "Only the person who ran this /stats weapon can turn its pages. Run /stats weapon yourself.",
        expired: "Run /stats weapon again for fresh numbers.",
    };
    if let Some(refusal) = rules.refusal(caller.user_id) {
        return Ok(refusal);
    }
    let id = ServerId::parse(&button.server).map_err(|_| {
        CommandError::invalid("This button names no server.", "Run the command again.")
    })?;
    let server = bot.servers.get(GuildId(caller.guild_id), &id).await?;
    weapon_page(bot, caller, &server, &button).await
}

async fn weapon_page(
    bot: &Bot,
    caller: &Caller,
    server: &GameServer,
    button: &WeaponPage,
) -> Result<Reply, CommandError> {
    let id = server.server.as_str();
    let mut found = bot
        .stats
        .weapons_containing(caller.guild_id, id, &button.typed, MAX_WEAPONS)
        .await?;
    // The exact name first (a name picked from the suggestions), whatever its kills and
    // however many weapons with more kills contain it.
    if let Some(exact) = bot.stats.weapon(caller.guild_id, id, &button.typed).await? {
        found.retain(|w| w.weapon != exact.weapon);
        found.insert(0, exact);
        found.truncate(MAX_WEAPONS as usize);
    }
    let Some(w) = found.get(button.page.min(found.len().saturating_sub(1))) else {
        return Err(CommandError::invalid(
            format!(
                "No kill with a weapon named like `{}` on `{id}` yet.",
                code(&button.typed, 60)
            ),
            "Pick a weapon from the list Discord suggests while you type.",
        ));
    };
    let page = button.page.min(found.len() - 1);
    let users = bot
        .stats
        .weapon_users(caller.guild_id, id, &w.weapon)
        .await?;
    let leaders = bot
        .stats
        .weapon_leaders(caller.guild_id, id, &w.weapon, 5)
        .await?;
    let ids: Vec<String> = leaders.iter().map(|(p, _)| p.clone()).collect();
    let names = bot.stats.names(caller.guild_id, id, &ids).await?;
    let top: Vec<String> = leaders
        .iter()
        .enumerate()
        .map(|(i, (p, k))| {
            format!(
                "**{}.** {} — {k} kills",
                i + 1,
                shown(names.get(p).map(String::as_str).unwrap_or(p), 40)
            )
        })
        .collect();
    let facts = details(&w.weapon);
    let kind = facts.map_or(Category::of(&w.weapon).label(), |d| d.kind);
    let mut b = EmbedBuilder::new()
        .title(clip(
            &format!("{} — {}", shown(&w.weapon, 100), shown(&server.name, 100)),
            256,
        ))
        .color(colour::INFO)
        .field(EmbedFieldBuilder::new("Weapon Type", kind).inline())
        .field(EmbedFieldBuilder::new("Total Kills", w.kills.to_string()).inline())
        .field(EmbedFieldBuilder::new("Unique Users", users.to_string()).inline());
    if let Some(d) = facts {
        for (name, value) in [
            ("Ammunition", d.ammo.map(str::to_owned)),
            ("Damage", d.damage.map(|n| n.to_string())),
            ("Effective Range", d.range.map(str::to_owned)),
            ("Fire Rate", d.fire_rate.map(str::to_owned)),
        ] {
            if let Some(value) = value {
                b = b.field(EmbedFieldBuilder::new(name, value).inline());
            }
        }
        b = b.field(EmbedFieldBuilder::new("Description", d.description));
    }
    b = b
        .field(EmbedFieldBuilder::new("Distance Stats", distances(w)))
        .field(EmbedFieldBuilder::new(
            "Top Users",
            super::lines_or(&top, "—"),
        ));
    if let Some(note) = special_note(&w.weapon) {
        b = b.field(EmbedFieldBuilder::new("Special Note", note));
    }
    if found.len() > 1 {
        b = b.footer(EmbedFooterBuilder::new(format!(
            "Weapon {} of {} matching \"{}\"",
            page + 1,
            found.len(),
            clip(&button.typed, 60)
        )));
    }
    let reply = Reply::embed(b.build());
    if found.len() < 2 {
        return Ok(reply);
    }
    let to = |p: usize| {
        WeaponPage {
            page: p,
            ..button.clone()
        }
        .custom_id()
    };
    let row = Component::ActionRow(
        ActionRowBuilder::new()
            .component(Component::Button(
                ButtonBuilder::new(ButtonStyle::Secondary)
                    .label("Previous")
                    .custom_id(to(page.saturating_sub(1)))
                    .disabled(page == 0)
                    .build(),
            ))
            .component(Component::Button(
                ButtonBuilder::new(ButtonStyle::Secondary)
                    .label("Next")
                    .custom_id(to(page + 1))
                    .disabled(page + 1 >= found.len())
                    .build(),
            ))
            .build(),
    );
    Ok(reply.with_components(vec![row]))
}

/// "Avg / Min / Max" of a weapon's kill distances.
fn distances(w: &WeaponRow) -> String {
    let avg = match w.distance_kills {
        0 => "—".to_owned(),
        n => format!("{:.1} m", w.distance_sum_m as f64 / n as f64),
    };
    let min = w.shortest_m.map_or("—".to_owned(), |m| format!("{m} m"));
    format!("Avg: {avg}\nMin: {min}\nMax: {} m", w.longest_m)
}

/// `/stats weapon_categories server_id`: kills per weapon category ("Weapon Category
/// Stats"), without the death types.
pub async fn categories(
    bot: &Bot,
    caller: &Caller,
    server: &GameServer,
) -> Result<Reply, CommandError> {
    // Every weapon of the server: a few dozen names.
    let weapons = bot
        .stats
        .weapons(caller.guild_id, server.server.as_str(), None, 1000)
        .await?;
    let mut by_category = std::collections::BTreeMap::<Category, u64>::new();
    for w in &weapons {
        let c = Category::of(&w.weapon);
        if c != Category::DeathTypes {
            *by_category.entry(c).or_default() += w.kills;
        }
    }
    let total: u64 = by_category.values().sum();
    let mut b = EmbedBuilder::new()
        .title(clip(
            &format!("Weapon Category Stats — {}", shown(&server.name, 100)),
            256,
        ))
        .color(colour::INFO)
        .field(EmbedFieldBuilder::new("Total Kills", total.to_string()));
    let shown_categories = Category::WEAPONS.into_iter().chain(
        by_category
            .contains_key(&Category::Other)
            .then_some(Category::Other),
    );
    for c in shown_categories {
        let n = by_category.get(&c).copied().unwrap_or(0);
        let share = 100.0 * n as f64 / total.max(1) as f64;
        b = b.field(EmbedFieldBuilder::new(c.label(), format!("{n} kills ({share:.1}%)")).inline());
    }
    let definitions: Vec<String> = Category::WEAPONS
        .iter()
        .map(|c| {
            let members = c.members();
            let first: Vec<&str> = members.iter().take(3).copied().collect();
            let more = match members.len().saturating_sub(3) {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            format!("**{}**: {}{more}", c.label(), first.join(", "))
        })
        .collect();
    b = b.field(EmbedFieldBuilder::new(
        "Category Definitions",
        definitions.join("\n"),
    ));
    Ok(Reply::embed(b.build()))
}

/// A player's weapons seen as the earlier bot's "Weapon Analysis" page showed them.
pub struct CombatProfile {
    /// Combat kills (with a weapon, not a vehicle or a death type), the melee share,
    /// and the style their most-used category makes.
    pub summary: String,
    /// Kills and share per category, most first.
    pub categories: String,
}

/// The profile of a player's `(weapon, kills)`; `None` without a combat kill.
pub fn combat_profile(weapons: &[(String, u64)]) -> Option<CombatProfile> {
    let mut by_category = std::collections::BTreeMap::<Category, u64>::new();
    let mut combat = 0;
    for (w, k) in weapons {
        let c = Category::of(w);
        if matches!(c, Category::DeathTypes) {
            continue;
        }
        *by_category.entry(c).or_default() += k;
        // As the earlier bot: every weapon but a vehicle is a combat kill.
        if !matches!(w.as_str(), "land_vehicle" | "boat") {
            combat += k;
        }
    }
    if combat == 0 {
        return None;
    }
    let melee = by_category.get(&Category::Melee).copied().unwrap_or(0);
    let style = by_category
        .iter()
        .filter(|(c, _)| !matches!(c, Category::Special | Category::Other))
        .max_by_key(|(c, n)| (**n, std::cmp::Reverse(**c)))
        .map_or("Mixed", |(c, _)| c.label());
    let total: u64 = by_category.values().sum();
    let mut ranked: Vec<(&Category, &u64)> = by_category.iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let categories = ranked
        .iter()
        .map(|(c, n)| {
            format!(
                "{}: {n} ({:.1}%)",
                c.label(),
                100.0 * **n as f64 / total.max(1) as f64
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    Some(CombatProfile {
        summary: format!(
            "Combat kills: {combat}\nMelee: {:.1}%\nCombat style: {style}",
            100.0 * melee as f64 / combat as f64
        ),
        categories,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_counts_combat_kills_and_names_the_style_by_category() {
        let weapons = [
            ("MR5".to_owned(), 6),
            ("Mosin".to_owned(), 2),
            ("Fire Axe".to_owned(), 2),
            ("land_vehicle".to_owned(), 5),
        ];
        let Some(p) = combat_profile(&weapons) else {
            panic!("a profile")
        };
        assert_eq!(
            p.summary,
            "Combat kills: 10\nMelee: 20.0%\nCombat style: Sniper Rifles"
        );
        assert!(
            p.categories.starts_with("Sniper Rifles: 8 (53.3%)"),
            "{}",
            p.categories
        );
        assert!(combat_profile(&[("land_vehicle".to_owned(), 3)]).is_none());
    }

    #[test]
    fn weapon_page_buttons_fit_discords_100_characters_and_keep_the_text() {
        let b = WeaponPage {
            page: 4,
            caller: u64::MAX,
            expires_unix: 4_102_444_800,
            server: "9".repeat(ServerId::MAX_LEN),
            typed: "a|b".to_owned(),
        };
        let id = b.custom_id();
        assert!(id.len() <= 100, "{} characters", id.len());
        assert_eq!(WeaponPage::parse(&id), Some(b.clone()));
        let long = WeaponPage {
            typed: "é".repeat(100),
            ..b
        };
        let id = long.custom_id();
        assert!(id.len() <= 100, "{} characters", id.len());
        assert!(WeaponPage::parse(&id).is_some_and(|p| p.typed.starts_with('é')));
        assert_eq!(WeaponPage::parse("sw|x|1|1|s|t"), None);
    }
}
