//! Highlight posts (streak milestones, streaks ended, revenge, long shots): worked out by
//! the worker's own store with the batch that counts the kills, equal to an independent
//! replay of the real fixtures read live in steps, the same when a worker dies mid-batch;
//! and posted through the real gateway to the simulated Discord as each server set them.

use std::collections::{BTreeSet, HashMap, HashSet};

use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};

use tower_ingest::ingest::parse_killfeed_chunk;
use tower_ingest::killfeed::KillfeedEvent;
use tower_store::highlights::{LONG_SHOT_FLOOR_M, NEMESIS_MIN, STREAK_END_MIN, is_milestone};
use tower_tests::WAIT;
use tower_tests::backing::TestDatabase;
use tower_tests::discord_sim::interactions::Opt;
use tower_tests::guild_setup::{ALPHA, BRAVO, KillfeedSetup};
use tower_tests::live_reading::read_in_steps;
use tower_tests::support::{fixture, ok, posting_caught_up};

const GUILD: u64 = 565_656_565_656_565_656;
const SERVER: &str = "8033";
const FILES: [&str; 3] = [
    "2025.03.27-00.00.00.csv",
    "2025.05.01-00.00.00.csv",
    "2025.05.15-00.00.00.csv",
];
/// Lines per step: each step is one batch.
const STEP: usize = 60;

/// A highlight as stored: (kind, killer id, victim id, time, count).
type Posted = (String, String, String, i64, i64);

/// The fixtures read live in steps of [`STEP`] lines into a store that posts: the
/// highlights it stored. With `crash_at`, the worker dies after applying that step's
/// batch, before committing it, and the next worker finishes it.
async fn highlights_of_live_reading(name: &str, crash_at: Option<i64>) -> Vec<Posted> {
    let test = ok(TestDatabase::create(name).await);
    let db = ok(test.open().await);
    // Every highlight on, long shots from the shortest distance allowed.
    ok(test
        .handle()
        .collection::<Document>("game_servers")
        .insert_one(doc! {
            "guild_id": GUILD.to_string(), "server_id": SERVER,
            "notify": { "streak": true, "streak_end": true, "revenge": true, "long_shot": true },
            "long_shot_m": i64::from(LONG_SHOT_FLOOR_M),
        })
        .await);
    let root = std::env::temp_dir().join(format!("tower-{name}-{}", std::process::id()));
    let files: Vec<(String, Vec<u8>)> = FILES.iter().map(|f| (f.to_string(), fixture(f))).collect();
    read_in_steps(&db, &root, (GUILD, SERVER), &files, STEP, crash_at).await;
    let stored: Vec<Document> = ok(ok(test
        .handle()
        .collection::<Document>("notifications")
        .find(doc! { "kind": "highlight" })
        .await)
    .try_collect()
    .await);
    let mut posted: Vec<Posted> = stored
        .iter()
        .filter_map(|d| {
            let data = d.get_document("data").ok()?;
            let id = |k: &str| Some(data.get_document(k).ok()?.get_str("id").ok()?.to_owned());
            Some((
                data.get_str("kind").ok()?.to_owned(),
                id("player")?,
                id("other")?,
                d.get_datetime("at").ok()?.timestamp_millis() / 1000,
                data.get_i64("count").ok()?,
            ))
        })
        .collect();
    posted.sort();
    ok(test.drop_database().await);
    posted
}

/// The step (batch number) of [`highlights_of_live_reading`] that reads the line at `at`.
fn step_of(at: i64) -> i64 {
    let mut step = 1;
    for file in FILES {
        let bytes = fixture(file);
        let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
        for chunk in lines.chunks(STEP) {
            let text = chunk.concat();
            let parsed = parse_killfeed_chunk(file, &text, 0, true);
            if parsed.events.iter().any(|l| l.at == at) {
                return step;
            }
            step += 1;
        }
    }
    panic!("no step reads the line at {at}")
}

/// The highlights of every line of the fixtures, counted straight from them in order.
fn independent_highlights() -> Vec<Posted> {
    let mut expected = Vec::new();
    let mut seen = HashSet::new();
    let mut streak: HashMap<String, i64> = HashMap::new();
    // (killer, victim) → kills; (a, b) → who killed last.
    let mut kills: HashMap<(String, String), i64> = HashMap::new();
    let mut last: HashMap<(String, String), String> = HashMap::new();
    for file in FILES {
        let bytes = fixture(file);
        let mut chunk = parse_killfeed_chunk(file, &bytes, 0, true);
        chunk.dedupe(GUILD, SERVER, &mut seen);
        for line in &chunk.events {
            match &line.event {
                KillfeedEvent::Kill {
                    killer,
                    victim,
                    distance_m,
                    ..
                } => {
                    let (k, v) = (killer.id.to_owned(), victim.id.to_owned());
                    let post = |kind: &str, count: i64| {
                        (kind.to_owned(), k.clone(), v.clone(), line.at, count)
                    };
                    let ended = streak.get(&v).copied().unwrap_or(0);
                    if ended >= STREAK_END_MIN as i64 {
                        expected.push(post("streak_end", ended));
                    }
                    let now = streak.get(&k).copied().unwrap_or(0) + 1;
                    if is_milestone(now as u64) {
                        expected.push(post("streak", now));
                    }
                    let pair = if k < v {
                        (k.clone(), v.clone())
                    } else {
                        (v.clone(), k.clone())
                    };
                    let theirs = kills.get(&(v.clone(), k.clone())).copied().unwrap_or(0);
                    let mine = kills.get(&(k.clone(), v.clone())).copied().unwrap_or(0);
                    if last.get(&pair) == Some(&v) && theirs >= NEMESIS_MIN && theirs > mine {
                        expected.push(post("revenge", theirs));
                    }
                    if *distance_m >= LONG_SHOT_FLOOR_M {
                        expected.push(post("long_shot", 0));
                    }
                    *kills.entry((k.clone(), v.clone())).or_default() += 1;
                    last.insert(pair, k.clone());
                    streak.insert(k, now);
                    streak.insert(v, 0);
                }
                KillfeedEvent::Suicide { player, .. } => {
                    streak.insert(player.id.to_owned(), 0);
                }
                KillfeedEvent::EnvironmentDeath { victim } => {
                    streak.insert(victim.id.to_owned(), 0);
                }
            }
        }
    }
    expected.sort();
    expected
}

#[tokio::test]
async fn highlights_follow_the_lines_once_each() {
    let expected = independent_highlights();
    let kinds: BTreeSet<&str> = expected.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["long_shot", "revenge", "streak", "streak_end"]),
        "the fixtures hold every kind"
    );
    let posted = highlights_of_live_reading("highlights", None).await;
    assert_eq!(posted, expected);
    // A worker that dies after applying a batch, before committing it: the step with the
    // first revenge (which reads the pairs' state before the batch), finished by the next.
    let revenge_at = expected
        .iter()
        .find(|p| p.0 == "revenge")
        .map_or(0, |p| p.3);
    let crash_at = step_of(revenge_at);
    let crashed = highlights_of_live_reading("highlights_crash", Some(crash_at)).await;
    assert_eq!(crashed, expected);
}

const E2E_GUILD: u64 = 566_000_000_000_000_001;
const E2E_ADMIN: u64 = 966_000_000_000_000_001;
const E2E_CHANNEL: u64 = 666_000_000_000_000_001;
const CHARLIE: &str = "0002cccccccccccccccccccccccccccc";

/// A line of 2026-01-01 00:`minute`: `killer` kills `victim` from `metres`.
fn line(
    minute: u32,
    killer: (&str, &str),
    victim: (&str, &str),
    weapon: &str,
    metres: u32,
) -> String {
    format!(
        "2026.01.01-00.{minute:02}.00;{};{};{};{};{weapon};{metres};PS5;PS5;\n",
        killer.0, killer.1, victim.0, victim.1
    )
}

#[tokio::test]
async fn highlights_are_posted_with_the_killfeed_as_each_server_set_them() {
    let KillfeedSetup {
        db,
        home: _home,
        sim,
        stack,
        admin,
        server,
        csv,
        ..
    } = KillfeedSetup::start(
        ok(TestDatabase::create("highlights_posted").await),
        "highlights_posted",
        (E2E_GUILD, E2E_ADMIN),
        E2E_CHANNEL,
    )
    .await;
    let (a, b, c) = (("Alpha One", ALPHA), ("Bravo", BRAVO), ("Charlie", CHARLIE));
    let titles = || -> Vec<String> {
        sim.embeds_posted(E2E_CHANNEL)
            .iter()
            .map(|e| e["title"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let highlight_titles = || -> Vec<String> {
        titles()
            .into_iter()
            .filter(|t| !t.contains(" killed "))
            .collect()
    };
    // Off until asked for: turned on.
    let sent = sim.slash(
        0,
        &admin,
        "killfeed highlights",
        &[
            ("server_id", Opt::str(&server)),
            ("streaks", Opt::Bool(true)),
            ("streak_ends", Opt::Bool(true)),
            ("revenge", Opt::Bool(true)),
            ("long_shots", Opt::Bool(true)),
        ],
    );
    let answer = ok(sim.answer(&sent, WAIT).await);
    assert!(
        answer.text().contains("streaks: on") && answer.text().contains("long shots from 300 m"),
        "{}",
        answer.text()
    );
    // Bravo kills Alpha three times and Charlie twice (5 in a row), then Alpha kills
    // Bravo from 350 m: Bravo's streak, Alpha's revenge on his nemesis, a long shot.
    let mut text = String::new();
    for minute in 1..=3 {
        text.push_str(&line(minute, b, a, "AK-74", 10));
    }
    for minute in 4..=5 {
        text.push_str(&line(minute, b, c, "AK-74", 10));
    }
    text.push_str(&line(6, a, b, "M99", 350));
    ok(std::fs::write(&csv, &text));
    posting_caught_up(&db.handle(), 11).await;
    let mut posted = highlight_titles();
    posted.sort();
    assert_eq!(
        posted,
        vec![
            "⚔️ Revenge",
            "🎯 Long shot: 350 m",
            "🔥 3-kill streak",
            "🔥 5-kill streak",
            "🛑 Streak ended",
        ],
        "{:?}",
        titles()
    );
    let described = |title: &str| -> String {
        sim.embeds_posted(E2E_CHANNEL)
            .iter()
            .find(|e| e["title"] == title)
            .and_then(|e| e["description"].as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    assert_eq!(
        described("🛑 Streak ended"),
        "**Alpha One** ended **Bravo**'s **5**-kill streak with M99."
    );
    assert_eq!(
        described("⚔️ Revenge"),
        "**Alpha One** took revenge on their nemesis **Bravo** (3 kills of them) with M99."
    );

    // Revenge muted, long shots from 400 m.
    let sent = sim.slash(
        0,
        &admin,
        "killfeed highlights",
        &[
            ("server_id", Opt::str(&server)),
            ("revenge", Opt::Bool(false)),
            ("long_shot_m", Opt::Int(400)),
        ],
    );
    let answer = ok(sim.answer(&sent, WAIT).await);
    assert_eq!(answer.title(), "Highlights saved", "{}", answer.text());
    assert!(
        answer.text().contains("revenge: off") && answer.text().contains("long shots from 400 m"),
        "{}",
        answer.text()
    );
    // Charlie kills Alpha from 380 m (short of 400) and 450 m; Bravo kills Charlie (3–0
    // now), and Charlie's kill of Bravo next is revenge, muted: the kills and the 450 m
    // long shot are posted, nothing else is even stored.
    text.push_str(&line(10, c, a, "SVD", 380));
    text.push_str(&line(11, c, a, "SVD", 450));
    text.push_str(&line(12, b, c, "AK-74", 10));
    text.push_str(&line(13, c, b, "AK-74", 10));
    ok(std::fs::write(&csv, &text));
    posting_caught_up(&db.handle(), 16).await;
    let stored = ok(db
        .handle()
        .collection::<Document>("notifications")
        .count_documents(doc! { "kind": "highlight" })
        .await);
    assert_eq!(stored, 6, "the five of the first kills and one long shot");
    let mut posted = highlight_titles();
    posted.sort();
    assert_eq!(
        posted,
        vec![
            "⚔️ Revenge",
            "🎯 Long shot: 350 m",
            "🎯 Long shot: 450 m",
            "🔥 3-kill streak",
            "🔥 5-kill streak",
            "🛑 Streak ended",
        ],
        "{:?}",
        titles()
    );
    ok(stack.stop_cleanly(WAIT).await);
    ok(db.drop_database().await);
}
