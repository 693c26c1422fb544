//! The sftp-workers this gateway calls. Any worker answers any request (servers' state
//! lives in MongoDB), so a call goes to the next worker when one is unreachable.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

use tonic::{Code, Status};
use tower_daemon::grpc::{self, AuthedChannel, ClientSecurity};
use tower_proto::v1::sftp_worker_client::SftpWorkerClient;

pub type WorkerClient = SftpWorkerClient<AuthedChannel>;

pub struct Workers {
    clients: Vec<(String, WorkerClient)>,
    next: AtomicUsize,
}

impl Workers {
    pub fn new(urls: &[String], security: &ClientSecurity) -> Result<Self, grpc::GrpcError> {
        let clients = urls
            .iter()
            .map(|u| Ok((u.clone(), grpc::worker_client(u, security)?)))
            .collect::<Result<Vec<_>, grpc::GrpcError>>()?;
        Ok(Self {
            clients,
            next: AtomicUsize::new(0),
        })
    }

    /// Calls the workers in turn, starting after the last one used, until one answers
    /// (an answer may be an error status; only "unavailable" moves on).
    pub async fn call<T, F, Fut>(&self, mut call: F) -> Result<T, Status>
    where
        F: FnMut(WorkerClient) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let n = self.clients.len();
        if n == 0 {
            return Err(Status::unavailable(
                "no sftp-worker is configured (TOWER_WORKER_URLS)",
            ));
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut last = Status::unavailable("no sftp-worker answered");
        for i in 0..n {
            let (url, client) = &self.clients[(start + i) % n];
            match call(client.clone()).await {
                Err(status) if status.code() == Code::Unavailable => {
                    tracing::warn!(worker = %url, error = %status.message(), "sftp-worker unavailable; trying the next");
                    last = status;
                }
                other => return other,
            }
        }
        Err(last)
    }

    /// Calls every worker in turn until one that holds the server answers: calls about a
    /// server's live state (a backfill) only work on the worker polling it, and the
    /// others answer "failed precondition".
    pub async fn call_holder<T, F, Fut>(&self, mut call: F) -> Result<T, Status>
    where
        F: FnMut(WorkerClient) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let mut last = Status::unavailable("no sftp-worker is configured (TOWER_WORKER_URLS)");
        for (url, client) in &self.clients {
            match call(client.clone()).await {
                Err(status)
                    if matches!(status.code(), Code::Unavailable | Code::FailedPrecondition) =>
                {
                    tracing::debug!(worker = %url, error = %status.message(), "not this worker");
                    last = status;
                }
                other => return other,
            }
        }
        Err(last)
    }

    /// Every worker, for long-lived streams that fail over themselves.
    pub fn all(&self) -> impl Iterator<Item = (&str, WorkerClient)> {
        self.clients.iter().map(|(u, c)| (u.as_str(), c.clone()))
    }
}
