//! The worker's reads over SFTP (pipelined, one handle per file, reading ahead) return
//! exactly the file's bytes: read in the reader's 4 MiB steps to the end, read on from a
//! little before where the last read ended (as the reader does after a partial line) with
//! odd lengths, read again from an earlier offset, switching files, of a file that grew
//! meanwhile, and over a path with 40 ms of round trip (the delay line), where the
//! requests really are in flight at once.

use std::path::PathBuf;

use sftp_worker::connection::SftpConnection;
use tower_ingest::reader::MAX_READ;
use tower_ingest::source::ByteSource;
use tower_store::game_servers::Credential;
use tower_store::secret::Redacted;
use tower_tests::backing::sshd_port;
use tower_tests::delay_line::{DelayLine, Link};
use tower_tests::sftp_home::connect_loopback;
use tower_tests::support::{Xorshift, ok, required_env};

/// `n` bytes that differ at every offset (a misplaced chunk cannot match).
fn pattern(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = Xorshift(seed);
    (0..n).map(|_| rng.next(256) as u8).collect()
}

fn folder(test: &str) -> (PathBuf, String) {
    let relative = format!("t_{test}_{}", std::process::id());
    let dir = PathBuf::from(required_env("TOWER_TEST_SFTP_HOME")).join(&relative);
    ok(std::fs::create_dir_all(&dir));
    (dir, relative)
}

async fn connect(port: u16) -> SftpConnection {
    let credential = Credential::Password(Redacted::new(required_env("TOWER_TEST_SFTP_PASSWORD")));
    ok(connect_loopback(port, &required_env("TOWER_TEST_SFTP_USER"), &credential).await)
}

/// Reads `path` from `from` to its end in `step`-byte reads, as the reader does.
async fn read_to_end(source: &impl ByteSource, path: &str, from: u64, step: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offset = from;
    loop {
        let got = ok(source.read_at(path, offset, step).await);
        if got.is_empty() {
            return out;
        }
        offset += got.len() as u64;
        out.extend_from_slice(&got);
    }
}

async fn reads_are_exact(port: u16, test: &str) {
    let (dir, relative) = folder(test);
    // Not a multiple of any chunk or step: the last read is short.
    let big = pattern(3 * MAX_READ + 123_457, 1);
    let small = pattern(300_001, 2);
    ok(std::fs::write(dir.join("big.csv"), &big));
    ok(std::fs::write(dir.join("small.csv"), &small));
    let (big_path, small_path) = (
        format!("{relative}/big.csv"),
        format!("{relative}/small.csv"),
    );

    let conn = connect(port).await;
    let source = conn.source();
    assert!(
        read_to_end(&source, &big_path, 0, MAX_READ).await == big,
        "read in 4 MiB steps to the end"
    );
    // As the reader reads on: from the end of the last whole line, a little before where
    // the last read ended, with lengths that are no multiple of anything. Each read gives
    // exactly the bytes asked for (all of them, none past them) until the file ends.
    let (mut offset, step) = (0usize, 1_500_001usize);
    while offset < big.len() {
        let got = ok(source.read_at(&big_path, offset as u64, step).await);
        let want = &big[offset..big.len().min(offset + step)];
        assert!(
            got == want,
            "a read of {step} bytes at {offset} gave {} bytes, not the {} of the file there",
            got.len(),
            want.len()
        );
        if got.len() < step {
            // The end of the file (reading on from 137 bytes back would re-read the tail
            // a byte at a time, one round trip each).
            break;
        }
        offset += got.len() - 137;
    }
    // Back to an earlier offset in the same file: what was read ahead is not used.
    let from = 5_000_000;
    assert!(
        read_to_end(&source, &big_path, from, MAX_READ).await == big[from as usize..],
        "read again from an earlier offset"
    );
    // Another file, then the first again mid-way (a read ahead of one file never answers
    // for another).
    let mid = ok(source.read_at(&big_path, 1_000_000, MAX_READ).await);
    assert!(
        mid == big[1_000_000..1_000_000 + MAX_READ],
        "a full step mid-file"
    );
    assert!(
        read_to_end(&source, &small_path, 0, MAX_READ).await == small,
        "the second file"
    );
    assert!(
        ok(source.read_at(&big_path, 7, 10).await) == big[7..17],
        "a small read of the first file again"
    );
    drop(source);

    // A file that grows between polls: the next poll reads the new bytes.
    let grown = [big.clone(), pattern(1_000_003, 3)].concat();
    ok(std::fs::write(dir.join("big.csv"), &grown));
    let source = conn.source();
    assert!(
        read_to_end(&source, &big_path, big.len() as u64, MAX_READ).await == grown[big.len()..],
        "the bytes appended since"
    );
    drop(source);
    conn.close().await;
    ok(std::fs::remove_dir_all(&dir));
}

#[tokio::test]
async fn reads_return_exactly_the_files_bytes_on_loopback() {
    reads_are_exact(ok(sshd_port()), "reads_loopback").await;
}

#[tokio::test]
async fn reads_return_exactly_the_files_bytes_over_a_40_ms_round_trip() {
    let sshd = std::net::SocketAddr::from(([127, 0, 0, 1], ok(sshd_port())));
    let line = ok(DelayLine::start(sshd, Link::new(40, 0)).await);
    reads_are_exact(line.addr.port(), "reads_delayed").await;
}
