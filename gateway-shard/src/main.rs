//! gateway-shard: the only process that talks to Discord. What it does, in order:
//! connect to MongoDB and open the secret key; report to the telemetry collector; serve
//! gRPC health; check the Discord token; register the slash commands (when they changed);
//! follow the workers' notifications and post them; post admin alerts to admin channels;
//! keep auto-posted leaderboards and live status current; run its shards and answer
//! interactions; on SIGTERM close the shards and stop.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use mongodb::bson::doc;
use tokio::sync::mpsc;
use tokio_stream::wrappers::TcpListenerStream;
use tonic_health::ServingStatus;
use tower_daemon::cli::DaemonArgs;
use tower_daemon::config::Config;
use tower_daemon::grpc;
use tower_daemon::health_port;
use tower_daemon::process::ProcessIdentity;
use tower_daemon::shutdown::Shutdown;
use tower_daemon::startup::{self, StartError};
use tower_daemon::telemetry::Telemetry;
use tower_proto::v1::ProcessKind;
use tower_store::db::collections;
use tower_store::retention;

use gateway_shard::admin_alerts;
use gateway_shard::bot::Bot;
use gateway_shard::guild_settings::SettingsCache;
use gateway_shard::identify_queue::IdentifyQueue;
use gateway_shard::posting::Poster;
use gateway_shard::registration::{self, Registration};
use gateway_shard::rest::{self, RateLimits};
use gateway_shard::workers::Workers;
use gateway_shard::{commands, shards};

#[derive(Debug, Parser)]
#[command(version, about = "Tower of Temptation gateway-shard")]
struct Args {
    #[command(flatten)]
    daemon: DaemonArgs,
    /// Shards this process runs: `A..B` (B excluded) or `A..=B`.
    #[arg(long, value_parser = parse_shards)]
    shards: Option<(u32, u32)>,
    /// Shards across every gateway-shard process of this bot.
    #[arg(long)]
    total_shards: Option<u32>,
}

fn parse_shards(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("`{s}` is not a shard range like 0..4 or 0..=3");
    let (first, last) = if let Some((a, b)) = s.split_once("..=") {
        (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        )
    } else if let Some((a, b)) = s.split_once("..") {
        let end: u32 = b.trim().parse().map_err(|_| bad())?;
        (
            a.trim().parse().map_err(|_| bad())?,
            end.checked_sub(1).ok_or_else(bad)?,
        )
    } else {
        return Err(bad());
    };
    if first > last {
        return Err(bad());
    }
    Ok((first, last))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    startup::run_daemon("gateway-shard", load_config(&args), |config| {
        run(config, &args)
    })
    .await
}

fn load_config(args: &Args) -> Result<Config, tower_daemon::config::ConfigError> {
    let mut config = args.daemon.load_config()?;
    if let Some(total) = args.total_shards {
        config.gateway.total_shards = total;
    }
    if let Some((first, last)) = args.shards {
        config.gateway.first_shard = first;
        config.gateway.last_shard = Some(last);
    }
    config.validate()?;
    Ok(config)
}

async fn run(config: Config, args: &Args) -> Result<(), StartError> {
    let shutdown = Shutdown::on_signals();
    let me = ProcessIdentity::new(ProcessKind::GatewayShard);
    let calling = grpc::ClientSecurity::from_config(&config)?;
    let listen = args.daemon.listen.unwrap_or(config.gateway.listen);
    // Checked before anything starts: no plaintext beyond loopback unless allowed.
    let mut server = grpc::server(&grpc::ServerSecurity::from_config(&config)?, listen)?;
    let range = config.gateway.shard_range();
    let discord_token = discord_token(&config)?;

    // Storage and secrets: connect, migrate, and refuse a missing or wrong secret key.
    let db = startup::open_database(&config, &me).await?;
    // Checked now so a wrong key stops the start; it seals SFTP passwords of new servers.
    let secret_key = startup::open_secret_key(&config, &db).await?;

    // Retention: audit records older than their limit go.
    tokio::spawn(retention::run(
        db.clone(),
        retention::Rule::days(
            collections::AUDIT_LOG,
            "at",
            config.retention.audit_log_days,
        ),
        shutdown.clone().wait_owned(),
    ));

    // Telemetry: errors and events go to the collector in the background.
    let (telemetry, telemetry_task) =
        Telemetry::start(&config.collector.url, &calling, &me, shutdown.clone())?;

    // Health: NOT_SERVING until every shard is READY.
    let startup::Listening {
        listener,
        addr,
        heartbeat,
    } = startup::listen(
        listen,
        &db,
        &me,
        doc! { "shards": range.to_string() },
        shutdown.clone(),
    )
    .await?;
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status("", ServingStatus::NotServing)
        .await;
    health_port::spawn(
        config.health.listen,
        health_service.clone(),
        shutdown.clone(),
    )
    .await?;
    let server = tokio::spawn(
        server
            .add_service(health_service)
            .serve_with_incoming_shutdown(
                TcpListenerStream::new(listener),
                shutdown.clone().wait_owned(),
            ),
    );

    // Discord: check the token over REST and learn the application and its owner.
    let http = Arc::new(discord_http(&config, &discord_token));
    let bot_user = http
        .current_user()
        .await
        .map_err(|e| StartError::Discord(format!("the Discord token was not accepted: {e}")))?
        .model()
        .await
        .map_err(|e| StartError::Discord(format!("unexpected answer from Discord: {e}")))?;
    let application = http
        .current_user_application()
        .await
        .map_err(|e| StartError::Discord(format!("cannot read the bot's application: {e}")))?
        .model()
        .await
        .map_err(|e| StartError::Discord(format!("unexpected answer from Discord: {e}")))?;
    let mut owners: Vec<u64> = config.discord.owner_id.into_iter().collect();
    owners.extend(application.owner.as_ref().map(|o| o.id.get()));
    let workers = Workers::new(&config.gateway.worker_urls, &calling)?;
    let guilds = tower_store::guilds::GuildStore::new(&db);
    let bot = Arc::new(Bot {
        http: Arc::clone(&http),
        application_id: application.id,
        owners,
        configured_home_guild: config.premium.home_guild_id,
        shards: range,
        servers: tower_store::game_servers::GameServerStore::new(&db),
        guilds: guilds.clone(),
        settings: SettingsCache::new(guilds),
        links: tower_store::player_links::PlayerLinks::new(&db),
        audit: tower_store::audit::AuditLog::new(&db),
        stats: tower_store::stats_query::StatsQuery::new(&db),
        seasons: tower_store::seasons::SeasonStore::new(&db),
        ledger: tower_store::ledger::Ledger::new(&db),
        bounties: tower_store::bounties::Bounties::new(&db),
        rivalries: tower_store::rivalries::Rivalries::new(&db),
        gambling: tower_store::gambling::Gambling::new(&db),
        outbox: tower_store::outbox::Outbox::new(&db),
        cursors: tower_store::cursor_store::CursorStore::new(&db),
        db: db.clone(),
        tiers: config.premium.tiers.clone(),
        secret_key,
        workers,
        telemetry: telemetry.clone(),
        collector: grpc::collector_client(&config.collector.url, &calling)?,
        rate_limits: RateLimits::default(),
        channel_blocks: gateway_shard::channel_blocks::ChannelBlocks::new(&db),
    });
    if let Err(e) = bot.channel_blocks.load().await {
        tracing::warn!(error = %e, "could not read the refused channels; they are found again as posts are refused");
    }

    // Commands: registered only when the schema changed since the last registration.
    match registration::register(&bot, &commands::schema()).await {
        Ok(Registration::Unchanged) => tracing::info!("slash commands unchanged"),
        Ok(Registration::Registered { commands }) => {
            tracing::info!(commands, "slash commands registered")
        }
        Err(e) => {
            tracing::error!(error = %e, "could not register slash commands; the previous set stays")
        }
    }

    // Posting: the workers' notifications for this shard range → channel messages.
    let max_age = std::time::Duration::from_secs(config.gateway.notice_max_age_secs);
    let claim_timeout = std::time::Duration::from_secs(config.gateway.claim_timeout_secs.max(1));
    let poster =
        tokio::spawn(Poster::new(Arc::clone(&bot), max_age, claim_timeout).run(shutdown.clone()));

    // Problems only admins can fix, posted to their guilds' admin channels.
    tokio::spawn(admin_alerts::post_to_admin_channels(
        Arc::clone(&bot),
        std::time::Duration::from_secs(u64::from(config.gateway.admin_alerts_every_secs)),
        shutdown.clone(),
    ));

    // Live posts: auto-posted leaderboards and live status, edited in place when due.
    tokio::spawn(gateway_shard::live_posts::keep_current(
        Arc::clone(&bot),
        shutdown.clone(),
    ));

    // Invalid requests: the count goes to the collector, which sums every process's.
    tokio::spawn(rest::report_invalid_requests(
        bot.rate_limits.clone(),
        bot.telemetry.clone(),
        shutdown.clone(),
    ));

    // Shards: receive events; every event is handled on its own task.
    tracing::info!(bot = %bot_user.name, id = %bot_user.id, shards = %range, "starting shards");
    let (news_tx, mut news) = mpsc::channel(64);
    // Identify limits are per token: shared through MongoDB with every other process.
    let max_concurrency = match http.gateway().authed().await {
        Ok(r) => r
            .model()
            .await
            .map(|g| g.session_start_limit.max_concurrency)
            .unwrap_or(1),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the identify limit; assuming 1 per 5 s");
            1
        }
    };
    let queue = IdentifyQueue::new(&db, bot.application_id.to_string(), max_concurrency);
    let shards = shards::build(
        &bot,
        range,
        discord_token.expose(),
        config.discord.gateway_url.as_deref(),
        queue,
    )
    .await;
    let expected = shards.len();
    let loops: Vec<_> = shards
        .into_iter()
        .map(|shard| {
            tokio::spawn(shards::run(
                shard,
                Arc::clone(&bot),
                news_tx.clone(),
                shutdown.clone(),
            ))
        })
        .collect();
    drop(news_tx);
    telemetry.info(
        "process.started",
        format!("gateway-shard {range} on {addr}"),
    );
    tracing::info!(instance = %me.instance, %addr, "gateway-shard ready");

    // Run until shutdown: SERVING while every shard is READY and MongoDB answers.
    let mut ready = shards::ReadyShards::default();
    let mut all_ready = false;
    let mut database = grpc::watch_database(db.clone(), shutdown.clone());
    let mut serving = false;
    loop {
        tokio::select! {
            got = news.recv() => match got {
                Some(n) => all_ready = ready.apply(&n, expected),
                None => break,
            },
            changed = database.changed() => if changed.is_err() { break },
            () = shutdown.wait() => break,
        }
        let now = all_ready && *database.borrow_and_update();
        if now != serving {
            serving = now;
            let status = if now {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            health.set_service_status("", status).await;
            tracing::info!(serving, shards_ready = all_ready, "health changed");
        }
    }

    // Stop: close the shards, stop posting, the server, record the stop, flush telemetry.
    for handle in loops {
        let _ = handle.await;
    }
    let _ = poster.await;
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "gRPC server ended with an error"),
        Err(e) => tracing::warn!(error = %e, "gRPC server task failed"),
    }
    let _ = heartbeat.await;
    let _ = telemetry_task.await;
    Ok(())
}

/// The bot token (`DISCORD_TOKEN`, or the file `DISCORD_TOKEN_FILE` names); a simulator
/// (gateway_url set) accepts any token.
fn discord_token(config: &Config) -> Result<tower_store::secret::Redacted<String>, StartError> {
    if let Some(token) = &config.discord.token {
        return Ok(token.clone());
    }
    if let Some(path) = &config.discord.token_file {
        let token = std::fs::read_to_string(path).map_err(|e| {
            StartError::Discord(format!(
                "cannot read DISCORD_TOKEN_FILE {}: {e}",
                path.display()
            ))
        })?;
        if token.trim().is_empty() {
            return Err(StartError::Discord(format!(
                "DISCORD_TOKEN_FILE {} is empty",
                path.display()
            )));
        }
        return Ok(tower_store::secret::Redacted::new(token.trim().to_owned()));
    }
    if config.discord.gateway_url.is_some() {
        return Ok(tower_store::secret::Redacted::new(
            "sandbox-token".to_owned(),
        ));
    }
    Err(StartError::Discord(
        "DISCORD_TOKEN is not set. To run without Discord, start the local sandbox: deploy/local/run"
            .to_owned(),
    ))
}

/// The REST client, pointed at the simulator when one stands in for Discord.
fn discord_http(
    config: &Config,
    token: &tower_store::secret::Redacted<String>,
) -> twilight_http::Client {
    let mut builder = twilight_http::Client::builder().token(token.expose().clone());
    if let Some(proxy) = &config.discord.api_proxy {
        // The simulator speaks plain HTTP on loopback and has no rate limits to mirror.
        builder = builder.proxy(proxy.clone(), true).ratelimiter(None);
    }
    builder.build()
}
