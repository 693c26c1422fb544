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
use opentelemetry_otlp::{MetricExporter, SpanExporter, WithExportConfig, WithTonicConfig};
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

/// Why the export could not start.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error(
        "OTLP endpoint {0} is plaintext beyond loopback: use https:// (tls.ca_file or public \
         roots check it) or allow plaintext (tls.allow_plaintext) on a private network"
    )]
    Plaintext(String),
    #[error("OTLP endpoint {endpoint}: {reason}")]
    Exporter { endpoint: String, reason: String },
}

impl OtlpError {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Plaintext(_) => "otlp.plaintext",
            Self::Exporter { .. } => "otlp.exporter",
        }
    }
}

/// How the export reaches its endpoint: like our own gRPC calls, TLS (checked against the
/// deployment's CA when one is configured, else the public roots) for `https://`, and
/// plaintext only to loopback unless allowed.
pub struct Transport {
    pub ca: Option<tonic::transport::Certificate>,
    pub allow_plaintext: bool,
}

/// Starts exporting to `endpoint` as `service` (the process kind): installs the global
/// meter provider, and returns the tracer for the logging layer. Needs a tokio runtime.
pub fn start(
    endpoint: &str,
    service: &str,
    transport: &Transport,
) -> Result<(Export, Tracer), OtlpError> {
    let https = endpoint.starts_with("https://");
    if !https && !transport.allow_plaintext && !crate::grpc::is_loopback_url(endpoint) {
        return Err(OtlpError::Plaintext(endpoint.to_owned()));
    }
    let tls = https.then(|| {
        let tls = tonic::transport::ClientTlsConfig::new().with_webpki_roots();
        match &transport.ca {
            Some(ca) => tls.ca_certificate(ca.clone()),
            None => tls,
        }
    });
    let failed = |e: opentelemetry_otlp::ExporterBuildError| OtlpError::Exporter {
        endpoint: endpoint.to_owned(),
        reason: e.to_string(),
    };
    let resource = Resource::builder()
        .with_service_name(service.to_owned())
        .with_attributes([
            KeyValue::new("service.version", crate::VERSION),
            KeyValue::new("process.pid", i64::from(std::process::id())),
        ])
        .build();
    let mut spans = SpanExporter::builder().with_tonic().with_endpoint(endpoint);
    let mut metric_exporter = MetricExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint);
    if let Some(tls) = tls {
        spans = spans.with_tls_config(tls.clone());
        metric_exporter = metric_exporter.with_tls_config(tls);
    }
    let traces = SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_batch_exporter(spans.build().map_err(failed)?)
        .build();
    let metrics = SdkMeterProvider::builder()
        .with_resource(resource)
        .with_periodic_exporter(metric_exporter.build().map_err(failed)?)
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
