//! A game server whose password is wrong is not read; the next admin who runs a command is
//! told privately, with the fix, once: not on every poll, not on every command; the refused
//! login's error id leads to it in `/debug`. A guild with an admin channel hears there.

use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};
use tower_tests::WAIT;
use tower_tests::backing::TestDatabase;
use tower_tests::discord_sim::interactions::{Member, Opt, Sent};
use tower_tests::discord_sim::{DiscordSimulator, SimEvent};
use tower_tests::guild_setup::{addserver_options, remove_server};
use tower_tests::support::{eventually, ok};

const GUILD: u64 = 861_000_000_000_000_001;
const ADMIN: u64 = 961_000_000_000_000_001;

#[tokio::test]
async fn an_admin_is_told_once_of_a_server_with_a_wrong_password() {
    let db = ok(TestDatabase::create("admin_alerts").await);
    let home = tower_tests::sftp_home::Home::new("admin_alerts");
    let server = tower_tests::sftp_home::unique_server_id();
    ok(std::fs::write(
        home.killfeed(&server).join("2026.01.01-00.00.00.csv"),
        "",
    ));
    let sim = ok(DiscordSimulator::start().await);
    let key = ok(tower_store::secret::SecretKey::generate_base64());
    let options =
        tower_tests::stack::StackOptions::simulated(&db, &sim, Some(key)).with_loopback_sftp();
    let stack = ok(tower_tests::stack::Stack::start(&options).await);
    let admin = Member::admin(GUILD, ADMIN);

    let mut wrong = addserver_options(&server);
    for (name, value) in &mut wrong {
        if *name == "password" {
            *value = Opt::str("not-the-password");
        }
    }
    let sent = sim.slash(0, &admin, "setup addserver", &wrong);
    assert_eq!(ok(sim.answer(&sent, WAIT).await).title(), "Server added");
    let status = db.handle().collection::<Document>("server_status");
    eventually("the worker's login refused", WAIT, || async {
        status
            .count_documents(doc! {
                "guild_id": GUILD.to_string(),
                "server_id": &server,
                "last_error_kind": "sftp.authfailed",
            })
            .await
            .is_ok_and(|n| n == 1)
    })
    .await;

    let note = |sent: &Sent| -> Option<String> {
        sim.messages(sent)
            .into_iter()
            .filter_map(Result::ok)
            .find(|m| m.title() == "Some game servers are not being read" && m.is_ephemeral())
            .map(|m| m.text())
    };
    let sent = sim.slash(0, &admin, "csv_status", &[]);
    ok(sim.answer(&sent, WAIT).await);
    ok(sim
        .wait_for("the private note", WAIT, |e| {
            matches!(e, SimEvent::Rest(c) if c.method == "POST"
                && c.path.starts_with("/webhooks/")
                && c.path.contains(&sent.token))
        })
        .await);
    let Some(text) = note(&sent) else {
        panic!("the admin is told: {:?}", sim.messages(&sent));
    };
    assert!(text.contains(&server), "{text}");
    assert!(
        text.contains("refused the user name or password"),
        "the fix: {text}"
    );

    // The worker keeps failing (its polls go on); the admins are not told again.
    let sent = sim.slash(0, &admin, "csv_status", &[]);
    ok(sim.answer(&sent, WAIT).await);
    let later = sim.slash(0, &admin, "log_status", &[]);
    ok(sim.answer(&later, WAIT).await);
    assert_eq!(note(&sent), None, "told once");

    // The refused login is an error with an id: the admin finds it in `/debug show_recent`
    // and `/debug error_id` gives what happened and the fix.
    let debug = async |options: &[(&str, Opt)]| {
        let sent = sim.slash(0, &admin, "debug", options);
        ok(sim.answer(&sent, WAIT).await)
    };
    let id = ok(tokio::time::timeout(WAIT, async {
        loop {
            let recent = debug(&[("show_recent", Opt::Bool(true))]).await.text();
            let id = recent
                .lines()
                .find(|l| l.contains("refused the login"))
                .and_then(|l| l.split('`').nth(1))
                .map(str::to_owned);
            if let Some(id) = id {
                break id;
            }
            // The report reaches the collector in the background.
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    })
    .await);
    let shown = debug(&[("error_id", Opt::str(id.as_str()))]).await;
    assert_eq!(shown.title(), format!("Error {id}"));
    let text = shown.text();
    assert!(text.contains("sftp.authfailed"), "{text}");
    assert!(text.contains(&server), "{text}");
    assert!(
        text.contains("refused the user name or password"),
        "the fix for a refused login: {text}"
    );
    assert!(!text.contains("not-the-password"), "no secret: {text}");

    // Nowhere stored, nowhere logged: every document of every collection, every line of
    // every process's log.
    let handle = db.handle();
    for name in ok(handle.list_collection_names().await) {
        let mut docs = ok(handle.collection::<Document>(&name).find(doc! {}).await);
        while let Some(d) = ok(docs.try_next().await) {
            assert!(
                !d.to_string().contains("not-the-password"),
                "the password in {name}: {d}"
            );
        }
    }
    for daemon in [&stack.gateway, &stack.worker, &stack.collector] {
        for line in daemon.logs() {
            assert!(
                !line.raw.contains("not-the-password"),
                "the password in {}'s log: {}",
                daemon.label(),
                line.raw
            );
        }
    }
}

const ADMIN_CHANNEL: u64 = 661_000_000_000_000_001;

/// The embeds posted in the admin channel, message by message: (title, description).
fn admin_notes(sim: &DiscordSimulator) -> Vec<Vec<(String, String)>> {
    sim.posted(ADMIN_CHANNEL)
        .iter()
        .map(|m| {
            m["embeds"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|e| {
                    (
                        e["title"].as_str().unwrap_or_default().to_owned(),
                        e["description"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn a_guild_with_an_admin_channel_hears_there_once_per_problem() {
    let db = ok(TestDatabase::create("admin_channel_alerts").await);
    let home = tower_tests::sftp_home::Home::new("admin_channel_alerts");
    let (first, second) = (
        tower_tests::sftp_home::unique_server_id(),
        tower_tests::sftp_home::unique_server_id(),
    );
    for server in [&first, &second] {
        ok(std::fs::write(
            home.killfeed(server).join("2026.01.01-00.00.00.csv"),
            "",
        ));
    }
    let sim = ok(DiscordSimulator::start().await);
    let key = ok(tower_store::secret::SecretKey::generate_base64());
    let mut options =
        tower_tests::stack::StackOptions::simulated(&db, &sim, Some(key)).with_loopback_sftp();
    options
        .extra_env
        .push(("TOWER_ADMIN_ALERTS_EVERY_SECS".to_owned(), "1".to_owned()));
    let _stack = ok(tower_tests::stack::Stack::start(&options).await);
    let guild = GUILD + 1;
    // Two servers take a premium tier.
    ok(db
        .handle()
        .collection::<Document>("guilds")
        .insert_one(doc! { "guild_id": guild.to_string(), "premium_tier": 2, "schema_version": 1 })
        .await);
    let admin = Member::admin(guild, ADMIN);
    let run = async |path: &str, opts: &[(&str, Opt)]| {
        let sent = sim.slash(0, &admin, path, opts);
        let answer = ok(sim.answer(&sent, WAIT).await);
        (sent, answer)
    };
    let add_with_wrong_password = |server: &str| {
        let mut wrong = addserver_options(server);
        for (name, value) in &mut wrong {
            if *name == "password" {
                *value = Opt::str("not-the-password");
            }
        }
        wrong
    };

    // The first server's password is wrong; the admin names an admin channel.
    let (_, added) = run("setup addserver", &add_with_wrong_password(&first)).await;
    assert_eq!(added.title(), "Server added");
    // The admin learns it at once from the inline test.
    assert!(added.text().contains("❌"), "{}", added.text());
    let (_, saved) = run(
        "setup channels",
        &[
            ("server_id", Opt::str(first.as_str())),
            ("admin_channel", Opt::Channel(ADMIN_CHANNEL)),
        ],
    )
    .await;
    assert!(
        saved.text().contains(&format!("<#{ADMIN_CHANNEL}>")),
        "{}",
        saved.text()
    );
    ok(sim
        .wait_for(
            "the first note",
            WAIT,
            |e| matches!(e, SimEvent::Posted { channel, .. } if *channel == ADMIN_CHANNEL),
        )
        .await);
    let notes = admin_notes(&sim);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0][0].0, "Some game servers are not being read");
    assert!(notes[0][0].1.contains(&first), "{notes:?}");
    assert!(
        notes[0][0].1.contains("refused the user name or password"),
        "{notes:?}"
    );

    // A backfill asked for runs at once (the breaker would wait half an hour) and fails:
    // that is news of its own.
    let (sent, _) = run(
        "historical_parse",
        &[("server_id", Opt::str(first.as_str()))],
    )
    .await;
    ok(sim
        .wait_for("the backfill's note", WAIT, |e| {
            matches!(e, SimEvent::Posted { channel, body, .. } if *channel == ADMIN_CHANNEL
                && body.to_string().contains("A backfill failed"))
        })
        .await);
    // With an admin channel, commands bring no private notes.
    assert!(
        !sim.messages(&sent)
            .into_iter()
            .filter_map(Result::ok)
            .any(|m| m.is_ephemeral() && m.title().contains("not being read")),
        "told in the channel, not privately"
    );

    // A second server with a wrong password: its note comes in a new message, and the
    // first server's problem, still there through many rounds, is not told again.
    let (_, added) = run("setup addserver", &add_with_wrong_password(&second)).await;
    assert_eq!(added.title(), "Server added");
    ok(sim
        .wait_for("the second server's note", WAIT, |e| {
            matches!(e, SimEvent::Posted { channel, body, .. } if *channel == ADMIN_CHANNEL
                && body.to_string().contains(second.as_str()))
        })
        .await);
    let notes = admin_notes(&sim);
    assert_eq!(notes.len(), 3, "{notes:?}");
    assert_eq!(notes[1][0].0, "A backfill failed");
    assert!(notes[1][0].1.contains(&first), "{notes:?}");
    assert_eq!(notes[2].len(), 1, "{notes:?}");
    assert!(
        notes[2][0].1.contains(&second) && !notes[2][0].1.contains(&first),
        "told once: {notes:?}"
    );

    // Fixed, then broken again: told again. The admin adds the first server again with
    // the right password; once it is read, its told problem is forgotten…
    let told = db.handle().collection::<Document>("admin_alerts");
    let status = db.handle().collection::<Document>("server_status");
    let removed = remove_server(&sim, &admin, first.as_str()).await;
    assert_eq!(removed.title(), "Server removed");
    let (_, added) = run("setup addserver", &addserver_options(&first)).await;
    assert_eq!(added.title(), "Server added");
    eventually("the first server read again", WAIT, || async {
        status
            .count_documents(doc! {
                "_id": format!("{guild}:{first}"),
                "last_error_kind": "",
            })
            .await
            .is_ok_and(|n| n == 1)
    })
    .await;
    eventually("its told problem forgotten", WAIT, || async {
        told.count_documents(doc! { "_id": format!("{guild}:{first}") })
            .await
            .is_ok_and(|n| n == 0)
    })
    .await;
    // …so the same wrong password, given again, is news again.
    remove_server(&sim, &admin, first.as_str()).await;
    run("setup addserver", &add_with_wrong_password(&first)).await;
    eventually("the first server's problem, told again", WAIT, || async {
        admin_notes(&sim).len() == 4
    })
    .await;
    let notes = admin_notes(&sim);
    assert!(
        notes[3][0].1.contains(first.as_str()) && notes[3][0].1.contains("not being read"),
        "{notes:?}"
    );

    // The guild takes the bot's Send Messages in the admin channel: the next problem
    // cannot be posted there, so the next admin command brings it privately, with the
    // refused admin channel.
    sim.refuse_posts(ADMIN_CHANNEL, true);
    remove_server(&sim, &admin, second.as_str()).await;
    eventually(
        "the second server's told problem forgotten",
        WAIT,
        || async {
            told.count_documents(doc! { "_id": format!("{guild}:{second}") })
                .await
                .is_ok_and(|n| n == 0)
        },
    )
    .await;
    run("setup addserver", &add_with_wrong_password(&second)).await;
    let blocks = db.handle().collection::<Document>("channel_blocks");
    eventually("the admin channel refused", WAIT, || async {
        blocks
            .count_documents(doc! { "_id": ADMIN_CHANNEL as i64 })
            .await
            .is_ok_and(|n| n == 1)
    })
    .await;
    let (sent, _) = run("csv_status", &[]).await;
    ok(sim
        .wait_for("the private notes", WAIT, |e| {
            matches!(e, SimEvent::Rest(c) if c.method == "POST"
                && c.path.starts_with("/webhooks/")
                && c.path.contains(&sent.token)
                && c.body.as_ref().is_some_and(|b| b.to_string().contains("not being read")))
        })
        .await);
    let private: Vec<String> = sim
        .messages(&sent)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|m| m.is_ephemeral())
        .map(|m| m.text())
        .collect();
    let all = private.join("\n");
    assert!(all.contains(second.as_str()), "{all}");
    assert!(
        all.contains(&format!("Cannot post in <#{ADMIN_CHANNEL}>")),
        "the refused admin channel: {all}"
    );
    assert_eq!(
        admin_notes(&sim).len(),
        4,
        "nothing more in the refused channel"
    );
}
