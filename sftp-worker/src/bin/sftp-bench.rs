//! sftp-bench: how fast the worker reads a large file over SFTP, against OpenSSH's own
//! `sftp` client fetching the same file (run with `--release`):
//!
//! ```text
//! sftp-bench --port 2222 --user towertest --key KEYFILE --file path/to/big.csv
//! ```
//! Loopback targets only (it is a benchmark, not a client).

use std::time::{Duration, Instant};

use clap::Parser;
use sftp_worker::connection::{SftpConnection, Target, Timeouts};
use sftp_worker::sftp_source::SftpSource;
use tokio::io::AsyncReadExt;
use tower_daemon::address_guard::AddressPolicy;
use tower_ingest::reader::MAX_READ;
use tower_ingest::source::ByteSource;
use tower_store::game_servers::Credential;
use tower_store::secret::Redacted;

#[derive(Debug, Parser)]
struct Args {
    #[arg(long)]
    port: u16,
    #[arg(long)]
    user: String,
    /// Private key file (also used by the `sftp` client).
    #[arg(long)]
    key: String,
    /// File to read, relative to the user's home.
    #[arg(long)]
    file: String,
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

fn best(runs: &[Duration]) -> Duration {
    runs.iter().copied().min().unwrap_or_default()
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let key = std::fs::read_to_string(&args.key).map_err(|e| format!("{}: {e}", args.key))?;
    let credential = Credential::Key(Redacted::new(key));
    let target = Target {
        host: "127.0.0.1",
        port: args.port,
        username: &args.user,
        credential: &credential,
        pinned_host_key: None,
    };
    let policy = AddressPolicy {
        allow_loopback: true,
        ..AddressPolicy::default()
    };
    let timeouts = Timeouts {
        connect: Duration::from_secs(10),
        operation: Duration::from_secs(60),
        keepalive: Duration::from_secs(15),
    };
    let conn = SftpConnection::open(&target, &policy, timeouts, &mut Vec::new())
        .await
        .map_err(|e| e.to_string())?;
    let source = SftpSource {
        timeout: Duration::from_secs(60),
        ..conn.source()
    };
    let size = source
        .stat(&args.file)
        .await
        .map_err(|e| e.to_string())?
        .size;
    let mb = size as f64 / 1e6;

    // One handle reading the whole file (russh-sftp reads ahead itself).
    let mut single = Vec::new();
    for _ in 0..args.runs {
        let start = Instant::now();
        let mut file = conn
            .sftp
            .open(args.file.as_str())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::with_capacity(size as usize);
        file.read_to_end(&mut buf)
            .await
            .map_err(|e| e.to_string())?;
        single.push(start.elapsed());
    }
    // The worker's reads: MAX_READ steps, as the reader makes them.
    let mut ours = Vec::new();
    for _ in 0..args.runs {
        let start = Instant::now();
        let mut offset = 0u64;
        while offset < size {
            let got = source
                .read_at(&args.file, offset, MAX_READ)
                .await
                .map_err(|e| e.to_string())?;
            if got.is_empty() {
                break;
            }
            offset += got.len() as u64;
        }
        ours.push(start.elapsed());
    }
    // OpenSSH's sftp client, same file, to /dev/null.
    let mut openssh = Vec::new();
    for _ in 0..args.runs {
        let start = Instant::now();
        let mut child = tokio::process::Command::new("sftp")
            .args([
                "-q",
                "-i",
                &args.key,
                "-P",
                &args.port.to_string(),
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-b",
                "-",
            ])
            .arg(format!("{}@127.0.0.1", args.user))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("sftp: {e}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            use tokio::io::AsyncWriteExt;
            stdin
                .write_all(format!("get {} /dev/null\n", args.file).as_bytes())
                .await
                .map_err(|e| e.to_string())?;
        }
        let status = child.wait().await.map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("sftp exited with {status}"));
        }
        openssh.push(start.elapsed());
    }
    let row = |name: &str, d: Duration| {
        println!(
            "{name:<40} {:>8.1} MB/s  ({:.2} s)",
            mb / d.as_secs_f64(),
            d.as_secs_f64()
        )
    };
    println!("file: {mb:.1} MB, best of {} runs each", args.runs);
    row("OpenSSH sftp client (get)", best(&openssh));
    row("worker reads (4 MiB steps)", best(&ours));
    row("one handle, whole file (read_to_end)", best(&single));
    println!(
        "worker / sftp client time: {:.2}x",
        best(&ours).as_secs_f64() / best(&openssh).as_secs_f64()
    );
    conn.close().await;
    Ok(())
}
