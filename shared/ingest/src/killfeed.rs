//! The killfeed CSV: one death per line (PRODUCT.md §3).
//!
//! ```text
//! 2025.03.27-10.42.35;VxKorbz01;0002ca35…;HATERSWATCH;00024afe…;IZH-43;13;
//! 2025.05.01-00.07.23;HallagerTheDane;00024d4b…;KT93141;00022ba2…;M99;152;PS5;XSX;
//! ```
//! `timestamp;killer;killer_id;victim;victim_id;weapon;distance_m;[killer_platform;victim_platform;]`
//!
//! [`parse_line`] borrows from the line (names are only copied when they are not valid
//! UTF-8), classifies it as a PvP kill, a suicide or an environment death, and says
//! exactly why a line is malformed. It never panics, whatever the bytes.

use std::borrow::Cow;
use std::fmt;

use crate::timestamp;

/// A player as a killfeed line names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayerRef<'a> {
    pub name: Cow<'a, str>,
    /// 32 lowercase hex characters (an EOS id).
    pub id: &'a str,
    /// `PS5`, `XSX`, … on 9-field lines.
    pub platform: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SuicideKind {
    /// `suicide_by_relocation`: respawn from the menu.
    Menu,
    /// `falling`.
    Fall,
    /// `land_vehicle` and other vehicles.
    Vehicle,
    /// Grenades, dynamite, anything else.
    Other,
}

impl SuicideKind {
    pub fn of_weapon(weapon: &str) -> Self {
        match weapon {
            "suicide_by_relocation" => SuicideKind::Menu,
            "falling" => SuicideKind::Fall,
            w if is_vehicle(w) => SuicideKind::Vehicle,
            _ => SuicideKind::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SuicideKind::Menu => "menu",
            SuicideKind::Fall => "fall",
            SuicideKind::Vehicle => "vehicle",
            SuicideKind::Other => "other",
        }
    }
}

/// `land_vehicle` is the one Deadside writes; any other `*vehicle*` cause counts too.
fn is_vehicle(weapon: &str) -> bool {
    let bytes = weapon.as_bytes();
    // Every kill asks this; most weapons have no `v` at all, so look for one first.
    (0..bytes.len().saturating_sub(6))
        .any(|i| bytes[i] | 0x20 == b'v' && bytes[i..i + 7].eq_ignore_ascii_case(b"vehicle"))
}

/// What one killfeed line says happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KillfeedEvent<'a> {
    /// Two different players: a PvP kill (a roadkill when the weapon is a vehicle).
    Kill {
        killer: PlayerRef<'a>,
        victim: PlayerRef<'a>,
        weapon: Cow<'a, str>,
        distance_m: u32,
        roadkill: bool,
    },
    /// A player killed themselves.
    Suicide {
        player: PlayerRef<'a>,
        kind: SuicideKind,
        cause: Cow<'a, str>,
    },
    /// Died to the world: no killer, no weapon.
    EnvironmentDeath { victim: PlayerRef<'a> },
}

/// A parsed line: when it happened and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KillfeedLine<'a> {
    /// Unix seconds, server time read as UTC.
    pub at: i64,
    pub event: KillfeedEvent<'a>,
}

/// Why a line is not a killfeed line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Not 7 or 9 fields (after the trailing `;`).
    FieldCount(usize),
    /// The line does not end in `;`.
    Unterminated,
    Timestamp,
    KillerId,
    VictimId,
    Distance,
    /// A killer name or weapon without a killer id.
    Inconsistent,
    /// Longer than [`MAX_LINE`]; kept out of the stats.
    TooLong(usize),
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::FieldCount(n) => write!(f, "{n} fields (expected 7 or 9)"),
            Malformed::Unterminated => f.write_str("does not end in ';'"),
            Malformed::Timestamp => f.write_str("timestamp is not YYYY.MM.DD-HH.MM.SS"),
            Malformed::KillerId => f.write_str("killer id is not a 32-hex EOS id"),
            Malformed::VictimId => f.write_str("victim id is not a 32-hex EOS id"),
            Malformed::Distance => f.write_str("distance is not a whole number of metres"),
            Malformed::Inconsistent => {
                f.write_str("killer name, id and weapon do not fit any kind of death")
            }
            Malformed::TooLong(n) => write!(f, "line of {n} bytes is over the limit"),
        }
    }
}

/// The longest line accepted. Real lines are under 200 bytes.
pub const MAX_LINE: usize = 4096;

/// Parses one line (without its line ending; trailing `\r`s are tolerated: a file
/// written with `\r\r\n` endings, found by fuzzing, reads like any other).
pub fn parse_line(line: &[u8]) -> Result<KillfeedLine<'_>, Malformed> {
    // `split_last` rather than `strip_suffix`: a one-byte check, not a `memcmp` call.
    let mut line = line;
    while let Some((b'\r', rest)) = line.split_last() {
        line = rest;
    }
    if line.len() > MAX_LINE {
        return Err(Malformed::TooLong(line.len()));
    }
    let body = match line.split_last() {
        Some((b';', body)) => body,
        _ => return Err(Malformed::Unterminated),
    };
    let mut bounds = [(0usize, 0usize); 9];
    let count = split_fields(body, &mut bounds);
    if count != 7 && count != 9 {
        return Err(Malformed::FieldCount(count));
    }
    let fields = Fields {
        body,
        // One validation for the whole line; fields of an invalid line are read lossily.
        text: std::str::from_utf8(body).ok(),
        bounds: &bounds,
    };
    let at = timestamp::parse_seconds(fields.bytes(0)).ok_or(Malformed::Timestamp)?;
    let (killer_platform, victim_platform) = if count == 9 {
        (fields.text_opt(7), fields.text_opt(8))
    } else {
        (None, None)
    };
    let victim = PlayerRef {
        name: fields.text(3),
        id: fields.eos_id(4).ok_or(Malformed::VictimId)?,
        platform: victim_platform,
    };
    let distance_m = distance(fields.bytes(6)).ok_or(Malformed::Distance)?;

    // Each branch builds the whole answer in place: building the event first and then
    // wrapping it costs a copy of it per line.
    if fields.bytes(2).is_empty() {
        if !fields.bytes(1).is_empty() || !fields.bytes(5).is_empty() {
            return Err(Malformed::Inconsistent);
        }
        return Ok(KillfeedLine {
            at,
            event: KillfeedEvent::EnvironmentDeath { victim },
        });
    }
    let id = fields.eos_id(2).ok_or(Malformed::KillerId)?;
    let weapon = fields.text(5);
    if same_id(id, victim.id) {
        return Ok(KillfeedLine {
            at,
            event: KillfeedEvent::Suicide {
                kind: SuicideKind::of_weapon(&weapon),
                player: victim,
                cause: weapon,
            },
        });
    }
    Ok(KillfeedLine {
        at,
        event: KillfeedEvent::Kill {
            killer: PlayerRef {
                name: fields.text(1),
                id,
                platform: killer_platform,
            },
            victim,
            roadkill: is_vehicle(&weapon),
            weapon,
            distance_m,
        },
    })
}

/// Writes the bounds of the first 9 `;`-separated fields of `body` into `bounds`, and
/// returns how many fields it has.
///
/// Every line goes through here, so it avoids a branch per byte: each 8-byte word gives a
/// bit per `;` (the exact zero-byte test), eight words make a 64-bit map, and the `;` are
/// read off the map. A search call per field costs more than it finds on short fields.
fn split_fields(body: &[u8], bounds: &mut [(usize, usize); 9]) -> usize {
    let mut count = 0;
    let mut start = 0;
    let mut separator_at = |end: usize| {
        if let Some(slot) = bounds.get_mut(count) {
            *slot = (start, end);
        }
        count += 1;
        start = end + 1;
    };
    let (words, tail) = body.as_chunks::<8>();
    for (n, group) in words.chunks(8).enumerate() {
        let mut map = group
            .iter()
            .enumerate()
            .fold(0u64, |map, (i, word)| map | (semicolons(*word) << (8 * i)));
        while map != 0 {
            separator_at(n * 64 + map.trailing_zeros() as usize);
            map &= map - 1;
        }
    }
    let tail_start = words.len() * 8;
    for (i, &b) in tail.iter().enumerate() {
        if b == b';' {
            separator_at(tail_start + i);
        }
    }
    if let Some(slot) = bounds.get_mut(count) {
        *slot = (start, body.len());
    }
    count + 1
}

/// Bit `i` set where byte `i` of `word` is `;`.
fn semicolons(word: [u8; 8]) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let y = u64::from_le_bytes(word) ^ 0x3b3b_3b3b_3b3b_3b3b;
    // The top bit of each byte of `y` that is zero (no false hits, unlike `(y - 1) & !y`).
    let high = !(((y & LOW7) + LOW7) | y | LOW7);
    // Gather the eight top bits into the top byte (the multiply lines them up), then down.
    ((high >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

/// Two EOS ids (always 32 bytes here) compared as fixed-size arrays: inlined, no `memcmp`.
fn same_id(a: &str, b: &str) -> bool {
    match (
        <&[u8; 32]>::try_from(a.as_bytes()),
        <&[u8; 32]>::try_from(b.as_bytes()),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// A split line: bytes always, text when the whole line is valid UTF-8.
struct Fields<'a, 'b> {
    body: &'a [u8],
    text: Option<&'a str>,
    bounds: &'b [(usize, usize); 9],
}

impl<'a> Fields<'a, '_> {
    fn bytes(&self, i: usize) -> &'a [u8] {
        let (a, b) = self.bounds[i];
        &self.body[a..b]
    }

    fn str(&self, i: usize) -> Option<&'a str> {
        let (a, b) = self.bounds[i];
        self.text.and_then(|t| t.get(a..b))
    }

    /// The field as text; bytes that are not UTF-8 become U+FFFD.
    fn text(&self, i: usize) -> Cow<'a, str> {
        match self.str(i) {
            Some(s) => Cow::Borrowed(s),
            None => String::from_utf8_lossy(self.bytes(i)),
        }
    }

    fn text_opt(&self, i: usize) -> Option<&'a str> {
        self.str(i)
            .or_else(|| std::str::from_utf8(self.bytes(i)).ok())
            .filter(|s| !s.is_empty())
    }

    /// An EOS id: exactly 32 lowercase hex characters.
    #[inline]
    fn eos_id(&self, i: usize) -> Option<&'a str> {
        let bytes = self.bytes(i);
        // No early exit: a fixed 32-byte check without branches vectorises.
        let Ok(id) = <&[u8; 32]>::try_from(bytes) else {
            return None;
        };
        if !id.iter().fold(true, |ok, &b| ok & is_lower_hex(b)) {
            return None;
        }
        self.str(i).or_else(|| std::str::from_utf8(bytes).ok())
    }
}

/// `0-9` or `a-f`, in arithmetic rather than branches.
const fn is_lower_hex(b: u8) -> bool {
    (b.wrapping_sub(b'0') < 10) | (b.wrapping_sub(b'a') < 6)
}

fn distance(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || bytes.len() > 9 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    bytes.iter().try_fold(0u32, |acc, &b| {
        acc.checked_mul(10)?.checked_add(u32::from(b - b'0'))
    })
}

/// A kill an admin records by hand (`/rivalry record_kill`), as the killfeed line the
/// game would have written at `at` (game-server time): it is counted by the same code as
/// every line. Refused as the parser would refuse it (a name or weapon holding `;`, an id
/// that is not an EOS id).
pub fn recorded_kill_line(
    at: i64,
    killer: (&str, &str),
    victim: (&str, &str),
    weapon: &str,
) -> Result<String, Malformed> {
    let line = written_line(at, killer, victim, weapon, 0)?;
    match parse_line(line.as_bytes())? {
        KillfeedLine {
            event: KillfeedEvent::Kill { .. },
            ..
        } => Ok(line),
        // The same player twice, or a weapon that makes it a suicide.
        _ => Err(Malformed::Inconsistent),
    }
}

/// A kill or suicide the earlier bot kept in its `kills` collection, as the line the game
/// wrote for it, less the platforms (the earlier bot did not keep them): counted by the
/// same code as every line. Refused as the parser would refuse it.
pub fn earlier_bot_line(
    at: i64,
    killer: (&str, &str),
    victim: (&str, &str),
    weapon: &str,
    distance_m: u32,
) -> Result<String, Malformed> {
    let line = written_line(at, killer, victim, weapon, distance_m)?;
    parse_line(line.as_bytes())?;
    Ok(line)
}

/// The 7-field line the game writes for a death at `at` (game-server time).
fn written_line(
    at: i64,
    (killer, killer_id): (&str, &str),
    (victim, victim_id): (&str, &str),
    weapon: &str,
    distance_m: u32,
) -> Result<String, Malformed> {
    // A `;` would shift the fields (a weapon `AK;999;X` would set the distance).
    if [killer, killer_id, victim, victim_id, weapon]
        .iter()
        .any(|f| f.contains([';', '\n', '\r']))
    {
        return Err(Malformed::Inconsistent);
    }
    Ok(format!(
        "{};{killer};{killer_id};{victim};{victim_id};{weapon};{distance_m};",
        crate::timestamp::format_seconds(at)
    ))
}

/// The identity of a killfeed line on one game server: the same line read twice (a replay,
/// two files that overlap, a batch retried after a crash) has the same identity, so it
/// counts once. It is the line as written, without its line ending and surrounding
/// whitespace, hashed together with the server (SHA-256, first 16 bytes).
pub fn line_identity(guild_id: u64, server_id: &str, line: &[u8]) -> [u8; 16] {
    let line = line.trim_ascii();
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&guild_id.to_be_bytes());
    ctx.update(server_id.as_bytes());
    ctx.update(b"\0");
    ctx.update(line);
    let digest = ctx.finish();
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest.as_ref()[..16]);
    id
}

/// [`line_identity`] as the hex text stored in `kills` (`lines.id`, or `_id` for a
/// malformed line).
pub fn line_id(guild_id: u64, server_id: &str, line: &[u8]) -> String {
    crate::hex::encode(&line_identity(guild_id, server_id, line))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0002ca35475e48e28fdf97e052dc130f";
    const B: &str = "00024afed387453195c040bb85708405";

    fn parse(s: &str) -> Result<KillfeedLine<'_>, Malformed> {
        parse_line(s.as_bytes())
    }

    #[test]
    fn the_word_split_finds_every_semicolon_a_naive_split_does() {
        let naive = |body: &[u8]| {
            let fields: Vec<&[u8]> = body.split(|&b| b == b';').collect();
            fields.len()
        };
        let mut body = Vec::new();
        // Every position of up to three `;` in lines up to 140 bytes, across word and
        // 64-byte group boundaries.
        for len in [0, 1, 7, 8, 9, 63, 64, 65, 127, 128, 140] {
            for a in 0..len {
                for b in [0, 1, 8, 56, 63, 64, 100] {
                    body.clear();
                    body.resize(len, b'x');
                    body[a] = b';';
                    if let Some(c) = body.get_mut(a + b) {
                        *c = b';';
                    }
                    let mut bounds = [(0, 0); 9];
                    let count = split_fields(&body, &mut bounds);
                    assert_eq!(count, naive(&body), "{len} {a} {b}");
                    let mut start = 0;
                    for (i, field) in body.split(|&x| x == b';').take(9).enumerate() {
                        assert_eq!(bounds[i], (start, start + field.len()), "{len} {a} {b}");
                        start += field.len() + 1;
                    }
                }
            }
        }
    }

    #[test]
    fn seven_field_pvp_kill() {
        let line = format!("2025.03.27-10.42.35;VxKorbz01;{A};HATERSWATCH;{B};IZH-43;13;");
        let parsed = parse(&line);
        let Ok(KillfeedLine {
            at,
            event:
                KillfeedEvent::Kill {
                    killer,
                    victim,
                    weapon,
                    distance_m,
                    roadkill,
                },
        }) = parsed
        else {
            panic!("{parsed:?}");
        };
        assert_eq!(at, 1_743_072_155);
        assert_eq!((killer.name.as_ref(), killer.id), ("VxKorbz01", A));
        assert_eq!((victim.name.as_ref(), victim.id), ("HATERSWATCH", B));
        assert_eq!(
            (weapon.as_ref(), distance_m, roadkill),
            ("IZH-43", 13, false)
        );
        assert_eq!(killer.platform, None);
    }

    #[test]
    fn nine_field_lines_carry_platforms_and_names_may_hold_anything() {
        let line =
            format!("2025.05.01-00.07.23;Hallager The Dane ☠;{A};KT 93141;{B};M99;152;PS5;XSX;\r");
        let Ok(KillfeedLine {
            event: KillfeedEvent::Kill { killer, victim, .. },
            ..
        }) = parse(&line)
        else {
            panic!("not a kill");
        };
        assert_eq!(killer.name, "Hallager The Dane ☠");
        assert_eq!(
            (killer.platform, victim.platform),
            (Some("PS5"), Some("XSX"))
        );
    }

    #[test]
    fn suicides_by_cause() {
        for (cause, kind) in [
            ("suicide_by_relocation", SuicideKind::Menu),
            ("falling", SuicideKind::Fall),
            ("land_vehicle", SuicideKind::Vehicle),
            ("boat_vehicle", SuicideKind::Vehicle),
            ("RGD-5", SuicideKind::Other),
            ("", SuicideKind::Other),
        ] {
            let line = format!("2025.05.01-00.05.19;Me;{A};Me;{A};{cause};0;PS5;PS5;");
            let parsed = parse(&line).map(|l| l.event);
            assert!(
                matches!(parsed, Ok(KillfeedEvent::Suicide { kind: k, .. }) if k == kind),
                "{cause}: {parsed:?}"
            );
        }
    }

    #[test]
    fn roadkills_are_pvp_kills() {
        let line = format!("2025.05.01-00.05.19;Driver;{A};Walker;{B};land_vehicle;0;");
        assert!(matches!(
            parse(&line).map(|l| l.event),
            Ok(KillfeedEvent::Kill { roadkill: true, .. })
        ));
    }

    #[test]
    fn environment_deaths_have_no_killer_and_no_weapon() {
        let line = format!("2025.03.27-16.26.00;;;Name;{B};;1;");
        assert!(matches!(
            parse(&line).map(|l| l.event),
            Ok(KillfeedEvent::EnvironmentDeath { victim }) if victim.id == B
        ));
    }

    #[test]
    fn malformed_lines_say_why() {
        let cases = [
            (String::new(), Malformed::Unterminated),
            ("garbage".to_owned(), Malformed::Unterminated),
            (";;;".to_owned(), Malformed::FieldCount(3)),
            (
                format!("2025.03.27-10.42.35;K;{A};V;{B};AK;1;PS5;"),
                Malformed::FieldCount(8),
            ),
            (
                format!("2025-03-27 10:42:35;K;{A};V;{B};AK;1;"),
                Malformed::Timestamp,
            ),
            (
                format!("2025.03.27-10.42.35;K;xyz;V;{B};AK;1;"),
                Malformed::KillerId,
            ),
            (
                format!("2025.03.27-10.42.35;K;{A};V;{};AK;1;", A.to_uppercase()),
                Malformed::VictimId,
            ),
            (
                format!("2025.03.27-10.42.35;K;{A};V;{B};AK;-1;"),
                Malformed::Distance,
            ),
            (
                format!("2025.03.27-10.42.35;K;{A};V;{B};AK;1.5;"),
                Malformed::Distance,
            ),
            (
                format!("2025.03.27-10.42.35;K;;V;{B};AK;1;"),
                Malformed::Inconsistent,
            ),
        ];
        for (line, why) in cases {
            assert_eq!(parse(&line).err(), Some(why), "{line}");
        }
        let long = format!(
            "2025.03.27-10.42.35;{};{A};V;{B};AK;1;",
            "x".repeat(MAX_LINE)
        );
        assert!(matches!(parse(&long), Err(Malformed::TooLong(_))));
    }

    #[test]
    fn invalid_utf8_in_names_is_kept_lossily() {
        let mut line = b"2025.03.27-10.42.35;Bad\xff\xfeName;".to_vec();
        line.extend_from_slice(format!("{A};V;{B};AK;1;").as_bytes());
        let Ok(KillfeedLine {
            event: KillfeedEvent::Kill { killer, .. },
            ..
        }) = parse_line(&line)
        else {
            panic!("not a kill");
        };
        assert_eq!(killer.name, "Bad\u{fffd}\u{fffd}Name");
    }
}
