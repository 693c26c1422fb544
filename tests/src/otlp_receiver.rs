//! An OTLP/gRPC receiver on loopback, standing in for the operator's OpenTelemetry
//! collector: the protocol's own generated services (opentelemetry-proto), recording which
//! process (`service.name`) sent which spans and metrics.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::resource::v1::Resource;
use tokio::sync::watch;
use tokio_stream::wrappers::TcpListenerStream;

/// What was received: (service.name, span or metric name) pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Received {
    pub spans: BTreeSet<(String, String)>,
    pub metrics: BTreeSet<(String, String)>,
}

#[derive(Clone)]
struct Store {
    received: Arc<Mutex<Received>>,
    changed: watch::Sender<u64>,
}

impl Store {
    fn add(&self, change: impl FnOnce(&mut Received)) {
        if let Ok(mut r) = self.received.lock() {
            change(&mut r);
        }
        self.changed.send_modify(|n| *n += 1);
    }
}

fn service_name(resource: Option<&Resource>) -> String {
    resource
        .into_iter()
        .flat_map(|r| &r.attributes)
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            Value::StringValue(s) => s.clone(),
            other => format!("{other:?}"),
        })
        .unwrap_or_default()
}

#[tonic::async_trait]
impl TraceService for Store {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let request = request.into_inner();
        self.add(|r| {
            for rs in &request.resource_spans {
                let service = service_name(rs.resource.as_ref());
                for scope in &rs.scope_spans {
                    for span in &scope.spans {
                        r.spans.insert((service.clone(), span.name.clone()));
                    }
                }
            }
        });
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Store {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let request = request.into_inner();
        self.add(|r| {
            for rm in &request.resource_metrics {
                let service = service_name(rm.resource.as_ref());
                for scope in &rm.scope_metrics {
                    for metric in &scope.metrics {
                        r.metrics.insert((service.clone(), metric.name.clone()));
                    }
                }
            }
        });
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

/// The running receiver; it stops when dropped.
pub struct OtlpReceiver {
    pub addr: SocketAddr,
    store: Store,
    server: tokio::task::JoinHandle<()>,
}

impl OtlpReceiver {
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let store = Store {
            received: Arc::default(),
            changed: watch::channel(0).0,
        };
        let server = tokio::spawn({
            let store = store.clone();
            async move {
                let served = tonic::transport::Server::builder()
                    .add_service(TraceServiceServer::new(store.clone()))
                    .add_service(MetricsServiceServer::new(store))
                    .serve_with_incoming(TcpListenerStream::new(listener))
                    .await;
                if let Err(e) = served {
                    tracing::warn!(error = %e, "the OTLP receiver stopped");
                }
            }
        });
        Ok(Self {
            addr,
            store,
            server,
        })
    }

    /// The endpoint to give the processes.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn received(&self) -> Received {
        self.store
            .received
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// Waits up to `within` until `done` holds for what was received.
    pub async fn wait_until(
        &self,
        within: std::time::Duration,
        done: impl Fn(&Received) -> bool,
    ) -> Result<Received, Received> {
        let mut changed = self.store.changed.subscribe();
        let waited = tokio::time::timeout(within, async {
            loop {
                let now = self.received();
                if done(&now) {
                    return now;
                }
                if changed.changed().await.is_err() {
                    return now;
                }
            }
        })
        .await;
        match waited {
            Ok(r) if done(&r) => Ok(r),
            _ => Err(self.received()),
        }
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}
