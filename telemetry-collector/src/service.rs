//! The `tower.v1.TelemetryCollector` gRPC service over [`TelemetryStore`].

use tonic::{Request, Response, Status};
use tower_proto::v1::telemetry_collector_server::TelemetryCollector;
use tower_proto::v1::{
    DetectionsReply, DetectionsRequest, ErrorGroup, GetErrorRequest, GuildErrorsReply,
    GuildErrorsRequest, ListProcessesReply, ListProcessesRequest, ReportReply, ReportRequest,
    TopErrorsReply, TopErrorsRequest,
};

use tower_daemon::auth::Role;

use crate::detections::Detector;
use crate::store::TelemetryStore;

/// Most events accepted in one report; reporters send at most
/// [`tower_daemon::telemetry::MAX_BATCH`].
pub const MAX_EVENTS_PER_REPORT: usize = 1_000;

pub struct Collector {
    store: TelemetryStore,
    detector: Detector,
}

impl Collector {
    pub fn new(store: TelemetryStore, detector: Detector) -> Self {
        Self { store, detector }
    }
}

/// Reading errors and processes back is for gateways (the commands that show them): a
/// worker only reports.
fn readers_only<T>(request: &Request<T>) -> Result<(), Status> {
    match tower_daemon::auth::caller(request) {
        Some(Role::Gateway) => Ok(()),
        Some(role) => Err(Status::permission_denied(format!(
            "a {role} token may report, not read errors back"
        ))),
        None => Err(Status::unauthenticated("no caller role on this request")),
    }
}

fn storage_error(e: mongodb::error::Error) -> Status {
    tracing::warn!(error = %e, "telemetry storage failed");
    Status::unavailable("telemetry storage is unavailable; retry later")
}

#[tonic::async_trait]
impl TelemetryCollector for Collector {
    async fn report(
        &self,
        request: Request<ReportRequest>,
    ) -> Result<Response<ReportReply>, Status> {
        let report = request.into_inner();
        let Some(process) = report.process else {
            return Err(Status::invalid_argument(
                "a report must say which process sent it",
            ));
        };
        if process.instance.is_empty() {
            return Err(Status::invalid_argument(
                "a report's process needs an instance name",
            ));
        }
        if report.events.len() > MAX_EVENTS_PER_REPORT {
            return Err(Status::invalid_argument(format!(
                "a report holds at most {MAX_EVENTS_PER_REPORT} events (got {})",
                report.events.len()
            )));
        }
        let accepted = u32::try_from(report.events.len()).unwrap_or(u32::MAX);
        let error_ids = self
            .store
            .record(&process, report.events)
            .await
            .map_err(storage_error)?;
        Ok(Response::new(ReportReply {
            accepted,
            error_ids,
        }))
    }

    async fn top_errors(
        &self,
        request: Request<TopErrorsRequest>,
    ) -> Result<Response<TopErrorsReply>, Status> {
        readers_only(&request)?;
        let r = request.into_inner();
        let limit = if r.limit == 0 { 10 } else { r.limit };
        let groups = self
            .store
            .top_errors(r.window_secs, limit)
            .await
            .map_err(storage_error)?;
        Ok(Response::new(TopErrorsReply { groups }))
    }

    async fn get_error(
        &self,
        request: Request<GetErrorRequest>,
    ) -> Result<Response<ErrorGroup>, Status> {
        readers_only(&request)?;
        let r = request.into_inner();
        let guild = (r.guild_id != 0).then_some(r.guild_id);
        let id = r.error_id.trim();
        if id.is_empty() {
            return Err(Status::invalid_argument(
                "give an error id, like E-7K2M9Q4XRD",
            ));
        }
        match self
            .store
            .get_error(id, guild)
            .await
            .map_err(storage_error)?
        {
            Some(group) => Ok(Response::new(group)),
            None => Err(Status::not_found(format!(
                "no error with id {id} (ids are kept for the retention period)"
            ))),
        }
    }

    async fn guild_errors(
        &self,
        request: Request<GuildErrorsRequest>,
    ) -> Result<Response<GuildErrorsReply>, Status> {
        readers_only(&request)?;
        let r = request.into_inner();
        if r.guild_id == 0 {
            return Err(Status::invalid_argument("guild_id is required"));
        }
        let limit = if r.limit == 0 { 10 } else { r.limit };
        let errors = self
            .store
            .guild_errors(r.guild_id, limit)
            .await
            .map_err(storage_error)?;
        Ok(Response::new(GuildErrorsReply { errors }))
    }

    async fn list_processes(
        &self,
        request: Request<ListProcessesRequest>,
    ) -> Result<Response<ListProcessesReply>, Status> {
        readers_only(&request)?;
        let processes = self
            .store
            .processes(request.into_inner().kind)
            .await
            .map_err(storage_error)?;
        Ok(Response::new(ListProcessesReply { processes }))
    }

    async fn detections(
        &self,
        request: Request<DetectionsRequest>,
    ) -> Result<Response<DetectionsReply>, Status> {
        readers_only(&request)?;
        let detections = self.detector.current().await.map_err(storage_error)?;
        Ok(Response::new(DetectionsReply { detections }))
    }
}
