//! `/gambling blackjack|slots|roulette|limits` (EARLIER-BOT.md §2.16): the earlier bot's
//! games, played for credits ([`tower_store::gambling`]). The bet is taken when the game
//! starts and what it returns is paid once, even when its buttons expire or the bot
//! restarts mid-game (the worker settles it: blackjack stands). Only the player presses.

use twilight_model::channel::message::component::{ButtonStyle, SelectMenuType};
use twilight_model::channel::message::{Component, Embed};
use twilight_util::builder::embed::{EmbedBuilder, EmbedFieldBuilder, EmbedFooterBuilder};
use twilight_util::builder::message::{
    ActionRowBuilder, ButtonBuilder, SelectMenuBuilder, SelectMenuOptionBuilder,
};

use tower_store::gambling::{Game, GameKind, GameState, Started};
use tower_store::games::{RouletteBet, SYMBOLS, SystemDraw, pocket};
use tower_store::guilds::{BetLimits, GuildSettings};
use tower_store::ids::GuildId;
use tower_store::ledger::AccountId;

use crate::access::Caller;
use crate::bot::Bot;
use crate::embeds::colour;
use crate::options::Invocation;
use crate::reply::{CommandError, Reply};

/// The earlier bot's gold, and its wasteland brown for losses.
const GOLD: u32 = 0xF1_C4_0F;
const BROWN: u32 = 0x8B_45_13;

/// A game's control, carried in its `custom_id`:
/// `gm|<action>|<game>|<player>|<expiry>|<version>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GameButton {
    /// `h` draw a card, `s` hold, `p` spin, `r` the roulette menu.
    pub action: char,
    pub game: String,
    pub player: u64,
    pub expires_unix: i64,
    /// The game's moves when the control was shown: a second press of the same message
    /// (a double click) finds the game moved on and changes nothing.
    pub version: i64,
}

impl GameButton {
    pub const PREFIX: &'static str = "gm";

    pub fn custom_id(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}|{}",
            Self::PREFIX,
            self.action,
            self.game,
            super::buttons::radix36(self.player),
            super::buttons::radix36_time(self.expires_unix),
            super::buttons::radix36_time(self.version)
        )
    }

    pub fn parse(custom_id: &str) -> Option<Self> {
        let mut parts = custom_id.split('|');
        if parts.next()? != Self::PREFIX {
            return None;
        }
        let action = parts.next()?.chars().next()?;
        let game = parts.next()?.to_owned();
        let player = super::buttons::from_radix36(parts.next()?)?;
        let expires_unix = i64::try_from(super::buttons::from_radix36(parts.next()?)?).ok()?;
        let version = i64::try_from(super::buttons::from_radix36(parts.next()?)?).ok()?;
        (parts.next().is_none() && "hspr".contains(action)).then_some(Self {
            action,
            game,
            player,
            expires_unix,
            version,
        })
    }
}

/// The largest bet limit a guild may set.
const MOST_BET: i64 = 1_000_000;

pub async fn run(
    bot: &Bot,
    caller: &Caller,
    guild: &GuildSettings,
    inv: &Invocation,
) -> Result<Reply, CommandError> {
    if inv.path == "gambling limits" {
        return limits(bot, caller, guild, inv).await;
    }
    let id = inv.server_id("server_id")?;
    // Also proves the server is the caller's guild's.
    let server = bot.servers.get(GuildId(caller.guild_id), &id).await?;
    let kind = match inv.path.as_str() {
        "gambling blackjack" => GameKind::Blackjack,
        "gambling slots" => GameKind::Slots,
        "gambling roulette" => GameKind::Roulette,
        other => return Err(super::unknown(other)),
    };
    let BetLimits { min, max } = guild.economy.bets;
    let money = guild.economy.currency.credits();
    // The earlier bot's default of 10, within the guild's limits.
    let bet = inv.opt_int("bet")?.unwrap_or(10_i64.clamp(min, max));
    if bet <= 0 {
        return Ok(error(
            "Invalid Bet",
            "Bet must be greater than 0.".to_owned(),
        ));
    }
    if bet < min || bet > max {
        return Ok(error(
            "Invalid Bet",
            format!("Bets in this Discord server are from {min} to {max} {money}."),
        ));
    }
    let account = AccountId {
        guild_id: caller.guild_id,
        server_id: server.server.as_str().to_owned(),
        user_id: caller.user_id,
    };
    let game_id = super::buttons::radix36(inv.interaction_id);
    let started = bot
        .gambling
        .start(&game_id, &account, kind, bet, &mut SystemDraw::new())
        .await
        .map_err(|e| {
            CommandError::failed(
                "The game could not start; if your bet was taken, it comes back or the game is settled within a few minutes",
                e,
            )
        })?;
    let game = match started {
        Started::InsufficientFunds { .. } => {
            return Ok(error(
                "Insufficient Funds",
                format!("You don't have enough {money}. You need {bet} {money} to play."),
            ));
        }
        Started::Open(game) => game,
    };
    // A straight bet named in the command is played at once.
    let game = match (kind, inv.opt_int("number")?) {
        (GameKind::Roulette, Some(n)) if game.state == GameState::Open => {
            let on = u8::try_from(n)
                .ok()
                .filter(|n| *n <= 36)
                .map(RouletteBet::Straight)
                .ok_or_else(|| {
                    CommandError::invalid(
                        "A roulette number is from 0 to 36.",
                        "Pick a number on the wheel.",
                    )
                })?;
            Box::new(
                bot.gambling
                    .choose(&game.id, on)
                    .await
                    .map_err(|e| CommandError::failed("The wheel could not be spun", e))?,
            )
        }
        _ => game,
    };
    let balance = balance(bot, &game.account).await?;
    Ok(game_reply(&game, balance, caller.user_id, money))
}

async fn balance(bot: &Bot, account: &AccountId) -> Result<i64, CommandError> {
    Ok(bot
        .ledger
        .account(account)
        .await
        .map_err(|e| CommandError::failed("The balance could not be read", e))?
        .balance)
}

fn error(title: &str, text: String) -> Reply {
    Reply::embed(
        EmbedBuilder::new()
            .title(title)
            .description(text)
            .color(colour::ERROR)
            .build(),
    )
}

/// `/gambling limits [min_bet] [max_bet]` (admin): shows or sets the bet limits.
async fn limits(
    bot: &Bot,
    caller: &Caller,
    guild: &GuildSettings,
    inv: &Invocation,
) -> Result<Reply, CommandError> {
    let BetLimits { mut min, mut max } = guild.economy.bets;
    let money = guild.economy.currency.credits();
    let (new_min, new_max) = (inv.opt_int("min_bet")?, inv.opt_int("max_bet")?);
    if new_min.is_none() && new_max.is_none() {
        return Ok(Reply::done(
            "Bet Limits",
            format!("Bets on this Discord server's games are from {min} to {max} {money}."),
        ));
    }
    min = new_min.unwrap_or(min);
    max = new_max.unwrap_or(max);
    if min < 1 || max < min || max > MOST_BET {
        return Err(CommandError::invalid(
            format!("A minimum of {min} and a maximum of {max} do not make a range."),
            format!(
                "The minimum is at least 1 and at most the maximum; the maximum at most {MOST_BET}."
            ),
        ));
    }
    bot.guilds
        .set_bet_limits(caller.guild_id, BetLimits { min, max })
        .await
        .map_err(|e| CommandError::failed("Could not save the bet limits", e))?;
    bot.settings.forget(caller.guild_id);
    Ok(Reply::done(
        "Bet Limits Updated",
        format!("Bets on this Discord server's games are now from {min} to {max} {money}."),
    ))
}

/// Why a member cannot press another's game control (`action` of [`GameButton`]): the
/// earlier bot's words for its slots, the same for its other games.
fn not_yours(action: char) -> &'static str {
    match action {
        'p' => "This isn't your salvage machine! Start your own game with /gambling.",
        'r' => "This isn't your roulette table! Start your own game with /gambling.",
        _ => "This isn't your hand! Start your own game with /gambling.",
    }
}

/// A control of a game pressed: only its player, while it is open.
pub async fn pressed(
    bot: &Bot,
    caller: &Caller,
    custom_id: &str,
    values: &[String],
) -> Result<Reply, CommandError> {
    let button = GameButton::parse(custom_id).ok_or_else(super::buttons::not_ours)?;
    let rules = super::buttons::PressRules {
        owner: button.player,
        expires_unix: button.expires_unix,
        noun: if button.action == 'r' {
            "menu"
        } else {
            "buttons"
        },
        not_yours: not_yours(button.action),
        expired: "This game's time is up: within a few minutes it is settled as it stands (a blackjack hand holds, slots spin, an unplaced roulette bet comes back), and paid.",
    };
    if let Some(refusal) = rules.refusal(caller.user_id) {
        return Ok(refusal);
    }
    let failed = |e| CommandError::failed("The game could not be played on", e);
    let store = &bot.gambling;
    let game = match button.action {
        'h' => store
            .hit(&button.game, button.version)
            .await
            .map_err(failed)?,
        's' => store
            .stand(&button.game, Some(button.version))
            .await
            .map_err(failed)?,
        'p' => store.spin(&button.game).await.map_err(failed)?,
        _ => {
            let on = values
                .first()
                .and_then(|v| RouletteBet::parse(v))
                .ok_or_else(super::buttons::not_ours)?;
            store.choose(&button.game, on).await.map_err(failed)?
        }
    };
    let balance = balance(bot, &game.account).await?;
    let guild =
        bot.settings.get(caller.guild_id).await.map_err(|e| {
            CommandError::failed("The Discord server's settings could not be read", e)
        })?;
    Ok(game_reply(
        &game,
        balance,
        caller.user_id,
        guild.economy.currency.credits(),
    ))
}

/// A game's message: its state, and its controls while it is open.
pub fn game_reply(game: &Game, balance: i64, player: u64, money: &str) -> Reply {
    let embed = game_embed(game, balance, money);
    if game.state != GameState::Open {
        return Reply::embed(embed).with_components(Vec::new());
    }
    let button = |action: char| {
        GameButton {
            action,
            game: game.id.clone(),
            player,
            expires_unix: game.expires_at_unix,
            version: game.version,
        }
        .custom_id()
    };
    let row = match game.kind {
        GameKind::Blackjack => ActionRowBuilder::new()
            .component(Component::Button(
                ButtonBuilder::new(ButtonStyle::Primary)
                    .label("🃏 Draw Card")
                    .custom_id(button('h'))
                    .build(),
            ))
            .component(Component::Button(
                ButtonBuilder::new(ButtonStyle::Secondary)
                    .label("🛡️ Hold Position")
                    .custom_id(button('s'))
                    .build(),
            )),
        GameKind::Slots => ActionRowBuilder::new().component(Component::Button(
            ButtonBuilder::new(ButtonStyle::Success)
                .label("🎰 Spin")
                .custom_id(button('p'))
                .build(),
        )),
        GameKind::Roulette => {
            let mut menu = SelectMenuBuilder::new(button('r'), SelectMenuType::Text)
                .placeholder("Select bet type");
            for (label, value) in ROULETTE_MENU {
                menu = menu.option(SelectMenuOptionBuilder::new(label, value).build());
            }
            ActionRowBuilder::new().component(Component::SelectMenu(menu.build()))
        }
    };
    Reply::embed(embed).with_components(vec![Component::ActionRow(row.build())])
}

/// The earlier bot's roulette menu (a straight bet is made with `/gambling roulette
/// number:`, as its number box was a separate form).
const ROULETTE_MENU: [(&str, &str); 9] = [
    ("🔴 Red", "red"),
    ("⚫ Black", "black"),
    ("Even", "even"),
    ("Odd", "odd"),
    ("Low (1-18)", "low"),
    ("High (19-36)", "high"),
    ("First Dozen (1-12)", "dozen:1st"),
    ("Second Dozen (13-24)", "dozen:2nd"),
    ("Third Dozen (25-36)", "dozen:3rd"),
];

/// What a settled game paid, as the earlier bot's result field said it.
fn outcome_field(game: &Game, money: &str) -> (String, String) {
    let net = game.net();
    if net > 0 {
        ("Payout".to_owned(), format!("You won {net} {money}!"))
    } else if net == 0 {
        (
            "Push".to_owned(),
            format!("Your bet of {} {money} has been returned.", game.bet),
        )
    } else {
        ("Loss".to_owned(), format!("You lost {} {money}.", -net))
    }
}

pub fn game_embed(game: &Game, balance: i64, money: &str) -> Embed {
    let settled = game.state == GameState::Settled;
    let mut e = match game.kind {
        GameKind::Blackjack => blackjack(game, money),
        GameKind::Slots => slots(game, money),
        GameKind::Roulette => roulette(game, money),
    };
    if settled {
        let (name, value) = outcome_field(game, money);
        e = e.field(EmbedFieldBuilder::new(name, value));
        e = e.field(EmbedFieldBuilder::new("New Balance", format!("{balance} {money}")).inline());
    } else {
        e = e.field(EmbedFieldBuilder::new("Your Balance", format!("{balance} {money}")).inline());
    }
    e.footer(EmbedFooterBuilder::new(format!("Game {}", game.id)))
        .build()
}

fn cards(hand: &[tower_store::games::Card]) -> String {
    hand.iter().map(|c| c.shown()).collect::<Vec<_>>().join(" ")
}

fn blackjack(game: &Game, money: &str) -> EmbedBuilder {
    let Some(hand) = &game.blackjack else {
        return EmbedBuilder::new().title("🃏 Blackjack").color(BROWN);
    };
    let open = game.state == GameState::Open;
    let dealer = if open {
        let first = hand.dealer.first().map(|c| c.shown()).unwrap_or_default();
        format!("{first} 🂠")
    } else {
        format!("{} = {}", cards(&hand.dealer), hand.dealer_value())
    };
    let description = match game.result.as_deref() {
        Some("blackjack") => "💎 **BLACKJACK!** 💎 You've struck gold in the wasteland!".to_owned(),
        Some("dealer_bust") => "💥 **DEALER BUSTS!**".to_owned(),
        Some(_) if game.net() < 0 => format!("The wasteland claims {} of your {money}.", game.bet),
        Some(_) => "The hand is over.".to_owned(),
        None => format!(
            "Bet: {} {money}. Draw a card or hold your position.",
            game.bet
        ),
    };
    EmbedBuilder::new()
        .title("🃏 Blackjack")
        .description(description)
        .color(if game.net() > 0 || open { GOLD } else { BROWN })
        .field(
            EmbedFieldBuilder::new(
                "Your Hand",
                format!("{} = {}", cards(&hand.player), hand.player_value()),
            )
            .inline(),
        )
        .field(EmbedFieldBuilder::new("Dealer's Hand", dealer).inline())
}

fn slots(game: &Game, money: &str) -> EmbedBuilder {
    if game.state != GameState::Settled {
        return EmbedBuilder::new()
            .title("Slot Machine")
            .description(format!("Ready to play! Bet: {} {money}", game.bet))
            .color(GOLD)
            .field(EmbedFieldBuilder::new(
                "Instructions",
                "Press Spin to pull the lever. Three of a kind, pairs and the special combinations pay.",
            ));
    }
    let reels = game.reels.unwrap_or_default();
    let symbol = |i: usize| SYMBOLS.get(i).map_or("❔", |s| s.1);
    let frame = format!(
        "💎━━━━━━━━━━━━━💎\n┃ {} ┃ {} ┃ {} ┃\n💎━━━━━━━━━━━━━💎",
        symbol(reels[0]),
        symbol(reels[1]),
        symbol(reels[2])
    );
    let multiplier = tower_store::games::slots_multiplier(reels);
    EmbedBuilder::new()
        .title("Slot Machine")
        .description(frame)
        .color(if multiplier > 0 { GOLD } else { BROWN })
        .field(EmbedFieldBuilder::new(
            "Result",
            if multiplier > 0 {
                format!("×{multiplier} on a bet of {} {money}", game.bet)
            } else {
                "No match this time.".to_owned()
            },
        ))
}

fn roulette(game: &Game, money: &str) -> EmbedBuilder {
    if game.state != GameState::Settled {
        return EmbedBuilder::new()
            .title("🎲 Roulette 🎲")
            .description(format!("Place your bet: {} {money}", game.bet))
            .color(GOLD)
            .field(EmbedFieldBuilder::new(
                "How to Play",
                "Select a bet type from the dropdown menu.",
            ));
    }
    let wager = match game.roulette_bet {
        Some(on) => format!("**{}** {money} on **{}**", game.bet, on.label()),
        None => format!("**{}** {money}, no bet type chosen in time", game.bet),
    };
    let n = game.pocket.unwrap_or(0);
    EmbedBuilder::new()
        .title("🎲 Roulette 🎲")
        .description(format!("The ball lands on **{n}** {}!", pocket(n)))
        .color(if game.net() > 0 { GOLD } else { BROWN })
        .field(EmbedFieldBuilder::new("Your Wager", wager))
}

#[cfg(test)]
mod tests {
    use super::not_yours;

    #[test]
    fn each_game_refuses_another_members_press_in_its_own_words() {
        // Slots keep the earlier bot's words; a blackjack hand or a roulette table is
        // not a salvage machine.
        assert!(not_yours('p').starts_with("This isn't your salvage machine!"));
        for action in ['h', 's'] {
            assert!(not_yours(action).starts_with("This isn't your hand!"));
        }
        assert!(not_yours('r').starts_with("This isn't your roulette table!"));
    }
}
