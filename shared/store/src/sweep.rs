//! The worker's sweeps: work that finishes what a stopped process left (ledger
//! transactions cut short, bounties past their time, games whose buttons expired), run
//! every so often until the process shuts down. Each sweep is safe to run from any number
//! of processes at once; one that fails is tried again at the next turn.

use std::future::Future;
use std::time::Duration;

/// Runs `sweep` every `period` until `stop` resolves, logging what it finished (`what`
/// names it in the logs).
pub async fn every<F, Fut>(
    period: Duration,
    stop: impl Future<Output = ()>,
    what: &'static str,
    mut sweep: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64, mongodb::error::Error>>,
{
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            () = &mut stop => return,
        }
        match sweep().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sweep = what, finished = n, "sweep finished work left over"),
            Err(e) => {
                tracing::warn!(sweep = what, error = %e, "sweep failed; trying again later");
            }
        }
    }
}
