//! Rivalries in the real MongoDB-wire server, kept by the worker's own store from the real
//! killfeed fixtures: every pair's kills and last kill equal an independent count of the
//! same lines, a replay changes nothing, and the lists come in the earlier bot's orders.

use std::collections::{BTreeMap, HashSet};

use futures_util::TryStreamExt;

use tower_ingest::ingest::parse_killfeed_chunk;
use tower_ingest::killfeed::KillfeedEvent;
use tower_ingest::reader::{BATCH_BYTES, PollOutcome, poll_killfeed};
use tower_ingest::source::LocalSource;
use tower_store::cursor_store::{CursorStore, StoreSink};
use tower_store::rivalries::{Rivalries, Rivalry, SETTLED_ABOVE};
use tower_store::stats_store::StatsStore;
use tower_tests::backing::TestDatabase;
use tower_tests::support::{fixture, ok};

const GUILD: u64 = 343_434_343_434_343_434;
const SERVER: &str = "8030";
const DIR: &str = "deathlogs/world_0";
const FILES: [&str; 3] = [
    "2025.03.27-00.00.00.csv",
    "2025.05.01-00.00.00.csv",
    "2025.05.15-00.00.00.csv",
];

/// A pair's numbers counted straight from the lines: (first's kills of the second, the
/// second's of the first, the last kill's time and weapon).
type Counted = (i64, i64, i64, String);

fn independent_count() -> BTreeMap<(String, String), Counted> {
    let mut pairs: BTreeMap<(String, String), Counted> = BTreeMap::new();
    let mut seen = HashSet::new();
    for name in FILES {
        let bytes = fixture(name);
        let mut chunk = parse_killfeed_chunk(name, &bytes, 0, true);
        chunk.dedupe(GUILD, SERVER, &mut seen);
        for line in &chunk.events {
            let KillfeedEvent::Kill {
                killer,
                victim,
                weapon,
                ..
            } = &line.event
            else {
                continue;
            };
            let (a, b) = (killer.id.to_owned(), victim.id.to_owned());
            let key = if a < b { (a, b) } else { (b, a) };
            let p = pairs
                .entry(key.clone())
                .or_insert((0, 0, i64::MIN, String::new()));
            if killer.id == key.0 {
                p.0 += 1;
            } else {
                p.1 += 1;
            }
            if line.at >= p.2 {
                p.2 = line.at;
                p.3 = weapon.to_string();
            }
        }
    }
    pairs
}

async fn ingest_fixtures(db: &tower_store::db::Database, root: &std::path::Path) {
    let (stats, cursors) = (StatsStore::new(db), CursorStore::new(db));
    let _ = std::fs::remove_dir_all(root);
    ok(std::fs::create_dir_all(root.join(DIR)));
    for name in FILES {
        ok(std::fs::write(root.join(DIR).join(name), fixture(name)));
    }
    let mut sink = ok(StoreSink::open(GUILD, SERVER, &stats, &cursors).await);
    let mut outcome = PollOutcome::default();
    ok(poll_killfeed(
        &LocalSource::new(root),
        DIR,
        BATCH_BYTES,
        None,
        &mut sink,
        &mut outcome,
    )
    .await);
}

fn numbers(r: &Rivalry) -> Counted {
    let last = r
        .last
        .clone()
        .map(|l| (l.at_unix, l.weapon))
        .unwrap_or_default();
    (r.first_kills, r.second_kills, last.0, last.1)
}

#[tokio::test]
async fn rivalries_equal_an_independent_count_and_replays_change_nothing() {
    let test = ok(TestDatabase::create("rivalries_count").await);
    let db = ok(test.open().await);
    let rivalries = Rivalries::new(&db);
    let root = std::env::temp_dir().join(format!("tower-rivalries-{}", std::process::id()));
    ingest_fixtures(&db, &root).await;
    let expected = independent_count();
    assert!(expected.len() > 100, "the fixtures hold many pairs");
    let check = async || {
        for ((a, b), want) in &expected {
            let got = ok(rivalries.between(GUILD, SERVER, b, a).await);
            let got = got.map(|r| numbers(&r));
            assert_eq!(got.as_ref(), Some(want), "{a} vs {b}");
        }
    };
    check().await;
    // The same files read again from the start (a replay): nothing changes.
    let cursors = test
        .handle()
        .collection::<mongodb::bson::Document>("ingest_cursors");
    assert!(ok(cursors.delete_many(mongodb::bson::doc! {}).await).deleted_count > 0);
    ingest_fixtures(&db, &root).await;
    check().await;

    // A player's rivalries: every pair naming them, most kills first.
    let busiest = expected
        .keys()
        .flat_map(|(a, b)| [a, b])
        .fold(BTreeMap::<&String, usize>::new(), |mut m, p| {
            *m.entry(p).or_default() += 1;
            m
        })
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(p, _)| p.clone())
        .unwrap_or_default();
    let theirs = ok(rivalries.of_player(GUILD, SERVER, &busiest, 1_000).await);
    let mut want: Vec<i64> = expected
        .iter()
        .filter(|((a, b), _)| *a == busiest || *b == busiest)
        .map(|(_, c)| c.0 + c.1)
        .collect();
    want.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(theirs.iter().map(Rivalry::total).collect::<Vec<_>>(), want);

    // The closest: more than 5 kills, smallest lead first, then most kills.
    let mut want: Vec<(i64, i64)> = expected
        .values()
        .filter(|c| c.0 + c.1 > SETTLED_ABOVE)
        .map(|c| ((c.0 - c.1).abs(), -(c.0 + c.1)))
        .collect();
    want.sort_unstable();
    want.truncate(10);
    let closest = ok(rivalries.closest(GUILD, SERVER, 10).await);
    let got: Vec<(i64, i64)> = closest
        .iter()
        .map(|r| ((r.first_kills - r.second_kills).abs(), -r.total()))
        .collect();
    assert_eq!(got, want);

    // The most intense, against every pair's intensity computed here.
    let now = expected.values().map(|c| c.2).max().unwrap_or(0) + 3_600;
    let mut want: Vec<i64> = expected
        .iter()
        .filter(|(_, c)| c.0 + c.1 > SETTLED_ABOVE)
        .map(|((a, b), c)| {
            Rivalry {
                first_id: a.clone(),
                second_id: b.clone(),
                first_kills: c.0,
                second_kills: c.1,
                last: Some(tower_store::rivalries::LastKill {
                    at_unix: c.2,
                    weapon: c.3.clone(),
                    by_first: true,
                    recorded: None,
                }),
            }
            .intensity(now)
        })
        .collect();
    want.sort_unstable_by(|a, b| b.cmp(a));
    want.truncate(10);
    let top = ok(rivalries.top(GUILD, SERVER, 10, now).await);
    assert_eq!(
        top.iter().map(|r| r.intensity(now)).collect::<Vec<_>>(),
        want
    );

    // The most recent: a kill within the last day of the fixtures, latest first.
    let since = now - 3_600 - 86_400;
    let mut want: Vec<i64> = expected
        .values()
        .map(|c| c.2)
        .filter(|at| *at >= since)
        .collect();
    want.sort_unstable_by(|a, b| b.cmp(a));
    want.truncate(10);
    let recent = ok(rivalries.recent(GUILD, SERVER, since, now, 10).await);
    assert_eq!(
        recent
            .iter()
            .map(|r| r.last.as_ref().map_or(0, |l| l.at_unix))
            .collect::<Vec<_>>(),
        want
    );

    // The sort keys the server computed as it stored them: a settled rivalry's strength
    // is the intensity's lasting part, an unsettled one has none (the lists skip it).
    let mut stored = ok(test
        .handle()
        .collection::<mongodb::bson::Document>("rivalries")
        .find(mongodb::bson::doc! {})
        .await);
    let mut seen = 0;
    while let Some(d) = ok(stored.try_next().await) {
        let (Ok(a), Ok(b)) = (d.get_str("first_id"), d.get_str("second_id")) else {
            panic!("a rivalry without its pair: {d}");
        };
        let c = &expected[&(a.to_owned(), b.to_owned())];
        let r = Rivalry {
            first_id: a.to_owned(),
            second_id: b.to_owned(),
            first_kills: c.0,
            second_kills: c.1,
            last: None,
        };
        let settled = r.total() > SETTLED_ABOVE;
        let want_strength = settled.then(|| r.strength());
        let want_rank = settled.then(|| (c.0 - c.1).abs() * 1_000_000 + 999_999 - r.total());
        assert_eq!(d.get_i64("strength").ok(), want_strength, "{d}");
        assert_eq!(d.get_i64("close_rank").ok(), want_rank, "{d}");
        seen += 1;
    }
    assert_eq!(seen, expected.len());
    let _ = std::fs::remove_dir_all(&root);
    ok(test.drop_database().await);
}

/// 50,000 pairs on one server, shaped like a busy server's (most pairs met once or twice,
/// a long tail of feuds): the ordered lists equal the same lists worked out here, and each
/// reads only the pairs near its top, never the server's every pair.
#[tokio::test]
async fn lists_of_fifty_thousand_pairs_read_only_the_pairs_near_their_top() {
    const PAIRS: usize = 50_000;
    let test = ok(TestDatabase::create("rivalries_50k").await);
    let (db, finds) = ok(test.open_watched().await);
    let rivalries = Rivalries::new(&db);
    let now: i64 = 1_800_000_000;
    // A fixed pseudo-random sequence (xorshift): the same pairs every run.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut pairs = Vec::with_capacity(PAIRS);
    let mut docs = Vec::with_capacity(PAIRS);
    for n in 0..PAIRS {
        // Kills: Pareto-like (shape 1.3) from a uniform draw; the last kill within 120 days.
        let u = ((next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let total = (u.powf(-1.0 / 1.3) as i64).clamp(1, 5_000);
        let first_kills = i64::try_from(next() % (total as u64 + 1)).unwrap_or(0);
        let at = now - i64::try_from(next() % (120 * 86_400)).unwrap_or(0);
        let r = Rivalry {
            first_id: format!("p{n:06}a"),
            second_id: format!("p{n:06}b"),
            first_kills,
            second_kills: total - first_kills,
            last: Some(tower_store::rivalries::LastKill {
                at_unix: at,
                weapon: "AK-74".to_owned(),
                by_first: true,
                recorded: None,
            }),
        };
        let settled = total > SETTLED_ABOVE;
        let lead = (r.first_kills - r.second_kills).abs();
        docs.push(mongodb::bson::doc! {
            "_id": format!("{GUILD}:{SERVER}:{}:{}", r.first_id, r.second_id),
            "guild_id": GUILD.to_string(),
            "server_id": SERVER,
            "first_id": &r.first_id,
            "second_id": &r.second_id,
            "first_kills": r.first_kills,
            "second_kills": r.second_kills,
            "total": total,
            "lead": lead,
            // As the server computes them (checked against it on the fixtures above).
            "strength": settled.then(|| r.strength()),
            "close_rank": settled.then(|| lead * 1_000_000 + 999_999 - total),
            "last_at": mongodb::bson::DateTime::from_millis(at * 1000),
            "last_weapon": "AK-74",
            "last_by_first": true,
            "last_batch": 1_i64,
        });
        pairs.push(r);
    }
    let raw = test
        .handle()
        .collection::<mongodb::bson::Document>("rivalries");
    for chunk in docs.chunks(5_000) {
        ok(raw.insert_many(chunk.to_vec()).await);
    }
    let settled: Vec<&Rivalry> = pairs.iter().filter(|r| r.total() > SETTLED_ABOVE).collect();
    // Examined per list: the pairs near its top, not the server's 50,000 (nor its
    // thousands of settled ones); the bound leaves room for the ranges' granularity.
    const READ_AT_MOST: i64 = 1_000;
    assert!(
        settled.len() > 4 * READ_AT_MOST as usize,
        "{}",
        settled.len()
    );

    // The most intense.
    let mut want: Vec<(i64, i64)> = settled
        .iter()
        .map(|r| (r.intensity(now), r.total()))
        .collect();
    want.sort_unstable_by(|a, b| b.cmp(a));
    want.truncate(10);
    finds.clear();
    let top = ok(rivalries.top(GUILD, SERVER, 10, now).await);
    let got: Vec<(i64, i64)> = top.iter().map(|r| (r.intensity(now), r.total())).collect();
    assert_eq!(got, want);
    let (examined, queries) = ok(finds.examined(&test.handle(), "rivalries").await);
    println!("top: {examined} pairs examined in {queries} finds");
    assert!(examined <= READ_AT_MOST, "top examined {examined}");

    // The closest.
    let mut want: Vec<(i64, i64)> = settled
        .iter()
        .map(|r| ((r.first_kills - r.second_kills).abs(), -r.total()))
        .collect();
    want.sort_unstable();
    want.truncate(10);
    finds.clear();
    let closest = ok(rivalries.closest(GUILD, SERVER, 10).await);
    let got: Vec<(i64, i64)> = closest
        .iter()
        .map(|r| ((r.first_kills - r.second_kills).abs(), -r.total()))
        .collect();
    assert_eq!(got, want);
    let (examined, queries) = ok(finds.examined(&test.handle(), "rivalries").await);
    println!("closest: {examined} pairs examined in {queries} finds");
    assert!(examined <= READ_AT_MOST, "closest examined {examined}");

    // The most recent of the last week.
    let since = now - 7 * 86_400;
    let mut want: Vec<i64> = pairs
        .iter()
        .filter_map(|r| r.last.as_ref().map(|l| l.at_unix))
        .filter(|at| *at >= since)
        .collect();
    want.sort_unstable_by(|a, b| b.cmp(a));
    want.truncate(10);
    finds.clear();
    let recent = ok(rivalries.recent(GUILD, SERVER, since, now, 10).await);
    let got: Vec<i64> = recent
        .iter()
        .filter_map(|r| r.last.as_ref().map(|l| l.at_unix))
        .collect();
    assert_eq!(got, want);
    let (examined, queries) = ok(finds.examined(&test.handle(), "rivalries").await);
    println!("recent: {examined} pairs examined in {queries} finds");
    assert!(examined <= READ_AT_MOST, "recent examined {examined}");
    ok(test.drop_database().await);
}

/// The files read live: the fixtures, then a day of made-up lines, one step (batch) of
/// 40 lines each, padded with one kill each of players met nowhere else:
/// 1. the second of a settled pair (4–3 after the fixtures) draws level;
/// 2. and takes the lead;
/// 3. a new pair fights to 8–8 (fierce: 76);
/// 4. 12–8: the lead taken, intensity down to 73;
/// 5. 12–11: 79 again, fierce already posted: nothing.
fn live_files() -> Vec<(String, Vec<u8>)> {
    /// A player as a line names them: (name, EOS id).
    type Named<'a> = (&'a str, &'a str);
    let mut files: Vec<(String, Vec<u8>)> =
        FILES.iter().map(|f| (f.to_string(), fixture(f))).collect();
    let line = |hour: u32, n: u32, killer: (&str, &str), victim: (&str, &str)| {
        format!(
            "2025.05.16-{hour:02}.{:02}.{:02};{};{};{};{};MG-36;12;XSX;XSX;\n",
            n / 60,
            n % 60,
            killer.0,
            killer.1,
            victim.0,
            victim.1
        )
    };
    let shogun = ("OGz Shogun", "0002b3c1884e4c10b0c6850466cbff5d");
    let toxic = ("Toxic JFS", "00022980706e47bb977aa52091108aa8");
    let (x, y) = (
        ("Xavier", "00050000000000000000000000000001"),
        ("Yusuf", "00050000000000000000000000000002"),
    );
    let steps: [Vec<(Named, Named)>; 5] = [
        vec![(shogun, toxic)],
        vec![(shogun, toxic)],
        [vec![(x, y); 8], vec![(y, x); 8]].concat(),
        vec![(x, y); 4],
        vec![(y, x); 3],
    ];
    let mut day = String::new();
    let mut filler = 0u32;
    for (hour, step) in (10u32..).zip(steps) {
        for (n, (killer, victim)) in (0u32..).zip(&step) {
            day.push_str(&line(hour, n, *killer, *victim));
        }
        for n in step.len() as u32..40 {
            let hunter = (format!("Hunter {filler}"), format!("0003{filler:028}"));
            let prey = (format!("Prey {filler}"), format!("0004{filler:028}"));
            day.push_str(&line(hour, n, (&hunter.0, &hunter.1), (&prey.0, &prey.1)));
            filler += 1;
        }
    }
    files.push(("2025.05.16-00.00.00.csv".to_owned(), day.into_bytes()));
    files
}

/// One step's kills of a pair: (the first's, the second's), the last by the first?, when.
type StepKills = ((i64, i64), bool, i64);

/// A rivalry post as stored in the outbox: (batch number, pair, change, first's kills,
/// second's).
type Post = (i64, (String, String), String, i64, i64);

/// The fixtures read live in steps of `STEP` lines (each step one batch), into a store
/// that posts: the rivalry posts it stored. With `crash_at`, the worker dies after
/// applying that step's batch, before committing it, and the next worker finishes it.
async fn posts_of_live_reading(name: &str, crash_at: Option<i64>) -> Vec<Post> {
    const STEP: usize = 40;
    let test = ok(TestDatabase::create(name).await);
    let db = ok(test.open().await);
    let root = std::env::temp_dir().join(format!("tower-{name}-{}", std::process::id()));
    tower_tests::live_reading::read_in_steps(
        &db,
        &root,
        (GUILD, SERVER),
        &live_files(),
        STEP,
        crash_at,
    )
    .await;
    let stored: Vec<mongodb::bson::Document> = ok(ok(test
        .handle()
        .collection::<mongodb::bson::Document>("notifications")
        .find(mongodb::bson::doc! { "kind": "rivalry" })
        .await)
    .try_collect()
    .await);
    let mut posts: Vec<Post> = stored
        .iter()
        .filter_map(|d| {
            let data = d.get_document("data").ok()?;
            let id = |k: &str| Some(data.get_document(k).ok()?.get_str("id").ok()?.to_owned());
            let batch = d.get_str("_id").ok()?.rsplit(':').next()?.parse().ok()?;
            Some((
                batch,
                (id("first")?, id("second")?),
                data.get_str("change").ok()?.to_owned(),
                data.get_i64("first_kills").ok()?,
                data.get_i64("second_kills").ok()?,
            ))
        })
        .collect();
    posts.sort();
    ok(test.drop_database().await);
    posts
}

/// Rivalry posts (a lead taken or levelled, an intensity reached) equal those worked out
/// here from the same lines read in the same steps, and a worker that dies mid-batch
/// leaves the same posts, each once.
#[tokio::test]
async fn rivalry_posts_follow_the_lines_once_each() {
    let posts = posts_of_live_reading("rivalry_posts", None).await;
    // Independently: each step's kills per pair, then the rules on before and after.
    let mut expected: Vec<Post> = Vec::new();
    let mut seen = HashSet::new();
    let mut kills: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    // The highest threshold posted per pair: never posted again.
    let mut announced: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut batch = 0;
    for (file, bytes) in live_files() {
        let file = file.as_str();
        let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
        for step in lines.chunks(40) {
            batch += 1;
            let text: Vec<u8> = step.concat();
            let mut chunk = parse_killfeed_chunk(file, &text, 0, true);
            chunk.dedupe(GUILD, SERVER, &mut seen);
            // This step's kills per pair, and its last kill: by the first?, when.
            let mut this: BTreeMap<(String, String), StepKills> = BTreeMap::new();
            for line in &chunk.events {
                let KillfeedEvent::Kill { killer, victim, .. } = &line.event else {
                    continue;
                };
                if killer.id == victim.id {
                    continue;
                }
                let by_first = killer.id < victim.id;
                let key = match by_first {
                    true => (killer.id.to_owned(), victim.id.to_owned()),
                    false => (victim.id.to_owned(), killer.id.to_owned()),
                };
                let e = this.entry(key).or_insert(((0, 0), by_first, i64::MIN));
                if by_first {
                    e.0.0 += 1;
                } else {
                    e.0.1 += 1;
                }
                if line.at >= e.2 {
                    e.1 = by_first;
                    e.2 = line.at;
                }
            }
            for (pair, ((f, s), _, _)) in this {
                let before = kills.get(&pair).copied().unwrap_or((0, 0));
                let after = (before.0 + f, before.1 + s);
                kills.insert(pair.clone(), after);
                if after.0 + after.1 <= SETTLED_ABOVE {
                    continue;
                }
                let live = |k: (i64, i64)| {
                    Rivalry {
                        first_id: String::new(),
                        second_id: String::new(),
                        first_kills: k.0,
                        second_kills: k.1,
                        last: None,
                    }
                    .strength()
                        + 20
                };
                // A pair settled by this step announces the highest threshold it reached.
                let was = if before.0 + before.1 <= SETTLED_ABOVE {
                    0
                } else {
                    live(before)
                }
                .max(announced.get(&pair).copied().unwrap_or(0));
                let crossed = [50, 75, 90].iter().any(|t| was < *t && *t <= live(after));
                if crossed {
                    let highest = [50, 75, 90].into_iter().filter(|t| *t <= live(after)).max();
                    announced.insert(pair.clone(), highest.unwrap_or(0));
                }
                let lead = |k: (i64, i64)| (k.0 - k.1).signum();
                let change = if crossed {
                    "threshold"
                } else if lead(before) == lead(after) {
                    continue;
                } else if lead(after) == 0 {
                    "level"
                } else {
                    "lead"
                };
                expected.push((batch, pair, change.to_owned(), after.0, after.1));
            }
        }
    }
    expected.sort();
    assert!(
        ["lead", "level", "threshold"]
            .iter()
            .all(|c| expected.iter().any(|p| p.2 == *c)),
        "the lines change leads, draw level and reach thresholds: {expected:?}"
    );
    assert_eq!(posts, expected);

    // The worker dies after applying a batch that posts, before committing it.
    let crash_at = expected.iter().map(|p| p.0).max().unwrap_or(1);
    let again = posts_of_live_reading("rivalry_posts_crash", Some(crash_at)).await;
    assert_eq!(
        again, expected,
        "finished by the next worker: the same posts, once"
    );
}
