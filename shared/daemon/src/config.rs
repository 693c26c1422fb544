//! Configuration: an optional TOML file, then environment variables on top.
//!
//! The documented example is `deploy/tower.example.toml`. Every key has a default that
//! works for the local stack, except the secrets (auth token, secret key), which must come
//! from the file, the environment, or a file named by either.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use tower_store::db::MongoConfig;
use tower_store::secret::Redacted;
use tower_store::tier::TierTable;

/// The whole configuration of one process. Each daemon reads the parts it needs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub mongodb: MongoConfig,
    pub auth: AuthConfig,
    pub secrets: SecretsConfig,
    pub logging: LoggingConfig,
    pub collector: CollectorConfig,
    pub worker: WorkerConfig,
    pub gateway: GatewayConfig,
    pub discord: DiscordConfig,
    pub premium: PremiumConfig,
    pub sftp: SftpConfig,
    pub retention: RetentionConfig,
    pub tls: TlsConfig,
    pub health: HealthConfig,
    pub otlp: OtlpConfig,
}

/// OpenTelemetry export ([`crate::otlp`]): off unless an endpoint is set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpConfig {
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: an OTLP/gRPC collector (`http://collector:4317`) that
    /// receives this process's traces and metrics.
    pub endpoint: Option<String>,
}

/// The health port ([`crate::health_port`]): the gRPC health service alone, in plaintext,
/// for probes that cannot speak TLS.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// `TOWER_HEALTH_LISTEN`: where to serve it (none: not served).
    pub listen: Option<SocketAddr>,
}

/// TLS for gRPC between processes. Without a certificate a process serves plaintext, and
/// only on a loopback address unless `allow_plaintext`; `https://` URLs are called over
/// TLS and checked against `ca_file`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// `TOWER_TLS_CERT_FILE`: this process's certificate chain (PEM) for its gRPC server.
    pub cert_file: Option<PathBuf>,
    /// `TOWER_TLS_KEY_FILE`: its private key (PEM).
    pub key_file: Option<PathBuf>,
    /// `TOWER_TLS_CA_FILE`: the CA (PEM) that signed the other processes' certificates.
    pub ca_file: Option<PathBuf>,
    /// `TOWER_TLS_ALLOW_PLAINTEXT`: plaintext gRPC beyond loopback (a private network).
    pub allow_plaintext: bool,
}

/// How long records are kept, in days (0: forever). Error occurrences follow
/// `collector.retention_days`; delivery records expire after a week on their own.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Notifications the workers recorded (kills, events, connections).
    pub notifications_days: u32,
    /// Premium grants and refused checks.
    pub audit_log_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            notifications_days: 14,
            audit_log_days: 365,
        }
    }
}

/// How the sftp-worker connects to game servers.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SftpConfig {
    /// `TOWER_SFTP_ALLOW_LOOPBACK` / `TOWER_SFTP_ALLOW_PRIVATE` (`true`/`1`),
    /// `TOWER_SFTP_ALLOWED_PORTS` (`22,1024-65535`).
    #[serde(flatten)]
    pub addresses: crate::address_guard::AddressPolicy,
    /// TCP connect plus SSH handshake and authentication, `TOWER_SFTP_CONNECT_TIMEOUT_SECS`.
    pub connect_timeout_secs: u64,
    /// Any single SFTP operation.
    pub operation_timeout_secs: u64,
    /// SSH keepalive interval; the connection is dropped after 3 unanswered.
    pub keepalive_secs: u64,
}

impl Default for SftpConfig {
    fn default() -> Self {
        Self {
            addresses: crate::address_guard::AddressPolicy::default(),
            connect_timeout_secs: 15,
            operation_timeout_secs: 30,
            keepalive_secs: 15,
        }
    }
}

/// The token this process's gRPC calls carry, and the tokens of those who may call it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// `TOWER_AUTH_TOKEN`: this process's own token (one per role: gateway, worker).
    pub token: Option<Redacted<String>>,
    /// `TOWER_AUTH_TOKEN_FILE`: a file holding the token (trailing whitespace ignored).
    pub token_file: Option<PathBuf>,
    /// Who may call this process, by the SHA-256 of their tokens. None: this process's own
    /// token is accepted from every caller (one token for every role).
    pub callers: CallersConfig,
}

/// The SHA-256 (64 hex digits) of each role's token (`towerctl token` prints both).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallersConfig {
    /// `TOWER_AUTH_GATEWAY_SHA256`: the gateway-shards' token.
    pub gateway: Option<String>,
    /// `TOWER_AUTH_WORKER_SHA256`: the sftp-workers' token.
    pub worker: Option<String>,
}

/// The key that encrypts secrets at rest (32 bytes, base64).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsConfig {
    /// `TOWER_SECRET_KEY`.
    pub key: Option<Redacted<String>>,
    /// `TOWER_SECRET_KEY_FILE`.
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// `TOWER_LOG_FORMAT`: `human` or `json`.
    pub format: LogFormat,
    /// `RUST_LOG` syntax, e.g. `info,tower_store=debug`.
    pub filter: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            filter: "info".to_owned(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CollectorConfig {
    /// `TOWER_COLLECTOR_LISTEN`: where the telemetry-collector serves gRPC.
    pub listen: SocketAddr,
    /// `TOWER_COLLECTOR_URL`: where the other processes reach it.
    pub url: String,
    /// How long error occurrences are kept, in days.
    pub retention_days: u32,
    /// `TOWER_COLLECTOR_DETECT_EVERY_SECS`: how often the collector looks for error
    /// spikes, errors from one guild, and SFTP hosts down for everyone.
    pub detect_every_secs: u32,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50053)),
            url: "http://127.0.0.1:50053".to_owned(),
            retention_days: 30,
            detect_every_secs: 60,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// `TOWER_WORKER_LISTEN`: where the sftp-worker serves gRPC.
    pub listen: SocketAddr,
    /// `TOWER_POLL_INTERVAL_SECS`: poll every server this often instead of at its tier's
    /// interval (for tests and the sandbox; leave unset in production).
    pub poll_interval_secs: Option<u32>,
    /// SFTP connections one worker holds at most, across all guilds.
    pub max_connections: u32,
    /// A server's lease: another worker takes it over this long after its holder stops
    /// renewing (`TOWER_LEASE_SECS`).
    pub lease_secs: u32,
    /// Killfeed bytes one batch gathers from several files, in KiB (`TOWER_BATCH_KIB`,
    /// 1 to 65,536). Bigger batches update each player's statistics fewer times during a
    /// backfill. A poll in progress holds this much, or one 4 MiB read if that is more.
    pub batch_kib: u32,
    /// How often a server's folders are searched again (`TOWER_REDISCOVER_SECS`), so a
    /// `deathlogs/world_*` folder that appears later is read without a restart.
    pub rediscover_secs: u32,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50052)),
            poll_interval_secs: None,
            max_connections: 1000,
            lease_secs: 30,
            batch_kib: 4096,
            rediscover_secs: 300,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// `TOWER_GATEWAY_LISTEN`: where the gateway-shard serves gRPC health.
    pub listen: SocketAddr,
    /// `TOWER_WORKER_URLS` (comma-separated): the sftp-workers this gateway calls.
    pub worker_urls: Vec<String>,
    /// First shard this process runs.
    pub first_shard: u32,
    /// Last shard this process runs (inclusive); defaults to `total_shards - 1`.
    pub last_shard: Option<u32>,
    /// `TOWER_TOTAL_SHARDS`: shards across all gateway-shard processes sharing the token.
    pub total_shards: u32,
    /// `TOWER_SHARDS_PER_PROCESS` with `TOWER_GATEWAY_INDEX`: process `index` runs shards
    /// `index × per` to `index × per + per - 1` (the last process may run fewer). A
    /// Kubernetes StatefulSet gives each pod its index; this replaces first/last_shard.
    pub shards_per_process: Option<u32>,
    pub process_index: Option<u32>,
    /// `TOWER_NOTICE_MAX_AGE_SECS`: notifications recorded longer ago than this are not
    /// posted (counted in `/csv_status` instead): a gateway back from downtime does not
    /// flood channels with stale kills. 0 posts everything, however old.
    pub notice_max_age_secs: u64,
    /// `TOWER_CLAIM_TIMEOUT_SECS`: how long a message may be claimed and unsent before
    /// another gateway takes it as left by a dead process and finishes it (each post
    /// attempt renews the time; one attempt waits out a rate limit for at most a minute).
    pub claim_timeout_secs: u64,
    /// `TOWER_ADMIN_ALERTS_EVERY_SECS`: how often problems only admins can fix are looked
    /// for and posted to the admin channels of this process's guilds (at least 1).
    pub admin_alerts_every_secs: u32,
}

impl GatewayConfig {
    /// The shards this process runs: by its index when `shards_per_process` is set, else
    /// `first_shard` to `last_shard` (which defaults to the last of all).
    pub fn shard_range(&self) -> tower_store::ids::ShardRange {
        if let (Some(per), Some(index)) = (self.shards_per_process, self.process_index) {
            let first = index.saturating_mul(per);
            return tower_store::ids::ShardRange {
                first,
                last: first
                    .saturating_add(per.saturating_sub(1))
                    .min(self.total_shards.saturating_sub(1)),
                total: self.total_shards,
            };
        }
        tower_store::ids::ShardRange {
            first: self.first_shard,
            last: self
                .last_shard
                .unwrap_or(self.total_shards.saturating_sub(1)),
            total: self.total_shards,
        }
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            worker_urls: vec!["http://127.0.0.1:50052".to_owned()],
            first_shard: 0,
            last_shard: None,
            total_shards: 1,
            shards_per_process: None,
            process_index: None,
            notice_max_age_secs: 600,
            claim_timeout_secs: 90,
            admin_alerts_every_secs: 60,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscordConfig {
    /// `DISCORD_TOKEN`. Without it (or `token_file`) the gateway-shard needs
    /// `gateway_url` (a simulator).
    pub token: Option<Redacted<String>>,
    /// `DISCORD_TOKEN_FILE`: a file holding the token (a mounted secret).
    pub token_file: Option<PathBuf>,
    /// `TOWER_DISCORD_GATEWAY_URL`: a `ws://` gateway to use instead of Discord's
    /// (the project's simulator). No trailing slash.
    pub gateway_url: Option<String>,
    /// `TOWER_DISCORD_API_PROXY`: `host:port` of an HTTP server that stands in for
    /// `discord.com` (the simulator serves `/api/v10` there).
    pub api_proxy: Option<String>,
    /// The bot owner's Discord user id (may grant premium anywhere).
    pub owner_id: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PremiumConfig {
    /// The guild whose admins may grant premium; `/admin sethomeguild` can set it later.
    pub home_guild_id: Option<u64>,
    /// The tier table; PRODUCT.md §5 when absent.
    pub tiers: TierTable,
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("environment variable {name} is not valid: {reason}")]
    Env { name: &'static str, reason: String },
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Reads `path` (when given), then applies the process environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = match path {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        config.validate()?;
        Ok(config)
    }

    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// Applies the environment overrides documented on each field. `lookup` is the
    /// environment (a closure, so tests need not mutate the process environment).
    pub fn apply_env(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = get("MONGODB_URI") {
            self.mongodb.uri = Redacted::new(v);
        }
        if let Some(v) = get("TOWER_MONGODB_DATABASE") {
            self.mongodb.database = v;
        }
        if let Some(v) = get("TOWER_AUTH_TOKEN") {
            self.auth.token = Some(Redacted::new(v));
        }
        if let Some(v) = get("TOWER_AUTH_TOKEN_FILE") {
            self.auth.token_file = Some(v.into());
        }
        if let Some(v) = get("TOWER_AUTH_GATEWAY_SHA256") {
            self.auth.callers.gateway = Some(v);
        }
        if let Some(v) = get("TOWER_AUTH_WORKER_SHA256") {
            self.auth.callers.worker = Some(v);
        }
        if let Some(v) = get("TOWER_TLS_CERT_FILE") {
            self.tls.cert_file = Some(v.into());
        }
        if let Some(v) = get("TOWER_TLS_KEY_FILE") {
            self.tls.key_file = Some(v.into());
        }
        if let Some(v) = get("TOWER_TLS_CA_FILE") {
            self.tls.ca_file = Some(v.into());
        }
        if let Some(v) = get("TOWER_TLS_ALLOW_PLAINTEXT") {
            self.tls.allow_plaintext = parse_bool("TOWER_TLS_ALLOW_PLAINTEXT", &v)?;
        }
        if let Some(v) = get("TOWER_SECRET_KEY") {
            self.secrets.key = Some(Redacted::new(v));
        }
        if let Some(v) = get("TOWER_SECRET_KEY_FILE") {
            self.secrets.key_file = Some(v.into());
        }
        if let Some(v) = get("TOWER_LOG_FORMAT") {
            self.logging.format = match v.trim() {
                "human" => LogFormat::Human,
                "json" => LogFormat::Json,
                other => {
                    return Err(ConfigError::Env {
                        name: "TOWER_LOG_FORMAT",
                        reason: format!("`{other}` is neither `human` nor `json`"),
                    });
                }
            };
        }
        if let Some(v) = get("RUST_LOG") {
            self.logging.filter = v;
        }
        if let Some(v) = get("TOWER_COLLECTOR_LISTEN") {
            self.collector.listen = parse_addr("TOWER_COLLECTOR_LISTEN", &v)?;
        }
        if let Some(v) = get("TOWER_COLLECTOR_URL") {
            self.collector.url = v;
        }
        if let Some(v) = get("TOWER_COLLECTOR_DETECT_EVERY_SECS") {
            self.collector.detect_every_secs =
                parse_u32("TOWER_COLLECTOR_DETECT_EVERY_SECS", &v)?.max(1);
        }
        if let Some(v) = get("TOWER_WORKER_LISTEN") {
            self.worker.listen = parse_addr("TOWER_WORKER_LISTEN", &v)?;
        }
        if let Some(v) = get("TOWER_WORKER_URLS") {
            self.gateway.worker_urls = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(v) = get("OTEL_EXPORTER_OTLP_ENDPOINT").filter(|v| !v.trim().is_empty()) {
            self.otlp.endpoint = Some(v.trim().to_owned());
        }
        if let Some(v) = get("TOWER_HEALTH_LISTEN") {
            self.health.listen = Some(parse_addr("TOWER_HEALTH_LISTEN", &v)?);
        }
        if let Some(v) = get("TOWER_GATEWAY_LISTEN") {
            self.gateway.listen = parse_addr("TOWER_GATEWAY_LISTEN", &v)?;
        }
        if let Some(v) = get("DISCORD_TOKEN") {
            self.discord.token = Some(Redacted::new(v));
        }
        if let Some(v) = get("TOWER_DISCORD_GATEWAY_URL") {
            self.discord.gateway_url = Some(v);
        }
        if let Some(v) = get("TOWER_DISCORD_API_PROXY") {
            self.discord.api_proxy = Some(v);
        }
        if let Some(v) = get("TOWER_TOTAL_SHARDS") {
            self.gateway.total_shards = parse_u32("TOWER_TOTAL_SHARDS", &v)?;
        }
        if let Some(v) = get("TOWER_SHARDS_PER_PROCESS") {
            self.gateway.shards_per_process = Some(parse_u32("TOWER_SHARDS_PER_PROCESS", &v)?);
        }
        if let Some(v) = get("TOWER_GATEWAY_INDEX") {
            self.gateway.process_index = Some(parse_u32("TOWER_GATEWAY_INDEX", &v)?);
        }
        if let Some(v) = get("DISCORD_TOKEN_FILE") {
            self.discord.token_file = Some(v.into());
        }
        if let Some(v) = get("TOWER_CLAIM_TIMEOUT_SECS") {
            self.gateway.claim_timeout_secs = v.trim().parse().map_err(|_| ConfigError::Env {
                name: "TOWER_CLAIM_TIMEOUT_SECS",
                reason: format!("`{v}` is not a number of seconds"),
            })?;
        }
        if let Some(v) = get("TOWER_ADMIN_ALERTS_EVERY_SECS") {
            self.gateway.admin_alerts_every_secs =
                parse_u32("TOWER_ADMIN_ALERTS_EVERY_SECS", &v)?.max(1);
        }
        if let Some(v) = get("TOWER_NOTICE_MAX_AGE_SECS") {
            self.gateway.notice_max_age_secs = v.trim().parse().map_err(|_| ConfigError::Env {
                name: "TOWER_NOTICE_MAX_AGE_SECS",
                reason: format!("`{v}` is not a number of seconds"),
            })?;
        }
        if let Some(v) = get("TOWER_POLL_INTERVAL_SECS") {
            self.worker.poll_interval_secs = Some(parse_u32("TOWER_POLL_INTERVAL_SECS", &v)?);
        }
        if let Some(v) = get("TOWER_LEASE_SECS") {
            self.worker.lease_secs = parse_u32("TOWER_LEASE_SECS", &v)?;
        }
        if let Some(v) = get("TOWER_REDISCOVER_SECS") {
            self.worker.rediscover_secs = parse_u32("TOWER_REDISCOVER_SECS", &v)?;
        }
        if let Some(v) = get("TOWER_BATCH_KIB") {
            self.worker.batch_kib = parse_u32("TOWER_BATCH_KIB", &v)?;
        }
        if let Some(v) = get("TOWER_SFTP_ALLOW_LOOPBACK") {
            self.sftp.addresses.allow_loopback = parse_bool("TOWER_SFTP_ALLOW_LOOPBACK", &v)?;
        }
        if let Some(v) = get("TOWER_SFTP_ALLOW_PRIVATE") {
            self.sftp.addresses.allow_private = parse_bool("TOWER_SFTP_ALLOW_PRIVATE", &v)?;
        }
        if let Some(v) = get("TOWER_SFTP_ALLOWED_PORTS") {
            self.sftp.addresses.allowed_ports = v.parse().map_err(|reason| ConfigError::Env {
                name: "TOWER_SFTP_ALLOWED_PORTS",
                reason,
            })?;
        }
        if let Some(v) = get("TOWER_SFTP_CONNECT_TIMEOUT_SECS") {
            self.sftp.connect_timeout_secs = v.trim().parse().map_err(|_| ConfigError::Env {
                name: "TOWER_SFTP_CONNECT_TIMEOUT_SECS",
                reason: format!("`{v}` is not a number of seconds"),
            })?;
        }
        Ok(())
    }

    /// Checks what serde cannot: cross-field rules.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.premium
            .tiers
            .validate()
            .map_err(ConfigError::Invalid)?;
        if self.collector.detect_every_secs == 0 {
            return Err(ConfigError::Invalid(
                "collector.detect_every_secs must be at least 1".into(),
            ));
        }
        let g = &self.gateway;
        if g.admin_alerts_every_secs == 0 {
            return Err(ConfigError::Invalid(
                "gateway.admin_alerts_every_secs must be at least 1".into(),
            ));
        }
        if g.total_shards == 0 {
            return Err(ConfigError::Invalid(
                "gateway.total_shards must be at least 1".into(),
            ));
        }
        if !(1..=MAX_BATCH_KIB).contains(&self.worker.batch_kib) {
            return Err(ConfigError::Invalid(format!(
                "worker.batch_kib must be 1 to {MAX_BATCH_KIB} (KiB), not {}",
                self.worker.batch_kib
            )));
        }
        if g.shards_per_process == Some(0) {
            return Err(ConfigError::Invalid(
                "gateway.shards_per_process must be at least 1".into(),
            ));
        }
        if g.shards_per_process.is_some() != g.process_index.is_some() {
            return Err(ConfigError::Invalid(
                "gateway.shards_per_process and gateway.process_index go together \
                 (TOWER_SHARDS_PER_PROCESS, TOWER_GATEWAY_INDEX)"
                    .into(),
            ));
        }
        if g.shards_per_process.is_some() && (g.first_shard != 0 || g.last_shard.is_some()) {
            return Err(ConfigError::Invalid(
                "a gateway's shards come from its index (TOWER_GATEWAY_INDEX) or from \
                 first_shard/last_shard (--shards), not both"
                    .into(),
            ));
        }
        let r = g.shard_range();
        if r.first > r.last || r.last >= r.total {
            return Err(ConfigError::Invalid(format!(
                "gateway shard range {}..={} does not fit in {} shards",
                r.first, r.last, r.total
            )));
        }
        Ok(())
    }

    /// The inter-process auth token, from `auth.token` or `auth.token_file`.
    pub fn auth_token(&self) -> Result<crate::auth::AuthToken, ConfigError> {
        let raw = match (&self.auth.token, &self.auth.token_file) {
            (Some(token), _) => token.expose().clone(),
            (None, Some(path)) => {
                std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?
            }
            (None, None) => {
                return Err(ConfigError::Invalid(
                    "no inter-process auth token: set TOWER_AUTH_TOKEN, TOWER_AUTH_TOKEN_FILE \
                     or [auth] in the config file (the same value for every process)"
                        .into(),
                ));
            }
        };
        crate::auth::AuthToken::new(raw.trim()).map_err(ConfigError::Invalid)
    }

    /// The roles that may call this process, by their tokens' digests (`[auth.callers]`).
    pub fn auth_callers(
        &self,
    ) -> Result<Vec<(crate::auth::Role, crate::auth::TokenDigest)>, ConfigError> {
        use crate::auth::{Role, TokenDigest};
        let c = &self.auth.callers;
        let callers: Vec<(Role, TokenDigest)> =
            [(Role::Gateway, &c.gateway), (Role::Worker, &c.worker)]
                .into_iter()
                .filter_map(|(role, hex)| Some((role, hex.as_deref()?)))
                .map(|(role, hex)| {
                    TokenDigest::parse_hex(hex)
                        .map(|d| (role, d))
                        .map_err(|e| ConfigError::Invalid(format!("auth.callers.{role}: {e}")))
                })
                .collect::<Result<_, _>>()?;
        // One token for two roles would make every worker a gateway.
        if let [(_, a), (_, b)] = callers.as_slice()
            && a == b
        {
            return Err(ConfigError::Invalid(
                "auth.callers: the gateway and worker tokens must differ (`towerctl token` \
                 makes one for each)"
                    .into(),
            ));
        }
        Ok(callers)
    }
}

pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

/// The largest batch a worker may be configured with (64 MiB): every poll in progress can
/// hold one.
const MAX_BATCH_KIB: u32 = 64 * 1024;

fn parse_u32(name: &'static str, value: &str) -> Result<u32, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::Env {
        name,
        reason: format!("`{value}` is not a whole number"),
    })
}

fn parse_bool(name: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        other => Err(ConfigError::Env {
            name,
            reason: format!("`{other}` is neither true nor false"),
        }),
    }
}

fn parse_addr(name: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.trim().parse().map_err(|e| ConfigError::Env {
        name,
        reason: format!("`{value}` is not an address like 127.0.0.1:50051 ({e})"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn example_file_parses_and_validates() {
        let text = include_str!("../../../deploy/tower.example.toml");
        let config = Config::from_toml(text).map_err(|e| e.to_string());
        let config = config.as_ref().map_err(String::as_str);
        assert!(config.is_ok(), "{config:?}");
        if let Ok(config) = config {
            assert!(config.validate().is_ok());
            assert_eq!(config.premium.tiers, TierTable::default());
        }
    }

    #[test]
    fn environment_overrides_the_file() {
        let mut config = Config::from_toml("[mongodb]\nuri = \"mongodb://a:1\"\n")
            .unwrap_or_else(|e| panic!("{e}"));
        config
            .apply_env(env(&[
                ("MONGODB_URI", "mongodb://b:2"),
                ("TOWER_WORKER_URLS", "http://w1:1, http://w2:2,"),
                ("TOWER_LOG_FORMAT", "json"),
            ]))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.mongodb.uri.expose(), "mongodb://b:2");
        assert_eq!(
            config.gateway.worker_urls,
            vec!["http://w1:1".to_owned(), "http://w2:2".to_owned()]
        );
        assert_eq!(config.logging.format, LogFormat::Json);
    }

    #[test]
    fn a_statefulset_pod_runs_the_shards_of_its_index() {
        let range = |index: &str| {
            let mut config = Config::default();
            config
                .apply_env(env(&[
                    ("TOWER_TOTAL_SHARDS", "10"),
                    ("TOWER_SHARDS_PER_PROCESS", "4"),
                    ("TOWER_GATEWAY_INDEX", index),
                ]))
                .unwrap_or_else(|e| panic!("{e}"));
            config.validate().map(|()| config.gateway.shard_range())
        };
        let shown = |index: &str| match range(index) {
            Ok(r) => format!("{}..={} of {}", r.first, r.last, r.total),
            Err(e) => e.to_string(),
        };
        assert_eq!(shown("0"), "0..=3 of 10");
        assert_eq!(shown("1"), "4..=7 of 10");
        // The last pod runs what is left.
        assert_eq!(shown("2"), "8..=9 of 10");
        // A pod beyond the shards is refused at start, not left idle.
        assert!(
            shown("3").contains("does not fit in 10 shards"),
            "{}",
            shown("3")
        );
    }

    #[test]
    fn bad_values_name_what_is_wrong() {
        let mut config = Config::default();
        let err = config
            .apply_env(env(&[("TOWER_LOG_FORMAT", "xml")]))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "environment variable TOWER_LOG_FORMAT is not valid: `xml` is neither `human` nor `json`"
            )
        );
        let unknown = Config::from_toml("[mongodb]\nurl = \"x\"\n").err();
        assert!(unknown.is_some_and(|e| e.to_string().contains("unknown field `url`")));
        config.gateway.total_shards = 2;
        config.gateway.first_shard = 2;
        assert!(config.validate().is_err());
    }

    #[test]
    fn missing_auth_token_is_refused_with_a_hint() {
        let err = Config::default().auth_token().err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("TOWER_AUTH_TOKEN")));
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let mut config = Config::default();
        config
            .apply_env(env(&[
                ("TOWER_AUTH_TOKEN", "tok-very-secret-123456"),
                ("DISCORD_TOKEN", "discord-secret"),
                ("MONGODB_URI", "mongodb://user:pw-secret@h:1"),
            ]))
            .unwrap_or_else(|e| panic!("{e}"));
        let shown = format!("{config:?}");
        for secret in ["tok-very-secret-123456", "discord-secret", "pw-secret"] {
            assert!(!shown.contains(secret), "{secret} leaked in {shown}");
        }
    }
}
