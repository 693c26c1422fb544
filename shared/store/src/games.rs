//! The rules of the earlier bot's games (EARLIER-BOT.md §2.16): blackjack, slots and
//! roulette, and the draws they are played with. Pure: a game is decided by its draw
//! ([`Draw`]), made once from the operating system's cryptographically secure generator
//! when the bet is taken and stored with it, so a game settled later (a button pressed
//! after a restart, or never) is the same game. Tests give fixed draws.
//!
//! What a game returns is the whole amount credited back after the bet was taken: a loss
//! returns 0, a push the bet, an even-money win twice the bet.

use serde::{Deserialize, Serialize};

/// A source of uniform numbers: the system's in play, fixed ones in tests.
pub trait Draw {
    /// A number in `0..n` (`n` > 0), uniform.
    fn below(&mut self, n: u32) -> u32;

    /// Whether a draw could not be made as promised (the system generator failed): the
    /// game is then not played.
    fn failed(&self) -> bool {
        false
    }
}

/// The operating system's cryptographically secure generator (through `ring`).
pub struct SystemDraw {
    rng: ring::rand::SystemRandom,
    failed: bool,
}

impl SystemDraw {
    pub fn new() -> Self {
        Self {
            rng: ring::rand::SystemRandom::new(),
            failed: false,
        }
    }
}

impl Default for SystemDraw {
    fn default() -> Self {
        Self::new()
    }
}

impl Draw for SystemDraw {
    fn below(&mut self, n: u32) -> u32 {
        use ring::rand::SecureRandom;
        let n = n.max(1);
        // Rejection sampling: no bias toward small numbers.
        let zone = u32::MAX - (u32::MAX % n);
        loop {
            let mut bytes = [0u8; 4];
            if self.rng.fill(&mut bytes).is_err() {
                // Said by `failed`: the game that asked is refused, not played on zeros.
                self.failed = true;
                return 0;
            }
            let x = u32::from_le_bytes(bytes);
            if x < zone {
                return x % n;
            }
        }
    }

    fn failed(&self) -> bool {
        self.failed
    }
}

/// Fixed numbers, in order (tests and replays); then 0.
pub struct FixedDraw(pub std::collections::VecDeque<u32>);

impl Draw for FixedDraw {
    fn below(&mut self, n: u32) -> u32 {
        self.0.pop_front().unwrap_or(0) % n.max(1)
    }
}

// ---------------------------------------------------------------- slots

/// The reels' symbols and weights (out of 108), as the earlier bot drew them.
pub const SYMBOLS: [(&str, &str, u32); 9] = [
    ("pistol", "🔫", 20),
    ("rifle", "🎯", 18),
    ("medkit", "💉", 16),
    ("ammo", "🧨", 15),
    ("backpack", "🎒", 13),
    ("food", "🥫", 10),
    ("helmet", "⛑️", 8),
    ("dogtag", "🏷️", 5),
    ("emerald", "💎", 3),
];

/// Three of a kind's multiplier per symbol; a pair pays half (rounded down).
fn triple(symbol: usize) -> u32 {
    [2, 4, 6, 3, 5, 4, 8, 15, 25][symbol]
}

/// Three reels, as symbol indexes into [`SYMBOLS`].
pub fn spin_reels(draw: &mut impl Draw) -> [usize; 3] {
    let total: u32 = SYMBOLS.iter().map(|s| s.2).sum();
    let mut one = || {
        let mut x = draw.below(total);
        for (i, s) in SYMBOLS.iter().enumerate() {
            if x < s.2 {
                return i;
            }
            x -= s.2;
        }
        0
    };
    [one(), one(), one()]
}

/// The multiplier of a spin: the special combinations first (in order), then three of a
/// kind, then a pair (half the triple's, rounded down), else 0.
pub fn slots_multiplier(reels: [usize; 3]) -> u32 {
    let name = |i: usize| SYMBOLS[i].0;
    let names = reels.map(name);
    match names {
        ["emerald", "emerald", "emerald"] => return 50,
        ["dogtag", "dogtag", "dogtag"] => return 30,
        ["pistol", "rifle", "ammo"] => return 10,
        ["medkit", "food", "backpack"] => return 12,
        ["helmet", "dogtag", "emerald"] => return 20,
        _ => {}
    }
    let [a, b, c] = reels;
    if a == b && b == c {
        triple(a)
    } else if a == b || a == c {
        triple(a) / 2
    } else if b == c {
        triple(b) / 2
    } else {
        0
    }
}

// ---------------------------------------------------------------- roulette

const RED: [u32; 18] = [
    1, 3, 5, 7, 9, 12, 14, 16, 18, 19, 21, 23, 25, 27, 30, 32, 34, 36,
];

/// A roulette bet, as the earlier bot's menu offered them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RouletteBet {
    Red,
    Black,
    Even,
    Odd,
    Low,
    High,
    Dozen(u8),
    Straight(u8),
}

impl RouletteBet {
    /// The menu's value (`red`, `dozen:1st`, `straight:17`).
    pub fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "red" => Self::Red,
            "black" => Self::Black,
            "even" => Self::Even,
            "odd" => Self::Odd,
            "low" => Self::Low,
            "high" => Self::High,
            "dozen:1st" => Self::Dozen(1),
            "dozen:2nd" => Self::Dozen(2),
            "dozen:3rd" => Self::Dozen(3),
            other => {
                let n: u8 = other.strip_prefix("straight:")?.parse().ok()?;
                (n <= 36).then_some(Self::Straight(n))?
            }
        })
    }

    pub fn label(self) -> String {
        match self {
            Self::Red => "Red".to_owned(),
            Self::Black => "Black".to_owned(),
            Self::Even => "Even".to_owned(),
            Self::Odd => "Odd".to_owned(),
            Self::Low => "Low (1-18)".to_owned(),
            Self::High => "High (19-36)".to_owned(),
            Self::Dozen(d) => format!(
                "{} Dozen",
                ["First", "Second", "Third"][usize::from(d.clamp(1, 3) - 1)]
            ),
            Self::Straight(n) => format!("Straight {n}"),
        }
    }

    /// The odds ("to 1") when it wins on `number`, else `None`.
    pub fn wins(self, number: u32) -> Option<u32> {
        let red = RED.contains(&number);
        let won = match self {
            Self::Red => red,
            Self::Black => number != 0 && !red,
            Self::Even => number != 0 && number.is_multiple_of(2),
            Self::Odd => number % 2 == 1,
            Self::Low => (1..=18).contains(&number),
            Self::High => (19..=36).contains(&number),
            Self::Dozen(d) => number != 0 && (number - 1) / 12 + 1 == u32::from(d),
            Self::Straight(n) => number == u32::from(n),
        };
        won.then_some(match self {
            Self::Dozen(_) => 2,
            Self::Straight(_) => 35,
            _ => 1,
        })
    }
}

/// The pocket's colour, as shown.
pub fn pocket(number: u32) -> &'static str {
    if number == 0 {
        "🟢"
    } else if RED.contains(&number) {
        "🔴"
    } else {
        "⚫"
    }
}

/// What a roulette bet returns on `number`: the bet and its winnings, or 0.
pub fn roulette_return(bet: i64, on: RouletteBet, number: u32) -> i64 {
    on.wins(number)
        .map_or(0, |odds| bet.saturating_mul(i64::from(odds) + 1))
}

// ---------------------------------------------------------------- blackjack

/// A card: rank 1 (ace) to 13 (king), suit 0..4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    pub rank: u8,
    pub suit: u8,
}

impl Card {
    pub fn shown(self) -> String {
        let rank = match self.rank {
            1 => "A".to_owned(),
            11 => "J".to_owned(),
            12 => "Q".to_owned(),
            13 => "K".to_owned(),
            n => n.to_string(),
        };
        let suit = ["♠️", "♥️", "♦️", "♣️"][usize::from(self.suit % 4)];
        format!("{rank}{suit}")
    }
}

/// A shuffled 52-card deck (Fisher–Yates on the draw).
pub fn shuffled_deck(draw: &mut impl Draw) -> Vec<Card> {
    let mut deck: Vec<Card> = (0..4u8)
        .flat_map(|suit| (1..=13u8).map(move |rank| Card { rank, suit }))
        .collect();
    for i in (1..deck.len()).rev() {
        let j = draw.below(i as u32 + 1) as usize;
        deck.swap(i, j);
    }
    deck
}

/// A hand's best value (aces 11 where that does not bust).
pub fn hand_value(cards: &[Card]) -> u32 {
    let mut total: u32 = cards.iter().map(|c| u32::from(c.rank.min(10))).sum();
    let aces = cards.iter().filter(|c| c.rank == 1).count();
    for _ in 0..aces {
        if total + 10 <= 21 {
            total += 10;
        }
    }
    total
}

/// How a blackjack hand ended, with the earlier bot's result names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlackjackResult {
    /// Both have blackjack.
    Push,
    PlayerBlackjack,
    DealerBlackjack,
    Bust,
    DealerBust,
    PlayerWins,
    DealerWins,
}

impl BlackjackResult {
    /// What it returns of a bet.
    pub fn returns(self, bet: i64) -> i64 {
        match self {
            Self::Push => bet,
            // Blackjack pays 3:2 (rounded down), with the bet back.
            Self::PlayerBlackjack => bet.saturating_add(bet.saturating_mul(3) / 2),
            Self::DealerBust | Self::PlayerWins => bet.saturating_mul(2),
            Self::DealerBlackjack | Self::Bust | Self::DealerWins => 0,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Push => "push",
            Self::PlayerBlackjack => "blackjack",
            Self::DealerBlackjack => "dealer_blackjack",
            Self::Bust => "bust",
            Self::DealerBust => "dealer_bust",
            Self::PlayerWins => "player_wins",
            Self::DealerWins => "dealer_wins",
        }
    }
}

/// A blackjack hand in play: the deck is dealt from its front.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blackjack {
    pub deck: Vec<Card>,
    pub player: Vec<Card>,
    pub dealer: Vec<Card>,
    /// Set once the hand is over.
    pub result: Option<BlackjackResult>,
}

impl Blackjack {
    /// Deals two cards each (player, dealer, player, dealer); a natural ends it at once.
    pub fn deal(mut deck: Vec<Card>) -> Self {
        deck.reverse(); // dealt with pop(): the first card of the shuffle comes first
        let mut next = || deck.pop();
        let (p1, d1, p2, d2) = (next(), next(), next(), next());
        let player = [p1, p2].into_iter().flatten().collect();
        let dealer = [d1, d2].into_iter().flatten().collect();
        let mut hand = Self {
            deck,
            player,
            dealer,
            result: None,
        };
        let (p, d) = (hand.player_value() == 21, hand.dealer_value() == 21);
        hand.result = match (p, d) {
            (true, true) => Some(BlackjackResult::Push),
            (true, false) => Some(BlackjackResult::PlayerBlackjack),
            (false, true) => Some(BlackjackResult::DealerBlackjack),
            _ => None,
        };
        hand
    }

    pub fn player_value(&self) -> u32 {
        hand_value(&self.player)
    }

    pub fn dealer_value(&self) -> u32 {
        hand_value(&self.dealer)
    }

    /// "Draw Card": one more card; over 21 is a bust.
    pub fn hit(&mut self) {
        if self.result.is_some() {
            return;
        }
        if let Some(c) = self.deck.pop() {
            self.player.push(c);
        }
        if self.player_value() > 21 {
            self.result = Some(BlackjackResult::Bust);
        }
    }

    /// "Hold Position": the dealer draws to 17, then the hands are compared.
    pub fn stand(&mut self) {
        if self.result.is_some() {
            return;
        }
        while self.dealer_value() < 17 {
            match self.deck.pop() {
                Some(c) => self.dealer.push(c),
                None => break,
            }
        }
        let (p, d) = (self.player_value(), self.dealer_value());
        self.result = Some(if d > 21 {
            BlackjackResult::DealerBust
        } else if p > d {
            BlackjackResult::PlayerWins
        } else if p < d {
            BlackjackResult::DealerWins
        } else {
            BlackjackResult::Push
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(numbers: &[u32]) -> FixedDraw {
        FixedDraw(numbers.iter().copied().collect())
    }

    #[test]
    fn slots_pay_the_earlier_table() {
        let i = |name: &str| SYMBOLS.iter().position(|s| s.0 == name).unwrap_or(99);
        let m = |a, b, c| slots_multiplier([i(a), i(b), i(c)]);
        assert_eq!(
            m("emerald", "emerald", "emerald"),
            50,
            "special before triple"
        );
        assert_eq!(m("dogtag", "dogtag", "dogtag"), 30);
        assert_eq!(m("pistol", "rifle", "ammo"), 10);
        assert_eq!(m("ammo", "rifle", "pistol"), 0, "in order only");
        assert_eq!(m("medkit", "food", "backpack"), 12);
        assert_eq!(m("helmet", "dogtag", "emerald"), 20);
        assert_eq!(m("helmet", "helmet", "helmet"), 8);
        assert_eq!(m("rifle", "rifle", "food"), 2, "a pair: half the triple");
        assert_eq!(m("food", "pistol", "pistol"), 1);
        assert_eq!(m("ammo", "food", "ammo"), 1, "3 / 2 rounded down");
        assert_eq!(m("pistol", "rifle", "medkit"), 0);
        // Fixed draws pick symbols by weight: 0-19 pistol, 20-37 rifle, ... 105-107 emerald.
        assert_eq!(spin_reels(&mut fixed(&[0, 20, 105])), [0, 1, 8]);
        assert_eq!(spin_reels(&mut fixed(&[107, 106, 105])), [8, 8, 8]);
    }

    #[test]
    fn roulette_pays_the_earlier_odds() {
        let on = |v: &str| RouletteBet::parse(v).unwrap_or(RouletteBet::Straight(99));
        assert_eq!(roulette_return(10, on("red"), 1), 20);
        assert_eq!(roulette_return(10, on("red"), 2), 0);
        assert_eq!(roulette_return(10, on("black"), 0), 0, "zero is neither");
        assert_eq!(roulette_return(10, on("even"), 0), 0);
        assert_eq!(roulette_return(10, on("odd"), 35), 20);
        assert_eq!(roulette_return(10, on("low"), 18), 20);
        assert_eq!(roulette_return(10, on("high"), 18), 0);
        assert_eq!(roulette_return(10, on("dozen:2nd"), 24), 30);
        assert_eq!(roulette_return(10, on("dozen:3rd"), 24), 0);
        assert_eq!(roulette_return(10, on("straight:17"), 17), 360);
        assert_eq!(RouletteBet::parse("straight:37"), None);
        assert_eq!(RouletteBet::parse("column"), None);
    }

    #[test]
    fn blackjack_plays_as_the_earlier_bot() {
        let card = |rank| Card { rank, suit: 0 };
        // Player 10+9, dealer 10+6: the dealer draws a 10 and busts.
        let deck = [10, 10, 9, 6, 10].map(card).to_vec();
        let mut hand = Blackjack::deal(deck);
        assert_eq!(
            (hand.player_value(), hand.dealer_value(), hand.result),
            (19, 16, None)
        );
        hand.stand();
        assert_eq!(hand.result, Some(BlackjackResult::DealerBust));
        assert_eq!(BlackjackResult::DealerBust.returns(100), 200);
        // A natural pays 3:2 at once.
        let natural = Blackjack::deal([1, 10, 13, 9].map(card).to_vec());
        assert_eq!(natural.result, Some(BlackjackResult::PlayerBlackjack));
        assert_eq!(BlackjackResult::PlayerBlackjack.returns(15), 15 + 22);
        // Hitting past 21 busts; aces count 1 when 11 would bust.
        let mut hand = Blackjack::deal([10, 10, 5, 7, 1, 9].map(card).to_vec());
        hand.hit();
        assert_eq!((hand.player_value(), hand.result), (16, None));
        hand.hit();
        assert_eq!(hand.result, Some(BlackjackResult::Bust));
        assert_eq!(BlackjackResult::Push.returns(40), 40);
        // A shuffle is a permutation of the 52 cards.
        let mut deck = shuffled_deck(&mut SystemDraw::new());
        deck.sort_by_key(|c| (c.suit, c.rank));
        deck.dedup();
        assert_eq!(deck.len(), 52);
    }
}
