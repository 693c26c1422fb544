//! One SSH connection with its SFTP session, to one game server's host.
//!
//! Opening goes resolve → address check → TCP connect → SSH handshake (host key checked
//! against the pin) → authenticate → SFTP subsystem, each step timed and bounded by the
//! connect timeout, so an admin sees exactly where it failed. Keepalives detect a dead
//! peer; every later operation has its own timeout (see `sftp_source`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use russh::client;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh_sftp::client::RawSftpSession;
use tower_daemon::address_guard::{AddressError, AddressPolicy};
use tower_daemon::config::SftpConfig;
use tower_store::game_servers::{Credential, GameServer};

/// Timeouts for connecting and for each operation.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub operation: Duration,
    pub keepalive: Duration,
}

impl Timeouts {
    /// As `[sftp]` sets them (each at least a second).
    pub fn from_config(sftp: &SftpConfig) -> Self {
        Self {
            connect: Duration::from_secs(sftp.connect_timeout_secs.max(1)),
            operation: Duration::from_secs(sftp.operation_timeout_secs.max(1)),
            keepalive: Duration::from_secs(sftp.keepalive_secs.max(1)),
        }
    }
}

/// Where to connect and as whom.
#[derive(Debug)]
pub struct Target<'a> {
    pub host: &'a str,
    pub port: u16,
    pub username: &'a str,
    pub credential: &'a Credential,
    /// The pinned `SHA256:…` fingerprint; `None` trusts the first key seen.
    pub pinned_host_key: Option<&'a str>,
}

impl<'a> Target<'a> {
    /// A registered game server, with its opened credential.
    pub fn of(server: &'a GameServer, credential: &'a Credential) -> Self {
        Self {
            host: &server.host,
            port: server.port,
            username: &server.username,
            credential,
            pinned_host_key: server.host_key_sha256.as_deref(),
        }
    }
}

/// One step of opening a connection, for `/test_sftp`.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
    pub elapsed: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectErrorKind {
    /// The host is an internal address the operator has not allowed.
    AddressRefused,
    Unresolved,
    /// TCP refused or unreachable.
    Unreachable,
    /// A step did not finish within the connect timeout.
    Timeout,
    /// Not an SSH server, or the SSH conversation failed.
    Handshake,
    /// The host key differs from the pinned one.
    HostKeyChanged,
    /// Wrong user name, password or key.
    AuthFailed,
    /// Logged in, but no SFTP subsystem.
    Sftp,
}

impl ConnectErrorKind {
    /// The error kind reported to telemetry and recorded in `server_status` (the gateway
    /// tells admins the fix by it).
    pub fn code(self) -> &'static str {
        match self {
            Self::AddressRefused => "sftp.addressrefused",
            Self::Unresolved => "sftp.unresolved",
            Self::Unreachable => "sftp.unreachable",
            Self::Timeout => "sftp.timeout",
            Self::Handshake => "sftp.handshake",
            Self::HostKeyChanged => "sftp.hostkeychanged",
            Self::AuthFailed => "sftp.authfailed",
            Self::Sftp => "sftp.sftp",
        }
    }
}

/// Why a connection could not be opened, said for an admin.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ConnectError {
    pub kind: ConnectErrorKind,
    pub message: String,
}

fn fail(kind: ConnectErrorKind, message: impl Into<String>) -> ConnectError {
    ConnectError {
        kind,
        message: message.into(),
    }
}

/// Checks the host key against the pin and remembers what was offered.
struct HostKeyCheck {
    pinned: Option<String>,
    offered: Arc<Mutex<Option<String>>>,
}

impl client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let fingerprint = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => {
                key.fingerprint(HashAlg::Sha256).to_string()
            }
            PublicKeyOrCertificate::Certificate(cert) => {
                cert.public_key().fingerprint(HashAlg::Sha256).to_string()
            }
        };
        let accepted = self.pinned.as_ref().is_none_or(|p| *p == fingerprint);
        if let Ok(mut offered) = self.offered.lock() {
            *offered = Some(fingerprint);
        }
        Ok(accepted)
    }
}

/// An open SSH connection and its SFTP session.
pub struct SftpConnection {
    handle: client::Handle<HostKeyCheck>,
    /// The SFTP channel, raw: listings read entry batch by entry batch so a listing can be
    /// bounded (the library's `read_dir` collects a whole folder, however big), stats, and
    /// pipelined reads ([`crate::read_ahead`]).
    pub raw: Arc<RawSftpSession>,
    /// The host key fingerprint the server presented (and that was accepted).
    pub host_key: String,
    pub operation_timeout: Duration,
}

/// Runs one step under the connect timeout and records it.
async fn step<T, F>(
    steps: &mut Vec<Step>,
    name: &'static str,
    limit: Duration,
    f: F,
) -> Result<T, ConnectError>
where
    F: Future<Output = Result<(T, String), ConnectError>>,
{
    let start = Instant::now();
    let result = match tokio::time::timeout(limit, f).await {
        Ok(r) => r,
        Err(_) => Err(fail(
            ConnectErrorKind::Timeout,
            format!("{name} did not finish within {}s", limit.as_secs()),
        )),
    };
    let elapsed = start.elapsed();
    match result {
        Ok((value, detail)) => {
            steps.push(Step {
                name,
                ok: true,
                detail,
                elapsed,
            });
            Ok(value)
        }
        Err(e) => {
            steps.push(Step {
                name,
                ok: false,
                detail: e.message.clone(),
                elapsed,
            });
            Err(e)
        }
    }
}

/// A new session channel of the connection running the SFTP subsystem.
async fn sftp_channel(
    handle: &client::Handle<HostKeyCheck>,
) -> Result<russh::ChannelStream<client::Msg>, String> {
    let channel = handle
        .channel_open_session()
        .await
        .map_err(|e| e.to_string())?;
    channel
        .request_subsystem(true, "sftp")
        .await
        .map_err(|e| e.to_string())?;
    Ok(channel.into_stream())
}

impl SftpConnection {
    /// Opens a connection, recording each step in `steps`.
    pub async fn open(
        target: &Target<'_>,
        policy: &AddressPolicy,
        timeouts: Timeouts,
        steps: &mut Vec<Step>,
    ) -> Result<SftpConnection, ConnectError> {
        let limit = timeouts.connect;
        let addr = step(steps, "resolve", limit, async {
            let addr = policy
                .resolve(target.host, target.port)
                .await
                .map_err(|e| match e {
                    AddressError::Refused { .. } | AddressError::PortRefused { .. } => {
                        fail(ConnectErrorKind::AddressRefused, e.to_string())
                    }
                    AddressError::Unresolved { .. } => {
                        fail(ConnectErrorKind::Unresolved, e.to_string())
                    }
                })?;
            Ok((addr, addr.to_string()))
        })
        .await?;
        let tcp = step(steps, "connect", limit, async {
            let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| {
                fail(
                    ConnectErrorKind::Unreachable,
                    format!("cannot reach {addr}: {e}"),
                )
            })?;
            let _ = tcp.set_nodelay(true);
            Ok((tcp, format!("TCP connected to {addr}")))
        })
        .await?;

        let offered = Arc::new(Mutex::new(None));
        let handler = HostKeyCheck {
            pinned: target.pinned_host_key.map(str::to_owned),
            offered: Arc::clone(&offered),
        };
        let config = Arc::new(client::Config {
            keepalive_interval: Some(timeouts.keepalive),
            keepalive_max: 3,
            inactivity_timeout: None,
            ..client::Config::default()
        });
        let pinned = target.pinned_host_key;
        let mut handle = step(steps, "handshake", limit, async {
            let result = client::connect_stream(config, tcp, handler).await;
            let seen = offered.lock().ok().and_then(|o| o.clone());
            match (result, seen) {
                (Ok(handle), Some(fp)) => Ok((handle, format!("host key {fp}"))),
                (Ok(handle), None) => Ok((handle, "host key not offered".to_owned())),
                (Err(_), Some(fp)) if pinned.is_some_and(|p| p != fp) => Err(fail(
                    ConnectErrorKind::HostKeyChanged,
                    format!(
                        "the server's host key changed: pinned {}, offered {fp}. If the server was \
                         reinstalled, an admin must trust the new key; otherwise someone may be \
                         impersonating it",
                        pinned.unwrap_or_default()
                    ),
                )),
                (Err(e), _) => Err(fail(
                    ConnectErrorKind::Handshake,
                    format!("SSH handshake with {addr} failed: {e}"),
                )),
            }
        })
        .await?;
        let host_key = offered
            .lock()
            .ok()
            .and_then(|o| o.clone())
            .unwrap_or_default();

        let username = target.username;
        step(steps, "auth", limit, async {
            let result = match target.credential {
                Credential::Password(p) => handle.authenticate_password(username, p.expose().clone()).await,
                Credential::Key(k) => {
                    let key = russh::keys::decode_secret_key(k.expose(), None).map_err(|e| {
                        fail(ConnectErrorKind::AuthFailed, format!("the stored private key cannot be read: {e}"))
                    })?;
                    let hash = handle.best_supported_rsa_hash().await.ok().flatten().flatten();
                    handle
                        .authenticate_publickey(username, PrivateKeyWithHashAlg::new(Arc::new(key), hash))
                        .await
                }
            };
            match result {
                Ok(r) if r.success() => Ok(((), format!("logged in as {username}"))),
                Ok(_) => Err(fail(
                    ConnectErrorKind::AuthFailed,
                    format!("the server refused the login for {username}: check the user name and password (or key)"),
                )),
                Err(e) => Err(fail(ConnectErrorKind::Handshake, format!("authentication failed: {e}"))),
            }
        })
        .await?;

        let sftp = step(steps, "sftp", limit, async {
            let no_sftp = |e: String| {
                fail(
                    ConnectErrorKind::Sftp,
                    format!("logged in, but SFTP is not available: {e}"),
                )
            };
            // One raw SFTP channel: bounded listings, stats and pipelined reads. (The
            // library's session type would be a second channel, buffers and a task per
            // kept connection, for nothing the raw one cannot do.)
            let raw = RawSftpSession::new(sftp_channel(&handle).await.map_err(no_sftp)?);
            raw.set_timeout(timeouts.operation.as_secs().max(1));
            raw.init().await.map_err(|e| no_sftp(e.to_string()))?;
            Ok((Arc::new(raw), "SFTP session open".to_owned()))
        })
        .await?;
        Ok(SftpConnection {
            handle,
            raw: sftp,
            host_key,
            operation_timeout: timeouts.operation,
        })
    }

    /// Whether the SSH connection is still up (checked before reuse).
    pub fn is_open(&self) -> bool {
        !self.handle.is_closed()
    }

    /// The connection as a byte source.
    pub fn source(&self) -> crate::sftp_source::SftpSource<'_> {
        crate::sftp_source::SftpSource::new(&self.raw, self.operation_timeout)
    }

    /// Closes politely and waits for the session to end, so that the connection is gone
    /// (and no longer counts against the game host) when this returns; a dead peer is
    /// not waited for past 2 s (see [`Self::close_releasing`]).
    pub async fn close(self) {
        self.close_releasing(()).await;
    }

    /// Ends the session, and drops `held` (the connection slot it holds) only once the
    /// session's socket is gone: inline when that takes under [`CLOSE_WAIT`], otherwise
    /// in the background (at most [`CLOSE_GIVE_UP`]). A slot given back while its session
    /// was still open would let the guild's quota be exceeded for that moment.
    pub async fn close_releasing<T: Send + 'static>(self, held: T) {
        let Self { handle, raw, .. } = self;
        let mut ending = Box::pin(async move {
            // The channel gone before the disconnect, so nothing keeps the session up.
            drop(raw);
            let _ = handle
                .disconnect(russh::Disconnect::ByApplication, "", "en")
                .await;
            // The handle resolves when the session's task has ended and dropped its socket.
            let _ = handle.await;
        });
        if tokio::time::timeout(CLOSE_WAIT, &mut ending).await.is_ok() {
            drop(held);
            return;
        }
        tokio::spawn(async move {
            if tokio::time::timeout(CLOSE_GIVE_UP, ending).await.is_err() {
                tracing::warn!("an SFTP session did not end within 30 s of closing");
            }
            drop(held);
        });
    }
}

/// How long closing a session waits inline for it to end.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// The longest a session that will not end keeps its slot.
const CLOSE_GIVE_UP: Duration = Duration::from_secs(30);
