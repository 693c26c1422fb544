//! Time windows on the statistics: the per-hour and per-day totals the worker's own store
//! keeps, summed from any hour, equal an independent count of the real fixtures' lines
//! since then, the same when a worker dies mid-batch; and `/stats leaderboard` and
//! `/stats player` with `window` through the real gateway, in the guild's time zone.

use std::collections::{BTreeMap, HashMap, HashSet};

use tower_ingest::ingest::parse_killfeed_chunk;
use tower_ingest::killfeed::KillfeedEvent;
use tower_ingest::stats::Leaderboard;
use tower_ingest::timestamp::format_seconds;
use tower_store::recount::recount_all;
use tower_store::windows::{KDR_MIN_KILLS, WindowStats, Windows};
use tower_tests::WAIT;
use tower_tests::backing::TestDatabase;
use tower_tests::discord_sim::interactions::Opt;
use tower_tests::guild_setup::{ALPHA, BRAVO, KillfeedSetup};
use tower_tests::live_reading::read_in_steps;
use tower_tests::support::{fixture, kills_counted, ok};

const GUILD: u64 = 575_757_575_757_575_757;
const SERVER: &str = "8044";
const FILES: [&str; 3] = [
    "2025.03.27-00.00.00.csv",
    "2025.05.01-00.00.00.csv",
    "2025.05.15-00.00.00.csv",
];
const STEP: usize = 250;
const HOUR: i64 = 3600;

const DAY: i64 = 24 * HOUR;

fn now() -> i64 {
    mongodb::bson::DateTime::now().timestamp_millis() / 1000
}

/// The real fixtures moved by whole days so that their last day was two days ago: the
/// hours and days they fill are recent, as a live server's are (older ones expire).
fn recent_fixtures() -> Vec<(String, Vec<u8>)> {
    let files: Vec<(String, Vec<u8>)> = FILES.iter().map(|f| (f.to_string(), fixture(f))).collect();
    let last = files
        .iter()
        .flat_map(|(f, b)| {
            parse_killfeed_chunk(f, b, 0, true)
                .events
                .iter()
                .map(|l| l.at)
                .collect::<Vec<_>>()
        })
        .max()
        .unwrap_or(0);
    let shift = (now() - 2 * DAY - last).div_euclid(DAY) * DAY;
    files
        .into_iter()
        .map(|(name, bytes)| {
            let mut moved = Vec::with_capacity(bytes.len());
            for line in bytes.split_inclusive(|&b| b == b'\n') {
                match line
                    .get(..19)
                    .and_then(tower_ingest::timestamp::parse_seconds)
                {
                    Some(at) => {
                        moved.extend_from_slice(format_seconds(at + shift).as_bytes());
                        moved.extend_from_slice(&line[19..]);
                    }
                    None => moved.extend_from_slice(line),
                }
            }
            (name, moved)
        })
        .collect()
}

/// Every player's totals from the lines at or after `from`, counted straight from them
/// (each line once).
fn independent_totals(files: &[(String, Vec<u8>)], from: i64) -> HashMap<String, WindowStats> {
    let mut totals: HashMap<String, WindowStats> = HashMap::new();
    let mut seen = HashSet::new();
    for (file, bytes) in files {
        let mut chunk = parse_killfeed_chunk(file, bytes, 0, true);
        chunk.dedupe(GUILD, SERVER, &mut seen);
        for line in chunk.events.iter().filter(|l| l.at >= from) {
            match &line.event {
                KillfeedEvent::Kill {
                    killer,
                    victim,
                    distance_m,
                    ..
                } => {
                    let k = totals.entry(killer.id.to_owned()).or_default();
                    k.kills += 1;
                    k.longest_kill_m = Some(k.longest_kill_m.unwrap_or(0).max(*distance_m));
                    totals.entry(victim.id.to_owned()).or_default().deaths += 1;
                }
                KillfeedEvent::Suicide { player, .. } => {
                    totals.entry(player.id.to_owned()).or_default().suicides += 1;
                }
                KillfeedEvent::EnvironmentDeath { .. } => {}
            }
        }
    }
    totals
}

/// The hours windows are read from: all time, hours inside the lines' days (a window
/// starting mid-day reads hour documents), midnights (day documents only), and after the
/// last line; none more than 38 days back, as a window never starts that far back (hour
/// documents expire after 40 days).
fn window_starts(files: &[(String, Vec<u8>)]) -> Vec<i64> {
    let mut times = Vec::new();
    for (file, bytes) in files {
        let chunk = parse_killfeed_chunk(file, bytes, 0, true);
        times.extend(chunk.events.iter().map(|l| l.at));
    }
    let earliest = now() - 38 * DAY;
    let first = times
        .iter()
        .copied()
        .filter(|t| *t >= earliest)
        .min()
        .unwrap_or(0);
    let last = times.iter().max().copied().unwrap_or(0);
    let hour = |t: i64| t.div_euclid(HOUR) * HOUR;
    let mut starts = vec![hour(first), hour(last) + HOUR];
    for t in [first, (first + last) / 2, last] {
        let midnight = t.div_euclid(DAY) * DAY;
        starts.extend([midnight, midnight + 7 * HOUR, midnight + 13 * HOUR, hour(t)]);
    }
    starts.retain(|s| *s >= earliest);
    starts.push(0);
    starts.sort_unstable();
    starts.dedup();
    starts
}

fn sorted(m: &HashMap<String, WindowStats>) -> BTreeMap<String, WindowStats> {
    m.iter()
        .filter(|(_, s)| **s != WindowStats::default())
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

async fn windows_match_the_lines(name: &str, crash_at: Option<i64>) {
    let test = ok(TestDatabase::create(name).await);
    let db = ok(test.open().await);
    let root = std::env::temp_dir().join(format!("tower-{name}-{}", std::process::id()));
    let files = recent_fixtures();
    read_in_steps(&db, &root, (GUILD, SERVER), &files, STEP, crash_at).await;
    let windows = Windows::new(&db);
    let starts = window_starts(&files);
    assert!(starts.len() > 6, "{starts:?}");
    for &from in &starts {
        let expected = independent_totals(&files, from);
        let stored = ok(windows.totals(GUILD, SERVER, from, None).await);
        assert_eq!(sorted(&stored), sorted(&expected), "window from {from}");
        // One player's window reads only that player, with the same totals.
        if let Some((id, s)) = sorted(&expected).into_iter().next() {
            let one = ok(windows.totals(GUILD, SERVER, from, Some(&id)).await);
            assert_eq!(one.len(), 1, "from {from}");
            assert_eq!(one.get(&id), Some(&s), "from {from}");
        }
        // The kills board ranks as the count does; K/D only players with enough kills.
        let board = ok(windows
            .leaderboard(GUILD, SERVER, (Leaderboard::Kills, None), from, 5)
            .await);
        let mut ranked: Vec<(u64, String)> = expected
            .iter()
            .filter(|(_, s)| s.kills > 0)
            .map(|(id, s)| (s.kills, id.clone()))
            .collect();
        ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let top: Vec<(u64, String)> = board
            .iter()
            .map(|r| (r.stats.kills, r.player_id.clone()))
            .collect();
        assert_eq!(
            top,
            ranked.into_iter().take(5).collect::<Vec<_>>(),
            "from {from}"
        );
        assert!(
            board.iter().all(|r| !r.stats.name.is_empty()),
            "names are shown"
        );
        let kdr = ok(windows
            .leaderboard(GUILD, SERVER, (Leaderboard::Kdr, None), from, 25)
            .await);
        assert!(
            kdr.iter().all(|r| r.stats.kills >= KDR_MIN_KILLS),
            "from {from}"
        );
        if from == 0 {
            assert!(!kdr.is_empty(), "all time has players with enough kills");
        }
    }

    // A server read before windows were kept (its days lost here, one hour changed):
    // `towerctl verify` finds it from the kill lines and its repair fills them in.
    let periods = db
        .raw()
        .collection::<mongodb::bson::Document>("period_totals");
    ok(periods
        .delete_many(mongodb::bson::doc! { "span": "day" })
        .await);
    let now = now();
    let counted = ok(recount_all(&db, GUILD, SERVER).await);
    let stored = ok(windows.load(GUILD, SERVER, now).await);
    assert_ne!(stored, counted.periods, "the lost days are found");
    assert!(counted.periods.keys().any(|(span, _)| span == "day"));
    ok(windows
        .repair(GUILD, SERVER, &stored, &counted.periods)
        .await);
    assert_eq!(ok(windows.load(GUILD, SERVER, now).await), counted.periods);
    for &from in &starts {
        let stored = ok(windows.totals(GUILD, SERVER, from, None).await);
        assert_eq!(
            sorted(&stored),
            sorted(&independent_totals(&files, from)),
            "repaired, from {from}"
        );
    }
    ok(test.drop_database().await);
}

#[tokio::test]
async fn windows_count_each_line_once_from_any_hour() {
    let files = recent_fixtures();
    assert!(
        independent_totals(&files, now() - 20 * DAY).len() > 10,
        "the recent windows hold players"
    );
    windows_match_the_lines("windows", None).await;
    // A worker that dies after applying a batch, before committing it; the next finishes it.
    windows_match_the_lines("windows_crash", Some(3)).await;
}

const E2E_GUILD: u64 = 576_000_000_000_000_001;
const E2E_ADMIN: u64 = 976_000_000_000_000_001;
const E2E_CHANNEL: u64 = 676_000_000_000_000_001;
const CHARLIE: &str = "0002cccccccccccccccccccccccccccc";

/// A killfeed line at Unix time `at` (the game server's clock runs on UTC here).
fn line(at: i64, killer: (&str, &str), victim: (&str, &str)) -> String {
    format!(
        "{};{};{};{};{};AK-74;150;PS5;PS5;\n",
        format_seconds(at),
        killer.0,
        killer.1,
        victim.0,
        victim.1
    )
}

#[tokio::test]
async fn stats_windows_answer_for_today_and_the_month_in_the_guilds_time_zone() {
    let KillfeedSetup {
        db,
        home: _home,
        sim,
        stack: _stack,
        admin,
        server,
        csv,
        ..
    } = KillfeedSetup::start(
        ok(TestDatabase::create("windows_posted").await),
        "windows_posted",
        (E2E_GUILD, E2E_ADMIN),
        E2E_CHANNEL,
    )
    .await;
    let run = |path: &'static str, options: Vec<(&'static str, Opt)>| {
        let sent = sim.slash(0, &admin, path, &options);
        let sim = &sim;
        async move { ok(sim.answer(&sent, WAIT).await) }
    };
    let sid = || ("server_id", Opt::str(&server));
    // `/stats leaderboard` is a Survivor (tier 1) command; the settings change below
    // makes the gateway read the guild afresh.
    ok(db
        .handle()
        .collection::<mongodb::bson::Document>("guilds")
        .update_one(
            mongodb::bson::doc! { "guild_id": E2E_GUILD.to_string() },
            mongodb::bson::doc! { "$set": { "premium_tier": 1 } },
        )
        .upsert(true)
        .await);
    let now = now();
    // A time zone where it is about noon, so the test's lines of the last minutes are of
    // today, this week and this month whatever the hour it runs at.
    let utc_hour = now.rem_euclid(DAY) / HOUR;
    let local_offset = (12 - utc_hour + 12).rem_euclid(24) - 12;
    let zone = format!(
        "{}{:02}:00",
        if local_offset < 0 { '-' } else { '+' },
        local_offset.abs()
    );
    let set = run(
        "settings",
        vec![
            ("setting", Opt::str("time_zone")),
            ("value", Opt::str(&zone)),
        ],
    )
    .await;
    assert_eq!(set.title(), "Setting Updated", "{}", set.text());
    let refused = run(
        "settings",
        vec![
            ("setting", Opt::str("time_zone")),
            ("value", Opt::str("+05:30")),
        ],
    )
    .await;
    assert!(refused.text().contains("whole hours"), "{}", refused.text());

    // Charlie's four kills of 40 days ago (before this month, week and day), then Alpha
    // One's three of the last minutes.
    let (a, b, c) = (("Alpha One", ALPHA), ("Bravo", BRAVO), ("Charlie", CHARLIE));
    let mut lines = String::new();
    for i in 0..4 {
        lines.push_str(&line(now - 40 * 24 * HOUR + i * 60, c, a));
    }
    for i in 0..3 {
        lines.push_str(&line(now - 180 + i * 30, a, b));
    }
    ok(std::fs::write(&csv, lines));
    kills_counted(&db.handle(), E2E_GUILD, &server, 7).await;

    let board = |window: &'static str| {
        run(
            "stats leaderboard",
            vec![
                sid(),
                ("stat", Opt::str("kills")),
                ("window", Opt::str(window)),
            ],
        )
    };
    let all = board("all").await;
    let all_text = all.text();
    assert!(all_text.contains("**1.** Charlie — 4"), "{all_text}");
    assert!(all_text.contains("**2.** Alpha One — 3"), "{all_text}");
    for window in ["today", "week", "month"] {
        let answer = board(window).await;
        let text = answer.text();
        assert!(text.contains("**1.** Alpha One — 3"), "{window}: {text}");
        assert!(!text.contains("Charlie"), "{window}: {text}");
    }
    let today = board("today").await;
    assert!(
        today.title().starts_with("Kills (today)"),
        "{}",
        today.title()
    );

    let player = |name: &'static str, window: &'static str| {
        run(
            "stats player",
            vec![
                sid(),
                ("player_name", Opt::str(name)),
                ("window", Opt::str(window)),
            ],
        )
    };
    let charlie = player("Charlie", "month").await;
    assert!(
        charlie.title().starts_with("Charlie — this month"),
        "{}",
        charlie.title()
    );
    assert!(charlie.text().contains("Kills\n0"), "{}", charlie.text());
    let alpha = player("Alpha One", "today").await;
    assert!(alpha.text().contains("Kills\n3"), "{}", alpha.text());
    assert!(
        alpha.text().contains("Longest kill\n150 m"),
        "{}",
        alpha.text()
    );
    let bravo = player("Bravo", "week").await;
    assert!(bravo.text().contains("Deaths\n3"), "{}", bravo.text());

    let refused = run(
        "stats leaderboard",
        vec![
            sid(),
            ("stat", Opt::str("highest_killstreak")),
            ("window", Opt::str("week")),
        ],
    )
    .await;
    assert!(
        refused.text().contains("all time only"),
        "{}",
        refused.text()
    );
}
