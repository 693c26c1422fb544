//! One of the project's daemons, started as a real process.
//!
//! The daemon runs with `--log-format json --listen 127.0.0.1:0`; the harness reads every
//! log line, learns the bound address from the "gRPC listening" line, and awaits health
//! with the standard gRPC health `Watch` stream. Each daemon gets its own process group,
//! so a Ctrl-C meant for the harness does not reach it before the harness stops it in order.
//! When a test panics, every daemon it started prints its logs as it is dropped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::{oneshot, watch};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error(
        "binary {0} not found next to the test executable; build the workspace first (cargo nextest run --workspace builds it)"
    )]
    BinaryMissing(String),
    #[error("cannot start {label}: {source}")]
    Spawn {
        label: String,
        source: std::io::Error,
    },
    #[error("{label}: timed out after {after:?} waiting for {what}")]
    Timeout {
        label: String,
        what: String,
        after: Duration,
    },
    #[error("{label} exited ({status}) while waiting for {what}")]
    Exited {
        label: String,
        what: String,
        status: String,
    },
    #[error("{label}: {message}")]
    Other { label: String, message: String },
}

/// How many log lines of an echoed daemon stay in memory.
const ECHOED_LINES_KEPT: usize = 20_000;

/// Where a daemon's log lines are copied as they come.
#[derive(Debug, Clone, Default)]
pub enum Echo {
    /// Kept in memory only (tests print them when they fail).
    #[default]
    Off,
    /// On our stderr, each line behind the daemon's name (`tower-local --logs`).
    Terminal,
    /// Appended to this file (the sandbox keeps them in `.local/sandbox/logs/`).
    File(PathBuf),
}

/// [`Echo`] once the file is open.
#[derive(Clone)]
enum EchoTo {
    Terminal(String),
    File(Arc<Mutex<std::fs::File>>),
}

/// What to start.
#[derive(Debug, Clone)]
pub struct DaemonSpec {
    /// The binary's name in the target directory, e.g. `sftp-worker`.
    pub binary: String,
    /// Shown in front of its logs.
    pub label: String,
    pub args: Vec<String>,
    /// The daemon's whole environment besides PATH and HOME (nothing else is inherited).
    pub env: Vec<(String, String)>,
    /// Where its log lines go besides the harness's memory.
    pub echo: Echo,
}

impl DaemonSpec {
    /// A daemon that serves gRPC on a free loopback port and logs JSON.
    pub fn grpc(binary: &str, env: Vec<(String, String)>) -> Self {
        Self {
            binary: binary.to_owned(),
            label: binary.to_owned(),
            args: vec![
                "--log-format".into(),
                "json".into(),
                "--listen".into(),
                "127.0.0.1:0".into(),
            ],
            env,
            echo: Echo::Off,
        }
    }
}

/// A log line, parsed when it is JSON.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub raw: String,
    pub json: Option<Value>,
    /// When the harness read it.
    pub at: std::time::Instant,
}

impl LogLine {
    pub fn message(&self) -> Option<&str> {
        self.field("message").and_then(Value::as_str)
    }

    pub fn field(&self, key: &str) -> Option<&Value> {
        self.json.as_ref().and_then(|j| j.get(key))
    }

    pub fn level(&self) -> Option<&str> {
        self.field("level").and_then(Value::as_str)
    }

    /// `LEVEL message key=value…`, for people.
    pub fn pretty(&self) -> String {
        let Some(Value::Object(map)) = &self.json else {
            return self.raw.clone();
        };
        let mut out = format!(
            "{:5} {}",
            self.level().unwrap_or("-"),
            self.message().unwrap_or("")
        );
        for (k, v) in map {
            if matches!(k.as_str(), "timestamp" | "level" | "message" | "target") {
                continue;
            }
            match v {
                Value::String(s) => out.push_str(&format!(" {k}={s}")),
                other => out.push_str(&format!(" {k}={other}")),
            }
        }
        out
    }
}

#[derive(Default)]
struct Logs {
    lines: Mutex<Vec<LogLine>>,
}

/// A running daemon. Killed when dropped (stop it with [`Daemon::stop`] to check a clean exit).
pub struct Daemon {
    label: String,
    pid: Option<u32>,
    logs: Arc<Logs>,
    /// Bumped on every new log line.
    log_version: watch::Receiver<u64>,
    exit: watch::Receiver<Option<String>>,
    exit_status: Arc<Mutex<Option<ExitStatus>>>,
    kill: Option<oneshot::Sender<()>>,
}

/// Where the project's binaries are: `TOWER_BIN_DIR`, or the target directory of the
/// running executable (a test in `target/debug/deps/`, or `target/debug/tower-local`).
pub fn binary_path(name: &str) -> Result<PathBuf, HarnessError> {
    let mut candidates = Vec::new();
    if let Ok(dir) = std::env::var("TOWER_BIN_DIR") {
        candidates.push(PathBuf::from(dir).join(name));
    }
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1).take(2) {
            candidates.push(dir.join(name));
        }
    }
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| HarnessError::BinaryMissing(name.to_owned()))
}

impl Daemon {
    pub async fn spawn(spec: DaemonSpec) -> Result<Daemon, HarnessError> {
        let path = binary_path(&spec.binary)?;
        let mut command = tokio::process::Command::new(path);
        command
            .args(&spec.args)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        for key in ["PATH", "HOME"] {
            if let Ok(v) = std::env::var(key) {
                command.env(key, v);
            }
        }
        command.envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        // Die with the harness: a test run that is killed must not leave daemons running.
        command.env("TOWER_EXIT_WITH_PARENT", "1");
        let mut child = command.spawn().map_err(|source| HarnessError::Spawn {
            label: spec.label.clone(),
            source,
        })?;
        let pid = child.id();
        let echo = match &spec.echo {
            Echo::Off => None,
            Echo::Terminal => Some(EchoTo::Terminal(spec.label.clone())),
            Echo::File(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| HarnessError::Spawn {
                        label: format!("{} (log file {})", spec.label, path.display()),
                        source,
                    })?;
                Some(EchoTo::File(Arc::new(Mutex::new(file))))
            }
        };
        let logs = Arc::new(Logs::default());
        let (version_tx, log_version) = watch::channel(0u64);
        let version_tx = Arc::new(version_tx);
        if let Some(out) = child.stdout.take() {
            tokio::spawn(read_lines(
                out,
                Arc::clone(&logs),
                Arc::clone(&version_tx),
                echo.clone(),
            ));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(read_lines(
                err,
                Arc::clone(&logs),
                Arc::clone(&version_tx),
                echo.clone(),
            ));
        }
        let (exit_tx, exit) = watch::channel(None);
        let exit_status = Arc::new(Mutex::new(None));
        let (kill, kill_rx) = oneshot::channel::<()>();
        let status_slot = Arc::clone(&exit_status);
        tokio::spawn(async move {
            let status = tokio::select! {
                status = child.wait() => status,
                _ = kill_rx => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            let text = match &status {
                Ok(s) => s.to_string(),
                Err(e) => format!("wait failed: {e}"),
            };
            if let (Ok(s), Ok(mut slot)) = (status, status_slot.lock()) {
                *slot = Some(s);
            }
            let _ = exit_tx.send(Some(text));
        });
        Ok(Daemon {
            label: spec.label,
            pid,
            logs,
            log_version,
            exit,
            exit_status,
            kill: Some(kill),
        })
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    pub fn logs(&self) -> Vec<LogLine> {
        self.logs
            .lines
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// The first log line (past or future) that matches, within `timeout`. Fails early if
    /// the daemon exits first.
    pub async fn wait_for_log(
        &self,
        what: &str,
        timeout: Duration,
        matches: impl Fn(&LogLine) -> bool,
    ) -> Result<LogLine, HarnessError> {
        let mut version = self.log_version.clone();
        let mut exit = self.exit.clone();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut seen = 0;
        loop {
            version.borrow_and_update();
            let lines = self.logs();
            if let Some(line) = lines[seen.min(lines.len())..].iter().find(|l| matches(l)) {
                return Ok(line.clone());
            }
            seen = lines.len();
            if let Some(status) = exit.borrow_and_update().clone() {
                // Let the readers drain what the process wrote before it went.
                tokio::task::yield_now().await;
                if let Some(line) = self.logs()[seen..].iter().find(|l| matches(l)) {
                    return Ok(line.clone());
                }
                return Err(HarnessError::Exited {
                    label: self.label.clone(),
                    what: what.to_owned(),
                    status,
                });
            }
            tokio::select! {
                _ = version.changed() => {}
                _ = exit.changed() => {}
                () = tokio::time::sleep_until(deadline) => {
                    return Err(HarnessError::Timeout { label: self.label.clone(), what: what.to_owned(), after: timeout });
                }
            }
        }
    }

    /// The address the daemon bound (it logs it at start).
    pub async fn grpc_addr(&self, timeout: Duration) -> Result<SocketAddr, HarnessError> {
        let line = self
            .wait_for_log("its gRPC address", timeout, |l| {
                l.message() == Some("gRPC listening")
            })
            .await?;
        line.field("addr")
            .and_then(Value::as_str)
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| HarnessError::Other {
                label: self.label.clone(),
                message: format!("unreadable address in {}", line.raw),
            })
    }

    /// Waits until the health service reports SERVING for `service` ("" = the whole process).
    pub async fn wait_serving(
        &self,
        addr: SocketAddr,
        service: &str,
        timeout: Duration,
    ) -> Result<(), HarnessError> {
        let endpoint =
            tonic::transport::Endpoint::from_shared(format!("http://{addr}")).map_err(|e| {
                HarnessError::Other {
                    label: self.label.clone(),
                    message: format!("bad address: {e}"),
                }
            })?;
        self.wait_serving_at(endpoint, service, timeout).await
    }

    /// [`Self::wait_serving`] through `endpoint` (a TLS one, say).
    pub async fn wait_serving_at(
        &self,
        endpoint: tonic::transport::Endpoint,
        service: &str,
        timeout: Duration,
    ) -> Result<(), HarnessError> {
        let what = format!("health SERVING for {service:?}");
        let label = self.label.clone();
        let fail = |message: String| HarnessError::Other {
            label: label.clone(),
            message,
        };
        let watch = async {
            let channel = endpoint
                .connect()
                .await
                .map_err(|e| fail(format!("cannot reach health service: {e}")))?;
            let mut client = HealthClient::new(channel);
            let mut stream = client
                .watch(HealthCheckRequest {
                    service: service.to_owned(),
                })
                .await
                .map_err(|e| fail(format!("health watch refused: {e}")))?
                .into_inner();
            while let Some(reply) = stream
                .message()
                .await
                .map_err(|e| fail(format!("health watch failed: {e}")))?
            {
                if reply.status == ServingStatus::Serving as i32 {
                    return Ok(());
                }
            }
            Err(fail("health watch ended before SERVING".to_owned()))
        };
        let mut exit = self.exit.clone();
        tokio::select! {
            r = tokio::time::timeout(timeout, watch) => match r {
                Ok(Ok(())) => Ok(()),
                // A watch that breaks is most often the process going away: say so.
                Ok(Err(e)) => match self.wait_exit(Duration::from_secs(2)).await {
                    Ok(status) => Err(HarnessError::Exited { label: self.label.clone(), what, status: status.to_string() }),
                    Err(_) => Err(e),
                },
                Err(_) => Err(HarnessError::Timeout { label: self.label.clone(), what, after: timeout }),
            },
            status = exit.wait_for(Option::is_some) => Err(HarnessError::Exited {
                label: self.label.clone(),
                what,
                status: status.ok().and_then(|s| s.clone()).unwrap_or_default(),
            }),
        }
    }

    /// Waits for the process to exit on its own.
    pub async fn wait_exit(&self, timeout: Duration) -> Result<ExitStatus, HarnessError> {
        let mut exit = self.exit.clone();
        tokio::time::timeout(timeout, exit.wait_for(Option::is_some))
            .await
            .map_err(|_| HarnessError::Timeout {
                label: self.label.clone(),
                what: "exit".into(),
                after: timeout,
            })?
            .map_err(|_| HarnessError::Other {
                label: self.label.clone(),
                message: "exit watcher gone".into(),
            })?;
        self.exit_status
            .lock()
            .ok()
            .and_then(|s| *s)
            .ok_or_else(|| HarnessError::Other {
                label: self.label.clone(),
                message: "exit status unknown".into(),
            })
    }

    /// SIGTERM, then waits for a clean exit within `timeout`; kills it if it does not stop.
    pub async fn stop(mut self, timeout: Duration) -> Result<ExitStatus, HarnessError> {
        self.signal_terminate();
        match self.wait_exit(timeout).await {
            Ok(status) => Ok(status),
            Err(e) => {
                if let Some(kill) = self.kill.take() {
                    let _ = kill.send(());
                }
                Err(e)
            }
        }
    }

    /// Sends SIGTERM without waiting.
    pub fn signal_terminate(&self) {
        if let Some(pid) = self
            .pid
            .and_then(|p| rustix::process::Pid::from_raw(p as i32))
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub async fn kill(mut self) -> Result<ExitStatus, HarnessError> {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        self.wait_exit(Duration::from_secs(10)).await
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("----- logs of {} (pid {:?}) -----", self.label, self.pid);
            for line in self.logs() {
                eprintln!("{} | {}", self.label, line.pretty());
            }
            eprintln!("----- end of {} -----", self.label);
        }
    }
}

async fn read_lines(
    stream: impl AsyncRead + Unpin,
    logs: Arc<Logs>,
    version: Arc<watch::Sender<u64>>,
    echo: Option<EchoTo>,
) {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let raw = String::from_utf8_lossy(&buf).trim_end().to_owned();
        let json = serde_json::from_str::<Value>(&raw)
            .ok()
            .filter(Value::is_object);
        let line = LogLine {
            raw,
            json,
            at: std::time::Instant::now(),
        };
        match &echo {
            Some(EchoTo::Terminal(label)) => eprintln!("{label:>19} | {}", line.pretty()),
            Some(EchoTo::File(file)) => {
                if let Ok(mut file) = file.lock() {
                    use std::io::Write as _;
                    // A full disk loses log lines, never the sandbox.
                    let _ = writeln!(file, "{}", line.pretty());
                }
            }
            None => {}
        }
        if let Ok(mut lines) = logs.lines.lock() {
            // A sandbox runs for hours and has its logs elsewhere: keep only recent ones.
            if echo.is_some() && lines.len() >= ECHOED_LINES_KEPT {
                lines.drain(..ECHOED_LINES_KEPT / 2);
            }
            lines.push(line);
        }
        version.send_modify(|v| *v += 1);
    }
}
