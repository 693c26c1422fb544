//! Killfeed files read live through the worker's own store, a batch per step of lines,
//! posting into the outbox; optionally with a worker that dies after applying one step's
//! batch, before committing it, and the next worker that finishes it. For tests of what
//! batches post (rivalry posts, highlights) across crashes.

use std::path::Path;

use tower_ingest::ingest::parse_killfeed_chunk;
use tower_ingest::reader::{BATCH_BYTES, PollOutcome, poll_killfeed};
use tower_ingest::source::LocalSource;
use tower_store::cursor_store::{CursorStore, StoreSink};
use tower_store::db::Database;
use tower_store::outbox::Outbox;
use tower_store::stats_store::{BatchRef, StatsStore};

use crate::support::ok;

/// The folder the files are read from, below `root`.
pub const DIR: &str = "deathlogs/world_0";

/// Reads `files` (name, bytes) into `db` for `(guild, server)` as they grow by `step`
/// lines at a time: step n is batch number n (from 1). With `crash_at`, that step's batch
/// is applied and not committed, and a new sink finishes it.
pub async fn read_in_steps(
    db: &Database,
    root: &Path,
    (guild, server): (u64, &str),
    files: &[(String, Vec<u8>)],
    step: usize,
    crash_at: Option<i64>,
) {
    let (stats, cursors, outbox) = (StatsStore::new(db), CursorStore::new(db), Outbox::new(db));
    let _ = std::fs::remove_dir_all(root);
    ok(std::fs::create_dir_all(root.join(DIR)));
    let source = LocalSource::new(root);
    let mut sink = ok(StoreSink::open(guild, server, &stats, &cursors).await);
    sink.state.listed = true;
    sink.outbox = Some(&outbox);
    let mut outcome = PollOutcome::default();
    let mut number = 1;
    for (file, bytes) in files {
        let ends: Vec<usize> = bytes
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'\n')
            .map(|(i, _)| i + 1)
            .collect();
        let mut from = 0;
        for chunk in ends.chunks(step) {
            let Some(&to) = chunk.last() else { continue };
            ok(std::fs::write(root.join(DIR).join(file), &bytes[..to]));
            if crash_at == Some(number) {
                let batch = [parse_killfeed_chunk(
                    &format!("{DIR}/{file}"),
                    &bytes[from..to],
                    from as u64,
                    false,
                )];
                let next = tower_ingest::cursor::FileCursor {
                    file: file.clone(),
                    offset: to as u64,
                    size: to as u64,
                    ..Default::default()
                };
                let pending = ok(sink.begin(&batch, &next).await);
                assert_eq!(pending.batch, number);
                let at = BatchRef {
                    guild_id: guild,
                    server_id: server,
                    batch: pending.batch,
                };
                ok(stats.apply_batch(at, &batch).await);
                drop(sink);
                sink = ok(StoreSink::open(guild, server, &stats, &cursors).await);
                sink.outbox = Some(&outbox);
                ok(sink.recover(&source).await);
                assert!(sink.state.pending.is_none(), "the batch was finished");
            } else {
                ok(poll_killfeed(
                    &source,
                    DIR,
                    BATCH_BYTES,
                    sink.state.cursor.clone(),
                    &mut sink,
                    &mut outcome,
                )
                .await);
            }
            from = to;
            number += 1;
        }
    }
    let _ = std::fs::remove_dir_all(root);
}
