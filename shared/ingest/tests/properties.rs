//! Properties of the ingest engine on the real killfeed files:
//! - any split of a file into appended chunks, read incrementally (partial lines held back,
//!   one batch per read), gives the same statistics as one read of the whole file;
//! - reading a file again is a no-op (line identities).

use std::collections::HashSet;

use proptest::prelude::*;
use tower_ingest::ingest::parse_killfeed_chunk;
use tower_ingest::stats::{BatchDelta, ServerStats};

fn fixture(stem: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../tests/fixtures/deadside/killfeed/{stem}.csv"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const FILES: [&str; 3] = [
    "2025.03.27-00.00.00",
    "2025.05.01-00.00.00",
    "2025.05.15-00.00.00",
];

/// The file as the worker sees it: growing by `cuts`, each poll reading from the cursor to
/// the current end, one batch per poll.
fn read_incrementally(
    bytes: &[u8],
    cuts: &[usize],
    seen: &mut HashSet<[u8; 16]>,
) -> (ServerStats, u64) {
    let mut stats = ServerStats::default();
    let mut offset = 0usize;
    let mut malformed = 0;
    let mut ends: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    ends.sort_unstable();
    ends.push(bytes.len());
    for (i, &end) in ends.iter().enumerate() {
        if end < offset {
            continue;
        }
        let last = i == ends.len() - 1;
        let mut chunk = parse_killfeed_chunk("f.csv", &bytes[offset..end], offset as u64, last);
        chunk.dedupe(1, "7020", seen);
        malformed += chunk.malformed.len() as u64;
        stats.merge(&BatchDelta::from_events(&chunk.events));
        offset += chunk.consumed;
    }
    (stats, malformed)
}

fn one_read(bytes: &[u8]) -> ServerStats {
    let chunk = parse_killfeed_chunk("f.csv", bytes, 0, true);
    let mut stats = ServerStats::default();
    stats.apply(&chunk.events);
    stats
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_split_into_appended_chunks_gives_the_same_stats(
        file in 0usize..3,
        cuts in proptest::collection::vec(any::<usize>(), 0..40),
    ) {
        let bytes = fixture(FILES[file]);
        let (stats, malformed) = read_incrementally(&bytes, &cuts, &mut HashSet::new());
        prop_assert_eq!(malformed, 0);
        prop_assert_eq!(stats, one_read(&bytes));
    }

    #[test]
    fn a_second_reading_adds_nothing(file in 0usize..3, cuts in proptest::collection::vec(any::<usize>(), 0..10)) {
        let bytes = fixture(FILES[file]);
        let mut seen = HashSet::new();
        read_incrementally(&bytes, &[], &mut seen);
        let (again, _) = read_incrementally(&bytes, &cuts, &mut seen);
        prop_assert_eq!(again, ServerStats::default());
    }

    #[test]
    fn batches_of_any_size_merge_to_the_same_stats(sizes in proptest::collection::vec(1usize..200, 1..30)) {
        // The stats merge itself: events cut into batches of arbitrary sizes.
        let bytes = fixture(FILES[0]);
        let chunk = parse_killfeed_chunk("f.csv", &bytes, 0, true);
        let mut stats = ServerStats::default();
        let mut rest = &chunk.events[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].min(rest.len());
            stats.merge(&BatchDelta::from_events(&rest[..n]));
            rest = &rest[n..];
            i += 1;
        }
        prop_assert_eq!(stats, one_read(&bytes));
    }
}
