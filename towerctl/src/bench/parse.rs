//! The parser and engine figures (no database).

use std::hint::black_box;
use std::time::{Duration, Instant};

use tower_ingest::ingest::{Chunk, parse_killfeed_chunk};
use tower_ingest::killfeed::parse_line;
use tower_ingest::reader::MAX_READ;
use tower_ingest::stats::BatchDelta;

/// The real fixture lines, repeated with shifted timestamps until `target` bytes.
pub fn corpus(target: usize) -> Result<Vec<u8>, String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/deadside/killfeed");
    let mut lines = Vec::new();
    for name in [
        "2025.03.27-00.00.00.csv",
        "2025.05.01-00.00.00.csv",
        "2025.05.15-00.00.00.csv",
    ] {
        let bytes = std::fs::read(dir.join(name)).map_err(|e| format!("{name}: {e}"))?;
        lines.extend(
            bytes
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec),
        );
    }
    let mut out = Vec::with_capacity(target + 256);
    let mut round = 0u32;
    while out.len() < target {
        for line in &lines {
            // A different year per round keeps every line distinct (distinct identities).
            let year = 2025 + (round % 70);
            out.extend_from_slice(year.to_string().as_bytes());
            out.extend_from_slice(&line[4..]);
            out.push(b'\n');
        }
        round += 1;
    }
    Ok(out)
}

/// The fastest of `rounds` timings of each way. The ways take turns within a round, so a
/// slow spell of a shared machine slows every way alike instead of skewing one ratio.
fn fastest_of(rounds: usize, ways: &mut [&mut dyn FnMut() -> usize]) -> Vec<Duration> {
    let mut best = vec![Duration::MAX; ways.len()];
    for _ in 0..rounds {
        for (way, best) in ways.iter_mut().zip(&mut best) {
            let start = Instant::now();
            black_box(way());
            *best = (*best).min(start.elapsed());
        }
    }
    best
}

/// Parses `bytes` as the reader does: [`MAX_READ`] bytes at a time.
fn read_in_steps(bytes: &[u8], mut each: impl FnMut(&Chunk<'_>)) {
    let mut offset = 0;
    while offset < bytes.len() {
        let end = bytes.len().min(offset + MAX_READ);
        let chunk = parse_killfeed_chunk(
            "bench.csv",
            &bytes[offset..end],
            offset as u64,
            end == bytes.len(),
        );
        each(&chunk);
        offset += chunk.consumed.max(1);
    }
}

pub fn parse(mib: usize, rounds: usize) -> Result<(), String> {
    let bytes = corpus(mib << 20)?;
    let lines = bytes.iter().filter(|&&b| b == b'\n').count() as f64;
    let mb = bytes.len() as f64 / 1e6;
    let mut floor = || {
        bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count()
    };
    // What "reading lines" usually costs: std's BufRead::lines (a String per line).
    let mut buf_lines = || {
        use std::io::BufRead;
        std::io::Cursor::new(&bytes)
            .lines()
            .map_while(Result::ok)
            .count()
    };
    let mut parse_only = || {
        bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .filter(|l| parse_line(l).is_ok())
            .count()
    };
    // The engine as the worker runs it: reads of at most MAX_READ bytes, each parsed on
    // its own, a partial last line carried into the next read.
    let mut engine = || {
        let mut events = 0;
        read_in_steps(&bytes, |chunk| events += chunk.events.len());
        events
    };
    let mut with_stats = || {
        let mut players = 0;
        read_in_steps(&bytes, |chunk| {
            players += BatchDelta::from_events(&chunk.events).players.len();
        });
        players
    };
    let times = fastest_of(
        rounds,
        &mut [
            &mut floor,
            &mut buf_lines,
            &mut parse_only,
            &mut engine,
            &mut with_stats,
        ],
    );
    let floor = times[0];
    println!(
        "input: {mb:.1} MB, {lines:.0} lines (real fixture lines, repeated); fastest of {rounds} rounds"
    );
    let row = |name: &str, d: Duration| {
        let s = d.as_secs_f64();
        println!(
            "{name:<34} {:>12.0} lines/s {:>9.1} MB/s {:>6.2}x floor",
            lines / s,
            mb / s,
            s / floor.as_secs_f64()
        );
    };
    for (name, time) in [
        "line split (floor)",
        "BufRead::lines",
        "split + parse_line",
        "engine (4 MiB reads, split, parse)",
        "engine + batch statistics",
    ]
    .into_iter()
    .zip(times)
    {
        row(name, time);
    }
    Ok(())
}
