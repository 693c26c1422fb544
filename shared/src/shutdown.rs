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

    /// A shutdown that fires on Ctrl-C or SIGTERM.
    pub fn on_signals() -> Shutdown {
        let (trigger, shutdown) = Shutdown::new();
        tokio::spawn(async move {
            let signal = wait_for_signal().await;
            tracing::info!(signal, "shutdown requested");
            trigger.trigger();
        });
        shutdown
    }

    pub fn is_triggered(&self) -> bool {
        *self.0.borrow()
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
