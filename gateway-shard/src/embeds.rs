//! The messages the bot posts and answers with, as the earlier bot had them: the killfeed
//! (killer vs victim, weapon, distance), suicides by kind with varied wording, game events
//! and connections, in the guild's theme. Text from players is clipped to Discord's limits
//! and every embed is checked with [`validate`] before it is sent.

use twilight_model::channel::message::Embed;
use twilight_model::util::Timestamp;
use twilight_util::builder::embed::{EmbedBuilder, EmbedFieldBuilder, EmbedFooterBuilder};

use tower_proto::v1::notification::Payload;
use tower_proto::v1::{
    ConnectionKind, GameEventKind, HighlightKind, HighlightNotice, KillNotice, Notification,
    Player, RivalryChange, RivalryNotice, SuicideKind,
};
use tower_store::guilds::Currency;

/// Colours (0xRRGGBB).
pub mod colour {
    pub const SUCCESS: u32 = 0x2E_CC_71;
    pub const ERROR: u32 = 0xE7_4C_3C;
    pub const INFO: u32 = 0x34_98_DB;
    pub const WARNING: u32 = 0xF1_C4_0F;
}

/// A guild's colour theme (`guilds.theme`; setting one is an Overseer feature): the
/// earlier bot's six, `default` being the classic colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    #[default]
    Classic,
    Midnight,
    Blood,
    Gold,
    Toxic,
    Ghost,
}

impl Theme {
    /// The `/premium theme` choices: (label, stored value), as the earlier bot offered.
    pub const CHOICES: [(&'static str, &'static str); 6] = [
        ("Default", "default"),
        ("Midnight", "midnight"),
        ("Blood", "blood"),
        ("Gold", "gold"),
        ("Toxic", "toxic"),
        ("Ghost", "ghost"),
    ];

    pub fn parse(name: Option<&str>) -> Self {
        Self::known(name.unwrap_or_default()).unwrap_or_default()
    }

    /// A stored or chosen theme name (any case); `None` for one that does not exist.
    pub fn known(name: &str) -> Option<Self> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "default" | "classic" | "" => Self::Classic,
            "midnight" => Self::Midnight,
            "blood" => Self::Blood,
            "gold" => Self::Gold,
            "toxic" => Self::Toxic,
            "ghost" => Self::Ghost,
            _ => return None,
        })
    }

    /// As users see it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Classic => "Default",
            Self::Midnight => "Midnight",
            Self::Blood => "Blood",
            Self::Gold => "Gold",
            Self::Toxic => "Toxic",
            Self::Ghost => "Ghost",
        }
    }

    pub fn kill(self) -> u32 {
        match self {
            Self::Classic => 0xC0_39_2B,
            Self::Midnight => 0x2C_3E_50,
            Self::Blood => 0x8B_00_00,
            Self::Gold => 0xD4_AF_37,
            Self::Toxic => 0x39_FF_14,
            Self::Ghost => 0xEC_F0_F1,
        }
    }

    fn suicide(self) -> u32 {
        match self {
            Self::Classic => 0x95_A5_A6,
            Self::Midnight => 0x34_49_5E,
            Self::Blood => 0x5D_0F_0F,
            Self::Gold => 0xB8_86_0B,
            Self::Toxic => 0x2E_8B_57,
            Self::Ghost => 0xBD_C3_C7,
        }
    }

    fn event(self) -> u32 {
        match self {
            Self::Classic => 0xE6_7E_22,
            Self::Midnight => 0x8E_44_AD,
            Self::Blood => 0xB0_3A_2E,
            Self::Gold => 0xF1_C4_0F,
            Self::Toxic => 0x7F_FF_00,
            Self::Ghost => 0x95_A5_A6,
        }
    }
}

/// Checks an embed against Discord's limits.
pub fn validate(embed: &Embed) -> Result<(), twilight_validate::embed::EmbedValidationError> {
    twilight_validate::embed::embed(embed)
}

/// Splits `items`, in order, into messages within Discord's limits: at most 10 embeds
/// and 6,000 characters of embed text each (posting a channel's embeds, or a long answer).
pub fn message_groups<T>(items: &[T], embed: impl Fn(&T) -> &Embed) -> Vec<&[T]> {
    let mut out = Vec::new();
    let (mut start, mut chars) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        let size = twilight_validate::embed::chars(embed(item));
        if i > start
            && (i - start == twilight_validate::message::EMBED_COUNT_LIMIT
                || chars + size > twilight_validate::embed::EMBED_TOTAL_LENGTH)
        {
            out.push(&items[start..i]);
            (start, chars) = (i, 0);
        }
        chars += size;
    }
    if start < items.len() {
        out.push(&items[start..]);
    }
    out
}

/// True when `shown` (a message as Discord returns it) carries the same embeds as `sent`:
/// the same titles, descriptions, fields, footers and times. What Discord adds of its own
/// (an embed's type, image sizes) does not count.
pub fn same_embeds(shown: &[Embed], sent: &[Embed]) -> bool {
    let same = |a: &Embed, b: &Embed| {
        a.title == b.title
            && a.description == b.description
            && a.timestamp == b.timestamp
            && a.footer.as_ref().map(|f| &f.text) == b.footer.as_ref().map(|f| &f.text)
            && a.fields.len() == b.fields.len()
            && a.fields
                .iter()
                .zip(&b.fields)
                .all(|(x, y)| x.name == y.name && x.value == y.value)
    };
    shown.len() == sent.len() && shown.iter().zip(sent).all(|(a, b)| same(a, b))
}

/// `text` cut to at most `max` characters (with `…` when cut).
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Text that players or admins chose (player, weapon, server, event names), as shown in an
/// embed: cut to `max` characters, with Discord's markdown escaped so that a player named
/// `[Free skins](https://…)` shows as typed and never as a link, a mention or formatting.
pub fn shown(text: &str, max: usize) -> String {
    let clipped = clip(text, max);
    let mut out = String::with_capacity(clipped.len() + 8);
    // `-`, `+` and `1.` only make a list at the start of a line: inside a name they are
    // just characters.
    let digits = clipped.chars().take_while(char::is_ascii_digit).count();
    for (i, c) in clipped.chars().enumerate() {
        let list_mark = (i == 0 && (c == '-' || c == '+')) || (i == digits && i > 0 && c == '.');
        let markup = "\\*_~`|><#[]():@".contains(c) || list_mark;
        if markup {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// User-chosen text inside a code span (`` `…` ``), where a backslash shows as itself: a
/// backtick would end the span, so it is swapped for a look-alike.
pub fn code(text: &str, max: usize) -> String {
    clip(text, max).replace('`', "ˋ")
}

/// A player's name as shown (clipped and escaped; the id when the name is unknown).
fn name(player: Option<&Player>) -> String {
    match player {
        Some(p) if !p.name.trim().is_empty() => shown(p.name.trim(), 64),
        Some(p) if !p.eos_id.is_empty() => shown(&p.eos_id, 64),
        _ => "Unknown".to_owned(),
    }
}

fn timestamp(ms: i64) -> Option<Timestamp> {
    Timestamp::from_micros(ms.checked_mul(1000)?).ok()
}

/// Now, for an embed's timestamp.
pub fn now_timestamp() -> Option<Timestamp> {
    timestamp(tower_daemon::telemetry::now_unix_ms())
}

/// Picks one wording, stably for the same notification (a retried post says the same).
fn pick<'a>(options: &[&'a str], cursor: &str) -> &'a str {
    let h = cursor
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    options[(h % options.len() as u64) as usize]
}

/// A bounty notice as the bounty embed `/bounty place` answers with.
fn bounty(n: &tower_proto::v1::BountyNotice, server_name: &str, currency: &Currency) -> Embed {
    use tower_proto::v1::BountyEvent;
    use tower_store::bounties::{Bounty, Claim, Status};
    let event = BountyEvent::try_from(n.event).unwrap_or(BountyEvent::Unspecified);
    let (event, status) = match event {
        BountyEvent::Placed | BountyEvent::Unspecified => ("placed", Status::Active),
        BountyEvent::Claimed => ("claimed", Status::Claimed),
        BountyEvent::Paid => ("paid", Status::Claimed),
        BountyEvent::Expired => ("expired", Status::Expired),
        BountyEvent::Unclaimed => ("unclaimed", Status::Claimed),
    };
    let target = n.target.as_ref();
    let b = Bounty {
        id: n.bounty_id.clone(),
        guild_id: 0,
        server_id: String::new(),
        target_id: target.map(|p| p.eos_id.clone()).unwrap_or_default(),
        target_name: target.map(|p| p.name.clone()).unwrap_or_default(),
        reward: n.reward,
        reason: n.reason.clone(),
        placed_by: n.placed_by,
        placed_at_unix: 0,
        expires_at_unix: n.expires_unix,
        status,
        claim: n.hunter.as_ref().map(|h| Claim {
            hunter_id: h.eos_id.clone(),
            hunter_name: h.name.clone(),
            user_id: n.hunter_user,
            line: String::new(),
            at_unix: 0,
            paid: n.paid,
            settle: None,
        }),
        refunded: matches!(event, "expired" | "unclaimed"),
    };
    crate::commands::bounties::bounty_embed(&b, event, server_name, currency.coins())
}

/// The embed posted for one notification, or `None` for those that are not posted
/// (player counts rename a channel instead).
/// Money shows under the guild's `currency` name; with `faction_tags`, killers and
/// victims show their faction's tag before their name.
pub fn notification(
    n: &Notification,
    server_name: &str,
    theme: Theme,
    currency: &Currency,
    faction_tags: bool,
) -> Option<Embed> {
    // Footers show no markdown: the server's name goes in as typed.
    let footer = EmbedFooterBuilder::new(clip(server_name, 100));
    let mut b = match n.payload.as_ref()? {
        Payload::Kill(k) => kill(k, theme, currency.credits(), faction_tags),
        Payload::Suicide(s) => {
            let who = name(s.player.as_ref());
            let kind = SuicideKind::try_from(s.kind).unwrap_or(SuicideKind::Other);
            let line = match kind {
                SuicideKind::Menu => pick(
                    &[
                        "{} left this world by their own hand.",
                        "{} took the easy way out.",
                        "{} pressed the respawn button.",
                    ],
                    &n.cursor,
                ),
                SuicideKind::Fall => pick(
                    &[
                        "{} forgot that gravity always wins.",
                        "{} fell to their death.",
                        "{} tried to fly. It did not work.",
                    ],
                    &n.cursor,
                ),
                SuicideKind::Vehicle => pick(
                    &[
                        "{} was wrecked by their own vehicle.",
                        "{} should not have been driving.",
                    ],
                    &n.cursor,
                ),
                SuicideKind::Other | SuicideKind::Unspecified => pick(
                    &["{} died by their own mistake.", "{} is no longer with us."],
                    &n.cursor,
                ),
            };
            EmbedBuilder::new()
                .title("Suicide")
                .description(line.replacen("{}", &format!("**{who}**"), 1))
                .color(theme.suicide())
        }
        Payload::EnvironmentDeath(e) => EmbedBuilder::new()
            .title("Killed by the world")
            .description(format!(
                "**{}** was killed by the environment.",
                name(e.player.as_ref())
            ))
            .color(theme.suicide()),
        Payload::GameEvent(e) => {
            let kind = GameEventKind::try_from(e.kind).unwrap_or(GameEventKind::Unspecified);
            let title = match kind {
                GameEventKind::Mission => "Mission",
                GameEventKind::Airdrop => "Airdrop",
                GameEventKind::Helicrash => "Helicopter crash",
                GameEventKind::Trader => "Trader",
                GameEventKind::Convoy => "Convoy",
                GameEventKind::Encounter => "Encounter",
                GameEventKind::ServerRestart => "Server restart",
                GameEventKind::Unspecified => "Event",
            };
            let mut text = if kind == GameEventKind::ServerRestart {
                "The server restarted.".to_owned()
            } else {
                format!(
                    "**{}** {}",
                    shown(&e.name, 100),
                    shown(&e.state.to_lowercase(), 50)
                )
            };
            if e.level > 0 {
                text.push_str(&format!(" (level {})", e.level));
            }
            EmbedBuilder::new()
                .title(title)
                .description(text)
                .color(theme.event())
        }
        Payload::Connection(c) => {
            let joined = ConnectionKind::try_from(c.kind) == Ok(ConnectionKind::Joined);
            let who = name(c.player.as_ref());
            let platform = c
                .player
                .as_ref()
                .map(|p| p.platform.trim())
                .filter(|p| !p.is_empty());
            let b = EmbedBuilder::new()
                .title(if joined {
                    "Player joined"
                } else {
                    "Player left"
                })
                .description(match c.was.trim() {
                    was if joined && !was.is_empty() => {
                        format!("**{who}** joined the server (was **{}**).", shown(was, 100))
                    }
                    _ if joined => format!("**{who}** joined the server."),
                    _ => format!("**{who}** left the server."),
                })
                .color(if joined {
                    colour::SUCCESS
                } else {
                    colour::WARNING
                });
            match platform {
                Some(p) => b.field(EmbedFieldBuilder::new("Platform", shown(p, 32)).inline()),
                None => b,
            }
        }
        Payload::PlayerCount(_) => return None,
        Payload::Bounty(b) => return Some(bounty(b, server_name, currency)),
        Payload::Rivalry(r) => rivalry(r),
        Payload::Highlight(h) => highlight(h)?,
        Payload::Jackpot(j) => {
            let times = if j.bet > 0 { j.returned / j.bet } else { 0 };
            EmbedBuilder::new()
                .title("💎 Jackpot!")
                .description(format!(
                    "<@{}> won **{} {}** at {} ({}×their bet of {}).",
                    j.user_id,
                    j.returned,
                    currency.credits(),
                    shown(&j.game, 20),
                    times,
                    j.bet
                ))
                .color(0xF1_C4_0F)
                .field(EmbedFieldBuilder::new("How", shown(&j.detail, 100)))
        }
    };
    b = b.footer(footer);
    if let Some(t) = timestamp(n.occurred_unix_ms) {
        b = b.timestamp(t);
    }
    Some(b.build())
}

/// A streak milestone, a streak ended, revenge or a long shot (none for a kind this build
/// does not know).
fn highlight(h: &HighlightNotice) -> Option<EmbedBuilder> {
    let (player, other) = (name(h.player.as_ref()), name(h.other.as_ref()));
    let weapon = shown(non_empty(&h.weapon, "Unknown"), 100);
    let (title, text, colour) = match HighlightKind::try_from(h.kind).ok()? {
        HighlightKind::Streak => (
            format!("🔥 {}-kill streak", h.count),
            format!(
                "**{player}** is on a **{}**-kill streak (last: **{other}** with {weapon}).",
                h.count
            ),
            0xE6_7E_22,
        ),
        HighlightKind::StreakEnd => (
            "🛑 Streak ended".to_owned(),
            format!(
                "**{player}** ended **{other}**'s **{}**-kill streak with {weapon}.",
                h.count
            ),
            0x99_2D_22,
        ),
        HighlightKind::Revenge => (
            "⚔️ Revenge".to_owned(),
            format!(
                "**{player}** took revenge on their nemesis **{other}** ({} kills of them) \
                 with {weapon}.",
                h.count
            ),
            0x8E_44_AD,
        ),
        HighlightKind::LongShot => (
            format!("🎯 Long shot: {} m", h.distance_m),
            format!(
                "**{player}** killed **{other}** from **{} m** with {weapon}.",
                h.distance_m
            ),
            0x34_98_DB,
        ),
        HighlightKind::Unspecified => return None,
    };
    Some(
        EmbedBuilder::new()
            .title(clip(&title, 256))
            .description(text)
            .color(colour),
    )
}

/// A rivalry post: the lead taken or levelled by the last kill, or an intensity reached.
fn rivalry(r: &RivalryNotice) -> EmbedBuilder {
    let (first, second) = (name(r.first.as_ref()), name(r.second.as_ref()));
    let killer = if r.by_first { &first } else { &second };
    // Who took the lead, or drew level, and over whom.
    let (mover, other) = match r.mover_first {
        true => (&first, &second),
        false => (&second, &first),
    };
    let title = match RivalryChange::try_from(r.change) {
        Ok(RivalryChange::Lead) => format!("⚔️ {mover} takes the lead over {other}"),
        Ok(RivalryChange::Level) => format!("⚔️ {mover} draws level with {other}"),
        _ => {
            let named = match r.threshold {
                t if t >= 90 => "Legendary",
                t if t >= 75 => "Fierce",
                _ => "Heated",
            };
            format!("🔥 {named} rivalry: {first} vs {second}")
        }
    };
    EmbedBuilder::new()
        .title(clip(&title, 256))
        .description(format!(
            "**{first}** {} – {} **{second}**\nLast kill: {killer} with {}",
            r.first_kills,
            r.second_kills,
            shown(non_empty(&r.weapon, "Unknown"), 100)
        ))
        .color(0xE6_7E_22)
        .field(
            EmbedFieldBuilder::new("Intensity", format!("{}/100", r.intensity.clamp(0, 100)))
                .inline(),
        )
        .field(
            EmbedFieldBuilder::new("Total Kills", (r.first_kills + r.second_kills).to_string())
                .inline(),
        )
}

fn kill(k: &KillNotice, theme: Theme, money: &str, faction_tags: bool) -> EmbedBuilder {
    let tagged = |p: Option<&Player>| {
        let shown_name = name(p);
        match p
            .map(|p| p.faction_tag.trim())
            .filter(|t| faction_tags && !t.is_empty())
        {
            Some(tag) => format!("[{}] {shown_name}", shown(tag, 10)),
            None => shown_name,
        }
    };
    let killer = tagged(k.killer.as_ref());
    let victim = tagged(k.victim.as_ref());
    let title = if k.roadkill {
        format!("{killer} ran over {victim}")
    } else {
        format!("{killer} killed {victim}")
    };
    let mut b = EmbedBuilder::new()
        .title(clip(&title, 256))
        .color(theme.kill())
        .field(EmbedFieldBuilder::new("Killer", killer).inline())
        .field(EmbedFieldBuilder::new("Victim", victim).inline())
        .field(
            EmbedFieldBuilder::new("Weapon", shown(non_empty(&k.weapon, "Unknown"), 100)).inline(),
        );
    if k.distance_m > 0 {
        b = b.field(EmbedFieldBuilder::new("Distance", format!("{} m", k.distance_m)).inline());
    }
    if k.killer_streak >= 3 {
        b = b
            .field(EmbedFieldBuilder::new("Streak", format!("{} kills", k.killer_streak)).inline());
    }
    if k.friendly {
        let tag = k
            .killer
            .as_ref()
            .map(|p| p.faction_tag.trim())
            .filter(|t| !t.is_empty())
            .map_or(String::new(), |t| format!(" [{}]", shown(t, 10)));
        b = b.field(EmbedFieldBuilder::new(
            "🤝 Friendly Kill",
            format!("Both are in the same faction{tag}."),
        ));
    }
    if let Some(r) = &k.reward {
        b = b.field(EmbedFieldBuilder::new("💰 Economy", reward_text(r, money)));
    }
    if let Some(h) = &k.recorded {
        let location = match h.location.trim() {
            "" => String::new(),
            l => format!(" · Location: {}", shown(l, 100)),
        };
        b = b.field(EmbedFieldBuilder::new(
            "📝 Recorded by Hand",
            format!("By <@{}>{location}", h.user_id),
        ));
    }
    b
}

/// What a kill paid, as the earlier bot's "💰 Economy" field said it (the distance bonus
/// on its own line, not also in the first).
fn reward_text(r: &tower_proto::v1::KillReward, money: &str) -> String {
    let mut text = format!("+{} {money} for kill", r.credits);
    if r.distance_bonus > 0 {
        text.push_str(&format!("\n+{} distance bonus", r.distance_bonus));
    }
    if r.streak_bonus > 0 {
        text.push_str(&format!(
            "\n+{} killstreak bonus (x{})",
            r.streak_bonus, r.streak
        ));
    }
    if let Some(b) = r.balance {
        text.push_str(&format!("\nBalance: {b} {money}"));
    }
    text
}

fn non_empty<'a>(s: &'a str, fallback: &'a str) -> &'a str {
    if s.trim().is_empty() { fallback } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_proto::v1::SuicideNotice;

    fn player(name: &str) -> Option<Player> {
        Some(Player {
            eos_id: "0002aaaaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
            name: name.into(),
            platform: String::new(),
            faction_tag: String::new(),
        })
    }

    #[test]
    fn messages_hold_at_most_10_embeds_and_6000_characters() {
        let small: Vec<((), Embed)> = (0..23)
            .map(|_| ((), EmbedBuilder::new().title("x").build()))
            .collect();
        let sizes: Vec<usize> = message_groups(&small, |(_, e)| e)
            .iter()
            .map(|m| m.len())
            .collect();
        assert_eq!(sizes, [10, 10, 3]);
        let big: Vec<((), Embed)> = (0..4)
            .map(|_| {
                (
                    (),
                    EmbedBuilder::new().description("d".repeat(2500)).build(),
                )
            })
            .collect();
        let sizes: Vec<usize> = message_groups(&big, |(_, e)| e)
            .iter()
            .map(|m| m.len())
            .collect();
        assert_eq!(sizes, [2, 2], "5000 characters fit, 7500 do not");
        assert!(message_groups::<((), Embed)>(&[], |(_, e)| e).is_empty());
    }

    #[test]
    fn kill_embed_names_both_players_weapon_and_distance() {
        let n = Notification {
            cursor: "7".into(),
            payload: Some(Payload::Kill(KillNotice {
                killer: player("Alpha"),
                victim: player("Bravo"),
                weapon: "AK-SU".into(),
                distance_m: 143,
                ..KillNotice::default()
            })),
            ..Notification::default()
        };
        let Some(e) = notification(&n, "EU #1", Theme::Classic, &Currency::default(), false) else {
            panic!("kills are posted")
        };
        assert_eq!(e.title.as_deref(), Some("Alpha killed Bravo"));
        let fields: Vec<_> = e
            .fields
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_str()))
            .collect();
        assert!(fields.contains(&("Weapon", "AK-SU")));
        assert!(fields.contains(&("Distance", "143 m")));
        assert!(validate(&e).is_ok());
    }

    #[test]
    fn player_and_weapon_names_cannot_make_links_mentions_or_formatting() {
        let hostile = "[Free skins](https://evil.example/x) **@everyone** <@1> `x` ~~s~~ _i_";
        let n = Notification {
            cursor: "k3".into(),
            payload: Some(Payload::Kill(KillNotice {
                killer: player(hostile),
                victim: player("||spoiler|| # Heading"),
                weapon: "[AK](https://evil.example)".into(),
                distance_m: 10,
                ..Default::default()
            })),
            ..Default::default()
        };
        let Some(embed) = notification(&n, "Server", Theme::Classic, &Currency::default(), false)
        else {
            panic!("a kill has an embed")
        };
        let mut texts = vec![embed.title.clone().unwrap_or_default()];
        texts.extend(embed.fields.iter().map(|f| f.value.clone()));
        for text in &texts {
            // Every markdown character is preceded by a backslash: nothing is left that
            // Discord would read as markup.
            let chars: Vec<char> = text.chars().collect();
            for (i, c) in chars.iter().enumerate() {
                if matches!(
                    c,
                    '[' | ']' | '(' | ')' | '*' | '@' | '<' | '`' | '~' | '_' | '|' | '#'
                ) {
                    assert!(i > 0 && chars[i - 1] == '\\', "unescaped {c:?} in {text}");
                }
            }
            assert!(!text.contains("](h"), "a link survives in {text}");
        }
        assert!(texts[0].contains("Free skins"), "{}", texts[0]);
        assert_eq!(shown("a\\b", 10), "a\\\\b", "a backslash is itself escaped");
        assert_eq!(code("a`b", 10), "aˋb");
        assert_eq!(shown("1. Bob", 10), "1\\. Bob", "no numbered list");
        assert_eq!(
            shown("- x-y", 10),
            "\\- x-y",
            "no bullet, a dash inside stays"
        );
    }

    #[test]
    fn huge_names_are_clipped_to_discord_limits() {
        let long = "N".repeat(5000);
        let n = Notification {
            cursor: "1".into(),
            payload: Some(Payload::Kill(KillNotice {
                killer: player(&long),
                victim: player(&long),
                weapon: long.clone(),
                ..KillNotice::default()
            })),
            ..Notification::default()
        };
        let Some(e) = notification(&n, &long, Theme::Blood, &Currency::default(), false) else {
            panic!("kills are posted")
        };
        assert!(validate(&e).is_ok());
    }

    #[test]
    fn suicide_wording_varies_by_notification_but_is_stable() {
        let mk = |cursor: &str| Notification {
            cursor: cursor.into(),
            payload: Some(Payload::Suicide(SuicideNotice {
                player: player("Charlie"),
                kind: SuicideKind::Fall as i32,
                cause: "falling".into(),
            })),
            ..Notification::default()
        };
        let texts: std::collections::BTreeSet<_> = (0..20)
            .map(|i| {
                notification(
                    &mk(&i.to_string()),
                    "s",
                    Theme::Classic,
                    &Currency::default(),
                    false,
                )
                .and_then(|e| e.description)
            })
            .collect();
        assert!(texts.len() > 1, "one wording for every fall: {texts:?}");
        // Pinned: a post retried by another process (or another version) says the same.
        let again = notification(&mk("3"), "s", Theme::Classic, &Currency::default(), false)
            .and_then(|e| e.description);
        assert_eq!(
            again.as_deref(),
            Some("**Charlie** forgot that gravity always wins.")
        );
    }
}
