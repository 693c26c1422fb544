//! A fuzz harness for both parsers, run briefly on every test run (512 cases each) and at
//! length by `deploy/local/fuzz` (`TOWER_FUZZ_CASES`, a million by default there):
//! arbitrary bytes, and real lines with random damage, must give a result or a reason —
//! never a panic — and a line that parses must keep its meaning when its line ending
//! changes.

use proptest::prelude::*;
use tower_ingest::ingest::parse_killfeed_chunk;
use tower_ingest::killfeed::parse_line;
use tower_ingest::server_log::{PlayerCounts, parse_log_line};

const KILL: &str = "2025.05.01-00.07.23;HallagerTheDane;00024d4be1e44ba0aa342b39b0fb9937;KT93141;00022ba2df89427c8a252ab6be1df3f3;M99;152;PS5;XSX;";
const LOG: &str = "[2025.05.03-02.01.50:297][ 42]LogNet: Join request: /Game/Maps/world_0/World_0?logintype=eos&login=Nj&Name=Nj%20s&eosid=|0002e69a65204b669c20238266782d7b&platformid=PS5:1";

/// A real line with bytes overwritten, inserted or removed.
fn damaged(base: &'static str) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 0..8).prop_map(move |edits| {
        let mut bytes = base.as_bytes().to_vec();
        for (at, byte, op) in edits {
            let at = at % (bytes.len() + 1);
            match op {
                0 if at < bytes.len() => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ if at < bytes.len() => {
                    bytes.remove(at);
                }
                _ => {}
            }
        }
        bytes
    })
}

/// Cases per property: 512 in the test suite, `TOWER_FUZZ_CASES` when set.
fn cases() -> u32 {
    std::env::var("TOWER_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(512)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn killfeed_parser_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_line(&bytes);
        let chunk = parse_killfeed_chunk("fuzz.csv", &bytes, 0, true);
        prop_assert_eq!(chunk.consumed, bytes.len());
        prop_assert_eq!(chunk.lines as usize, chunk.events.len() + chunk.malformed.len());
    }

    #[test]
    fn damaged_killfeed_lines_parse_or_say_why(bytes in damaged(KILL)) {
        if let Ok(line) = parse_line(&bytes) {
            let mut crlf = bytes.clone();
            crlf.extend_from_slice(b"\r");
            prop_assert_eq!(parse_line(&crlf).ok(), Some(line));
        }
    }

    #[test]
    fn log_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600), damaged in damaged(LOG)) {
        let mut counts = PlayerCounts::default();
        for input in [&bytes[..], &damaged[..]] {
            if let Some(record) = parse_log_line(input) {
                counts.apply(&record.event);
            }
        }
        prop_assert!(counts.online() + counts.queued() <= 2);
    }
}
