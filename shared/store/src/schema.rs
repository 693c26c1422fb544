//! `schema_version` bookkeeping, migrations and indexes.
//!
//! Every document the system writes carries `schema_version` = [`SCHEMA_VERSION`] at the
//! time of writing. Migrations are listed in order in [`MIGRATIONS`]; each runs once per
//! database and is recorded in `schema_migrations`. Migrations are idempotent (index
//! creation, backfills with filters), so two processes that start together and both run
//! one do no harm, and an interrupted one simply runs again: they are resumable.

use mongodb::IndexModel;
use mongodb::bson::{Document, doc};
use mongodb::options::IndexOptions;

use crate::db::{Database, DbError, collections};

/// The schema version written on every document by this build.
pub const SCHEMA_VERSION: i32 = 3;

/// One migration: its id (never renamed), the schema version it brings, its indexes, the
/// indexes it drops (by collection and name) and the documents it rewrites.
pub struct Migration {
    pub id: &'static str,
    pub schema_version: i32,
    pub indexes: &'static [IndexSpec],
    pub drops: &'static [(&'static str, &'static str)],
    pub rewrite: Option<fn() -> Rewrite>,
}

/// Documents a migration rewrites: those of `collection` matching `filter`, each by the
/// update `pipeline` (computed from the document itself, so running it again is harmless).
pub struct Rewrite {
    pub collection: &'static str,
    pub filter: Document,
    pub pipeline: Vec<Document>,
}

/// An index on one collection.
pub struct IndexSpec {
    pub collection: &'static str,
    pub name: &'static str,
    pub keys: &'static [(&'static str, i32)],
    pub unique: bool,
    /// Documents expire this many seconds after the (date) key's value.
    pub expire_after_secs: Option<u64>,
}

const fn index(
    collection: &'static str,
    name: &'static str,
    keys: &'static [(&'static str, i32)],
) -> IndexSpec {
    IndexSpec {
        collection,
        name,
        keys,
        unique: false,
        expire_after_secs: None,
    }
}

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        id: "0001_foundation",
        schema_version: 1,
        drops: &[],
        rewrite: None,
        indexes: &[
            IndexSpec {
                collection: collections::PROCESSES,
                name: "kind_last_seen",
                keys: &[("kind", 1), ("last_seen", -1)],
                unique: false,
                expire_after_secs: None,
            },
            IndexSpec {
                collection: collections::GUILDS,
                name: "guild_id_unique",
                keys: &[("guild_id", 1)],
                unique: true,
                expire_after_secs: None,
            },
            IndexSpec {
                collection: collections::GAME_SERVERS,
                name: "guild_server_unique",
                keys: &[("guild_id", 1), ("server_id", 1)],
                unique: true,
                expire_after_secs: None,
            },
            IndexSpec {
                collection: collections::TELEMETRY_GROUPS,
                name: "level_count",
                keys: &[("level", 1), ("count", -1)],
                unique: false,
                expire_after_secs: None,
            },
            IndexSpec {
                collection: collections::TELEMETRY_EVENTS,
                name: "fingerprint_occurred",
                keys: &[("fingerprint", 1), ("occurred_at", -1)],
                unique: false,
                expire_after_secs: None,
            },
            IndexSpec {
                collection: collections::TELEMETRY_EVENTS,
                name: "guild_occurred",
                keys: &[("context.guild_id", 1), ("occurred_at", -1)],
                unique: false,
                expire_after_secs: None,
            },
            IndexSpec {
                collection: collections::TELEMETRY_EVENTS,
                name: "occurred",
                keys: &[("occurred_at", -1)],
                unique: false,
                expire_after_secs: None,
            },
        ],
    },
    Migration {
        id: "0002_killfeed_stats",
        schema_version: 1,
        drops: &[],
        rewrite: None,
        // Every leaderboard and lookup of PRODUCT.md §4 is served by one of these.
        indexes: &[
            index(
                collections::KILLS,
                "server_at",
                &[("guild_id", 1), ("server_id", 1), ("at", -1)],
            ),
            index(
                collections::PLAYER_STATS,
                "lb_kills",
                &[("guild_id", 1), ("server_id", 1), ("kills", -1)],
            ),
            index(
                collections::PLAYER_STATS,
                "lb_deaths",
                &[("guild_id", 1), ("server_id", 1), ("deaths", -1)],
            ),
            index(
                collections::PLAYER_STATS,
                "lb_kdr",
                &[("guild_id", 1), ("server_id", 1), ("kdr", -1)],
            ),
            index(
                collections::PLAYER_STATS,
                "lb_longest_shot",
                &[("guild_id", 1), ("server_id", 1), ("longest_kill_m", -1)],
            ),
            index(
                collections::PLAYER_STATS,
                "lb_killstreak",
                &[("guild_id", 1), ("server_id", 1), ("best_killstreak", -1)],
            ),
            index(
                collections::PLAYER_STATS,
                "lb_suicides",
                &[("guild_id", 1), ("server_id", 1), ("suicides_total", -1)],
            ),
            index(
                collections::PLAYER_STATS,
                "by_name",
                &[("guild_id", 1), ("server_id", 1), ("name", 1)],
            ),
            index(
                collections::PLAYER_WEAPONS,
                "lb_weapon",
                &[
                    ("guild_id", 1),
                    ("server_id", 1),
                    ("weapon", 1),
                    ("kills", -1),
                ],
            ),
            index(
                collections::PLAYER_WEAPONS,
                "by_player",
                &[("guild_id", 1), ("server_id", 1), ("player_id", 1)],
            ),
            index(
                collections::MATCHUPS,
                "prey",
                &[
                    ("guild_id", 1),
                    ("server_id", 1),
                    ("killer_id", 1),
                    ("kills", -1),
                ],
            ),
            index(
                collections::MATCHUPS,
                "nemesis",
                &[
                    ("guild_id", 1),
                    ("server_id", 1),
                    ("victim_id", 1),
                    ("kills", -1),
                ],
            ),
            index(
                collections::WEAPON_STATS,
                "lb_weapons",
                &[("guild_id", 1), ("server_id", 1), ("kills", -1)],
            ),
        ],
    },
    Migration {
        id: "0003_outbox",
        schema_version: 1,
        drops: &[],
        rewrite: None,
        indexes: &[
            IndexSpec {
                collection: collections::NOTIFICATIONS,
                name: "seq_unique",
                keys: &[("seq", 1)],
                unique: true,
                expire_after_secs: None,
            },
            index(
                collections::SERVER_LEASES,
                "owner",
                &[("owner", 1), ("expires_at", 1)],
            ),
        ],
    },
    Migration {
        id: "0004_discord_front_end",
        schema_version: 1,
        drops: &[],
        rewrite: None,
        indexes: &[
            IndexSpec {
                collection: collections::PLAYER_LINKS,
                name: "user_server_unique",
                keys: &[("guild_id", 1), ("discord_id", 1), ("server_id", 1)],
                unique: true,
                expire_after_secs: None,
            },
            index(
                collections::AUDIT_LOG,
                "guild_at",
                &[("guild_id", 1), ("at", -1)],
            ),
            index(
                collections::DELIVERIES,
                "subscriber_cursors",
                &[("subscriber", 1), ("cursors", 1)],
            ),
            // A delivery record only matters while its notifications can be replayed.
            IndexSpec {
                collection: collections::DELIVERIES,
                name: "expire",
                keys: &[("at", 1)],
                unique: false,
                expire_after_secs: Some(7 * 24 * 3600),
            },
            // `/events list`: a server's latest notifications of one kind.
            index(
                collections::NOTIFICATIONS,
                "server_kind_at",
                &[("guild_id", 1), ("server_id", 1), ("kind", 1), ("at", -1)],
            ),
        ],
    },
    // Killfeed lines grouped up to 1,000 to a `kills` document, and pending batches of
    // several files. No index changes; recorded so that an older build refuses this
    // database (it would look lines up by `_id` and count grouped ones again).
    Migration {
        id: "0005_grouped_kills",
        schema_version: 2,
        drops: &[],
        rewrite: None,
        indexes: &[],
    },
    // Every `deathlogs/world_*` folder of a server read, each with a cursor slot of its
    // own (`killfeed:<folder>`) sharing the server's batch numbers: found by server; and
    // deliveries found by notification, for re-sharding. An
    // older build would read only the first folder and number its batches below the
    // others', so it must refuse this database.
    Migration {
        id: "0006_killfeed_folders",
        schema_version: 3,
        drops: &[],
        rewrite: None,
        indexes: &[
            index(
                collections::INGEST_CURSORS,
                "guild_server",
                &[("guild_id", 1), ("server_id", 1)],
            ),
            // Deliveries are looked up by notification whoever posted them: a new shard
            // layout skips what the old one posted.
            index(collections::DELIVERIES, "cursors", &[("cursors", 1)]),
            // What the retention sweeps delete by (audit records: `guild_at` does not
            // lead with the date).
            index(
                collections::NOTIFICATIONS,
                "created_at",
                &[("created_at", 1)],
            ),
            index(
                collections::TELEMETRY_EVENTS,
                "received_at",
                &[("received_at", 1)],
            ),
            index(collections::AUDIT_LOG, "at", &[("at", 1)]),
        ],
    },
    // One claim per notification being posted (`_id`: its cursor), so two gateways of one
    // shard range never post it twice; released by message, kept as long as deliveries.
    Migration {
        id: "0007_delivery_claims",
        schema_version: 3,
        drops: &[],
        rewrite: None,
        indexes: &[
            index(collections::DELIVERY_CLAIMS, "nonce", &[("nonce", 1)]),
            IndexSpec {
                collection: collections::DELIVERY_CLAIMS,
                name: "expire",
                keys: &[("at", 1)],
                unique: false,
                expire_after_secs: Some(7 * 24 * 3600),
            },
        ],
    },
    // A guild's SFTP connection quota across workers: slots taken by guild, renewed and
    // looked at by holder.
    Migration {
        id: "0008_connection_slots",
        schema_version: 3,
        drops: &[],
        rewrite: None,
        indexes: &[
            index(
                collections::CONNECTION_SLOTS,
                "guild_n",
                &[("guild_id", 1), ("n", 1)],
            ),
            index(collections::CONNECTION_SLOTS, "holder", &[("holder", 1)]),
            index(collections::CONNECTION_SLOTS, "token", &[("token", 1)]),
        ],
    },
    // What each guild read per hour, swept after the hour (`expires_at`).
    Migration {
        id: "0009_ingest_budget",
        schema_version: 3,
        drops: &[],
        rewrite: None,
        indexes: &[IndexSpec {
            collection: collections::INGEST_BUDGET,
            name: "expire",
            keys: &[("expires_at", 1)],
            unique: false,
            expire_after_secs: Some(0),
        }],
    },
    // The collector's detections, gone an hour after last seen (`expires_at`); what they
    // read by (an error's kind over time, the servers on one host); a guild's server
    // statuses, read on every admin command (admin alerts).
    Migration {
        id: "0010_error_detections",
        schema_version: 3,
        drops: &[],
        rewrite: None,
        indexes: &[
            IndexSpec {
                collection: collections::TELEMETRY_DETECTIONS,
                name: "expire",
                keys: &[("expires_at", 1)],
                unique: false,
                expire_after_secs: Some(0),
            },
            index(
                collections::TELEMETRY_EVENTS,
                "kind_occurred",
                &[("kind", 1), ("occurred_at", -1)],
            ),
            index(collections::GAME_SERVERS, "sftp_host", &[("sftp.host", 1)]),
            index(collections::SERVER_STATUS, "guild_id", &[("guild_id", 1)]),
        ],
    },
    Migration {
        // What the gateways look at every round of admin alerts.
        id: "0011_admin_alerts",
        schema_version: 3,
        drops: &[],
        rewrite: None,
        indexes: &[
            index(
                collections::SERVER_STATUS,
                "last_error_kind",
                &[("last_error_kind", 1)],
            ),
            index(
                collections::SERVER_STATUS,
                "backfill_failed_at",
                &[("backfill_failed_at", 1)],
            ),
            index(
                collections::ADMIN_ALERTS,
                "subject_guild",
                &[("subject", 1), ("guild_id", 1)],
            ),
            index(collections::CHANNEL_BLOCKS, "told", &[("told", 1)]),
            index(
                collections::GUILDS,
                "admin_channel_id",
                &[("admin_channel_id", 1)],
            ),
        ],
    },
    Migration {
        // Who holds a player on a server (`/link`, `/unlink`): not unique, as links made
        // before one user per player was kept may share a player.
        id: "0012_player_holder",
        schema_version: 3,
        drops: &[],
        rewrite: None,
        indexes: &[index(
            collections::PLAYER_LINKS,
            "server_player",
            &[
                ("guild_id", 1),
                ("server_id", 1),
                ("player_id", 1),
                ("linked_at", 1),
            ],
        )],
    },
    Migration {
        // Closed statistics seasons (`/reset_stats`, `/stats season`): a server's seasons in
        // order, and an archived player by name within a season.
        id: "0013_seasons",
        schema_version: 3,
        drops: &[],
        rewrite: None,
        indexes: &[
            index(
                collections::SEASONS,
                "server_number",
                &[("guild_id", 1), ("server_id", 1), ("number", 1)],
            ),
            index(
                collections::SEASON_PLAYERS,
                "season_name",
                &[("season_id", 1), ("name", 1)],
            ),
            index(
                collections::SEASON_PLAYERS,
                "season_kills",
                &[("season_id", 1), ("kills", -1)],
            ),
        ],
    },
    Migration {
        // The economy's ledger: an account's history, the transactions to resume, the
        // richest accounts of a server.
        id: "0014_economy_ledger",
        schema_version: 3,
        drops: &[],
        rewrite: None,
        indexes: &[
            index(
                collections::ECONOMY_TRANSACTIONS,
                "account_history",
                &[("account", 1), ("state", 1), ("at", -1)],
            ),
            index(
                collections::ECONOMY_TRANSACTIONS,
                "state_at",
                &[("state", 1), ("at", 1)],
            ),
            index(
                collections::ECONOMY_ACCOUNTS,
                "server_balance",
                &[("guild_id", 1), ("server_id", 1), ("balance", -1)],
            ),
        ],
    },
    Migration {
        // Bounties: a server's active ones by target (claims at ingest) and by expiry
        // (`/bounty active`, the sweep), a user's placed and claimed ones.
        id: "0015_bounties",
        schema_version: 3,
        drops: &[],
        rewrite: None,
        indexes: &[
            index(
                collections::BOUNTIES,
                "server_target",
                &[
                    ("guild_id", 1),
                    ("server_id", 1),
                    ("target_id", 1),
                    ("status", 1),
                ],
            ),
            index(
                collections::BOUNTIES,
                "status_expiry",
                &[("status", 1), ("refunded", 1), ("expires_at", 1)],
            ),
            index(
                collections::BOUNTIES,
                "placed_by",
                &[
                    ("guild_id", 1),
                    ("server_id", 1),
                    ("placed_by", 1),
                    ("created_at", -1),
                ],
            ),
            index(
                collections::BOUNTIES,
                "claimed_by",
                &[
                    ("guild_id", 1),
                    ("server_id", 1),
                    ("claim.user_id", 1),
                    ("claim.at", -1),
                ],
            ),
        ],
    },
    Migration {
        // Gambling: games left open or unpaid (the sweep), a server's house statistics.
        id: "0016_gambling",
        schema_version: 3,
        drops: &[],
        rewrite: None,
        indexes: &[
            index(
                collections::GAMBLING_GAMES,
                "state_expiry",
                &[("state", 1), ("paid", 1), ("expires_at", 1)],
            ),
            index(
                collections::GAMBLING_GAMES,
                "server_kind",
                &[("guild_id", 1), ("server_id", 1), ("state", 1), ("kind", 1)],
            ),
            // `/economy stats`: a server's transactions by source.
            index(
                collections::ECONOMY_TRANSACTIONS,
                "server_source",
                &[
                    ("guild_id", 1),
                    ("server_id", 1),
                    ("state", 1),
                    ("source", 1),
                ],
            ),
        ],
    },
    Migration {
        // Rivalries (`/rivalry`): a player's, the most intense (by total), the closest
        // (by lead), the most recent; each served by an index, never a scan of all pairs.
        id: "0017_rivalries",
        schema_version: 3,
        drops: &[],
        rewrite: None,
        indexes: &[
            index(
                collections::RIVALRIES,
                "first",
                &[
                    ("guild_id", 1),
                    ("server_id", 1),
                    ("first_id", 1),
                    ("total", -1),
                ],
            ),
            index(
                collections::RIVALRIES,
                "second",
                &[
                    ("guild_id", 1),
                    ("server_id", 1),
                    ("second_id", 1),
                    ("total", -1),
                ],
            ),
            index(
                collections::RIVALRIES,
                "total",
                &[("guild_id", 1), ("server_id", 1), ("total", -1)],
            ),
            index(
                collections::RIVALRIES,
                "lead",
                &[
                    ("guild_id", 1),
                    ("server_id", 1),
                    ("lead", 1),
                    ("total", -1),
                ],
            ),
            index(
                collections::RIVALRIES,
                "recent",
                &[("guild_id", 1), ("server_id", 1), ("last_at", -1)],
            ),
        ],
    },
    Migration {
        // Rivalries' lists read in index ranges, never sorted by the server: the most
        // intense by strength, the closest by rank (they replace the total and lead
        // indexes), computed for the rivalries stored before.
        id: "0018_rivalry_ranks",
        schema_version: 3,
        drops: &[
            (collections::RIVALRIES, "total"),
            (collections::RIVALRIES, "lead"),
        ],
        rewrite: Some(|| Rewrite {
            collection: collections::RIVALRIES,
            filter: doc! {},
            pipeline: crate::rivalries::sort_keys(),
        }),
        indexes: &[
            index(
                collections::RIVALRIES,
                "strength",
                &[("guild_id", 1), ("server_id", 1), ("strength", -1)],
            ),
            index(
                collections::RIVALRIES,
                "close_rank",
                &[("guild_id", 1), ("server_id", 1), ("close_rank", 1)],
            ),
        ],
    },
    Migration {
        // Factions: a name and a tag unique on a server (whatever their case; a deleted
        // faction's are freed), a faction's members and ended memberships.
        id: "0019_factions",
        schema_version: 3,
        drops: &[],
        rewrite: None,
        indexes: &[
            IndexSpec {
                collection: collections::FACTIONS,
                name: "server_name",
                keys: &[("guild_id", 1), ("server_id", 1), ("name_key", 1)],
                unique: true,
                expire_after_secs: None,
            },
            IndexSpec {
                collection: collections::FACTIONS,
                name: "server_tag",
                keys: &[("guild_id", 1), ("server_id", 1), ("tag_key", 1)],
                unique: true,
                expire_after_secs: None,
            },
            index(
                collections::FACTION_MEMBERS,
                "faction",
                &[("faction_id", 1), ("joined_at", 1)],
            ),
            index(
                collections::FACTION_PERIODS,
                "faction",
                &[("faction_id", 1), ("joined_at", 1)],
            ),
        ],
    },
    Migration {
        // A recorded kill's line fixed per request only matters while the request can be
        // retried (minutes): kept a week.
        id: "0020_recorded_kills",
        schema_version: 3,
        drops: &[],
        rewrite: None,
        indexes: &[IndexSpec {
            collection: collections::RECORDED_KILLS,
            name: "expire",
            keys: &[("at", 1)],
            unique: false,
            expire_after_secs: Some(7 * 24 * 3600),
        }],
    },
    Migration {
        // A server's latest renames (`/admin renamed`).
        id: "0021_renames",
        schema_version: 3,
        drops: &[],
        rewrite: None,
        indexes: &[
            index(
                collections::RENAMES,
                "server_at",
                &[("guild_id", 1), ("server_id", 1), ("at", -1)],
            ),
            // Recent renames only: kept 90 days.
            IndexSpec {
                collection: collections::RENAMES,
                name: "expire",
                keys: &[("at", 1)],
                unique: false,
                expire_after_secs: Some(90 * 24 * 3600),
            },
        ],
    },
    Migration {
        // Time windows: a server's hours and days in order; each period deleted when it
        // can no longer be part of a window (`expires`).
        id: "0022_period_totals",
        schema_version: 3,
        drops: &[],
        rewrite: None,
        indexes: &[
            index(
                collections::PERIOD_TOTALS,
                "server_span_start",
                &[("guild_id", 1), ("server_id", 1), ("span", 1), ("start", 1)],
            ),
            IndexSpec {
                collection: collections::PERIOD_TOTALS,
                name: "expire",
                keys: &[("expires", 1)],
                unique: false,
                expire_after_secs: Some(0),
            },
        ],
    },
    Migration {
        // The delayed killfeed: held notices by the time they are due.
        id: "0023_held_notices",
        schema_version: 3,
        drops: &[],
        rewrite: None,
        indexes: &[index(collections::HELD_NOTICES, "due", &[("due_at", 1)])],
    },
    Migration {
        // Kills by platform: a server's pairs of platforms.
        id: "0024_platform_kills",
        schema_version: 3,
        drops: &[],
        rewrite: None,
        indexes: &[
            index(
                collections::PLATFORM_KILLS,
                "server",
                &[("guild_id", 1), ("server_id", 1)],
            ),
            // A server's players last seen on a platform (`/stats leaderboard platform`).
            index(
                collections::PLAYER_STATS,
                "server_platform",
                &[("guild_id", 1), ("server_id", 1), ("platform", 1)],
            ),
        ],
    },
    Migration {
        // Live posts: the due ones are looked for every few seconds; a guild's are listed.
        id: "0025_live_posts",
        schema_version: 3,
        drops: &[],
        rewrite: None,
        indexes: &[
            index(collections::LIVE_POSTS, "due", &[("due_at", 1)]),
            index(collections::LIVE_POSTS, "guild", &[("guild_id", 1)]),
        ],
    },
    Migration {
        // A server's unreadable lines read today (its live status): batches that had any
        // are stamped with when they were read; kill documents have no such field.
        id: "0026_unreadable_read_at",
        schema_version: 3,
        drops: &[],
        rewrite: None,
        indexes: &[index(
            collections::KILLS,
            "server_read_at",
            &[("guild_id", 1), ("server_id", 1), ("read_at", 1)],
        )],
    },
    Migration {
        // A server's accounts and transactions are ranges of their keys (`_id`,
        // `account`): their own indexes were rewritten by every credit (the balance) or
        // written for every transaction, for a command now and then (`/economy
        // leaderboard`, `/economy stats`).
        id: "0027_economy_by_key_range",
        schema_version: 3,
        drops: &[
            (collections::ECONOMY_ACCOUNTS, "server_balance"),
            (collections::ECONOMY_TRANSACTIONS, "server_source"),
        ],
        rewrite: None,
        indexes: &[],
    },
];

/// What [`migrate`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MigrationReport {
    pub applied: Vec<&'static str>,
    pub already_applied: usize,
}

/// Applies every migration this database has not recorded yet.
pub async fn migrate(db: &Database, applied_by: &str) -> Result<MigrationReport, DbError> {
    let records = db
        .raw()
        .collection::<Document>(collections::SCHEMA_MIGRATIONS);
    let mut report = MigrationReport::default();
    // A database migrated by a newer build is not this build's to write.
    let known: Vec<&str> = MIGRATIONS.iter().map(|m| m.id).collect();
    if let Some(newer) = records
        .find_one(doc! { "_id": { "$nin": known }, "state": "done" })
        .await?
    {
        return Err(DbError::NewerSchema {
            migration: newer.get_str("_id").unwrap_or("?").to_owned(),
        });
    }
    for migration in MIGRATIONS {
        if records
            .find_one(doc! { "_id": migration.id, "state": "done" })
            .await?
            .is_some()
        {
            report.already_applied += 1;
            continue;
        }
        for index in migration.indexes {
            create_index(db, index).await?;
        }
        for (collection, name) in migration.drops {
            drop_index(db, collection, name).await?;
        }
        if let Some(rewrite) = migration.rewrite.map(|r| r()) {
            db.raw()
                .collection::<Document>(rewrite.collection)
                .update_many(rewrite.filter, rewrite.pipeline)
                .await?;
        }
        records
            .update_one(
                doc! { "_id": migration.id },
                doc! { "$set": {
                    "state": "done",
                    "schema_version": migration.schema_version,
                    "applied_at": mongodb::bson::DateTime::now(),
                    "applied_by": applied_by,
                } },
            )
            .upsert(true)
            .await?;
        tracing::info!(migration = migration.id, "migration applied");
        report.applied.push(migration.id);
    }
    Ok(report)
}

/// Drops an index; one already gone (a migration run again) is not an error.
async fn drop_index(db: &Database, collection: &str, name: &str) -> Result<(), DbError> {
    match db
        .raw()
        .collection::<Document>(collection)
        .drop_index(name)
        .await
    {
        Err(e) if matches!(*e.kind, mongodb::error::ErrorKind::Command(ref c) if c.code == 27 || c.code == 26) => {
            Ok(())
        }
        other => Ok(other?),
    }
}

async fn create_index(db: &Database, spec: &IndexSpec) -> Result<(), DbError> {
    let mut keys = Document::new();
    for (field, order) in spec.keys {
        keys.insert(*field, *order);
    }
    let options = IndexOptions::builder()
        .name(spec.name.to_owned())
        .unique(spec.unique.then_some(true))
        .expire_after(spec.expire_after_secs.map(std::time::Duration::from_secs))
        .build();
    db.raw()
        .collection::<Document>(spec.collection)
        .create_index(IndexModel::builder().keys(keys).options(options).build())
        .await?;
    Ok(())
}
