//! Ctrl-C and SIGTERM, turned into a signal every task can await.
//!
//! [`Shutdown`] is cheap to clone; each long-running task selects on [`Shutdown::wait`] and
//! finishes its current unit of work before returning.

use tokio::sync::watch;

/// Fires [`Shutdown`] once.
#[derive(Debug)]
pub struct ShutdownTrigger(watch::Sender<bool>);

impl ShutdownTrigger {
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }
}

/// Awaitable: completes once shutdown has been triggered.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger(tx), Shutdown(rx))
    }

    /// A shutdown that fires on Ctrl-C or SIGTERM. With `TOWER_EXIT_WITH_PARENT` set (the
    /// test harness and the sandbox set it), the process also gets SIGTERM when the process
    /// that started it dies, so a killed test run leaves no daemon behind. (Linux sends it
    /// when the starting *thread* ends; the harness starts daemons from runtime threads that
    /// live as long as it does.)
    pub fn on_signals() -> Shutdown {
        let (trigger, shutdown) = Shutdown::new();
        #[cfg(target_os = "linux")]
        if std::env::var_os("TOWER_EXIT_WITH_PARENT").is_some() {
            use rustix::process::{Signal, getppid, set_parent_process_death_signal};
            if let Err(e) = set_parent_process_death_signal(Some(Signal::TERM)) {
                tracing::warn!(error = %e, "cannot follow the parent process");
            }
            // The parent may have died before the call: then we are already adopted.
            if getppid().is_none_or(|p| p.as_raw_nonzero().get() == 1) {
                trigger.trigger();
            }
        }
        tokio::spawn(async move {
            let signal = wait_for_signal().await;
            tracing::info!(signal, "shutdown requested");
            trigger.trigger();
        });
        shutdown
    }

    /// Fired, or its trigger is gone (which [`Self::wait`] also treats as shutdown).
    pub fn is_triggered(&self) -> bool {
        *self.0.borrow() || self.0.has_changed().is_err()
    }

    /// [`Self::wait`] for places that need a `'static` future.
    pub async fn wait_owned(self) {
        self.wait().await;
    }

    pub async fn wait(&self) {
        let mut rx = self.0.clone();
        // An error means every trigger is gone without firing: treat as shutdown too.
        let _ = rx.wait_for(|fired| *fired).await;
    }
}

#[cfg(unix)]
async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = tokio::signal::ctrl_c() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        },
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> &'static str {
    let _ = tokio::signal::ctrl_c().await;
    "ctrl-c"
}
