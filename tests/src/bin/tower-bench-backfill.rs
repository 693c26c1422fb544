//! tower-bench-backfill: how fast the worker reads a killfeed backfill over a network
//! path with latency, against OpenSSH's own `sftp` client (which keeps 64 requests in
//! flight) fetching the same file through the same path in the same run.
//!
//! ```text
//! tower-bench-backfill [--mib 100] [--rtt-ms 50] [--mbit 100] [--runs 3]
//! ```
//!
//! Uses the test command's sshd and SFTP user (`TOWER_TEST_SSHD_PORT`,
//! `TOWER_TEST_SFTP_USER`, `TOWER_TEST_SFTP_KEY`, `TOWER_TEST_SFTP_HOME`; run it through
//! `deploy/local/bench backfill`). The path is a userspace delay line
//! ([`tower_tests::delay_line`]): this machine's kernel has no `netem`. `--rtt-ms 0
//! --mbit 0` measures plain loopback.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Parser;
use sftp_worker::sftp_source::SftpSource;
use tower_ingest::reader::MAX_READ;
use tower_ingest::source::ByteSource;
use tower_store::game_servers::Credential;
use tower_store::secret::Redacted;
use tower_tests::delay_line::{DelayLine, Link};
use tower_tests::sftp_home::connect_loopback;

#[derive(Debug, Parser)]
struct Args {
    /// Size of the killfeed file read, in MiB.
    #[arg(long, default_value_t = 100)]
    mib: usize,
    /// Round-trip time of the path, in ms.
    #[arg(long, default_value_t = 50)]
    rtt_ms: u64,
    /// Bandwidth of the path each way, in Mbit/s (0: unlimited).
    #[arg(long, default_value_t = 100)]
    mbit: u64,
    /// Runs of each client; the best counts.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set (run through deploy/local/bench)"))
}

fn best(runs: &[Duration]) -> Duration {
    runs.iter().copied().min().unwrap_or_default()
}

/// A killfeed of `mib` MiB, the real fixture files over and over (only the bytes on the
/// wire matter here), written into the SFTP user's home; its path relative to the home.
fn write_killfeed(home: &str, mib: usize) -> Result<(String, u64), String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/deadside/killfeed");
    let mut fixtures = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        fixtures.extend(std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?);
    }
    if fixtures.is_empty() {
        return Err(format!("no killfeed fixtures in {}", dir.display()));
    }
    let mut bytes = Vec::with_capacity((mib << 20) + fixtures.len());
    while bytes.len() < mib << 20 {
        bytes.extend_from_slice(&fixtures);
    }
    let relative = "bench_backfill/2025.05.15-00.00.00.csv".to_owned();
    let path = std::path::Path::new(home).join(&relative);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((relative, bytes.len() as u64))
}

/// The worker's backfill reads: [`MAX_READ`] steps through its SFTP source, as the
/// incremental reader makes them.
async fn worker_reads(
    addr: SocketAddr,
    user: &str,
    credential: &Credential,
    file: &str,
    size: u64,
) -> Result<Duration, String> {
    let conn = connect_loopback(addr.port(), user, credential).await?;
    let source: SftpSource<'_> = conn.source();
    let start = Instant::now();
    let mut offset = 0u64;
    while offset < size {
        let got = source
            .read_at(file, offset, MAX_READ)
            .await
            .map_err(|e| e.to_string())?;
        if got.is_empty() {
            return Err(format!(
                "the worker's read ended at {offset} of {size} bytes"
            ));
        }
        offset += got.len() as u64;
    }
    let took = start.elapsed();
    conn.close().await;
    Ok(took)
}

/// OpenSSH's `sftp` client: `get` of the same file to /dev/null, session set-up included
/// in neither time (it is timed from its first request by subtracting an empty session).
async fn openssh_get(
    addr: SocketAddr,
    user: &str,
    key: &str,
    commands: &str,
) -> Result<Duration, String> {
    let start = Instant::now();
    let mut child = tokio::process::Command::new("sftp")
        .args(["-q", "-i", key, "-P", &addr.port().to_string()])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args(["-o", "BatchMode=yes", "-b", "-"])
        .arg(format!("{user}@127.0.0.1"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("sftp: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        use tokio::io::AsyncWriteExt;
        stdin
            .write_all(commands.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
    }
    let status = child.wait().await.map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("sftp exited with {status}"));
    }
    Ok(start.elapsed())
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let port: u16 = env("TOWER_TEST_SSHD_PORT")?
        .parse()
        .map_err(|_| "TOWER_TEST_SSHD_PORT is not a port".to_owned())?;
    let user = env("TOWER_TEST_SFTP_USER")?;
    let key_file = env("TOWER_TEST_SFTP_KEY")?;
    let key = std::fs::read_to_string(&key_file).map_err(|e| format!("{key_file}: {e}"))?;
    let credential = Credential::Key(Redacted::new(key));
    let (file, size) = write_killfeed(&env("TOWER_TEST_SFTP_HOME")?, args.mib)?;
    let mb = size as f64 / 1e6;

    let sshd = SocketAddr::from(([127, 0, 0, 1], port));
    let link = Link::new(args.rtt_ms, args.mbit);
    let line = DelayLine::start(sshd, link)
        .await
        .map_err(|e| format!("delay line: {e}"))?;

    // Turns, so a slow spell of the shared machine slows both alike.
    let (mut ours, mut openssh) = (Vec::new(), Vec::new());
    for _ in 0..args.runs {
        ours.push(worker_reads(line.addr, &user, &credential, &file, size).await?);
        // The client's session set-up (several round trips) is timed apart and taken off.
        let session = openssh_get(line.addr, &user, &key_file, "pwd\n").await?;
        let whole = openssh_get(
            line.addr,
            &user,
            &key_file,
            &format!("get {file} /dev/null\n"),
        )
        .await?;
        openssh.push(whole.saturating_sub(session));
    }
    let path = if args.rtt_ms == 0 && args.mbit == 0 {
        "loopback".to_owned()
    } else {
        format!(
            "{} ms round trip, {} Mbit/s each way",
            args.rtt_ms, args.mbit
        )
    };
    println!(
        "killfeed {mb:.1} MB over {path}; best of {} runs each",
        args.runs
    );
    let row = |name: &str, d: Duration| {
        println!(
            "{name:<44} {:>8.1} MB/s  ({:.2} s)",
            mb / d.as_secs_f64(),
            d.as_secs_f64()
        );
    };
    if let Some(rate) = link.bytes_per_sec {
        row(
            "the path's own limit",
            Duration::from_secs_f64(size as f64 / rate as f64),
        );
    }
    row("OpenSSH sftp client (get, 64 requests)", best(&openssh));
    row("worker backfill reads (4 MiB steps)", best(&ours));
    println!(
        "worker / sftp client time: {:.2}x",
        best(&ours).as_secs_f64() / best(&openssh).as_secs_f64()
    );
    let home = std::path::PathBuf::from(env("TOWER_TEST_SFTP_HOME")?);
    if let Some(dir) = home.join(&file).parent() {
        std::fs::remove_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    Ok(())
}
