//! A guild takes the bot's Send Messages in its killfeed channel: Discord answers 403 to
//! the first post, and the bot stops posting there (each post would be one more invalid
//! request against the bot's IP) until an admin saves the channels again. The admins are
//! told in `/killfeed status` and once, privately, on their next command.

use mongodb::bson::{Document, doc};
use tower_tests::WAIT;
use tower_tests::backing::TestDatabase;
use tower_tests::discord_sim::SimEvent;
use tower_tests::discord_sim::interactions::Opt;
use tower_tests::guild_setup::{KillfeedSetup, kill, killfeed_channel};
use tower_tests::support::{eventually, ok, posting_caught_up};

const GUILD: u64 = 860_000_000_000_000_001;
const ADMIN: u64 = 960_000_000_000_000_001;
const CHANNEL: u64 = 660_000_000_000_000_001;

#[tokio::test]
async fn a_channel_that_refuses_posts_is_left_alone_until_an_admin_fixes_it() {
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
        ok(TestDatabase::create("refused_channel").await),
        "refused_channel",
        (GUILD, ADMIN),
        CHANNEL,
    )
    .await;
    let run = async |path: &str, opts: &[(&str, Opt)]| {
        let sent = sim.slash(0, &admin, path, opts);
        ok(sim.answer(&sent, WAIT).await)
    };
    let channels = killfeed_channel(&server, CHANNEL);

    // The guild takes the bot's permission; a kill is refused, and the channel blocked.
    sim.refuse_posts(CHANNEL, true);
    let mut text = kill(1);
    ok(std::fs::write(&csv, &text));
    let blocks = db.handle().collection::<Document>("channel_blocks");
    eventually("the channel blocked", WAIT, || async {
        blocks
            .count_documents(doc! { "_id": CHANNEL as i64 })
            .await
            .is_ok_and(|n| n == 1)
    })
    .await;
    assert_eq!(sim.post_attempts(CHANNEL), 1);
    // More kills: not one more request to the refusing channel.
    for minute in 2..5 {
        text.push_str(&kill(minute));
    }
    ok(std::fs::write(&csv, &text));
    posting_caught_up(&db.handle(), 4).await;
    assert_eq!(
        sim.post_attempts(CHANNEL),
        1,
        "a blocked channel gets no more requests"
    );
    // What was held back is counted (and `/csv_status` says so, below).
    let status = db.handle().collection::<Document>("server_status");
    eventually("the held-back kills counted", WAIT, || async {
        status
            .find_one(doc! { "_id": format!("{GUILD}:{server}") })
            .await
            .ok()
            .flatten()
            .and_then(|d| d.get_i64("blocked_notices").ok())
            == Some(3)
    })
    .await;

    // The status says so; the admin's next command brings a private note, once.
    let status = run("killfeed status", &[]).await;
    assert!(
        status
            .text()
            .contains(&format!("Cannot post in <#{CHANNEL}>"))
            && status.text().contains("Missing Permissions"),
        "{}",
        status.text()
    );
    let note = |sent: &tower_tests::discord_sim::interactions::Sent| {
        sim.messages(sent)
            .into_iter()
            .filter_map(Result::ok)
            .any(|m| m.title() == "The bot cannot post in some channels" && m.is_ephemeral())
    };
    let sent = sim.slash(
        0,
        &admin,
        "killfeed stop",
        &[("server_id", Opt::str(&server))],
    );
    ok(sim.answer(&sent, WAIT).await);
    ok(sim
        .wait_for("the private note", WAIT, |e| {
            matches!(e, SimEvent::Rest(c) if c.method == "POST"
                && c.path.starts_with("/webhooks/")
                && c.path.contains(&sent.token))
        })
        .await);
    assert!(note(&sent));
    // Recorded as told before the next command, so a second note would be caught.
    eventually("the block marked told", WAIT, || async {
        blocks
            .count_documents(doc! { "_id": CHANNEL as i64, "told": true })
            .await
            .is_ok_and(|n| n == 1)
    })
    .await;
    let sent = sim.slash(
        0,
        &admin,
        "killfeed start",
        &[("server_id", Opt::str(&server))],
    );
    ok(sim.answer(&sent, WAIT).await);
    // A note would come right after that answer: the answer to one more command comes
    // after it.
    let later = sim.slash(0, &admin, "killfeed status", &[]);
    ok(sim.answer(&later, WAIT).await);
    assert!(!note(&sent), "told once");
    let csv_status = run("csv_status", &[]).await;
    assert!(
        csv_status
            .text()
            .contains("3 notifications not posted: their channel refuses the bot"),
        "{}",
        csv_status.text()
    );

    // Fixed: the permission is back and the admin saves the channels; the next kill posts.
    sim.refuse_posts(CHANNEL, false);
    assert_eq!(
        run("setup channels", &channels).await.title(),
        "Channels saved"
    );
    text.push_str(&kill(9));
    ok(std::fs::write(&csv, &text));
    ok(sim
        .wait_for(
            "a kill posted after the fix",
            WAIT,
            |e| matches!(e, SimEvent::Posted { channel, .. } if *channel == CHANNEL),
        )
        .await);
    assert_eq!(ok(blocks.count_documents(doc! {}).await), 0);
    ok(stack.stop_cleanly(WAIT).await);
}
