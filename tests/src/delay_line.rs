//! A network path with latency and a bandwidth limit, in userspace, for measuring what
//! crosses a real network (this machine's kernel has no `netem`).
//!
//! [`DelayLine::start`] listens on loopback and joins each connection to `target` through
//! two pipes, one per direction. A pipe is a link, not a stop-and-wait relay: each chunk
//! read is stamped when it would have left (after the chunks before it, at the link's
//! rate) and is written out one `one_way` delay after that, so many chunks are on the
//! wire at once as on a real path and pipelining shows. What the link has not yet
//! delivered is bounded ([`IN_FLIGHT_CHUNKS`]); past that the sender waits, as TCP's window
//! makes it wait on a real path.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The largest chunk taken off a socket at once.
const CHUNK: usize = 16 * 1024;
/// Chunks on the link per direction: 4 MiB, more than the 50 ms × 100 Mbit/s product.
const IN_FLIGHT_CHUNKS: usize = 256;

/// The link's shape, the same both ways.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    /// Half the round-trip time.
    pub one_way: Duration,
    /// Bytes per second; `None` for no limit.
    pub bytes_per_sec: Option<u64>,
}

impl Link {
    /// A link with `rtt_ms` of round trip and `mbit` Mbit/s each way (0: unlimited).
    pub fn new(rtt_ms: u64, mbit: u64) -> Self {
        Self {
            one_way: Duration::from_micros(rtt_ms * 500),
            bytes_per_sec: (mbit > 0).then_some(mbit * 1_000_000 / 8),
        }
    }
}

/// A running delay line; stops accepting when dropped (open connections end with it).
pub struct DelayLine {
    pub addr: SocketAddr,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for DelayLine {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl DelayLine {
    /// Listens on a free loopback port; each connection is joined to `target`.
    pub async fn start(target: SocketAddr, link: Link) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::join!(
                        pipe(client_read, server_write, link),
                        pipe(server_read, client_write, link),
                    );
                });
            }
        });
        Ok(Self { addr, accept })
    }
}

/// One direction: a reader that stamps chunks and a writer that delivers them on time.
async fn pipe(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, link: Link) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(IN_FLIGHT_CHUNKS);
    let reading = async move {
        // When the link is next free to start sending (serialisation at its rate).
        let mut free_at = Instant::now();
        loop {
            let mut buf = vec![0u8; CHUNK];
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            buf.truncate(n);
            let now = Instant::now();
            let start = free_at.max(now);
            let sent = match link.bytes_per_sec {
                Some(rate) => start + Duration::from_nanos(n as u64 * 1_000_000_000 / rate),
                None => start,
            };
            free_at = sent;
            if tx.send((sent + link.one_way, buf)).await.is_err() {
                break;
            }
        }
    };
    let writing = async move {
        while let Some((arrives, bytes)) = rx.recv().await {
            tokio::time::sleep_until(arrives).await;
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reading, writing);
}
