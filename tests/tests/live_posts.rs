//! Live posts through the real worker and gateway on the simulated Discord (issue #19):
//! an admin puts a leaderboard in a channel with `/leaderboard_channel set`; it is posted
//! once and then edited in place as the standings change; deleted by someone, it is posted
//! again and the new message remembered; removed, its message goes. A refresh whose answer
//! Discord lost is done again under the same nonce, so the channel still has one board.
//! `/status_channel set` keeps a server's live status the same way. With `/events fights`,
//! an airdrop's post is edited once with the kills that followed it.

use mongodb::bson::{Document, doc};
use serde_json::Value;

use tower_tests::WAIT;
use tower_tests::backing::TestDatabase;
use tower_tests::discord_sim::interactions::Opt;
use tower_tests::discord_sim::rest::PostFailure;
use tower_tests::guild_setup::{ALPHA, BRAVO, KillfeedSetup, kill};
use tower_tests::support::{eventually, kills_counted, ok};

const GUILD: u64 = 578_000_000_000_000_001;
const ADMIN: u64 = 978_000_000_000_000_001;
const KILLFEED: u64 = 678_000_000_000_000_001;
const BOARD: u64 = 678_000_000_000_000_002;
const STATUS: u64 = 678_000_000_000_000_003;
const EVENTS: u64 = 678_000_000_000_000_004;

/// A whole stack with one game server of `GUILD` at `tier`, its killfeed posting to
/// `KILLFEED`; the database and files named after `test`.
async fn setup(test: &str, tier: i32) -> KillfeedSetup {
    let db = ok(TestDatabase::create(test).await);
    ok(db
        .handle()
        .collection::<Document>("guilds")
        .insert_one(
            doc! { "guild_id": GUILD.to_string(), "premium_tier": tier, "schema_version": 1 },
        )
        .await);
    KillfeedSetup::start(db, test, (GUILD, ADMIN), KILLFEED).await
}

/// Bravo kills Alpha One at `minute`.
fn revenge(minute: u32) -> String {
    format!("2026.01.01-00.{minute:02}.00;Bravo;{BRAVO};Alpha One;{ALPHA};M4A1;50;PS5;PS5;\n")
}

/// The description of a message's first embed.
fn first_ranking(body: &Value) -> String {
    body["embeds"][0]["description"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Makes every live post of the test's database due now, instead of waiting 15 minutes.
async fn make_due(db: &mongodb::Database) {
    ok(db
        .collection::<Document>("live_posts")
        .update_many(
            doc! {},
            doc! { "$set": { "due_at": mongodb::bson::DateTime::now() } },
        )
        .await);
}

#[tokio::test]
async fn a_leaderboard_is_posted_once_then_edited_in_place_and_reposted_only_when_deleted() {
    let KillfeedSetup {
        db,
        home: _home,
        sim,
        options: _options,
        stack: _stack,
        admin,
        server,
        csv,
    } = setup("live_posts", 1).await;
    let handle = db.handle();
    ok(std::fs::write(&csv, format!("{}{}", kill(1), kill(2))));
    kills_counted(&handle, GUILD, &server, 2).await;

    // Refused at this tier: a refresh every 5 minutes; and a streak board over a week.
    let sent = sim.slash(
        0,
        &admin,
        "leaderboard_channel set",
        &[
            ("server_id", Opt::str(&server)),
            ("channel", Opt::Channel(BOARD)),
            ("interval", Opt::Int(5)),
        ],
    );
    let refused = ok(sim.answer(&sent, WAIT).await);
    assert!(
        refused.text().contains("at most every 15 min"),
        "{}",
        refused.text()
    );
    let sent = sim.slash(
        0,
        &admin,
        "leaderboard_channel set",
        &[
            ("server_id", Opt::str(&server)),
            ("channel", Opt::Channel(BOARD)),
            ("stats", Opt::str("kills, streak")),
            ("window", Opt::str("week")),
        ],
    );
    let refused = ok(sim.answer(&sent, WAIT).await);
    assert!(
        refused.text().contains("all time only"),
        "{}",
        refused.text()
    );
    assert!(
        sim.channel_messages(BOARD).is_empty(),
        "nothing stored, nothing posted"
    );

    // Kills and K/D with a podium: posted once.
    let sent = sim.slash(
        0,
        &admin,
        "leaderboard_channel set",
        &[
            ("server_id", Opt::str(&server)),
            ("channel", Opt::Channel(BOARD)),
            ("stats", Opt::str("kills, kdr")),
            ("podium", Opt::Bool(true)),
            ("kd_min_kills", Opt::Int(1)),
        ],
    );
    let saved = ok(sim.answer(&sent, WAIT).await);
    assert_eq!(saved.title(), "Leaderboard saved", "{}", saved.text());
    assert!(saved.text().contains("every 15 min"), "{}", saved.text());
    eventually("the board posted", WAIT, || async {
        sim.channel_messages(BOARD).len() == 1
    })
    .await;
    let (first_id, body) = sim.channel_messages(BOARD)[0].clone();
    assert!(
        body["embeds"][0]["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("Kills (all time) — ")),
        "{body}"
    );
    let kills = first_ranking(&body);
    assert!(kills.starts_with("🥇 **Alpha One** — 2"), "{kills}");
    assert_eq!(
        body["embeds"][1]["title"]
            .as_str()
            .map(|t| t.starts_with("K/D ratio (all time)")),
        Some(true),
        "{body}"
    );

    // Bravo takes the lead: the same message is edited, nothing new is posted.
    ok(std::fs::write(
        &csv,
        format!(
            "{}{}{}{}{}",
            kill(1),
            kill(2),
            revenge(3),
            revenge(4),
            revenge(5)
        ),
    ));
    kills_counted(&handle, GUILD, &server, 5).await;
    make_due(&handle).await;
    eventually("the board edited with the new leader", WAIT, || async {
        sim.channel_messages(BOARD)
            .first()
            .is_some_and(|(_, b)| first_ranking(b).starts_with("🥇 **Bravo** — 3"))
    })
    .await;
    assert_eq!(
        sim.posted(BOARD).len(),
        1,
        "edited in place, not posted again"
    );
    assert_eq!(sim.channel_messages(BOARD)[0].0, first_id);
    assert!(sim.edits(BOARD) >= 1);

    // Deleted by a member: posted again on the next refresh, and the new one remembered.
    assert!(sim.delete_message(BOARD, first_id));
    make_due(&handle).await;
    eventually("the board posted again", WAIT, || async {
        sim.channel_messages(BOARD).len() == 1
    })
    .await;
    let second_id = sim.channel_messages(BOARD)[0].0;
    assert_ne!(second_id, first_id);
    let posts = handle.collection::<Document>("live_posts");
    eventually("the new message remembered", WAIT, || async {
        posts
            .find_one(doc! { "kind": "leaderboard" })
            .await
            .ok()
            .flatten()
            .and_then(|d| d.get_str("message_id").ok().map(str::to_owned))
            == Some(second_id.to_string())
    })
    .await;
    let edits_before = sim.edits(BOARD);
    make_due(&handle).await;
    eventually("the new message edited", WAIT, || async {
        sim.edits(BOARD) > edits_before
    })
    .await;
    assert_eq!(sim.posted(BOARD).len(), 2, "one repost for one deletion");

    // Listed, then removed with its message.
    let sent = sim.slash(0, &admin, "leaderboard_channel list", &[]);
    let list = ok(sim.answer(&sent, WAIT).await);
    assert!(
        list.text().contains(&format!(
            "<#{BOARD}>: kills, kdr · all time · 10 rows · podium"
        )),
        "{}",
        list.text()
    );
    let sent = sim.slash(
        0,
        &admin,
        "leaderboard_channel remove",
        &[
            ("server_id", Opt::str(&server)),
            ("channel", Opt::Channel(BOARD)),
        ],
    );
    let removed = ok(sim.answer(&sent, WAIT).await);
    assert_eq!(removed.title(), "Removed", "{}", removed.text());
    assert!(
        sim.channel_messages(BOARD).is_empty(),
        "its message deleted"
    );
    assert_eq!(ok(posts.count_documents(doc! {}).await), 0);
}

#[tokio::test]
async fn a_board_whose_answer_was_lost_is_not_posted_twice_and_the_status_post_shows_health() {
    let KillfeedSetup {
        db,
        home: _home,
        sim,
        options: _options,
        stack: _stack,
        admin,
        server,
        csv,
    } = setup("live_posts_lost", 3).await;
    let handle = db.handle();
    // A kill and an unreadable line (counted with it, before the server's totals).
    ok(std::fs::write(&csv, kill(1) + "garbage;line\n"));
    kills_counted(&handle, GUILD, &server, 1).await;
    // Five unreadable lines read two days ago: not today's.
    ok(handle
        .collection::<Document>("kills")
        .insert_one(doc! {
            "_id": "older-unreadable", "guild_id": GUILD.to_string(), "server_id": &server,
            "kind": "malformed", "count": 5i64,
            "read_at": mongodb::bson::DateTime::from_millis(
                mongodb::bson::DateTime::now().timestamp_millis() - 2 * 86_400_000,
            ),
        })
        .await);

    // Discord takes the board but its answer never comes back.
    sim.fail_posts(Some(PostFailure::LostAnswer));
    let sent = sim.slash(
        0,
        &admin,
        "leaderboard_channel set",
        &[
            ("server_id", Opt::str(&server)),
            ("channel", Opt::Channel(BOARD)),
            ("interval", Opt::Int(5)),
        ],
    );
    let saved = ok(sim.answer(&sent, WAIT).await);
    assert_eq!(saved.title(), "Leaderboard saved", "{}", saved.text());
    let posts = handle.collection::<Document>("live_posts");
    eventually(
        "the lost post given back to be tried again",
        WAIT,
        || async {
            sim.post_attempts(BOARD) >= 1
                && posts
                    .find_one(doc! { "kind": "leaderboard" })
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|d| !d.contains_key("claim"))
        },
    )
    .await;
    sim.fail_posts(None);
    make_due(&handle).await;
    eventually("the board's message remembered", WAIT, || async {
        posts
            .find_one(doc! { "kind": "leaderboard" })
            .await
            .ok()
            .flatten()
            .is_some_and(|d| d.contains_key("message_id"))
    })
    .await;
    assert_eq!(
        sim.channel_messages(BOARD).len(),
        1,
        "one board: the retry reused the nonce"
    );
    assert_eq!(sim.posted(BOARD).len(), 1);

    // The live status: players, last kills and how current the killfeed is.
    let sent = sim.slash(
        0,
        &admin,
        "status_channel set",
        &[
            ("server_id", Opt::str(&server)),
            ("channel", Opt::Channel(STATUS)),
        ],
    );
    let saved = ok(sim.answer(&sent, WAIT).await);
    assert_eq!(saved.title(), "Live status saved", "{}", saved.text());
    eventually("the status posted", WAIT, || async {
        sim.channel_messages(STATUS).len() == 1
    })
    .await;
    let (_, body) = sim.channel_messages(STATUS)[0].clone();
    let embed = &body["embeds"][0];
    assert!(
        embed["title"]
            .as_str()
            .is_some_and(|t| t.ends_with("— live status")),
        "{embed}"
    );
    let field = |name: &str| {
        embed["fields"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["name"] == name))
            .and_then(|f| f["value"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        field("Last kills").starts_with("Alpha One → Bravo (AK-74, 120 m)"),
        "{embed}"
    );
    assert!(
        field("Ingestion").starts_with("Killfeed current to <t:"),
        "{embed}"
    );
    assert!(
        field("Ingestion").ends_with("· 1 unreadable line today"),
        "{embed}"
    );

    // Removed: no longer kept, its message deleted.
    let sent = sim.slash(
        0,
        &admin,
        "status_channel remove",
        &[("server_id", Opt::str(&server))],
    );
    let removed = ok(sim.answer(&sent, WAIT).await);
    assert_eq!(removed.title(), "Removed", "{}", removed.text());
    assert!(sim.channel_messages(STATUS).is_empty());
}

#[tokio::test]
async fn an_airdrop_post_is_edited_once_with_the_kills_that_followed_it() {
    let KillfeedSetup {
        db,
        home,
        sim,
        options: _options,
        stack: _stack,
        admin,
        server,
        csv,
    } = setup("live_posts_fights", 3).await;
    let handle = db.handle();
    for (path, opts) in [
        (
            "setup channels",
            vec![
                ("server_id", Opt::str(&server)),
                ("events_channel", Opt::Channel(EVENTS)),
            ],
        ),
        ("events start", vec![("server_id", Opt::str(&server))]),
        (
            "events fights",
            vec![("server_id", Opt::str(&server)), ("minutes", Opt::Int(10))],
        ),
    ] {
        let sent = sim.slash(0, &admin, path, &opts);
        let answer = ok(sim.answer(&sent, WAIT).await);
        assert!(
            !answer.title().contains("refused"),
            "{path}: {}",
            answer.text()
        );
    }
    tower_tests::support::first_read_done(&handle, GUILD, &server).await;

    // An airdrop at 00:10; kills at 00:12 and 00:15 follow it, one at 00:40 does not.
    ok(std::fs::write(
        home.log(&server),
        "Log file open, 01/01/26 00:00:00\n\
         [2026.01.01-00.10.00:000][  1]LogSFPS: AirDrop switched to Flying\n",
    ));
    ok(std::fs::write(
        &csv,
        format!("{}{}{}", kill(12), revenge(15), kill(40)),
    ));
    kills_counted(&handle, GUILD, &server, 3).await;
    eventually("the airdrop posted", WAIT, || async {
        sim.channel_messages(EVENTS).len() == 1
    })
    .await;
    // The log's opening is a restart, posted in the same message: only the airdrop is
    // followed.
    let (message, posted) = sim.channel_messages(EVENTS)[0].clone();
    let titles: Vec<&str> = posted["embeds"]
        .as_array()
        .map(|e| e.iter().filter_map(|e| e["title"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(titles, ["Server restart", "Airdrop"], "{posted}");
    let posts = handle.collection::<Document>("live_posts");
    eventually("the airdrop followed", WAIT, || async {
        posts.count_documents(doc! { "kind": "fights" }).await.ok() == Some(1)
    })
    .await;
    assert_eq!(sim.edits(EVENTS), 0, "not before its ten minutes");
    // Due the ten minutes and one more (kills of the last moments are read by then).
    let due_in_ms = ok(posts.find_one(doc! { "kind": "fights" }).await)
        .and_then(|d| d.get_datetime("due_at").ok().map(|t| t.timestamp_millis()))
        .map(|t| t - mongodb::bson::DateTime::now().timestamp_millis());
    assert!(
        due_in_ms.is_some_and(|ms| (600_000..=660_000).contains(&ms)),
        "{due_in_ms:?}"
    );

    // Ten minutes on (moved, not waited for): edited once, with the two kills.
    make_due(&handle).await;
    eventually("the airdrop post edited", WAIT, || async {
        sim.edits(EVENTS) == 1
    })
    .await;
    let (id, edited) = sim.channel_messages(EVENTS)[0].clone();
    assert_eq!(id, message);
    let fights = edited["embeds"][1]["fields"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["name"] == "Fights in the 10 min after"))
        .and_then(|f| f["value"].as_str())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        fights,
        "+2 min · Alpha One → Bravo (AK-74, 120 m)\n+5 min · Bravo → Alpha One (M4A1, 50 m)",
        "{edited}"
    );
    assert_eq!(edited["embeds"][1]["title"], "Airdrop", "the post kept");
    assert_eq!(
        edited["embeds"][0], posted["embeds"][0],
        "the restart as it was"
    );
    eventually("the airdrop forgotten", WAIT, || async {
        posts.count_documents(doc! {}).await.ok() == Some(0)
    })
    .await;
    assert_eq!(sim.posted(EVENTS).len(), 1, "edited, never posted again");
}

/// Claims every post due now of the guilds `ours` accepts, as a gateway's look does.
async fn claim_all(
    store: &tower_store::live_posts::LivePosts,
    ours: impl Fn(u64) -> bool,
) -> Vec<tower_store::live_posts::LivePost> {
    let mut claimed = Vec::new();
    for post in ok(store.due(ours).await) {
        claimed.extend(ok(store.claim(&post).await));
    }
    claimed
}

/// The store's side of a refresh racing an admin: a refresh that lost its post (removed,
/// moved) records nothing and posts nothing; settings set during a refresh are drawn at
/// once, not an interval later; a board set again after its removal posts under a new
/// nonce; one look is not filled with other gateways' posts.
#[tokio::test]
async fn a_refresh_racing_an_admin_never_leaves_a_stray_or_stale_post() {
    use tower_store::live_posts::{Board, LivePosts, Shows};
    let db = ok(TestDatabase::create("live_posts_races").await);
    let store = LivePosts::new(&ok(db.open().await));
    let board = || Shows::Leaderboard(Board::default());
    let ours = |g: u64| g == GUILD;

    // Removed while a refresh holds it.
    ok(store.set(GUILD, "1", BOARD, board(), 900).await);
    let claimed = claim_all(&store, ours).await;
    assert_eq!(claimed.len(), 1);
    let first_nonce = claimed[0].nonce();
    // Another refresh of the post as it stands would be handed the same message (same
    // nonce): a message this one could not record is not deleted under it.
    assert!(ok(store.may_hold(&claimed[0], 42).await));
    assert!(ok(store.remove(GUILD, "1", Some(BOARD)).await).is_some());
    assert!(
        !ok(store.may_hold(&claimed[0], 42).await),
        "a stray: deleted"
    );
    assert!(
        !ok(store.message_gone(&claimed[0]).await),
        "no repost for a removed board"
    );
    assert!(
        !ok(store.shown(&claimed[0], 42, true, 900).await),
        "not recorded"
    );
    assert!(
        ok(store.of_guild(GUILD).await).is_empty(),
        "not brought back"
    );

    // Set again: a new nonce, so Discord cannot answer with the removed message.
    let (again, _) = ok(store.set(GUILD, "1", BOARD, board(), 900).await);
    assert_ne!(again.nonce(), first_nonce);

    // Set while a refresh holds it: the refresh's message is kept and the post stays due.
    let claimed = claim_all(&store, ours).await;
    assert_eq!(claimed.len(), 1);
    ok(store.set(GUILD, "1", BOARD, board(), 600).await);
    assert!(ok(store.shown(&claimed[0], 43, true, 600).await));
    let now = ok(store.of_guild(GUILD).await);
    assert_eq!(now[0].message_id, Some(43));
    let due = ok(store.due(ours).await);
    assert_eq!(due.len(), 1, "due again at once, to draw the new settings");
    // Shown with the settings it drew: due an interval later.
    let claimed = claim_all(&store, ours).await;
    assert!(ok(store.shown(&claimed[0], 43, false, 600).await));
    assert!(ok(store.due(ours).await).is_empty());

    // A status moved to another channel while a refresh holds it: nothing recorded.
    ok(store.set(GUILD, "1", STATUS, Shows::Status, 60).await);
    let claimed = claim_all(&store, ours).await;
    assert_eq!(claimed.len(), 1);
    let (_, moved) = ok(store.set(GUILD, "1", STATUS + 1, Shows::Status, 60).await);
    assert_eq!(moved, None, "it had no message yet");
    assert!(!ok(store.shown(&claimed[0], 44, true, 60).await));
    assert!(!ok(store.message_gone(&claimed[0]).await));

    // 150 posts of another gateway's guilds due first do not crowd this gateway's out.
    for g in 0..150 {
        ok(store.set(1_000 + g, "1", BOARD, board(), 900).await);
    }
    ok(store.set(GUILD, "2", BOARD, board(), 900).await);
    let due = ok(store.due(ours).await);
    assert!(
        due.iter().any(|p| p.server_id == "2"),
        "{:?}",
        due.iter().map(|p| &p.id).collect::<Vec<_>>()
    );
}
