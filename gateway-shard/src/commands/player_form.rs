//! A player's form from their recent PvP kills and deaths, as the earlier bot's `/stats
//! player` showed it: recent performance against the overall K/D, the opponents met most
//! lately, and kills per day over the last week.

use std::collections::BTreeMap;

use tower_ingest::stats::kdr;
use tower_store::stats_query::Encounter;

/// Encounters that make "recent".
pub const RECENT: usize = 50;
/// Days of the history table.
pub const DAYS: i64 = 7;
/// Meetings that make a recent matchup.
const MET: u64 = 3;

/// Recent performance: the K/D of the last [`RECENT`] encounters against `overall`, and
/// the trend it makes.
pub fn recent_performance(encounters: &[Encounter], overall: f64) -> Option<String> {
    let recent = &encounters[encounters.len().saturating_sub(RECENT)..];
    if recent.is_empty() {
        return None;
    }
    let kills = recent.iter().filter(|e| e.won).count() as u64;
    let deaths = recent.len() as u64 - kills;
    let now = kdr(kills, deaths);
    let trend = if now > overall * 1.1 {
        "📈 Improving"
    } else if now < overall * 0.9 {
        "📉 Declining"
    } else {
        "➡️ Stable"
    };
    Some(format!(
        "K/D over the last {} encounters: {now:.2} (overall {overall:.2})\n{trend}",
        recent.len()
    ))
}

/// Opponents met at least three times in the last [`RECENT`] encounters: (id, kills,
/// deaths), most met first.
pub fn recent_matchups(encounters: &[Encounter]) -> Vec<(String, u64, u64)> {
    let recent = &encounters[encounters.len().saturating_sub(RECENT)..];
    let mut met: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for e in recent {
        let m = met.entry(e.opponent.as_str()).or_default();
        if e.won {
            m.0 += 1;
        } else {
            m.1 += 1;
        }
    }
    let mut out: Vec<(String, u64, u64)> = met
        .into_iter()
        .filter(|(_, (k, d))| k + d >= MET)
        .map(|(id, (k, d))| (id.to_owned(), k, d))
        .collect();
    out.sort_by(|a, b| (b.1 + b.2).cmp(&(a.1 + a.2)).then(a.0.cmp(&b.0)));
    out.truncate(5);
    out
}

/// Kills per day over the [`DAYS`] days ending with `now`'s (UTC days, game time), oldest
/// first as `(days ago, kills)`; `None` with fewer than three days of kills or deaths.
pub fn daily_kills(encounters: &[Encounter], now: i64) -> Option<Vec<(i64, u64)>> {
    // Game time is the server's clock read as UTC: on a server ahead of UTC, its newest
    // kills are "later" than now.
    let newest = encounters.iter().map(|e| e.at).max().unwrap_or(now);
    let today = now.max(newest).div_euclid(86_400);
    let mut kills = BTreeMap::new();
    let mut active = std::collections::BTreeSet::new();
    for e in encounters {
        let ago = today - e.at.div_euclid(86_400);
        if (0..DAYS).contains(&ago) {
            active.insert(ago);
            if e.won {
                *kills.entry(ago).or_insert(0u64) += 1;
            }
        }
    }
    if active.len() <= 2 {
        return None;
    }
    Some(
        (0..DAYS)
            .rev()
            .map(|ago| (ago, kills.get(&ago).copied().unwrap_or(0)))
            .collect(),
    )
}

/// The history table and the last three days against the three before.
pub fn history_text(days: &[(i64, u64)]) -> String {
    let mut table = String::from("```\nDay        Kills\n");
    for (ago, k) in days {
        let day = match ago {
            0 => "today".to_owned(),
            1 => "yesterday".to_owned(),
            n => format!("{n} days ago"),
        };
        table.push_str(&format!("{day:<11}{k:>5}\n"));
    }
    table.push_str("```");
    let avg = |range: std::ops::Range<i64>| {
        let n: u64 = days
            .iter()
            .filter(|(ago, _)| range.contains(ago))
            .map(|(_, k)| k)
            .sum();
        n as f64 / 3.0
    };
    let (last, before) = (avg(0..3), avg(3..6));
    format!("{table}\nLast 3 days: {last:.1} kills a day · the 3 before: {before:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(at: i64, won: bool, opponent: &str) -> Encounter {
        Encounter {
            at,
            won,
            opponent: opponent.to_owned(),
        }
    }

    #[test]
    fn form_reads_the_recent_encounters() {
        let day = 86_400;
        let now = 20 * day + 3600;
        let list: Vec<Encounter> = vec![
            e(now - 6 * day, false, "a"),
            e(now - 3 * day, true, "a"),
            e(now - day, true, "a"),
            e(now - day, true, "b"),
            e(now, true, "a"),
        ];
        let Some(text) = recent_performance(&list, 1.0) else {
            panic!("recent performance")
        };
        assert!(
            text.contains("last 5 encounters: 4.00") && text.contains("Improving"),
            "{text}"
        );
        assert_eq!(recent_matchups(&list), vec![("a".to_owned(), 3, 1)]);
        let Some(days) = daily_kills(&list, now) else {
            panic!("four days of data")
        };
        assert_eq!(days.len(), 7);
        assert_eq!(days.last(), Some(&(0, 1)));
        assert_eq!(days[5], (1, 2));
        let text = history_text(&days);
        assert!(
            text.contains("Last 3 days: 1.0 kills a day · the 3 before: 0.3"),
            "{text}"
        );
        assert!(
            daily_kills(&list[..2], now).is_none(),
            "two days are not a history"
        );
    }
}
