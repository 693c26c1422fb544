//! What every handler of this process shares: the Discord REST client, the stores, the
//! tier table, the sftp-workers and telemetry. One [`Bot`] per process, behind an `Arc`.

use std::sync::Arc;

use twilight_model::id::Id;
use twilight_model::id::marker::ApplicationMarker;

use tower_daemon::telemetry::Telemetry;
use tower_store::audit::AuditLog;
use tower_store::cursor_store::CursorStore;
use tower_store::db::Database;
use tower_store::game_servers::GameServerStore;
use tower_store::guilds::GuildStore;
use tower_store::ids::ShardRange;
use tower_store::outbox::Outbox;
use tower_store::player_links::PlayerLinks;
use tower_store::secret::SecretKey;
use tower_store::stats_query::StatsQuery;
use tower_store::tier::TierTable;

use crate::guild_settings::SettingsCache;
use crate::rest::RateLimits;
use crate::workers::Workers;

pub struct Bot {
    pub http: Arc<twilight_http::Client>,
    pub application_id: Id<ApplicationMarker>,
    /// Users who may do anything (the application's owner, `discord.owner_id`).
    pub owners: Vec<u64>,
    /// The home guild from config, used until `/admin sethomeguild` stores one.
    pub configured_home_guild: Option<u64>,
    pub shards: ShardRange,
    pub db: Database,
    pub servers: GameServerStore,
    pub guilds: GuildStore,
    /// Guild settings for access checks, kept a few seconds.
    pub settings: SettingsCache,
    pub links: PlayerLinks,
    pub audit: AuditLog,
    pub stats: StatsQuery,
    /// Economy balances and their transactions (`/economy`).
    pub ledger: tower_store::ledger::Ledger,
    /// Blackjack, slots and roulette games (`/gambling`).
    pub gambling: tower_store::gambling::Gambling,
    /// Bounties placed on players (`/bounty`).
    pub bounties: tower_store::bounties::Bounties,
    pub rivalries: tower_store::rivalries::Rivalries,
    /// Closed statistics seasons (`/stats season`).
    pub seasons: tower_store::seasons::SeasonStore,
    pub outbox: Outbox,
    pub cursors: CursorStore,
    pub tiers: TierTable,
    pub secret_key: Option<SecretKey>,
    pub workers: Workers,
    pub telemetry: Telemetry,
    /// Reading errors back (`/debug`).
    pub collector: tower_proto::v1::telemetry_collector_client::TelemetryCollectorClient<
        tower_daemon::grpc::AuthedChannel,
    >,
    pub rate_limits: RateLimits,
    /// Channels Discord refused a post to.
    pub channel_blocks: crate::channel_blocks::ChannelBlocks,
}

impl Bot {
    pub fn is_owner(&self, user: u64) -> bool {
        self.owners.contains(&user)
    }

    /// The guild whose admins grant premium: stored by `/admin sethomeguild`, else config.
    pub async fn home_guild(&self) -> Result<Option<u64>, mongodb::error::Error> {
        Ok(self
            .guilds
            .home_guild()
            .await?
            .or(self.configured_home_guild))
    }
}
