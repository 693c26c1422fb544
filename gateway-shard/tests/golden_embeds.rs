//! Every message the bot renders without a database, against the committed golden file
//! `tests/golden/embeds.json`: the killfeed (kills, roadkills, each kind of suicide,
//! environment deaths) in every theme, game events, connections, bounties, the games, the
//! help pages, and how a failure reads. A change to any of them shows here as a diff to review; when it is
//! meant, `UPDATE_GOLDEN=1 cargo test -p gateway-shard --test golden_embeds` rewrites the
//! file.

use std::collections::BTreeMap;

use gateway_shard::commands;
use gateway_shard::embeds::{Theme, notification};
use gateway_shard::reply::{CommandError, Reply};
use tower_proto::v1::notification::Payload;
use tower_proto::v1::{
    BountyEvent, BountyNotice, ConnectionKind, ConnectionNotice, EnvironmentDeathNotice,
    GameEventKind, GameEventNotice, HighlightKind, KillNotice, Notification, Player, RivalryChange,
    SuicideKind, SuicideNotice,
};
use tower_store::guilds::Currency;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/embeds.json");

fn player(name: &str, platform: &str) -> Option<Player> {
    Some(Player {
        eos_id: "0002e69a65204b669c20238266782d7b".to_owned(),
        name: name.to_owned(),
        platform: platform.to_owned(),
        faction_tag: String::new(),
    })
}

fn posted(cursor: &str, payload: Payload) -> Notification {
    Notification {
        cursor: cursor.to_owned(),
        // 2025-05-03 02:20:00 UTC.
        occurred_unix_ms: 1_746_238_800_000,
        payload: Some(payload),
        ..Notification::default()
    }
}

/// Every rendered message, by name.
fn rendered() -> Result<BTreeMap<String, serde_json::Value>, String> {
    let mut out = BTreeMap::new();
    let mut put = |name: &str, value: serde_json::Value| {
        out.insert(name.to_owned(), value);
    };
    let kill = |weapon: &str, distance_m, roadkill, killer_streak| {
        Payload::Kill(KillNotice {
            killer: player("Alpha One", "PS5"),
            victim: player("Bravo", "XSX"),
            weapon: weapon.to_owned(),
            distance_m,
            roadkill,
            killer_streak,
            reward: None,
            friendly: false,
            recorded: None,
        })
    };
    // A kill an admin recorded by hand (`/rivalry record_kill`).
    let recorded = Payload::Kill(KillNotice {
        killer: player("Charlie", ""),
        victim: player("Bravo", "XSX"),
        weapon: "Crossbow".to_owned(),
        distance_m: 0,
        roadkill: false,
        killer_streak: 0,
        reward: None,
        friendly: false,
        recorded: Some(tower_proto::v1::RecordedBy {
            user_id: 910_000_000_000_000_001,
            location: "Airfield".to_owned(),
        }),
    });
    // A kill that paid its killer's linked user: 10, the distance bonus, a 5-kill bonus.
    let rewarded = Payload::Kill(KillNotice {
        killer: player("Alpha One", "PS5"),
        victim: player("Bravo", "XSX"),
        weapon: "MR5".to_owned(),
        distance_m: 312,
        roadkill: false,
        killer_streak: 5,
        reward: Some(tower_proto::v1::KillReward {
            user_id: 1,
            credits: 10,
            distance_bonus: 31,
            streak_bonus: 25,
            streak: 5,
            balance: Some(466),
        }),
        friendly: false,
        recorded: None,
    });
    // Bounties through their life; "placed" shows the minutes left, so it expires an hour
    // from now.
    let in_an_hour = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
        + 3_600;
    let bounty = |event: BountyEvent, placed_by: Option<u64>, hunter_user: Option<u64>, paid| {
        Payload::Bounty(BountyNotice {
            bounty_id: "3f9a0c21d4".to_owned(),
            event: event as i32,
            target: player("Bravo", "XSX"),
            reward: 250,
            reason: "Camping the trader".to_owned(),
            placed_by,
            expires_unix: in_an_hour,
            hunter: (event != BountyEvent::Placed && event != BountyEvent::Expired)
                .then(|| player("Alpha One", "PS5"))
                .flatten(),
            hunter_user,
            paid,
        })
    };
    let mut notifications = vec![
        (
            "jackpot",
            posted(
                "j1",
                Payload::Jackpot(tower_proto::v1::JackpotNotice {
                    user_id: 7,
                    game: "Slots".to_owned(),
                    bet: 50,
                    returned: 2_500,
                    detail: "💎 💎 💎".to_owned(),
                }),
            ),
        ),
        (
            "bounty_placed",
            posted("b1", bounty(BountyEvent::Placed, Some(7), None, false)),
        ),
        (
            "bounty_auto_placed",
            posted("b2", bounty(BountyEvent::Placed, None, None, false)),
        ),
        (
            "bounty_claimed_held",
            posted("b3", bounty(BountyEvent::Claimed, Some(7), None, false)),
        ),
        (
            "bounty_claimed_paid",
            posted("b4", bounty(BountyEvent::Paid, Some(7), Some(8), true)),
        ),
        (
            "bounty_expired",
            posted("b5", bounty(BountyEvent::Expired, Some(7), None, false)),
        ),
        (
            "bounty_unclaimed",
            posted("b6", bounty(BountyEvent::Unclaimed, Some(7), None, false)),
        ),
        ("kill", posted("k1", kill("MR5", 312, false, 1))),
        ("kill_streak", posted("k3", kill("AK-SU", 40, false, 5))),
        ("kill_reward", posted("k4", rewarded)),
        ("kill_recorded", posted("k6", recorded)),
        (
            "kill_roadkill",
            posted("k2", kill("land_vehicle", 0, true, 1)),
        ),
        (
            "environment_death",
            posted(
                "e1",
                Payload::EnvironmentDeath(EnvironmentDeathNotice {
                    player: player("Charlie", ""),
                }),
            ),
        ),
    ];
    // Rivalry posts: a lead taken, a lead levelled, an intensity reached.
    for (name, change, first_kills, second_kills, threshold, by_first) in [
        ("rivalry_post_lead", RivalryChange::Lead, 7, 6, 0, true),
        ("rivalry_post_level", RivalryChange::Level, 6, 6, 0, false),
        (
            "rivalry_post_threshold",
            RivalryChange::Threshold,
            12,
            11,
            75,
            false,
        ),
    ] {
        notifications.push((
            name,
            posted(
                "r1",
                Payload::Rivalry(tower_proto::v1::RivalryNotice {
                    first: player("Alpha One", "PS5"),
                    second: player("Bravo", "XSX"),
                    first_kills,
                    second_kills,
                    change: change as i32,
                    threshold,
                    intensity: 78,
                    by_first,
                    weapon: "AK-74".to_owned(),
                    mover_first: by_first,
                }),
            ),
        ));
    }
    // Highlights: a streak reached, a streak ended, revenge, a long shot.
    for (name, kind, count, distance_m) in [
        ("highlight_streak", HighlightKind::Streak, 10, 35),
        ("highlight_streak_end", HighlightKind::StreakEnd, 12, 35),
        ("highlight_revenge", HighlightKind::Revenge, 4, 35),
        ("highlight_long_shot", HighlightKind::LongShot, 0, 412),
    ] {
        notifications.push((
            name,
            posted(
                "h1",
                Payload::Highlight(tower_proto::v1::HighlightNotice {
                    kind: kind as i32,
                    player: player("Alpha One", "PS5"),
                    other: player("Bravo", "XSX"),
                    count,
                    weapon: "M99".to_owned(),
                    distance_m,
                }),
            ),
        ));
    }
    for (name, kind, cause) in [
        ("suicide_menu", SuicideKind::Menu, "suicide_by_relocation"),
        ("suicide_fall", SuicideKind::Fall, "falling"),
        ("suicide_vehicle", SuicideKind::Vehicle, "land_vehicle"),
        ("suicide_other", SuicideKind::Other, "Dynamite"),
    ] {
        notifications.push((
            name,
            posted(
                "s1",
                Payload::Suicide(SuicideNotice {
                    player: player("Charlie", "PC"),
                    kind: kind as i32,
                    cause: cause.to_owned(),
                }),
            ),
        ));
    }
    for (name, kind, event, state, level) in [
        (
            "event_mission",
            GameEventKind::Mission,
            "GA_Military_02_mis1",
            "READY",
            4,
        ),
        (
            "event_airdrop",
            GameEventKind::Airdrop,
            "AirDrop",
            "Flying",
            0,
        ),
        (
            "event_helicrash",
            GameEventKind::Helicrash,
            "HeliCrash_01",
            "ACTIVE",
            0,
        ),
        (
            "event_trader",
            GameEventKind::Trader,
            "Trader_Bunker",
            "ACTIVE",
            0,
        ),
        (
            "event_convoy",
            GameEventKind::Convoy,
            "Convoy_North",
            "ACTIVE",
            0,
        ),
        (
            "event_encounter",
            GameEventKind::Encounter,
            "Encounter_01",
            "ACTIVE",
            0,
        ),
        (
            "event_server_restart",
            GameEventKind::ServerRestart,
            "",
            "",
            0,
        ),
    ] {
        notifications.push((
            name,
            posted(
                "g1",
                Payload::GameEvent(GameEventNotice {
                    kind: kind as i32,
                    name: event.to_owned(),
                    state: state.to_owned(),
                    level,
                }),
            ),
        ));
    }
    for (name, kind, platform, was) in [
        ("connection_joined", ConnectionKind::Joined, "PS5", ""),
        (
            "connection_joined_no_platform",
            ConnectionKind::Joined,
            "",
            "",
        ),
        (
            "connection_joined_renamed",
            ConnectionKind::Joined,
            "XSX",
            "Alpha_Old",
        ),
        ("connection_left", ConnectionKind::Left, "PC", ""),
    ] {
        notifications.push((
            name,
            posted(
                "c1",
                Payload::Connection(ConnectionNotice {
                    player: player("Alpha One", platform),
                    kind: kind as i32,
                    was: was.to_owned(),
                }),
            ),
        ));
    }
    let json = |e: &twilight_model::channel::message::Embed| {
        serde_json::to_value(e).map_err(|e| e.to_string())
    };
    for (name, n) in &notifications {
        if let Some(e) = notification(n, "Emerald EU", Theme::Classic, &Currency::default(), false)
        {
            put(name, json(&e)?);
        }
    }
    // A friendly kill (both in one faction), with the guild's faction tags shown.
    let in_wolves = |name: &str, platform: &str| {
        player(name, platform).map(|p| Player {
            faction_tag: "WLF".to_owned(),
            ..p
        })
    };
    let friendly = posted(
        "k5",
        Payload::Kill(KillNotice {
            killer: in_wolves("Alpha One", "PS5"),
            victim: in_wolves("Bravo", "XSX"),
            weapon: "AK-74".to_owned(),
            distance_m: 25,
            roadkill: false,
            killer_streak: 1,
            reward: None,
            friendly: true,
            recorded: None,
        }),
    );
    if let Some(e) = notification(
        &friendly,
        "Emerald EU",
        Theme::Classic,
        &Currency::default(),
        true,
    ) {
        put("kill_friendly_tagged", json(&e)?);
    }
    for (label, value) in Theme::CHOICES {
        let theme = Theme::known(value).ok_or(label)?;
        if let Some(e) = notification(
            &notifications[0].1,
            "Emerald EU",
            theme,
            &Currency::default(),
            false,
        ) {
            put(&format!("kill_theme_{value}"), json(&e)?);
        }
    }
    let reply = |r: &Reply| -> Result<serde_json::Value, String> {
        serde_json::to_value(&r.embeds).map_err(|e| e.to_string())
    };
    // The menu's id carries its expiry: the embeds are what is pinned.
    put("commands", reply(&commands::help::commands(1))?);
    let schema = commands::schema();
    for (key, ..) in commands::help::CATEGORIES {
        let embed = commands::help::category(&schema, key).ok_or(key)?;
        put(&format!("commands_{key}"), json(&embed)?);
    }
    put("admin_help", reply(&commands::help::admin())?);
    let champion = |name: &str, value: &str| tower_store::seasons::Champion {
        player_id: format!("{:0>32}", name.len()),
        name: name.to_owned(),
        value: value.to_owned(),
    };
    let season = tower_store::seasons::Season {
        id: "1:7020:1".to_owned(),
        label: "Wipe 1".to_owned(),
        number: 1,
        closed_at_unix: 1_746_237_710,
        closed_by: 1,
        after_batch: 12,
        players: 41,
        kills: 388,
        deaths: 402,
        suicides: 14,
        champions: vec![
            (
                "kills".to_owned(),
                vec![champion("vAsxre", "25"), champion("Alpha One", "19")],
            ),
            ("kdr".to_owned(), vec![champion("Alpha One", "3.17")]),
            ("suicides".to_owned(), vec![]),
        ],
        weapons: vec![("AK-SU".to_owned(), 120), ("VSD".to_owned(), 44)],
        factions: vec![
            tower_store::seasons::FactionStanding {
                name: "The Wolves".to_owned(),
                tag: "WLF".to_owned(),
                kills: 61,
                deaths: 40,
                friendly_kills: 2,
                deleted: false,
            },
            tower_store::seasons::FactionStanding {
                name: "Bears".to_owned(),
                tag: "BR".to_owned(),
                kills: 12,
                deaths: 30,
                friendly_kills: 0,
                deleted: true,
            },
        ],
        state: "closed".to_owned(),
    };
    put(
        "season_champions",
        json(&commands::seasons::champions("Emerald EU", &season))?,
    );
    // /stats player's first page and /stats leaderboard, for fixed statistics.
    let row = |id: &str, name: &str, kills: u64, deaths: u64| tower_store::stats_query::PlayerRow {
        player_id: id.to_owned(),
        stats: tower_ingest::stats::PlayerStats {
            name: name.to_owned(),
            names: vec![name.to_owned()],
            kills,
            deaths,
            ..Default::default()
        },
    };
    let mut alpha = row("0002ca35475e48e28fdf97e052dc130f", "Alpha One", 41, 12);
    alpha.stats.names.push("AlphaOld".to_owned());
    alpha.stats.environment_deaths = 2;
    alpha.stats.longest_kill_m = Some(412);
    alpha.stats.current_killstreak = 3;
    alpha.stats.best_killstreak = 9;
    alpha.stats.worst_deathstreak = 2;
    alpha.stats.first_seen = 1_743_067_355;
    alpha.stats.last_seen = 1_746_237_710;
    // Every page, as rendered from fixed reads: a week of kills and deaths on four days.
    let now = 1_746_237_710;
    let encounters: Vec<tower_store::stats_query::Encounter> = (0..12)
        .map(|n| tower_store::stats_query::Encounter {
            at: now - (n % 4) * 86_400 - n * 60,
            won: n % 3 != 0,
            opponent: if n % 2 == 0 { "b2" } else { "c3" }.to_owned(),
        })
        .collect();
    let read = commands::stats::PageData {
        weapons: vec![
            ("AK-SU".to_owned(), 20),
            ("Mosin".to_owned(), 12),
            ("Combat Knife".to_owned(), 3),
        ],
        nemesis: vec![("b2".to_owned(), 7)],
        prey: vec![("c3".to_owned(), 11), ("b2".to_owned(), 4)],
        encounters,
        names: std::collections::HashMap::from([
            ("b2".to_owned(), "Bravo_*".to_owned()),
            ("c3".to_owned(), "Charlie".to_owned()),
        ]),
        now,
    };
    for page in commands::stats::Page::ALL {
        put(
            &format!("stats_player_{}", page.label().to_lowercase()),
            json(&commands::stats::page_embed(
                "Emerald EU",
                &alpha,
                page,
                &read,
            ))?,
        );
    }
    let rows = vec![
        alpha,
        row("00024afed387453195c040bb85708405", "Bravo_*", 30, 30),
        row("00022ba2df89427c8a252ab6be1df3f3", "Charlie", 7, 2),
    ];
    let tags = std::collections::HashMap::from([(
        "00024afed387453195c040bb85708405".to_owned(),
        ("f1".to_owned(), "WLF".to_owned()),
    )]);
    put(
        "stats_leaderboard_kills",
        json(&commands::stats::leaderboard_embed(
            "Emerald EU",
            (
                tower_ingest::stats::Leaderboard::Kills,
                tower_store::windows::Window::All,
                None,
            ),
            &rows,
            &tags,
        ))?,
    );
    put(
        "stats_leaderboard_kills_this_week_ps5",
        json(&commands::stats::leaderboard_embed(
            "Emerald EU",
            (
                tower_ingest::stats::Leaderboard::Kills,
                tower_store::windows::Window::Week,
                Some("PS5"),
            ),
            &rows,
            &tags,
        ))?,
    );
    // An auto-posted board (/leaderboard_channel): kills with a podium, and weapons.
    let board = tower_store::live_posts::Board {
        stats: vec![
            tower_store::live_posts::BoardStat::Players(tower_ingest::stats::Leaderboard::Kills),
            tower_store::live_posts::BoardStat::Weapons,
        ],
        window: tower_store::windows::Window::Week,
        podium: true,
        ..Default::default()
    };
    let ranked = |n: usize| -> Vec<(String, String)> {
        ["Alpha", "Bravo\\_\\*", "Charlie", "Delta", "Echo"]
            .iter()
            .take(n)
            .enumerate()
            .map(|(i, who)| ((*who).to_owned(), format!("{} kills", 30 - 4 * i)))
            .collect()
    };
    for (i, embed) in gateway_shard::live_posts::board::embeds(
        "Emerald EU",
        &board,
        &[(board.stats[0], ranked(5)), (board.stats[1], ranked(2))],
        Some(1_796_169_600),
        (900, 1_796_200_000),
    )
    .iter()
    .enumerate()
    {
        put(&format!("live_board_{i}"), json(embed)?);
    }
    let mut kill = mongodb::bson::Document::new();
    kill.insert("killer", mongodb::bson::doc! { "name": "Alpha" });
    kill.insert("victim", mongodb::bson::doc! { "name": "Bravo_*" });
    kill.insert("weapon", "AK-74");
    kill.insert("distance_m", 120_i64);
    put(
        "live_status",
        json(&gateway_shard::live_posts::status::embed(
            "Emerald EU",
            &gateway_shard::live_posts::status::Status {
                players: Some((41, 3)),
                last_kills: vec![tower_store::outbox::RecentNotice {
                    at_ms: 1_796_199_000_000,
                    data: kill,
                }],
                last_restart_ms: Some(1_796_180_000_000),
                last_poll_ms: Some(1_796_199_988_000),
                last_error: String::new(),
                unreadable_today: 0,
            },
            1_796_200_000,
        ))?,
    );
    put(
        "stats_player_today",
        json(&commands::stats::player_window_embed(
            "Emerald EU",
            "Bravo_*",
            tower_store::windows::Window::Today,
            1_796_169_600,
            &tower_store::windows::WindowStats {
                kills: 12,
                deaths: 5,
                suicides: 1,
                longest_kill_m: Some(341),
            },
        ))?,
    );
    put(
        "stats_leaderboard_empty",
        json(&commands::stats::leaderboard_embed(
            "Emerald EU",
            (
                tower_ingest::stats::Leaderboard::Kdr,
                tower_store::windows::Window::All,
                None,
            ),
            &[],
            &Default::default(),
        ))?,
    );
    put("events_help", reply(&commands::help::events())?);
    // The economy's messages that read the ledger, from fixed figures.
    use tower_store::gambling::HouseStats;
    use tower_store::ledger::{Account, EconomyStats, Source, SourceStats, Transaction};
    let played = vec![(
        tower_store::gambling::GameKind::Slots,
        HouseStats {
            games: 12,
            wins: 4,
            losses: 8,
            player_net: -140,
        },
    )];
    let account = Account {
        balance: 466,
        lifetime: 1_210,
    };
    // Rivalries: one led, with its last kill; one tied and never dated.
    use tower_store::rivalries::{LastKill, Rivalry};
    let names = std::collections::HashMap::from([
        ("a1".to_owned(), "Alpha One".to_owned()),
        ("b2".to_owned(), "Bravo_*".to_owned()),
    ]);
    let rivalry = Rivalry {
        first_id: "a1".to_owned(),
        second_id: "b2".to_owned(),
        first_kills: 3,
        second_kills: 14,
        last: Some(LastKill {
            at_unix: 1_746_057_600,
            weapon: "SVD".to_owned(),
            by_first: false,
            recorded: None,
        }),
    };
    let faction = tower_store::factions::Faction {
        id: "f1".to_owned(),
        guild_id: 1,
        server_id: "7020".to_owned(),
        name: "The Wolves".to_owned(),
        tag: "WLF".to_owned(),
        description: "Pack hunters of the north coast".to_owned(),
        colour: Some(0x34_98_DB),
        require_approval: true,
        leader_id: 7,
        created_unix: 1_746_000_000,
        deleted_unix: None,
    };
    put(
        "faction_info",
        json(&commands::factions::faction_card(&faction, 2, 5, None))?,
    );
    put(
        "faction_member",
        json(&commands::factions::faction_card(
            &faction,
            0,
            1,
            Some(tower_store::factions::Role::Officer),
        ))?,
    );
    put(
        "faction_stats",
        json(&commands::factions::stats_embed(
            &faction,
            &tower_store::factions::FactionStats {
                kills: 42,
                deaths: 17,
                friendly_kills: 2,
                players: vec![
                    tower_store::factions::MemberRecord {
                        player_id: "a".to_owned(),
                        name: "Alpha One".to_owned(),
                        kills: 30,
                        deaths: 9,
                    },
                    tower_store::factions::MemberRecord {
                        player_id: "b".to_owned(),
                        name: "Bravo".to_owned(),
                        kills: 12,
                        deaths: 8,
                    },
                ],
            },
        ))?,
    );
    put(
        "rivalry_led",
        json(&commands::rivalry::rivalry_embed(&rivalry, &names))?,
    );
    put(
        "rivalry_recorded",
        json(&commands::rivalry::rivalry_embed(
            &Rivalry {
                last: Some(LastKill {
                    at_unix: 1_746_057_600,
                    weapon: "Crossbow".to_owned(),
                    by_first: true,
                    recorded: Some(tower_store::rivalries::RecordedBy {
                        user_id: 910_000_000_000_000_001,
                        location: Some("Airfield".to_owned()),
                    }),
                }),
                ..rivalry.clone()
            },
            &names,
        ))?,
    );
    put(
        "rivalry_tied",
        json(&commands::rivalry::rivalry_embed(
            &Rivalry {
                first_kills: 6,
                second_kills: 6,
                last: None,
                ..rivalry
            },
            &names,
        ))?,
    );
    put(
        "economy_balance",
        json(&commands::economy::balance_embed(
            "Emerald EU",
            7,
            &account,
            &played,
            "credits",
        ))?,
    );
    put(
        "economy_richest",
        json(&commands::economy::richest_embed(
            "Emerald EU",
            &[
                (7, account.clone()),
                (
                    8,
                    Account {
                        balance: 90,
                        lifetime: 90,
                    },
                ),
            ],
            "credits",
        ))?,
    );
    // The commands that move money, each outcome.
    put(
        "economy_daily",
        json(&commands::economy::daily_embed(200, 466, "credits"))?,
    );
    put(
        "economy_daily_claimed",
        json(&commands::economy::daily_claimed_embed(1_746_316_800))?,
    );
    put(
        "economy_give",
        json(&commands::economy::transfer_embed(50, 8, 416, "credits"))?,
    );
    put(
        "economy_give_insufficient",
        json(&commands::economy::insufficient_funds_embed(20, "credits"))?,
    );
    put(
        "economy_give_bot",
        json(&commands::economy::invalid_recipient_embed(
            "a bot", "credits",
        ))?,
    );
    put(
        "economy_adjust",
        json(&commands::economy::adjustment_embed(
            commands::economy::Adjustment {
                user: 8,
                amount: -25,
                before: 90,
                after: 65,
                reason: "Event prize returned",
            },
            "credits",
        ))?,
    );
    put(
        "economy_adjust_insufficient",
        json(&commands::economy::cannot_remove_embed(
            65, 1_000, "credits",
        ))?,
    );
    // /bounty active and /bounty my, of bounties that run out an hour from now.
    let on_bravo = tower_store::bounties::Bounty {
        id: "3f9a0c21d4".to_owned(),
        guild_id: 1,
        server_id: "7020".to_owned(),
        target_id: "0002e69a65204b669c20238266782d7b".to_owned(),
        target_name: "Bravo".to_owned(),
        reward: 250,
        reason: "Camping the trader".to_owned(),
        placed_by: Some(7),
        placed_at_unix: 1_746_238_800,
        expires_at_unix: in_an_hour,
        status: tower_store::bounties::Status::Active,
        claim: None,
        refunded: false,
    };
    let auto = tower_store::bounties::Bounty {
        id: "a1b2c3d4e5f6".to_owned(),
        placed_by: None,
        reward: 100,
        reason: "Killstreak of 10".to_owned(),
        ..on_bravo.clone()
    };
    put(
        "bounty_active",
        serde_json::to_value(commands::bounties::active_embeds(
            &[on_bravo.clone(), auto],
            "coins",
        ))
        .map_err(|e| e.to_string())?,
    );
    put(
        "bounty_active_none",
        serde_json::to_value(commands::bounties::active_embeds(&[], "coins"))
            .map_err(|e| e.to_string())?,
    );
    let claimed = tower_store::bounties::Bounty {
        status: tower_store::bounties::Status::Claimed,
        claim: Some(tower_store::bounties::Claim {
            hunter_id: "00024d4be1e44ba0aa342b39b0fb9937".to_owned(),
            hunter_name: "Alpha One".to_owned(),
            user_id: Some(8),
            line: "l1".to_owned(),
            at_unix: 1_746_239_400,
            paid: true,
            settle: Some("pay".to_owned()),
        }),
        ..on_bravo.clone()
    };
    let expired = tower_store::bounties::Bounty {
        status: tower_store::bounties::Status::Expired,
        refunded: true,
        ..on_bravo.clone()
    };
    put(
        "bounty_my_placed",
        reply(&commands::bounties::mine_reply(
            &[on_bravo, claimed.clone(), expired],
            false,
            "coins",
        ))?,
    );
    put(
        "bounty_my_claimed",
        reply(&commands::bounties::mine_reply(&[claimed], true, "coins"))?,
    );
    let figures = EconomyStats {
        total_balance: 556,
        lifetime: 1_300,
        accounts: 2,
        sources: vec![SourceStats {
            source: "kill_reward".to_owned(),
            count: 31,
            credits_in: 455,
            credits_out: 0,
        }],
    };
    put(
        "economy_stats",
        json(&commands::economy::stats_embed(
            "Emerald EU",
            &figures,
            &played,
            "credits",
        ))?,
    );
    let history = vec![
        Transaction {
            key: "kills:1:7020:12:7".to_owned(),
            amount: 41,
            source: Some(Source::KillReward),
            details: "Killed Bravo (MR5, 312 m)".to_owned(),
            balance_after: Some(466),
            at_unix: 1_746_238_800,
        },
        Transaction {
            key: "give:9".to_owned(),
            amount: -50,
            source: Some(Source::Transfer),
            details: "To <@8>".to_owned(),
            balance_after: Some(425),
            at_unix: 1_746_238_700,
        },
    ];
    put(
        "economy_transactions",
        json(&commands::economy::history_embed(
            "Emerald EU",
            7,
            466,
            &history,
            14,
            "credits",
        ))?,
    );
    // The games, open and settled, with fixed draws.
    use tower_store::gambling::{Game, GameKind, GameState};
    use tower_store::games::{Blackjack, Card, RouletteBet};
    let card = |rank| Card { rank, suit: 1 };
    let game = |kind, state| Game {
        id: "k3x9q2".to_owned(),
        account: tower_store::ledger::AccountId {
            guild_id: 1,
            server_id: "7020".to_owned(),
            user_id: 7,
        },
        kind,
        bet: 50,
        state,
        version: 0,
        blackjack: None,
        reels: None,
        pocket: None,
        roulette_bet: None,
        result: None,
        returned: 0,
        paid: false,
        expires_at_unix: 1_746_238_980,
    };
    let mut hand = Blackjack::deal([10, 10, 9, 6, 10].map(card).to_vec());
    let open_hand = Game {
        blackjack: Some(hand.clone()),
        ..game(GameKind::Blackjack, GameState::Open)
    };
    hand.stand();
    let won_hand = Game {
        blackjack: Some(hand),
        result: Some("dealer_bust".to_owned()),
        returned: 100,
        paid: true,
        ..game(GameKind::Blackjack, GameState::Settled)
    };
    let spun = Game {
        reels: Some([8, 8, 8]),
        result: Some("win".to_owned()),
        returned: 2_500,
        paid: true,
        ..game(GameKind::Slots, GameState::Settled)
    };
    let wheel = Game {
        pocket: Some(17),
        roulette_bet: Some(RouletteBet::Red),
        result: Some("loss".to_owned()),
        paid: true,
        ..game(GameKind::Roulette, GameState::Settled)
    };
    for (name, g) in [
        ("blackjack_open", open_hand),
        ("blackjack_dealer_bust", won_hand),
        ("slots_ready", game(GameKind::Slots, GameState::Open)),
        ("slots_three_emeralds", spun),
        ("roulette_ready", game(GameKind::Roulette, GameState::Open)),
        ("roulette_lost", wheel),
    ] {
        put(
            &format!("game_{name}"),
            reply(&commands::gambling::game_reply(&g, 950, 7, "credits"))?,
        );
    }
    for (name, error) in [
        (
            "error_invalid",
            CommandError::invalid(
                "`9999` is not a game server here.",
                "Pick one from the list.",
            ),
        ),
        (
            "error_refused",
            CommandError::refused(
                "Stats need Survivor (tier 1).",
                "Ask for an upgrade with /premium upgrade.",
            ),
        ),
        (
            "error_failed",
            CommandError::failed("The database did not answer", "timed out"),
        ),
    ] {
        put(name, reply(&error.to_reply("E-0000000000000"))?);
    }
    Ok(out)
}

#[test]
fn every_rendered_message_matches_the_golden_file() -> Result<(), String> {
    let now = rendered()?;
    let text = serde_json::to_string_pretty(&now).map_err(|e| e.to_string())? + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(GOLDEN, &text).map_err(|e| e.to_string())?;
        return Ok(());
    }
    let golden = std::fs::read_to_string(GOLDEN).map_err(|e| format!("{GOLDEN}: {e}"))?;
    let before: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&golden).map_err(|e| e.to_string())?;
    let mut changed = Vec::new();
    for name in before
        .keys()
        .chain(now.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        if before.get(name) != now.get(name) {
            changed.push(format!(
                "{name}:\n  golden: {}\n  now:    {}",
                before
                    .get(name)
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                now.get(name).map(ToString::to_string).unwrap_or_default()
            ));
        }
    }
    if changed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "rendered messages changed (if meant: UPDATE_GOLDEN=1 cargo test -p gateway-shard --test golden_embeds):\n{}",
            changed.join("\n")
        ))
    }
}
