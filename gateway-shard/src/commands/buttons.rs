//! What the buttons and menus of the bot's answers share: they carry who may press them
//! and until when in their `custom_id` (in base 36, to fit Discord's 100 characters), so
//! any gateway process answers them, across restarts; a press by anyone else, or too
//! late, is refused privately.

use tower_daemon::telemetry::now_unix_ms;
use twilight_model::channel::message::Component;
use twilight_model::channel::message::component::ButtonStyle;
use twilight_util::builder::message::{ActionRowBuilder, ButtonBuilder};

use crate::reply::{CommandError, Reply};

/// Who may press a message's controls (the caller of the command that made it), until
/// when, and how a refusal reads.
pub struct PressRules<'a> {
    pub owner: u64,
    pub expires_unix: i64,
    /// "buttons" or "menu".
    pub noun: &'a str,
    /// Why another member cannot, and what they can do instead.
    pub not_yours: &'a str,
    /// What to do once they expired.
    pub expired: &'a str,
}

impl PressRules<'_> {
    /// The private refusal of `presser`'s press, or `None` when it may go on.
    pub fn refusal(&self, presser: u64) -> Option<Reply> {
        if presser != self.owner {
            return Some(
                Reply::done(&format!("Not your {}", self.noun), self.not_yours).ephemeral(),
            );
        }
        if now_unix_ms() / 1000 > self.expires_unix {
            let title = match self.noun {
                "menu" => "This menu expired".to_owned(),
                noun => format!("These {noun} expired"),
            };
            return Some(Reply::done(&title, self.expired).ephemeral());
        }
        None
    }
}

/// The row of a destructive action's question: a red `confirm` button and a grey Cancel.
pub fn confirm_row(confirm: &str, confirm_id: String, cancel_id: String) -> Component {
    let button = |style, label: &str, id: String| {
        Component::Button(ButtonBuilder::new(style).label(label).custom_id(id).build())
    };
    Component::ActionRow(
        ActionRowBuilder::new()
            .component(button(ButtonStyle::Danger, confirm, confirm_id))
            .component(button(ButtonStyle::Secondary, "Cancel", cancel_id))
            .build(),
    )
}

/// A `custom_id` this bot did not make (or an older build made differently).
pub fn not_ours() -> CommandError {
    CommandError::invalid(
        "This button is not one this bot made.",
        "Run the command again.",
    )
}

/// A number in base 36.
pub fn radix36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// A time as a `custom_id` carries it.
pub fn radix36_time(unix: i64) -> String {
    radix36(u64::try_from(unix).unwrap_or(0))
}

/// A number read back from base 36.
pub fn from_radix36(text: &str) -> Option<u64> {
    u64::from_str_radix(text, 36).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_owner_presses_and_only_in_time() {
        let rules = |expires_unix| PressRules {
            owner: 7,
            expires_unix,
            noun: "buttons",
            not_yours: "no",
            expired: "late",
        };
        assert!(rules(i64::MAX).refusal(7).is_none());
        let other = rules(i64::MAX).refusal(8).map(|r| r.ephemeral);
        assert_eq!(other, Some(true));
        assert!(rules(0).refusal(7).is_some());
        assert_eq!(from_radix36(&radix36(u64::MAX)), Some(u64::MAX));
    }
}
