//! OpenTelemetry export, off unless an OTLP endpoint is configured (`[otlp] endpoint`,
//! `OTEL_EXPORTER_OTLP_ENDPOINT`): the process's tracing spans go out as traces, and the
//! metrics operators chart ([`crate::metrics`]) are pushed periodically, both over OTLP/gRPC
//! through the tonic the processes already use. The bot serves nothing for it: the
//! operator's collector (OpenTelemetry Collector, Jaeger, Grafana Alloy, …) receives.
//!
//! Export runs on the SDK's own background workers and never blocks a request path: a
//! collector that is away costs dropped batches, not latency, and at most
//! [`FLUSH_AT_STOP`] at the process's stop.

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{MetricExporter, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{SdkTracerProvider, Tracer};

/// How long the stop waits for the last batches to go out.
pub const FLUSH_AT_STOP: std::time::Duration = std::time::Duration::from_secs(3);

/// The running export; [`Export::shutdown`] flushes what is pending at stop.
pub struct Export {
    traces: SdkTracerProvider,
    metrics: SdkMeterProvider,
}

/// Starts exporting to `endpoint` as `service` (the process kind): installs the global
/// meter provider, and returns the tracer for the logging layer. Needs a tokio runtime.
pub fn start(endpoint: &str, service: &str) -> Result<(Export, Tracer), String> {
    let resource = Resource::builder()
        .with_service_name(service.to_owned())
        .with_attributes([
            KeyValue::new("service.version", crate::VERSION),
            KeyValue::new("process.pid", i64::from(std::process::id())),
        ])
        .build();
    let spans = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| format!("OTLP traces to {endpoint}: {e}"))?;
    let traces = SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_batch_exporter(spans)
        .build();
    let metric_exporter = MetricExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| format!("OTLP metrics to {endpoint}: {e}"))?;
    let metrics = SdkMeterProvider::builder()
        .with_resource(resource)
        .with_periodic_exporter(metric_exporter)
        .build();
    opentelemetry::global::set_meter_provider(metrics.clone());
    let tracer = traces.tracer("tower");
    Ok((Export { traces, metrics }, tracer))
}

impl Export {
    /// Sends what is pending and stops (at the process's stop).
    pub fn shutdown(self) {
        if let Err(e) = self.traces.shutdown_with_timeout(FLUSH_AT_STOP) {
            tracing::warn!(error = %e, "OTLP traces not flushed at stop");
        }
        if let Err(e) = self.metrics.shutdown_with_timeout(FLUSH_AT_STOP) {
            tracing::warn!(error = %e, "OTLP metrics not flushed at stop");
        }
    }
}
