//! Statistics by platform: the kills between each pair of platforms the worker's own store
//! keeps equal an independent count of the real fixtures' lines, the same when a worker
//! dies mid-batch; a leaderboard of one platform holds exactly the players last seen on
//! it; and `/stats server` and `/stats leaderboard platform` answer through the real
//! gateway.

use std::collections::{BTreeMap, HashMap, HashSet};

use tower_ingest::ingest::parse_killfeed_chunk;
use tower_ingest::killfeed::KillfeedEvent;
use tower_ingest::stats::Leaderboard;
use tower_store::stats_query::StatsQuery;
use tower_tests::WAIT;
use tower_tests::backing::TestDatabase;
use tower_tests::discord_sim::interactions::Opt;
use tower_tests::guild_setup::{ALPHA, BRAVO, KillfeedSetup};
use tower_tests::live_reading::read_in_steps;
use tower_tests::support::{fixture, kills_counted, ok};

const GUILD: u64 = 578_787_878_787_878_787;
const SERVER: &str = "8055";
const FILES: [&str; 3] = [
    "2025.03.27-00.00.00.csv",
    "2025.05.01-00.00.00.csv",
    "2025.05.15-00.00.00.csv",
];

/// (killer's platform, victim's platform) → kills, and each player's last platform,
/// counted straight from the fixtures (each line once, in order).
fn independent() -> (BTreeMap<(String, String), u64>, HashMap<String, String>) {
    let mut pairs = BTreeMap::new();
    let mut last = HashMap::new();
    let mut seen = HashSet::new();
    for file in FILES {
        let bytes = fixture(file);
        let mut chunk = parse_killfeed_chunk(file, &bytes, 0, true);
        chunk.dedupe(GUILD, SERVER, &mut seen);
        for line in &chunk.events {
            let named = match &line.event {
                KillfeedEvent::Kill { killer, victim, .. } => {
                    let p = |r: &tower_ingest::killfeed::PlayerRef<'_>| {
                        r.platform.unwrap_or_default().to_owned()
                    };
                    *pairs.entry((p(killer), p(victim))).or_default() += 1;
                    vec![killer, victim]
                }
                KillfeedEvent::Suicide { player, .. } => vec![player],
                KillfeedEvent::EnvironmentDeath { victim } => vec![victim],
            };
            for r in named {
                if let Some(platform) = r.platform {
                    last.insert(r.id.to_owned(), platform.to_owned());
                }
            }
        }
    }
    (pairs, last)
}

async fn platforms_match_the_lines(name: &str, crash_at: Option<i64>) {
    let test = ok(TestDatabase::create(name).await);
    let db = ok(test.open().await);
    let root = std::env::temp_dir().join(format!("tower-{name}-{}", std::process::id()));
    let files: Vec<(String, Vec<u8>)> = FILES.iter().map(|f| (f.to_string(), fixture(f))).collect();
    read_in_steps(&db, &root, (GUILD, SERVER), &files, 250, crash_at).await;
    let (pairs, last) = independent();
    let query = StatsQuery::new(&db);
    let stored: BTreeMap<(String, String), u64> = ok(query.platform_kills(GUILD, SERVER).await)
        .into_iter()
        .map(|(k, v, n)| ((k, v), n))
        .collect();
    assert_eq!(stored, pairs);
    for platform in ["PS5", "XSX"] {
        let board = ok(query
            .leaderboard_on(GUILD, SERVER, Leaderboard::Kills, 25, Some(platform))
            .await);
        assert!(!board.is_empty(), "{platform}");
        assert!(
            board
                .iter()
                .all(|r| last.get(&r.player_id).map(String::as_str) == Some(platform)),
            "{platform}: {:?}",
            board.iter().map(|r| &r.player_id).collect::<Vec<_>>()
        );
        let on = ok(query.players_on(GUILD, SERVER, platform).await);
        let expected: HashSet<String> = last
            .iter()
            .filter(|(_, p)| p.as_str() == platform)
            .map(|(id, _)| id.clone())
            .collect();
        assert_eq!(on, expected, "{platform}");
    }
    ok(test.drop_database().await);
}

#[tokio::test]
async fn kills_by_platform_count_each_line_once() {
    let (pairs, _) = independent();
    assert!(
        pairs.contains_key(&("PS5".to_owned(), "XSX".to_owned()))
            && pairs.contains_key(&(String::new(), String::new())),
        "the fixtures hold crossplay kills and lines without platforms: {pairs:?}"
    );
    platforms_match_the_lines("platforms", None).await;
    platforms_match_the_lines("platforms_crash", Some(3)).await;
}

const E2E_GUILD: u64 = 579_000_000_000_000_001;
const E2E_ADMIN: u64 = 979_000_000_000_000_001;
const E2E_CHANNEL: u64 = 679_000_000_000_000_001;

#[tokio::test]
async fn stats_server_and_leaderboards_split_by_platform() {
    let db = ok(TestDatabase::create("platforms_posted").await);
    ok(db
        .handle()
        .collection::<mongodb::bson::Document>("guilds")
        .insert_one(mongodb::bson::doc! { "guild_id": E2E_GUILD.to_string(), "premium_tier": 1, "schema_version": 1 })
        .await);
    let KillfeedSetup {
        db,
        home: _home,
        sim,
        stack: _stack,
        admin,
        server,
        csv,
        ..
    } = KillfeedSetup::start(db, "platforms_posted", (E2E_GUILD, E2E_ADMIN), E2E_CHANNEL).await;
    // Alpha One on PS5 kills Bravo on XSX twice; Bravo kills Alpha once.
    let line = |minute: u32, k: (&str, &str, &str), v: (&str, &str, &str)| {
        format!(
            "2026.01.01-00.{minute:02}.00;{};{};{};{};AK-74;120;{};{};\n",
            k.0, k.1, v.0, v.1, k.2, v.2
        )
    };
    let (a, b) = (("Alpha One", ALPHA, "PS5"), ("Bravo", BRAVO, "XSX"));
    ok(std::fs::write(
        &csv,
        [line(1, a, b), line(2, a, b), line(3, b, a)].concat(),
    ));
    kills_counted(&db.handle(), E2E_GUILD, &server, 3).await;
    let sent = sim.slash(
        0,
        &admin,
        "stats server",
        &[("server_id", Opt::str(&server))],
    );
    let totals = ok(sim.answer(&sent, WAIT).await);
    let text = totals.text();
    assert!(
        text.contains("Kills by platform (killer → victim)"),
        "{text}"
    );
    assert!(
        text.contains("PS5 → XSX: 2 kills\nXSX → PS5: 1 kill"),
        "{text}"
    );
    let sent = sim.slash(
        0,
        &admin,
        "stats leaderboard",
        &[
            ("server_id", Opt::str(&server)),
            ("stat", Opt::str("kills")),
            ("platform", Opt::str("xsx")),
        ],
    );
    let board = ok(sim.answer(&sent, WAIT).await);
    assert!(
        board.title().starts_with("Kills (xsx)"),
        "{}",
        board.title()
    );
    assert!(
        board.text().contains("**1.** Bravo — 1"),
        "{}",
        board.text()
    );
    assert!(!board.text().contains("Alpha One"), "{}", board.text());
    let sent = sim.slash(
        0,
        &admin,
        "stats leaderboard",
        &[
            ("server_id", Opt::str(&server)),
            ("stat", Opt::str("kills")),
            ("platform", Opt::str("PS5; drop")),
        ],
    );
    let refused = ok(sim.answer(&sent, WAIT).await);
    assert!(
        refused.text().contains("not a platform"),
        "{}",
        refused.text()
    );
}

#[tokio::test]
async fn platforms_that_differ_only_by_a_colon_are_kept_apart() {
    let test = ok(TestDatabase::create("platforms_colon").await);
    let db = ok(test.open().await);
    let root = std::env::temp_dir().join(format!("tower-platforms-colon-{}", std::process::id()));
    let line = |second: u32, platform: &str| {
        format!(
            "2026.01.01-00.00.{second:02};Alpha One;{ALPHA};Bravo;{BRAVO};AK-74;120;{platform};PS5;\n"
        )
    };
    // One batch with both: their counters must not share a document.
    let file = [line(1, "A:B"), line(2, "A_B"), line(3, "A%3AB")].concat();
    read_in_steps(
        &db,
        &root,
        (GUILD, SERVER),
        &[("2026.01.01-00.00.00.csv".to_owned(), file.into_bytes())],
        10,
        None,
    )
    .await;
    let mut stored = ok(StatsQuery::new(&db).platform_kills(GUILD, SERVER).await);
    stored.sort();
    let pair = |k: &str| (k.to_owned(), "PS5".to_owned(), 1);
    assert_eq!(stored, vec![pair("A%3AB"), pair("A:B"), pair("A_B")]);
    ok(test.drop_database().await);
}
