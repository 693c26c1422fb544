//! The Discord front end, driven as users drive it: slash commands, autocomplete and
//! buttons sent through the project's Discord simulator to the real gateway-shard, with
//! the real sftp-worker polling a real OpenSSH server into a real MongoDB-wire server.

use std::collections::HashSet;
use std::time::Duration;

use mongodb::bson::{Document, doc};
use serde_json::Value;
use tower_ingest::ingest::parse_killfeed_chunk;
use tower_store::secret::SecretKey;
use tower_tests::WAIT;
use tower_tests::backing::TestDatabase;
use tower_tests::discord_sim::interactions::{Answer, Member, Opt};
use tower_tests::discord_sim::{BOT_USER_ID, DiscordSimulator, OWNER_USER_ID, SimEvent};
use tower_tests::guild_setup::{addserver_options, remove_server};
use tower_tests::sftp_home::{Home, lines, unique_server_id};
use tower_tests::stack::{Stack, StackOptions};
use tower_tests::support::{
    eventually, expected_stats, first_read_done, fixture, ok, posting_caught_up, required_env,
};

const GUILD_A: u64 = 810_000_000_000_000_001;
const GUILD_B: u64 = 820_000_000_000_000_002;
const ADMIN_A: u64 = 910_000_000_000_000_001;
const MEMBER_A: u64 = 910_000_000_000_000_002;
const ADMIN_B: u64 = 920_000_000_000_000_001;
const KILLFEED_CHANNEL: u64 = 610_000_000_000_000_001;

fn options(db: &TestDatabase, sim: &DiscordSimulator, key: &str) -> StackOptions {
    StackOptions::simulated(db, sim, Some(key.to_owned())).with_loopback_sftp()
}

/// The users these tests act as: an admin and a member of guild A, an admin of guild B.
fn members() -> (Member, Member, Member) {
    (
        Member::admin(GUILD_A, ADMIN_A),
        Member::ordinary(GUILD_A, MEMBER_A),
        Member::admin(GUILD_B, ADMIN_B),
    )
}

/// Asserts that the answer's text holds every one of `parts`.
#[track_caller]
fn mentions(answer: &Answer, parts: &[&str]) {
    let text = answer.text();
    for part in parts {
        assert!(text.contains(part), "{part:?} not in: {text}");
    }
}

async fn add_server(sim: &DiscordSimulator, admin: &Member, server_id: &str) -> String {
    let sent = sim.slash(0, admin, "setup addserver", &addserver_options(server_id));
    // Private from its first response (a defer while the connection is tested).
    let first = ok(sim.first_answer(&sent, WAIT).await);
    assert!(
        first.is_ephemeral(),
        "the answer to /setup addserver is private"
    );
    let answer = ok(sim.answer(&sent, WAIT).await);
    assert_eq!(answer.title(), "Server added", "{}", answer.text());
    // The steps shown while the connection was tested, then the answer. A step is shown
    // only if the command still runs once Discord has its acknowledgement, which a quick
    // loopback test can beat: whether there is one is timing, what it says is not.
    let shown: Vec<String> = sim
        .messages(&sent)
        .into_iter()
        .filter_map(Result::ok)
        .map(|m| m.title())
        .collect();
    assert_eq!(
        shown.last().map(String::as_str),
        Some("Server added"),
        "{shown:?}"
    );
    assert!(
        shown[..shown.len() - 1]
            .iter()
            .all(|t| t == "Adding Server…"),
        "{shown:?}"
    );
    // Tested at once, as the earlier bot did.
    assert!(
        answer.text().contains("✅ Connection successful"),
        "{}",
        answer.text()
    );
    answer.text()
}

#[tokio::test]
async fn commands_work_end_to_end_and_refuse_what_they_must() {
    let db = ok(TestDatabase::create("gateway_commands").await);
    let home = Home::new("gateway_commands");
    let key = ok(SecretKey::generate_base64());
    let server_id = unique_server_id();
    let file = fixture("2025.05.01-00.00.00.csv");
    let posted_lines = lines(&file, 40);
    ok(std::fs::write(
        home.log(&server_id),
        "Log file open, 05/03/25 02:00:00\n",
    ));
    // Lines already there at the first read are history, never posted: they come later.
    let csv = home.killfeed(&server_id).join("2025.05.01-00.00.00.csv");
    ok(std::fs::write(&csv, ""));
    let sim = ok(DiscordSimulator::start().await);
    let stack = ok(Stack::start(&options(&db, &sim, &key)).await);
    let (admin_a, member_a, admin_b) = members();
    let owner_b = Member::ordinary(GUILD_B, OWNER_USER_ID);

    // The command set was registered (before the gateway reported SERVING), and it is the
    // committed one.
    let committed: Value = ok(serde_json::from_str(&ok(std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../gateway-shard/commands.json"
    )))));
    assert_eq!(
        sim.registered_commands(),
        Some(committed),
        "the registered set is gateway-shard/commands.json"
    );

    // Adding a server: the password is stored sealed, never in clear.
    let password = required_env("TOWER_TEST_SFTP_PASSWORD");
    add_server(&sim, &admin_a, &server_id).await;
    assert!(
        sim.rest_calls()
            .iter()
            .filter_map(|c| c.body.as_ref())
            .all(|b| !b.to_string().contains(&password)),
        "no answer of the bot repeats the password"
    );
    let stored: Vec<Document> = ok(futures_util::TryStreamExt::try_collect(ok(db
        .handle()
        .collection::<Document>("game_servers")
        .find(doc! {})
        .await))
    .await);
    assert_eq!(stored.len(), 1);
    assert!(
        !format!("{stored:?}").contains(&password),
        "no clear password in game_servers"
    );

    // A member who is not an admin is refused, and the refusal is audited.
    let sent = sim.slash(
        0,
        &member_a,
        "setup removeserver",
        &[("server_id", Opt::str(&server_id))],
    );
    let answer = ok(sim.answer(&sent, WAIT).await);
    assert_eq!(answer.title(), "Not allowed", "{}", answer.text());
    assert!(
        answer.text().contains("Error id E-"),
        "refusals carry an error id: {}",
        answer.text()
    );
    // Audited as it is answered (the answer does not wait for the record).
    let audit_log = db.handle().collection::<Document>("audit_log");
    let refused = doc! { "action": "permission.refused", "actor": MEMBER_A.to_string() };
    eventually("the refusal audited", WAIT, || async {
        audit_log
            .count_documents(refused.clone())
            .await
            .is_ok_and(|n| n == 1)
    })
    .await;

    // Stats need Survivor: the refusal names the tier.
    let sent = sim.slash(
        0,
        &member_a,
        "stats server",
        &[("server_id", Opt::str(&server_id))],
    );
    let answer = ok(sim.answer(&sent, WAIT).await);
    assert_eq!(answer.title(), "Not allowed");
    assert!(answer.text().contains("Survivor"), "{}", answer.text());
    // An events channel before the events feed's tier: refused, naming it.
    let sent = sim.slash(
        0,
        &admin_a,
        "setup channels",
        &[
            ("server_id", Opt::str(&server_id)),
            ("events_channel", Opt::Channel(810_000_000_000_000_077)),
        ],
    );
    let answer = ok(sim.answer(&sent, WAIT).await);
    assert_eq!(answer.title(), "Not allowed", "{}", answer.text());
    assert!(answer.text().contains("Warlord"), "{}", answer.text());

    // Only a home-guild admin or the owner grants premium; grants are audited.
    let sent = sim.slash(
        0,
        &admin_b,
        "admin premium",
        &[
            ("guild_id", Opt::str(GUILD_B.to_string())),
            ("tier", Opt::Int(4)),
        ],
    );
    assert_eq!(ok(sim.answer(&sent, WAIT).await).title(), "Not allowed");
    for guild in [GUILD_A, GUILD_B] {
        let sent = sim.slash(
            0,
            &owner_b,
            "admin premium",
            &[
                ("guild_id", Opt::str(guild.to_string())),
                ("tier", Opt::Int(3)),
            ],
        );
        let answer = ok(sim.answer(&sent, WAIT).await);
        assert_eq!(answer.title(), "Premium granted", "{}", answer.text());
    }
    let grants = ok(db
        .handle()
        .collection::<Document>("audit_log")
        .count_documents(doc! { "action": "premium.grant" })
        .await);
    assert_eq!(grants, 2);

    // Asking for the next tier: posted to the home server's admin channel, once a day.
    let sent = sim.slash(0, &member_a, "premium upgrade", &[]);
    let answer = ok(sim.answer(&sent, WAIT).await);
    assert!(
        answer
            .text()
            .contains("Could not find an admin channel in the home guild"),
        "{}",
        answer.text()
    );
    const HOME_ADMIN_CHANNEL: u64 = 810_000_000_000_000_090;
    let ours = ok(db.open().await);
    let guilds = tower_store::guilds::GuildStore::new(&ours);
    ok(guilds.set_home_guild(GUILD_B).await);
    ok(guilds.set_admin_channel(GUILD_B, HOME_ADMIN_CHANNEL).await);
    let sent = sim.slash(0, &member_a, "premium upgrade", &[]);
    let answer = ok(sim.answer(&sent, WAIT).await);
    assert_eq!(answer.title(), "Request Sent", "{}", answer.text());
    let request = sim.embeds_posted(HOME_ADMIN_CHANNEL);
    assert_eq!(request.len(), 1, "{request:?}");
    assert_eq!(request[0]["title"], "Premium Upgrade Request");
    assert!(
        request[0]
            .to_string()
            .contains(&format!("/admin premium guild_id:{GUILD_A} tier:4")),
        "{}",
        request[0]
    );
    let sent = sim.slash(0, &member_a, "premium upgrade", &[]);
    let answer = ok(sim.answer(&sent, WAIT).await);
    assert!(answer.text().contains("already asked"), "{}", answer.text());
    assert_eq!(sim.embeds_posted(HOME_ADMIN_CHANNEL).len(), 1, "once a day");
    // The request that was sent is audited, with the tier asked for; the refused one is not.
    let requests: Vec<Document> = ok(futures_util::TryStreamExt::try_collect(ok(db
        .handle()
        .collection::<Document>("audit_log")
        .find(doc! { "action": "premium.upgrade_requested" })
        .await))
    .await);
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(
        requests[0]
            .get_document("detail")
            .ok()
            .and_then(|d| d.get_i32("to").ok()),
        Some(4),
        "{requests:?}"
    );
    // The help of the admin and events commands.
    let sent = sim.slash(0, &member_a, "admin help", &[]);
    assert_eq!(
        ok(sim.answer(&sent, WAIT).await).title(),
        "Admin Commands Help"
    );
    let sent = sim.slash(0, &member_a, "events help", &[]);
    assert_eq!(
        ok(sim.answer(&sent, WAIT).await).title(),
        "Events Commands Help"
    );

    // Another guild cannot reach this guild's server, by command or by autocomplete.
    let sent = sim.slash(
        0,
        &admin_b,
        "stats server",
        &[("server_id", Opt::str(&server_id))],
    );
    let answer = ok(sim.answer(&sent, WAIT).await);
    assert_eq!(answer.title(), "Cannot do that", "{}", answer.text());
    let sent = sim.autocomplete(
        0,
        &admin_b,
        "stats server",
        &[("server_id", Opt::Focused(String::new()))],
    );
    assert_eq!(
        ok(sim.first_answer(&sent, WAIT).await).choices(),
        Vec::<(String, String)>::new()
    );
    let sent = sim.autocomplete(
        0,
        &admin_a,
        "stats server",
        &[("server_id", Opt::Focused(String::new()))],
    );
    let choices = ok(sim.first_answer(&sent, WAIT).await).choices();
    assert_eq!(
        choices.iter().map(|c| c.1.as_str()).collect::<Vec<_>>(),
        [server_id.as_str()]
    );

    // Channels, then the killfeed posts every line of the file, ≤ 10 embeds a message.
    let sent = sim.slash(
        0,
        &admin_a,
        "setup channels",
        &[
            ("server_id", Opt::str(&server_id)),
            ("killfeed_channel", Opt::Channel(KILLFEED_CHANNEL)),
        ],
    );
    assert_eq!(ok(sim.answer(&sent, WAIT).await).title(), "Channels saved");
    first_read_done(&db.handle(), GUILD_A, &server_id).await;
    ok(std::fs::write(&csv, posted_lines));
    let mut chunk = parse_killfeed_chunk("f.csv", posted_lines, 0, true);
    chunk.dedupe(GUILD_A, &server_id, &mut HashSet::new());
    let want = chunk.events.len();
    eventually("every killfeed line posted", WAIT, || async {
        sim.embeds_posted(KILLFEED_CHANNEL).len() >= want
    })
    .await;
    // Counted once everything stored has been handled, so a late repeat would show.
    posting_caught_up(&db.handle(), 1).await;
    let posted = sim.embeds_posted(KILLFEED_CHANNEL);
    assert_eq!(posted.len(), want, "each line posted once");
    assert!(sim.posted(KILLFEED_CHANNEL).iter().all(|m| {
        m["embeds"]
            .as_array()
            .is_some_and(|e| (1..=10).contains(&e.len()))
    }));

    // Leaderboard: the top killer of the file first.
    let expected = expected_stats(GUILD_A, &server_id, &[posted_lines]);
    let top = expected
        .players
        .values()
        .max_by_key(|p| (p.kills, std::cmp::Reverse(p.name.clone())))
        .map(|p| p.name.clone())
        .unwrap_or_default();
    // The golden top killer of these 40 lines (`towerctl analyze`: 5 kills, next has 3).
    assert_eq!(top, "vAsxre");
    let sent = sim.slash(
        0,
        &member_a,
        "stats leaderboard",
        &[
            ("server_id", Opt::str(&server_id)),
            ("stat", Opt::str("kills")),
        ],
    );
    let answer = ok(sim.answer(&sent, WAIT).await);
    let board = answer.embeds()[0]["description"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        board.starts_with(&format!("**1.** {top}")),
        "leaderboard: {board}, top killer {top}"
    );

    // A player's pages: buttons only the caller can use.
    let sent = sim.slash(
        0,
        &member_a,
        "stats player",
        &[
            ("server_id", Opt::str(&server_id)),
            ("player_name", Opt::str(&top)),
        ],
    );
    let answer = ok(sim.answer(&sent, WAIT).await);
    assert!(answer.title().starts_with(&top), "{}", answer.title());
    let buttons = answer.buttons();
    assert_eq!(buttons.len(), 4);
    let sent = sim.press(0, &admin_a, &buttons[1]);
    let refused = ok(sim.first_answer(&sent, WAIT).await);
    assert!(
        refused.is_ephemeral() && refused.title() == "Not your buttons",
        "{}",
        refused.text()
    );
    let sent = sim.press(0, &member_a, &buttons[1]);
    let page = ok(sim.first_answer(&sent, WAIT).await);
    assert_eq!(page.kind, 7, "the caller's button updates the message");
    assert!(page.title().ends_with("Weapons"), "{}", page.title());
    mentions(
        &page,
        &["Combat Profile", "Combat kills: ", "Weapon Categories"],
    );
    assert!(
        answer.text().contains("First seen <t:"),
        "{}",
        answer.text()
    );
    // The fixture's kills are from 2025: no recent form, and the history says why.
    let sent = sim.press(0, &member_a, &buttons[3]);
    let history = ok(sim.first_answer(&sent, WAIT).await);
    assert!(history.title().ends_with("History"), "{}", history.title());
    mentions(&history, &["Not enough history yet"]);

    // Player-name autocomplete is scoped to this guild's server.
    let sent = sim.autocomplete(
        0,
        &member_a,
        "stats player",
        &[
            ("server_id", Opt::str(&server_id)),
            ("player_name", Opt::Focused(top.chars().take(2).collect())),
        ],
    );
    let names = ok(sim.first_answer(&sent, WAIT).await).choices();
    assert!(names.iter().any(|(n, _)| *n == top), "{names:?}");

    // A value Discord lets through but that names nothing gets a clear error.
    let sent = sim.slash(
        0,
        &member_a,
        "stats player",
        &[
            ("server_id", Opt::str(&server_id)),
            ("player_name", Opt::str("bogus")),
        ],
    );
    let answer = ok(sim.answer(&sent, WAIT).await);
    assert_eq!(answer.title(), "Cannot do that");
    assert!(answer.text().contains("bogus"), "{}", answer.text());

    // SFTP work answers "working…" at once, then edits in the result.
    let sent = sim.slash(
        0,
        &admin_a,
        "test_sftp",
        &[("server", Opt::str(&server_id))],
    );
    let working = ok(sim.first_answer(&sent, WAIT).await);
    assert_eq!(working.title(), "Working…");
    // Private from the first answer: the result names the SFTP user, address and paths.
    assert!(working.is_ephemeral(), "/test_sftp is answered privately");
    let tested = ok(sim.edited_answer(&sent, WAIT).await);
    assert!(tested.title().starts_with("SFTP test"), "{}", tested.text());
    assert!(
        tested.text().contains("✅") && !tested.text().contains("❌"),
        "{}",
        tested.text()
    );

    // Linking a player, and the help list.
    let sent = sim.slash(0, &member_a, "link", &[("player_name", Opt::str(&top))]);
    assert_eq!(ok(sim.answer(&sent, WAIT).await).title(), "Player Linked");
    let sent = sim.slash(0, &member_a, "myplayers", &[]);
    let mine = ok(sim.answer(&sent, WAIT).await);
    assert_eq!(mine.title(), "Your Linked Players");
    let top_kills = expected
        .players
        .values()
        .map(|p| p.kills)
        .max()
        .unwrap_or(0);
    assert!(
        mine.text().contains(&top)
            && mine.text().contains(&format!("Kills: {top_kills}"))
            && mine.text().contains("K/D: "),
        "{}",
        mine.text()
    );
    // One Discord user per player: another member can neither take nor unlink it.
    let member_b = Member::ordinary(GUILD_A, 910_000_000_000_000_009);
    let sent = sim.slash(0, &member_b, "link", &[("player_name", Opt::str(&top))]);
    let refused = ok(sim.answer(&sent, WAIT).await);
    assert!(
        refused
            .text()
            .contains("already linked to another Discord user"),
        "{}",
        refused.text()
    );
    let sent = sim.slash(0, &member_b, "unlink", &[("player_name", Opt::str(&top))]);
    let refused = ok(sim.answer(&sent, WAIT).await);
    assert!(
        refused.text().contains("is linked to another Discord user"),
        "{}",
        refused.text()
    );
    // Its own players are what `/unlink` suggests.
    let sent = sim.autocomplete(
        0,
        &member_a,
        "unlink",
        &[("player_name", Opt::Focused(String::new()))],
    );
    let names = ok(sim.first_answer(&sent, WAIT).await).choices();
    assert_eq!(names.len(), 1, "{names:?}");
    let sent = sim.slash(0, &member_a, "commands", &[]);
    let help = ok(sim.answer(&sent, WAIT).await);
    mentions(&help, &["Getting Started", "/setup addserver"]);
    // A menu of categories: only its caller may use it; a category lists its commands.
    let menu = help
        .data
        .pointer("/components/0/components/0/custom_id")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let sent = sim.select(0, &admin_a, &menu, &["stats"]);
    let refused = ok(sim.first_answer(&sent, WAIT).await);
    assert!(
        refused.is_ephemeral() && refused.text().contains("This menu is not for you"),
        "{}",
        refused.text()
    );
    let sent = sim.select(0, &member_a, &menu, &["stats"]);
    let stats = ok(sim.first_answer(&sent, WAIT).await);
    assert_eq!(stats.kind, 7, "the caller's choice updates the message");
    assert_eq!(stats.title(), "📊 Stats Commands");
    mentions(
        &stats,
        &["`/stats player` — ", "`/stats weapon_categories` — "],
    );

    // More commands' happy paths.
    let run = async |member: &Member, path: &str, opts: &[(&str, Opt)]| {
        let sent = sim.slash(0, member, path, opts);
        ok(sim.answer(&sent, WAIT).await)
    };
    let sid = || ("server_id", Opt::str(&server_id));
    let a = run(&admin_a, "killfeed stop", &[sid()]).await;
    assert_eq!(a.title(), "Killfeed stopped", "{}", a.text());
    let a = run(&member_a, "killfeed status", &[]).await;
    mentions(&a, &["stopped"]);
    let a = run(&member_a, "setup list_servers", &[]).await;
    assert!(
        a.text().contains(&server_id) && !a.text().contains("127.0.0.1"),
        "{}",
        a.text()
    );
    let a = run(&member_a, "premium tiers", &[]).await;
    mentions(&a, &["Overseer"]);
    let a = run(&member_a, "premium status", &[]).await;
    assert_eq!(a.title(), "Warlord (tier 3)");
    let a = run(
        &admin_a,
        "admin setrole",
        &[("role", Opt::Role(777_000_000_000_000_001))],
    )
    .await;
    assert_eq!(a.title(), "Admin role set");
    let role_member = Member {
        roles: vec![777_000_000_000_000_001],
        ..Member::ordinary(GUILD_A, 910_000_000_000_000_003)
    };
    let a = run(&role_member, "admin status", &[]).await;
    assert_eq!(
        a.title(),
        "Bot status",
        "the admin role counts as admin: {}",
        a.text()
    );
    let a = run(
        &admin_a,
        "events config",
        &[sid(), ("airdrop", Opt::Bool(false))],
    )
    .await;
    mentions(&a, &["airdrop: off", "mission: on"]);
    // Kills by category, as the earlier bot counted them (death types are no weapon).
    use tower_ingest::weapons::Category;
    let a = run(&member_a, "stats weapon_categories", &[sid()]).await;
    assert!(
        a.title().starts_with("Weapon Category Stats"),
        "{}",
        a.title()
    );
    let in_category = |c: Category| -> u64 {
        expected
            .weapons
            .iter()
            .filter(|(w, _)| Category::of(w) == c)
            .map(|(_, t)| t.kills)
            .sum()
    };
    let total: u64 = Category::WEAPONS.into_iter().map(in_category).sum();
    mentions(
        &a,
        &[
            &format!("Total Kills\n{total}\n"),
            &format!("Shotguns\n{} kills", in_category(Category::Shotguns)),
            "Category Definitions",
        ],
    );
    // A weapon by any part of its name: the matches as pages, most kills first.
    let mut by_kills: Vec<(&String, u64)> =
        expected.weapons.iter().map(|(w, t)| (w, t.kills)).collect();
    by_kills.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let typed = "a";
    let matching: Vec<&String> = by_kills
        .iter()
        .map(|(w, _)| *w)
        .filter(|w| w.to_lowercase().contains(typed))
        .take(5)
        .collect();
    assert!(matching.len() > 1, "the fixture has several: {matching:?}");
    let a = run(
        &member_a,
        "stats weapon",
        &[sid(), ("weapon_name", Opt::str(typed.to_uppercase()))],
    )
    .await;
    let first = &expected.weapons[matching[0]];
    let users = expected
        .players
        .values()
        .filter(|p| p.weapons.contains_key(matching[0]))
        .count();
    assert!(a.title().starts_with(matching[0].as_str()), "{}", a.title());
    mentions(
        &a,
        &[
            &format!("Total Kills\n{}\n", first.kills),
            &format!("Unique Users\n{users}\n"),
            &format!("Max: {} m", first.longest_m),
            &format!("Weapon 1 of {}", matching.len()),
        ],
    );
    let next = a.buttons()[1].clone();
    let sent = sim.press(0, &member_a, &next);
    let page = ok(sim.first_answer(&sent, WAIT).await);
    assert!(
        page.title().starts_with(matching[1].as_str()),
        "{}",
        page.title()
    );
    // The server's top killers, top weapons and recent events.
    let a = run(&member_a, "stats server", &[sid()]).await;
    let top_kills = expected
        .players
        .values()
        .map(|p| p.kills)
        .max()
        .unwrap_or(0);
    mentions(
        &a,
        &[
            &format!("1. {top}: {top_kills} kills"),
            &format!("1. {}: {} kills", by_kills[0].0, by_kills[0].1),
            "Recent Events",
        ],
    );
    let a = run(&member_a, "unlink", &[("player_name", Opt::str(&top))]).await;
    assert_eq!(a.title(), "Player Unlinked", "{}", a.text());
    let a = run(&member_a, "myplayers", &[]).await;
    assert_eq!(a.title(), "No Linked Players");
    let a = run(&admin_a, "csv_status", &[]).await;
    mentions(&a, &[&server_id, ".csv"]);

    // /reset_stats closes the season: archived under its name, then from zero.
    let season_name = || ("season_name", Opt::str("Wipe 1"));
    let a = run(&member_a, "reset_stats", &[sid(), season_name()]).await;
    assert_eq!(a.title(), "Not allowed", "admins only: {}", a.text());
    let a = run(&admin_a, "reset_stats", &[sid(), season_name()]).await;
    assert_eq!(a.title(), "⚠️ Reset All Player Statistics?", "{}", a.text());
    assert!(a.is_ephemeral());
    mentions(&a, &[&server_id, "**Wipe 1**", "cannot be undone"]);
    let buttons = a.buttons();
    assert_eq!(buttons.len(), 2, "Confirm Reset and Cancel");
    let sent = sim.press(0, &admin_a, &buttons[1]);
    assert_eq!(
        ok(sim.first_answer(&sent, WAIT).await).title(),
        "Reset Cancelled"
    );
    let before = expected.totals.kills;
    let sent = sim.press(0, &admin_a, &buttons[0]);
    let done = ok(sim.answer(&sent, WAIT).await);
    assert_eq!(done.title(), "Statistics Reset Complete", "{}", done.text());
    mentions(
        &done,
        &[&format!(
            "archived as **Wipe 1** ({} players, {before} kills)",
            expected.players.len()
        )],
    );
    // The archive: champions, and a player's line as it stood.
    let a = run(&member_a, "stats season", &[sid()]).await;
    mentions(&a, &["#1 Wipe 1", &format!("{before} kills"), &top]);
    let a = run(
        &member_a,
        "stats season",
        &[sid(), ("season", Opt::str("wipe 1"))],
    )
    .await;
    assert!(a.title().starts_with("Wipe 1 — "), "{}", a.title());
    mentions(&a, &[&format!("🥇 {top} — {top_kills}")]);
    let a = run(
        &member_a,
        "stats season",
        &[
            sid(),
            ("season", Opt::str("Wipe 1")),
            ("player_name", Opt::str(&top)),
        ],
    )
    .await;
    mentions(&a, &["#1 by kills", &format!("Kills\n{top_kills}\n")]);
    // The current season is empty: the player has no line until they play again.
    let a = run(
        &member_a,
        "stats player",
        &[sid(), ("player_name", Opt::str(&top))],
    )
    .await;
    assert_eq!(a.title(), "Cannot do that", "{}", a.text());
    // New lines count from zero, and the recount agrees (it counts the new season only).
    let grown = lines(&file, 60);
    ok(std::fs::write(&csv, grown));
    let added = expected_stats(GUILD_A, &server_id, &[&grown[posted_lines.len()..]]);
    assert!(
        added.totals.kills > 0,
        "the fixture's next lines have kills"
    );
    let store = ok(db.open().await);
    let stats = tower_store::stats_store::StatsStore::new(&store);
    eventually("the new lines counted", WAIT, || async {
        stats
            .load(GUILD_A, &server_id)
            .await
            .is_ok_and(|s| s.totals.kills == added.totals.kills)
    })
    .await;
    let stored = ok(stats.load(GUILD_A, &server_id).await);
    let (counted, _) = ok(tower_store::recount::recount(&store, GUILD_A, &server_id).await);
    assert_eq!(
        tower_store::recount::differences(&stored, &counted),
        vec![],
        "the stored new season is what its lines count"
    );
    assert_eq!(stored.players.len(), added.players.len());
    // The same name again changes nothing.
    let a = run(&admin_a, "reset_stats", &[sid(), season_name()]).await;
    let sent = sim.press(0, &admin_a, &a.buttons()[0]);
    let again = ok(sim.answer(&sent, WAIT).await);
    mentions(&again, &["was closed before; nothing was reset"]);
    assert_eq!(
        ok(stats.load(GUILD_A, &server_id).await).totals.kills,
        added.totals.kills
    );

    ok(stack.stop_cleanly(Duration::from_secs(20)).await);
    ok(db.drop_database().await);
}

#[tokio::test]
async fn events_connections_and_the_player_count_reach_their_channels() {
    const EVENTS_CHANNEL: u64 = 610_000_000_000_000_002;
    const CONNECTIONS_CHANNEL: u64 = 610_000_000_000_000_003;
    const VOICE_CHANNEL: u64 = 610_000_000_000_000_004;
    const ALPHA: &str = "0002e69a65204b669c20238266782d7b";
    const BRAVO: &str = "00024afed387453195c040bb85708405";
    let db = ok(TestDatabase::create("gateway_events").await);
    let home = Home::new("gateway_events");
    let key = ok(SecretKey::generate_base64());
    let server_id = unique_server_id();
    // Nothing happens on the server until its feeds are set up.
    let csv = home.killfeed(&server_id).join("2025.05.03-00.00.00.csv");
    ok(std::fs::write(&csv, ""));
    ok(std::fs::write(home.log(&server_id), ""));
    let sim = ok(DiscordSimulator::start().await);
    let stack = ok(Stack::start(&options(&db, &sim, &key)).await);
    let (admin_a, member_a, admin_b) = members();
    let owner_a = Member::ordinary(GUILD_A, OWNER_USER_ID);
    let run = async |member: &Member, path: &str, opts: &[(&str, Opt)]| {
        let sent = sim.slash(0, member, path, opts);
        ok(sim.answer(&sent, WAIT).await)
    };
    let sid = || ("server_id", Opt::str(&server_id));
    add_server(&sim, &admin_a, &server_id).await;

    // The owner makes this the home server; its admins then grant premium (not before).
    let overseer = |guild: u64| {
        [
            ("guild_id", Opt::str(guild.to_string())),
            ("tier", Opt::Int(4)),
        ]
    };
    // Before premium: rivalries (tier 2) and factions (tier 3) are refused, saying why.
    let a = run(&member_a, "rivalry top", &[]).await;
    assert_eq!(a.title(), "Not allowed", "{}", a.text());
    mentions(&a, &["`/rivalry top` needs the", "(tier 2) or higher"]);
    let a = run(&member_a, "faction list", &[]).await;
    assert_eq!(a.title(), "Not allowed", "{}", a.text());
    mentions(&a, &["`/faction list` needs the", "(tier 3) or higher"]);
    // The money game (economy, bounties, gambling) is tier 2, and refused without
    // touching a balance.
    for (command, options) in [
        ("economy balance", vec![sid()]),
        ("economy daily", vec![sid()]),
        ("bounty active", vec![sid()]),
        ("gambling slots", vec![sid(), ("bet", Opt::Int(10))]),
    ] {
        let a = run(&member_a, command, &options).await;
        assert_eq!(a.title(), "Not allowed", "{command}: {}", a.text());
        mentions(
            &a,
            &[&format!("`/{command}` needs the"), "(tier 2) or higher"],
        );
    }
    let a = run(&admin_a, "premium theme", &[("theme", Opt::str("gold"))]).await;
    assert_eq!(a.title(), "Not allowed", "{}", a.text());
    mentions(&a, &["`/premium theme` needs the", "(tier 4) or higher"]);
    let a = run(&admin_a, "admin premium", &overseer(GUILD_A)).await;
    assert_eq!(a.title(), "Not allowed", "no home server yet: {}", a.text());
    let a = run(&owner_a, "admin sethomeguild", &[]).await;
    assert_eq!(a.title(), "Home server set", "{}", a.text());
    for guild in [GUILD_A, GUILD_B] {
        let a = run(&admin_a, "admin premium", &overseer(guild)).await;
        assert_eq!(a.title(), "Premium granted", "{}", a.text());
    }
    let a = run(&admin_b, "premium status", &[]).await;
    assert_eq!(a.title(), "Overseer (tier 4)");
    let a = run(&member_a, "premium upgrade", &[]).await;
    assert!(
        a.text().contains("maximum premium tier (Overseer)"),
        "{}",
        a.text()
    );
    // Overseer's custom themes: the answer, and then the killfeed, in the new colours.
    let a = run(&admin_a, "premium theme", &[("theme", Opt::str("gold"))]).await;
    assert_eq!(a.title(), "Theme Set Successfully", "{}", a.text());
    assert_eq!(a.embeds()[0]["color"], 0xD4_AF_37);
    let a = run(&member_a, "premium features", &[]).await;
    assert_eq!(a.title(), "Features by tier");
    mentions(&a, &["Warlord"]);

    // Channels, feeds and switches.
    let a = run(
        &admin_a,
        "setup channels",
        &[
            sid(),
            ("killfeed_channel", Opt::Channel(KILLFEED_CHANNEL)),
            ("events_channel", Opt::Channel(EVENTS_CHANNEL)),
            ("connections_channel", Opt::Channel(CONNECTIONS_CHANNEL)),
            ("voice_status_channel", Opt::Channel(VOICE_CHANNEL)),
        ],
    )
    .await;
    assert_eq!(a.title(), "Channels saved", "{}", a.text());
    let a = run(&admin_a, "killfeed start", &[sid()]).await;
    assert_eq!(a.title(), "Killfeed started", "{}", a.text());
    let a = run(&admin_a, "events start", &[sid()]).await;
    assert_eq!(a.title(), "Events started", "{}", a.text());
    let a = run(
        &admin_a,
        "events conn_config",
        &[sid(), ("disconnect", Opt::Bool(false))],
    )
    .await;
    mentions(&a, &["connect: on", "disconnect: off"]);
    let a = run(
        &admin_a,
        "events suicide_config",
        &[sid(), ("fall", Opt::Bool(false))],
    )
    .await;
    mentions(&a, &["fall: off", "menu: on"]);
    let a = run(&member_a, "events status", &[]).await;
    mentions(&a, &["events on"]);

    // Then the server comes alive: two players join, a mission and an airdrop start, one
    // player leaves; a kill, a fall and a respawn from the menu.
    first_read_done(&db.handle(), GUILD_A, &server_id).await;
    ok(std::fs::write(
        home.log(&server_id),
        format!(
            "Log file open, 05/03/25 02:00:00\n\
             [2025.05.03-02.01.50:297][ 42]LogNet: Join request: /Game/Maps/world_0/World_0?logintype=eos&login=Alpha&Name=Alpha%20One&eosid=|{ALPHA}&platformid=PS5:1234\n\
             [2025.05.03-02.01.52:004][ 43]LogOnline: Warning: Player |{ALPHA} successfully registered!\n\
             [2025.05.03-02.02.50:297][ 44]LogNet: Join request: /Game/Maps/world_0/World_0?logintype=eos&login=Bravo&Name=Bravo&eosid=|{BRAVO}\n\
             [2025.05.03-02.02.52:004][ 45]LogOnline: Warning: Player |{BRAVO} successfully registered!\n\
             [2025.05.03-02.10.00:000][  1]LogSFPS: Mission GA_Military_02_mis1 switched to READY\n\
             [2025.05.03-02.11.00:000][  1]LogSFPS: AirDrop switched to Flying\n\
             [2025.05.03-02.12.00:000][  1]LogSFPS: GameplayEvent BP_HelicrashEvent_C_1 switched to ACTIVE\n\
             [2025.05.03-02.30.00:000][  1]UChannel::Close: Sending CloseBunch. ChIndex == 0. UniqueId: EOS:|{BRAVO}\n"
        ),
    ));
    ok(std::fs::write(
        &csv,
        format!(
            "2025.05.03-02.20.00;Alpha One;{ALPHA};Bravo;{BRAVO};AK-74;120;\n\
             2025.05.03-02.21.00;Bravo;{BRAVO};Bravo;{BRAVO};falling;0;\n\
             2025.05.03-02.22.00;Alpha One;{ALPHA};Alpha One;{ALPHA};suicide_by_relocation;0;\n"
        ),
    ));
    let titles = |channel: u64| -> Vec<String> {
        sim.embeds_posted(channel)
            .iter()
            .map(|e| e["title"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    eventually("the events, connections and kills posted", WAIT, || async {
        titles(EVENTS_CHANNEL).len() >= 3
            && titles(CONNECTIONS_CHANNEL).len() >= 2
            && titles(KILLFEED_CHANNEL).len() >= 2
    })
    .await;
    posting_caught_up(&db.handle(), 1).await;
    let events = sim.embeds_posted(EVENTS_CHANNEL);
    let described = |title: &str| {
        events
            .iter()
            .filter(|e| e["title"] == title)
            .map(|e| e["description"].as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        described("Mission"),
        vec!["**GA\\_Military\\_02\\_mis1** ready (level 4)".to_owned()]
    );
    assert_eq!(described("Airdrop"), vec!["**AirDrop** flying".to_owned()]);
    // Joins only: disconnects were switched off.
    assert_eq!(
        titles(CONNECTIONS_CHANNEL),
        vec!["Player joined", "Player joined"]
    );
    // Named as the join request named them, with the platform when it gave one.
    let joins = sim.embeds_posted(CONNECTIONS_CHANNEL);
    let alpha = joins
        .iter()
        .find(|e| {
            e["description"]
                .as_str()
                .is_some_and(|d| d.contains("Alpha One"))
        })
        .cloned()
        .unwrap_or_default();
    assert_eq!(alpha["fields"][0]["name"], "Platform", "{alpha}");
    assert_eq!(alpha["fields"][0]["value"], "PS5", "{alpha}");
    assert!(
        joins.iter().any(|e| e["description"]
            .as_str()
            .is_some_and(|d| d.contains("Bravo"))
            && e.get("fields").is_none()),
        "no platform, no field: {joins:?}"
    );
    // The kill and the menu respawn; the fall was switched off.
    let kills = titles(KILLFEED_CHANNEL);
    assert_eq!(kills.len(), 2, "{kills:?}");
    assert!(
        kills.contains(&"Alpha One killed Bravo".to_owned()),
        "{kills:?}"
    );
    assert!(kills.contains(&"Suicide".to_owned()), "{kills:?}");
    assert!(
        sim.embeds_posted(KILLFEED_CHANNEL)
            .iter()
            .filter(|e| e["title"] == "Alpha One killed Bravo")
            .all(|e| e["color"] == 0xD4_AF_37),
        "the kill in the Gold theme"
    );
    // One player online (Bravo left): the voice channel says so, within the rename limit.
    eventually(
        "the player count in the voice channel's name",
        WAIT,
        || async {
            sim.rest_calls()
                .iter()
                .rev()
                .find(|c| c.method == "PATCH" && c.path == format!("/channels/{VOICE_CHANNEL}"))
                .and_then(|c| c.body.as_ref()?.get("name")?.as_str().map(str::to_owned))
                .is_some_and(|name| name == "🟢 Online: 1")
        },
    )
    .await;
    let renames = sim
        .rest_calls()
        .iter()
        .filter(|c| c.method == "PATCH" && c.path == format!("/channels/{VOICE_CHANNEL}"))
        .count();
    assert!((1..=2).contains(&renames), "{renames} renames");

    // What members can look up about it.
    let a = run(&member_a, "events players", &[sid()]).await;
    mentions(&a, &["**1** online"]);
    let a = run(&member_a, "events list", &[sid()]).await;
    mentions(&a, &["GA\\_Military\\_02\\_mis1", "AirDrop"]);
    // `crash`, as the earlier bot named the helicopter crash.
    let a = run(
        &member_a,
        "events list",
        &[sid(), ("event_type", Opt::str("crash"))],
    )
    .await;
    assert!(
        a.text().contains("Helicrash") && !a.text().contains("AirDrop"),
        "{}",
        a.text()
    );
    let a = run(
        &member_a,
        "events list",
        &[sid(), ("event_type", Opt::str("airdrop"))],
    )
    .await;
    assert!(
        a.text().contains("AirDrop") && !a.text().contains("GA\\_Military"),
        "{}",
        a.text()
    );
    // `all`, as the earlier bot offered it: every type.
    let a = run(
        &member_a,
        "events list",
        &[sid(), ("event_type", Opt::str("all"))],
    )
    .await;
    mentions(&a, &["GA\\_Military\\_02\\_mis1", "AirDrop"]);
    let a = run(&member_a, "stats server", &[sid()]).await;
    assert!(a.title().ends_with("— totals"), "{}", a.title());
    mentions(&a, &["120 m"]);
    let a = run(
        &member_a,
        "stats weapon",
        &[sid(), ("weapon_name", Opt::str("AK-74"))],
    )
    .await;
    assert!(a.title().starts_with("AK-74 — "), "{}", a.title());
    mentions(&a, &["Alpha One"]);

    // SFTP look-ups answer "working…" at once, then edit in the result.
    let sent = sim.slash(
        0,
        &admin_a,
        "list_sftp_files",
        &[("server", Opt::str(&server_id))],
    );
    let working = ok(sim.first_answer(&sent, WAIT).await);
    assert_eq!(working.title(), "Working…");
    assert!(
        working.is_ephemeral(),
        "/list_sftp_files is answered privately"
    );
    let a = ok(sim.edited_answer(&sent, WAIT).await);
    assert_eq!(a.title(), format!("Files on `{server_id}`"));
    mentions(&a, &["2025.05.03-00.00.00.csv"]);
    let sent = sim.slash(
        0,
        &admin_a,
        "list_sftp_files",
        &[
            ("server", Opt::str(&server_id)),
            ("path", Opt::str("no/such/folder")),
        ],
    );
    // Private from its "Working…" on: the error edits that private message in place.
    assert!(ok(sim.first_answer(&sent, WAIT).await).is_ephemeral());
    let a = ok(sim.edited_answer(&sent, WAIT).await);
    mentions(&a, &["no/such/folder", "Error id E-"]);
    // A failure after a public "Working…" is told privately: the public message goes.
    let sent = sim.slash(
        0,
        &admin_a,
        "historical_parse",
        &[("server_id", Opt::str("999000999"))],
    );
    assert_eq!(ok(sim.first_answer(&sent, WAIT).await).title(), "Working…");
    let a = ok(sim.edited_answer(&sent, WAIT).await);
    assert!(a.is_ephemeral(), "{}", a.text());
    mentions(&a, &["999000999", "Error id E-"]);
    let calls = sim.rest_calls();
    let webhook = |method: &str| {
        calls.iter().any(|c| {
            c.method == method && c.path.starts_with("/webhooks/") && c.path.contains(&sent.token)
        })
    };
    assert!(webhook("DELETE"), "the public \"Working…\" was removed");
    assert!(webhook("POST"), "the answer came as a private follow-up");
    // The economy: a ledger per member and game server.
    let a = run(&member_a, "economy balance", &[sid()]).await;
    assert_eq!(a.title(), "💰 Your Balance", "{}", a.text());
    mentions(&a, &["Balance\n0 credits"]);
    let a = run(&member_a, "economy daily", &[sid()]).await;
    assert_eq!(a.title(), "💰 Daily Reward", "{}", a.text());
    mentions(&a, &["You received 200 credits", "now 200 credits"]);
    let a = run(&member_a, "economy daily", &[sid()]).await;
    assert_eq!(a.title(), "❌ Daily Reward", "once a day: {}", a.text());
    let give = |user: u64, amount: i64| {
        [
            sid(),
            ("user", Opt::User(user)),
            ("amount", Opt::Int(amount)),
        ]
    };
    let a = run(&member_a, "economy give", &give(ADMIN_A, 500)).await;
    assert_eq!(a.title(), "Insufficient Funds", "{}", a.text());
    mentions(&a, &["You have 200 credits"]);
    let a = run(&member_a, "economy give", &give(MEMBER_A, 5)).await;
    assert_eq!(a.title(), "Invalid Recipient", "{}", a.text());
    // A bot never spends what it is given.
    let a = run(&member_a, "economy give", &give(BOT_USER_ID, 5)).await;
    assert_eq!(a.title(), "Invalid Recipient", "{}", a.text());
    mentions(&a, &["You can't give credits to a bot."]);
    let a = run(&member_a, "economy give", &give(ADMIN_A, 50)).await;
    assert_eq!(a.title(), "Credits Transfer", "{}", a.text());
    mentions(
        &a,
        &[
            &format!("transferred 50 credits to <@{ADMIN_A}>"),
            "150 credits",
        ],
    );
    let adjust = |amount: i64| {
        [
            sid(),
            ("user", Opt::User(MEMBER_A)),
            ("amount", Opt::Int(amount)),
            ("reason", Opt::str("Event prize")),
        ]
    };
    let a = run(&member_a, "economy adjust", &adjust(25)).await;
    assert_eq!(a.title(), "Not allowed", "admins only: {}", a.text());
    let a = run(&admin_a, "economy adjust", &adjust(-1000)).await;
    mentions(
        &a,
        &["Player only has 150 credits. Cannot remove 1000 credits."],
    );
    let a = run(&admin_a, "economy adjust", &adjust(25)).await;
    assert_eq!(a.title(), "Credits Adjustment", "{}", a.text());
    mentions(
        &a,
        &[
            &format!("Added 25 credits to <@{MEMBER_A}>"),
            "Previous Balance\n150 credits",
            "New Balance\n175 credits",
            "Event prize",
        ],
    );
    let a = run(&member_a, "economy transactions", &[sid()]).await;
    assert!(a.is_ephemeral(), "a member's history is private");
    assert_eq!(a.title(), "Transaction History", "{}", a.text());
    mentions(
        &a,
        &[
            "**Current Balance**: 175 credits",
            "1. +25 credits",
            "**Admin Adjustment**: By <@",
            "2. -50 credits",
            "**Daily Reward**: Daily reward claimed",
        ],
    );
    let a = run(
        &member_a,
        "economy transactions",
        &[sid(), ("user", Opt::User(ADMIN_A))],
    )
    .await;
    assert_eq!(a.title(), "Permission Denied", "{}", a.text());
    let a = run(&member_a, "economy leaderboard", &[sid()]).await;
    assert_eq!(a.title(), "Richest Players", "{}", a.text());
    mentions(
        &a,
        &[
            &format!("#1 <@{MEMBER_A}>: 175 credits (Lifetime: 225)"),
            &format!("#2 <@{ADMIN_A}>: 50 credits (Lifetime: 0)"),
        ],
    );
    // Kill rewards: a live kill pays the killer's linked user, shown on the post.
    let unpaid = sim
        .embeds_posted(KILLFEED_CHANNEL)
        .into_iter()
        .find(|e| e["title"] == "Alpha One killed Bravo")
        .unwrap_or_default();
    assert!(
        !unpaid.to_string().contains("💰 Economy"),
        "no one was linked to Alpha One then: {unpaid}"
    );
    let a = run(
        &member_a,
        "link",
        &[sid(), ("player_name", Opt::str("Alpha One"))],
    )
    .await;
    assert_eq!(a.title(), "Player Linked", "{}", a.text());
    let posted_before = sim.embeds_posted(KILLFEED_CHANNEL).len();
    {
        use std::io::Write as _;
        let mut file = ok(std::fs::OpenOptions::new().append(true).open(&csv));
        ok(write!(
            file,
            "2025.05.03-02.40.00;Alpha One;{ALPHA};Bravo;{BRAVO};SVD;150;\n\
             2025.05.03-02.41.00;Alpha One;{ALPHA};Bravo;{BRAVO};AK-74;50;\n"
        ));
    }
    eventually("the rewarded kills posted", WAIT, || async {
        sim.embeds_posted(KILLFEED_CHANNEL).len() >= posted_before + 2
    })
    .await;
    let economy: Vec<String> = sim.embeds_posted(KILLFEED_CHANNEL)[posted_before..]
        .iter()
        .map(|e| {
            e["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|f| f["name"] == "💰 Economy")
                .and_then(|f| f["value"].as_str())
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        economy,
        vec![
            "+10 credits for kill\n+15 distance bonus\nBalance: 200 credits".to_owned(),
            "+10 credits for kill\nBalance: 210 credits".to_owned(),
        ],
        "paid at ingest, in order"
    );
    let a = run(&member_a, "economy transactions", &[sid()]).await;
    mentions(
        &a,
        &[
            "**Current Balance**: 210 credits",
            "**Kill Reward**: Killed Bravo (SVD, 150 m)",
        ],
    );

    // Bounties: placed from the balance, announced in the bounty channel, claimed by a
    // kill of the target on the killfeed; a hunter with no Discord link is paid on /link.
    const BOUNTY_CHANNEL: u64 = 610_000_000_000_000_005;
    const CHARLIE: &str = "0002c4a11e0000000000000000000c01";
    let a = run(
        &admin_a,
        "setup channels",
        &[sid(), ("bounty_channel", Opt::Channel(BOUNTY_CHANNEL))],
    )
    .await;
    mentions(&a, &[&format!("bounties <#{BOUNTY_CHANNEL}>")]);
    let place = |name: &str, reward: i64| {
        [
            sid(),
            ("player_name", Opt::str(name)),
            ("reward", Opt::Int(reward)),
            ("reason", Opt::str("Camping the trader")),
        ]
    };
    let a = run(&member_a, "bounty place", &place("alpha one", 100)).await;
    mentions(&a, &["Error: You cannot place a bounty on yourself."]);
    let a = run(&member_a, "bounty place", &place("Nobody Here", 100)).await;
    mentions(
        &a,
        &["Error: Could not find player with name 'Nobody Here' on this server."],
    );
    let a = run(&member_a, "bounty place", &place("Bravo", 5_000)).await;
    mentions(
        &a,
        &["Error: You don't have enough currency. Current balance: 210 coins."],
    );
    let a = run(&member_a, "bounty place", &place("Bravo", 100)).await;
    assert_eq!(a.title(), "Bounty Placed", "{}", a.text());
    mentions(
        &a,
        &[
            "Bravo",
            "100 coins",
            "Camping the trader",
            "In 60 minutes",
            "Bounty ID: ",
        ],
    );
    let a = run(&member_a, "bounty active", &[sid()]).await;
    assert_eq!(a.title(), "Active Bounties (Page 1/1)", "{}", a.text());
    mentions(&a, &["💰 Bravo (ID: ", "**Reward:** 100 coins"]);
    eventually("the bounty announced", WAIT, || async {
        sim.embeds_posted(BOUNTY_CHANNEL)
            .iter()
            .any(|e| e["title"] == "Bounty Placed")
    })
    .await;
    {
        use std::io::Write as _;
        let mut file = ok(std::fs::OpenOptions::new().append(true).open(&csv));
        ok(writeln!(
            file,
            "2025.05.03-02.50.00;Charlie;{CHARLIE};Bravo;{BRAVO};M4;80;"
        ));
    }
    eventually("the claim announced", WAIT, || async {
        sim.embeds_posted(BOUNTY_CHANNEL)
            .iter()
            .any(|e| e["title"] == "Bounty Claimed")
    })
    .await;
    let claimed = sim
        .embeds_posted(BOUNTY_CHANNEL)
        .into_iter()
        .find(|e| e["title"] == "Bounty Claimed")
        .unwrap_or_default()
        .to_string();
    assert!(claimed.contains("Held until the hunter links"), "{claimed}");
    let a = run(
        &admin_a,
        "link",
        &[sid(), ("player_name", Opt::str("Charlie"))],
    )
    .await;
    mentions(&a, &["🎯 100 coins of bounties claimed by `Charlie`"]);
    let a = run(&admin_a, "economy balance", &[sid()]).await;
    mentions(&a, &["Balance\n150 credits"]);
    let a = run(&member_a, "bounty my", &[sid()]).await;
    assert!(a.is_ephemeral());
    mentions(&a, &["#1: Target: Bravo", "Claimed by Charlie"]);
    let a = run(&member_a, "bounty active", &[sid()]).await;
    assert_eq!(a.title(), "No Active Bounties", "{}", a.text());
    let a = run(&member_a, "economy balance", &[sid()]).await;
    mentions(&a, &["Balance\n110 credits"]);
    // Auto-bounties (admins turn them on): three kills in ten minutes put one on the killer.
    let setting =
        |name: &str, value: &str| [("setting", Opt::str(name)), ("value", Opt::str(value))];
    let a = run(&member_a, "bounty settings", &setting("auto_bounty", "on")).await;
    assert_eq!(a.title(), "Not allowed", "admins only: {}", a.text());
    let a = run(
        &admin_a,
        "bounty settings",
        &setting("kill_threshold", "11"),
    )
    .await;
    mentions(&a, &["`kill_threshold` takes a whole number from 3 to 10."]);
    let a = run(&admin_a, "bounty settings", &setting("kill_threshold", "3")).await;
    assert_eq!(a.title(), "Bounty Settings Updated", "{}", a.text());
    mentions(&a, &["Kill threshold for auto-bounties set to 3."]);
    let a = run(&admin_a, "bounty settings", &setting("auto_bounty", "on")).await;
    mentions(&a, &["Auto-bounty system enabled."]);
    {
        use std::io::Write as _;
        let mut file = ok(std::fs::OpenOptions::new().append(true).open(&csv));
        ok(write!(
            file,
            "2025.05.03-03.00.00;Bravo;{BRAVO};Charlie;{CHARLIE};M4;20;\n\
             2025.05.03-03.01.00;Bravo;{BRAVO};Alpha One;{ALPHA};M4;20;\n\
             2025.05.03-03.02.00;Bravo;{BRAVO};Charlie;{CHARLIE};M4;20;\n"
        ));
    }
    eventually("the auto-bounty announced", WAIT, || async {
        sim.embeds_posted(BOUNTY_CHANNEL)
            .iter()
            .any(|e| e["title"] == "Auto-Bounty Created")
    })
    .await;
    let auto = sim
        .embeds_posted(BOUNTY_CHANNEL)
        .into_iter()
        .find(|e| e["title"] == "Auto-Bounty Created")
        .unwrap_or_default()
        .to_string();
    assert!(
        auto.contains("Killstreak of 3 in 10 minutes") && auto.contains("Bravo"),
        "{auto}"
    );

    // Gambling: limits set by admins; the bet taken at the start, the machine only the
    // player can spin, the return paid once and counted in the house statistics.
    let a = run(
        &admin_a,
        "gambling limits",
        &[("min_bet", Opt::Int(5)), ("max_bet", Opt::Int(50))],
    )
    .await;
    assert_eq!(a.title(), "Bet Limits Updated", "{}", a.text());
    let a = run(
        &member_a,
        "gambling slots",
        &[sid(), ("bet", Opt::Int(100))],
    )
    .await;
    mentions(
        &a,
        &["Bets in this Discord server are from 5 to 50 credits."],
    );
    let a = run(&member_a, "gambling slots", &[sid(), ("bet", Opt::Int(10))]).await;
    assert_eq!(a.title(), "Slot Machine", "{}", a.text());
    mentions(
        &a,
        &[
            "Ready to play! Bet: 10 credits",
            "Your Balance\n100 credits",
        ],
    );
    let spin = a.buttons();
    assert_eq!(spin.len(), 1);
    let refused = ok(sim
        .first_answer(&sim.press(0, &admin_a, &spin[0]), WAIT)
        .await);
    assert!(refused.is_ephemeral(), "{}", refused.text());
    mentions(&refused, &["This isn't your salvage machine!"]);
    let spun = ok(sim
        .first_answer(&sim.press(0, &member_a, &spin[0]), WAIT)
        .await);
    assert_eq!(spun.kind, 7, "the machine's message is updated");
    let text = spun.text();
    let after: i64 = text
        .split("New Balance\n")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(-1);
    assert!(
        after == 100 || after >= 110,
        "the bet lost, or at least returned: {text}"
    );
    let a = run(&member_a, "economy balance", &[sid()]).await;
    mentions(&a, &[&format!("Balance\n{after} credits"), "Slots Stats"]);
    let a = run(
        &member_a,
        "gambling roulette",
        &[sid(), ("bet", Opt::Int(5)), ("number", Opt::Int(17))],
    )
    .await;
    mentions(
        &a,
        &["The ball lands on", "**5** credits on **Straight 17**"],
    );
    let a = run(&admin_a, "economy stats", &[sid()]).await;
    assert_eq!(a.title(), "Economy Statistics", "{}", a.text());
    mentions(
        &a,
        &[
            "**Slots**: 1 games",
            "**Roulette**: 1 games",
            "**Gambling**: Count ",
        ],
    );
    // The guild's own kill reward, paid from the next batch on.
    let a = run(&admin_a, "economy settings", &[]).await;
    mentions(&a, &["kill_reward: 10 credits a kill", "pay_history: off"]);
    let a = run(
        &admin_a,
        "economy settings",
        &[
            ("setting", Opt::str("kill_reward")),
            ("value", Opt::str("25")),
        ],
    )
    .await;
    assert_eq!(a.title(), "Economy Settings Updated", "{}", a.text());
    // The money's name: refused with markup, then shown everywhere money is.
    let currency = |name: &'static str| {
        [
            ("setting", Opt::str("currency_name")),
            ("value", Opt::str(name)),
        ]
    };
    let a = run(&admin_a, "economy settings", &currency("@everyone")).await;
    assert_ne!(a.title(), "Economy Settings Updated", "{}", a.text());
    let a = run(&admin_a, "economy settings", &currency("caps")).await;
    assert_eq!(a.title(), "Economy Settings Updated", "{}", a.text());
    mentions(&a, &["The money is now called caps."]);
    let a = run(&member_a, "economy balance", &[sid()]).await;
    assert!(
        a.text().contains(" caps") && !a.text().contains("credits"),
        "{}",
        a.text()
    );
    let posted_before = sim.embeds_posted(KILLFEED_CHANNEL).len();
    {
        use std::io::Write as _;
        let mut file = ok(std::fs::OpenOptions::new().append(true).open(&csv));
        ok(writeln!(
            file,
            "2025.05.03-03.30.00;Alpha One;{ALPHA};Charlie;{CHARLIE};AK-74;20;"
        ));
    }
    eventually("the kill at the new reward posted", WAIT, || async {
        sim.embeds_posted(KILLFEED_CHANNEL).len() > posted_before
    })
    .await;
    let post = sim.embeds_posted(KILLFEED_CHANNEL)[posted_before].to_string();
    assert!(post.contains("+25 caps for kill"), "{post}");

    // /rivalry: Alpha One and Bravo's kills of each other, as the statistics counted them.
    let a = run(
        &member_a,
        "rivalry between",
        &[
            ("player1", Opt::str("Alpha One")),
            ("player2", Opt::str("bravo")),
            sid(),
        ],
    )
    .await;
    assert!(a.title().starts_with("⚔️ Rivalry: "), "{}", a.text());
    mentions(&a, &["Alpha One", "Bravo", "Total Kills", "**Weapon:** "]);
    // The caller's own: member A is linked to Alpha One.
    let a = run(&member_a, "rivalry list", &[sid()]).await;
    assert!(a.title().starts_with("⚔️ Rivalry: "), "{}", a.text());
    // The kills are from May 2025: none within a week of now.
    let a = run(&member_a, "rivalry recent", &[sid()]).await;
    assert_eq!(a.title(), "No Recent Rivalries", "{}", a.text());
    let a = run(
        &member_a,
        "rivalry between",
        &[
            ("player1", Opt::str("Alpha One")),
            ("player2", Opt::str("Nobody At All")),
            sid(),
        ],
    )
    .await;
    assert_eq!(a.title(), "No Rivalry", "{}", a.text());
    // "View Rivalries" on member A (linked to Alpha One), answered privately; on a member
    // with no linked player, said so.
    let sent = sim.user_command(0, &admin_a, "View Rivalries", MEMBER_A);
    let a = ok(sim.answer(&sent, WAIT).await);
    assert!(a.title().starts_with("⚔️ Rivalry: "), "{}", a.text());
    assert!(a.is_ephemeral(), "only to who asked");
    let sent = sim.user_command(0, &member_a, "View Rivalries", 910_000_000_000_000_099);
    let a = ok(sim.answer(&sent, WAIT).await);
    assert_eq!(a.title(), "No Rivalries", "{}", a.text());
    mentions(&a, &["has no linked player"]);

    // Rivalry posts: Bravo kills Alpha One eight times in one poll; the rivalry, now
    // settled and Bravo's, is posted with the kills. Muted (`/rivalry posts`), Alpha One's
    // eight back are posted without one (a later kill, posted after, shows the batch done).
    let rivalry_posts = || {
        sim.embeds_posted(KILLFEED_CHANNEL)
            .iter()
            .filter(|e| {
                let title = e["title"].as_str().unwrap_or_default();
                title.contains("takes the lead")
                    || title.contains("draws level")
                    || title.contains(" rivalry: ")
            })
            .count()
    };
    let append = |lines: &[String]| {
        use std::io::Write as _;
        let mut file = ok(std::fs::OpenOptions::new().append(true).open(&csv));
        for line in lines {
            ok(writeln!(file, "{line}"));
        }
    };
    let kills = |killer: (&str, &str), victim: (&str, &str), minute: u32| -> Vec<String> {
        (0..8)
            .map(|n| {
                format!(
                    "2025.05.03-04.{minute:02}.{n:02};{};{};{};{};M4;15;",
                    killer.0, killer.1, victim.0, victim.1
                )
            })
            .collect()
    };
    append(&kills(("Bravo", BRAVO), ("Alpha One", ALPHA), 0));
    eventually("the rivalry posted with the kills", WAIT, || async {
        rivalry_posts() == 1
    })
    .await;
    let a = run(
        &admin_a,
        "rivalry posts",
        &[sid(), ("enabled", Opt::Bool(false))],
    )
    .await;
    assert_eq!(a.title(), "Rivalry posts saved", "{}", a.text());
    mentions(&a, &["rivalry posts off"]);
    append(&kills(("Alpha One", ALPHA), ("Bravo", BRAVO), 10));
    let before_last = sim.embeds_posted(KILLFEED_CHANNEL).len();
    eventually("Alpha One's kills posted", WAIT, || async {
        sim.embeds_posted(KILLFEED_CHANNEL).len() >= before_last + 8
    })
    .await;
    append(&[format!(
        "2025.05.03-04.20.00;Charlie;{CHARLIE};Bravo;{BRAVO};M4;15;"
    )]);
    eventually("a later kill posted", WAIT, || async {
        sim.embeds_posted(KILLFEED_CHANNEL)
            .iter()
            .any(|e| e["title"].as_str() == Some("Charlie killed Bravo"))
    })
    .await;
    assert_eq!(rivalry_posts(), 1, "muted: no post for Alpha One's lead");

    // /rivalry record_kill (admin): counted as a line of its own kind, marked as recorded
    // by hand on the rivalry and the kill post; the killfeed read afterwards goes on.
    let record = |killer: &'static str| {
        [
            sid(),
            ("killer", Opt::str(killer)),
            ("victim", Opt::str("Bravo")),
            ("weapon", Opt::str("Crossbow")),
            ("location", Opt::str("Airfield")),
        ]
    };
    let a = run(&member_a, "rivalry record_kill", &record("Charlie")).await;
    assert_eq!(a.title(), "Not allowed", "admins only: {}", a.text());
    let a = run(&admin_a, "rivalry record_kill", &record("Nobody At All")).await;
    assert_eq!(a.title(), "Player Not Found", "{}", a.text());
    let a = run(&admin_a, "rivalry record_kill", &record("Charlie")).await;
    assert_eq!(a.title(), "Kill Recorded", "{}", a.text());
    mentions(
        &a,
        &[
            "Successfully recorded kill: `Charlie` killed `Bravo`",
            "Crossbow",
            "Airfield",
            "⚔️ Rivalry: ",
            "**Location:** Airfield",
            &format!("Recorded by hand by <@{ADMIN_A}>"),
        ],
    );
    let total_kills = |a: &Answer| -> u64 {
        let text = a.text();
        text.split_once("Total Kills\n")
            .and_then(|(_, rest)| rest.lines().next()?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no Total Kills in {text}"))
    };
    let recorded_total = total_kills(&a);
    eventually("the recorded kill posted, marked", WAIT, || async {
        sim.embeds_posted(KILLFEED_CHANNEL).iter().any(|e| {
            e.to_string().contains("Recorded by Hand") && e.to_string().contains("Airfield")
        })
    })
    .await;
    let bravo_kills = || {
        sim.embeds_posted(KILLFEED_CHANNEL)
            .iter()
            .filter(|e| e["title"].as_str() == Some("Bravo killed Charlie"))
            .count()
    };
    let before = bravo_kills();
    append(&[format!(
        "2025.05.03-04.30.00;Bravo;{BRAVO};Charlie;{CHARLIE};M4;15;"
    )]);
    eventually("the game's next kill posted after it", WAIT, || async {
        bravo_kills() > before
    })
    .await;
    // Bravo joins under a new name: the post says what the killfeed knew them as, and
    // /admin renamed lists it.
    {
        use std::io::Write as _;
        let mut log = ok(std::fs::OpenOptions::new()
            .append(true)
            .open(home.log(&server_id)));
        ok(write!(
            log,
            "[2025.05.03-05.00.00:000][ 46]LogNet: Join request: /Game/Maps/world_0/World_0?logintype=eos&login=Bravo2&Name=Bravo%20Two&eosid=|{BRAVO}\n\
             [2025.05.03-05.00.02:000][ 47]LogOnline: Warning: Player |{BRAVO} successfully registered!\n"
        ));
    }
    eventually("the join under a new name posted", WAIT, || async {
        sim.embeds_posted(CONNECTIONS_CHANNEL).iter().any(|e| {
            e["description"].as_str() == Some("**Bravo Two** joined the server (was **Bravo**).")
        })
    })
    .await;
    let a = run(&member_a, "admin renamed", &[sid()]).await;
    assert_eq!(a.title(), "Not allowed", "admins only: {}", a.text());
    let a = run(&admin_a, "admin renamed", &[sid()]).await;
    mentions(&a, &["**Bravo** → **Bravo Two**"]);
    // And counted: its batch was numbered after the recorded kill's.
    let a = run(
        &member_a,
        "rivalry between",
        &[
            ("player1", Opt::str("Charlie")),
            ("player2", Opt::str("Bravo")),
            sid(),
        ],
    )
    .await;
    assert_eq!(total_kills(&a), recorded_total + 1, "{}", a.text());

    // /faction (tier 3): member A (Alpha One) founds one; the admin's player (Charlie) is
    // added; a kill of Charlie's from now on counts for it, his kill above (before he was
    // a member) does not; leaving and deleting ask first.
    let wolves = |extra: &[(&'static str, Opt)]| {
        let mut o = vec![("faction_name", Opt::str("The Wolves")), sid()];
        o.extend(extra.iter().cloned());
        o
    };
    let a = run(
        &member_a,
        "faction create",
        &[
            ("name", Opt::str("The Wolves")),
            ("tag", Opt::str("WLF")),
            sid(),
        ],
    )
    .await;
    assert_eq!(a.title(), "Faction Created", "{}", a.text());
    let a = run(
        &member_a,
        "faction create",
        &[("name", Opt::str("Bears")), ("tag", Opt::str("BR")), sid()],
    )
    .await;
    mentions(&a, &["You are already a member of The Wolves."]);
    let a = run(
        &member_a,
        "faction info",
        &[("name", Opt::str("wlf")), sid()],
    )
    .await;
    assert_eq!(a.title(), "The Wolves [WLF]", "{}", a.text());
    mentions(&a, &["👑 Leader: 1", format!("<@{MEMBER_A}>").as_str()]);
    let a = run(
        &member_a,
        "faction add",
        &wolves(&[("player_name", Opt::str("Charlie"))]),
    )
    .await;
    assert_eq!(a.title(), "Not allowed", "an admin's: {}", a.text());
    let a = run(
        &admin_a,
        "faction add",
        &wolves(&[("player_name", Opt::str("Charlie"))]),
    )
    .await;
    assert_eq!(a.title(), "Member Added", "{}", a.text());
    let sent = sim.user_command(0, &member_a, "View Faction", ADMIN_A);
    let a = ok(sim.answer(&sent, WAIT).await);
    assert_eq!(a.title(), "The Wolves [WLF]", "{}", a.text());
    mentions(&a, &["Role\nMember"]);
    let joined = tower_daemon::telemetry::now_unix_ms() / 1000;
    let charlie_kills = || {
        sim.embeds_posted(KILLFEED_CHANNEL)
            .iter()
            .filter(|e| e["title"].as_str() == Some("Charlie killed Bravo"))
            .count()
    };
    let before = charlie_kills();
    append(&[format!(
        "{};Charlie;{CHARLIE};Bravo;{BRAVO};M4;15;",
        tower_ingest::timestamp::format_seconds(joined)
    )]);
    eventually("Charlie's kill as a member posted", WAIT, || async {
        charlie_kills() > before
    })
    .await;
    let a = run(&member_a, "faction stats", &[sid()]).await;
    assert_eq!(a.title(), "📊 The Wolves [WLF] Statistics", "{}", a.text());
    mentions(
        &a,
        &[
            "Kills\n1",
            "Deaths\n0",
            "K/D Ratio\n1.00",
            "**Charlie**: 1 kills",
        ],
    );
    // With faction tags on, Alpha One's kill of Charlie (both Wolves) is posted tagged and
    // marked friendly, and counts apart: neither a kill nor a death.
    let a = run(
        &admin_a,
        "settings",
        &[
            ("setting", Opt::str("faction_tags")),
            ("value", Opt::str("on")),
        ],
    )
    .await;
    assert_eq!(a.title(), "Setting Updated", "{}", a.text());
    append(&[format!(
        "{};Alpha One;{ALPHA};Charlie;{CHARLIE};AK-74;30;",
        tower_ingest::timestamp::format_seconds(joined)
    )]);
    eventually("the friendly kill posted", WAIT, || async {
        sim.embeds_posted(KILLFEED_CHANNEL)
            .iter()
            .any(|e| e["title"].as_str() == Some("[WLF] Alpha One killed [WLF] Charlie"))
    })
    .await;
    let post = sim
        .embeds_posted(KILLFEED_CHANNEL)
        .into_iter()
        .find(|e| e["title"].as_str() == Some("[WLF] Alpha One killed [WLF] Charlie"))
        .unwrap_or_default()
        .to_string();
    assert!(post.contains("🤝 Friendly Kill"), "{post}");
    let a = run(&member_a, "faction stats", &[sid()]).await;
    mentions(&a, &["Kills\n1", "Deaths\n0", "Friendly Kills\n1"]);
    let a = run(
        &member_a,
        "stats leaderboard",
        &[sid(), ("stat", Opt::str("kills"))],
    )
    .await;
    mentions(&a, &["[WLF] Alpha One"]);
    // The leader cannot leave; a member can, once confirmed.
    let a = run(&member_a, "faction leave", &[sid()]).await;
    assert_eq!(a.title(), "Faction Leader", "{}", a.text());
    let a = run(&admin_a, "faction leave", &[sid()]).await;
    assert_eq!(a.title(), "Leave Faction?", "{}", a.text());
    let buttons = a.buttons();
    let pressed = ok(sim
        .answer(&sim.press(0, &member_a, &buttons[0]), WAIT)
        .await);
    assert_eq!(pressed.title(), "Not your buttons", "{}", pressed.text());
    let pressed = ok(sim.answer(&sim.press(0, &admin_a, &buttons[0]), WAIT).await);
    assert_eq!(pressed.title(), "Faction Left", "{}", pressed.text());
    // Added again, with the admin asking for his earlier kills: they count too.
    let a = run(
        &admin_a,
        "faction add",
        &wolves(&[
            ("player_name", Opt::str("Charlie")),
            ("count_earlier_kills", Opt::Bool(true)),
        ]),
    )
    .await;
    mentions(&a, &["Their earlier kills and deaths count for it too."]);
    let a = run(&member_a, "faction stats", &[sid()]).await;
    let kills: i64 = a
        .text()
        .split("Kills\n")
        .nth(1)
        .and_then(|t| t.lines().next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_default();
    assert!(
        kills > 1,
        "Charlie's earlier kill of Bravo counts: {}",
        a.text()
    );
    // The lead handed over asks first; cancelled, nothing changes.
    let hand_over = wolves(&[
        ("player_name", Opt::str("Charlie")),
        ("role", Opt::str("leader")),
    ]);
    let a = run(&member_a, "faction promote", &hand_over).await;
    assert_eq!(a.title(), "Hand Over the Lead?", "{}", a.text());
    mentions(
        &a,
        &[
            "Are you sure you want to transfer leadership of **The Wolves** to **Charlie**? You will be demoted to officer.",
        ],
    );
    let pressed = ok(sim
        .answer(&sim.press(0, &member_a, &a.buttons()[1]), WAIT)
        .await);
    assert_eq!(pressed.title(), "Cancelled", "{}", pressed.text());
    let a = run(&member_a, "faction promote", &hand_over).await;
    let pressed = ok(sim
        .answer(&sim.press(0, &member_a, &a.buttons()[0]), WAIT)
        .await);
    assert_eq!(pressed.title(), "Member Promoted", "{}", pressed.text());
    mentions(
        &pressed,
        &["Successfully Transferred leadership to **Charlie** in **The Wolves** [WLF]."],
    );
    let sent = sim.user_command(0, &member_a, "View Faction", ADMIN_A);
    let a = ok(sim.answer(&sent, WAIT).await);
    mentions(&a, &["Role\nLeader"]);
    let a = run(&admin_a, "faction delete", &wolves(&[])).await;
    assert_eq!(a.title(), "Delete Faction?", "{}", a.text());
    let pressed = ok(sim
        .answer(&sim.press(0, &admin_a, &a.buttons()[0]), WAIT)
        .await);
    assert_eq!(pressed.title(), "Faction Deleted", "{}", pressed.text());
    let a = run(&member_a, "faction list", &[sid()]).await;
    assert_eq!(a.title(), "No Factions", "{}", a.text());

    // /settings default_server: the server a command uses when server_id is omitted.
    let second = unique_server_id();
    ok(std::fs::write(
        home.killfeed(&second).join("2025.05.03-00.00.00.csv"),
        "",
    ));
    add_server(&sim, &admin_a, &second).await;
    let a = run(&admin_a, "settings", &[]).await;
    assert_eq!(a.title(), "Server Settings", "{}", a.text());
    mentions(
        &a,
        &[
            "None (a command without server_id uses every game server)",
            &second,
        ],
    );
    let a = run(&member_a, "settings", &[]).await;
    assert_eq!(a.title(), "Not allowed", "admins only: {}", a.text());
    let default_to = |value: &str| {
        [
            ("setting", Opt::str("default_server")),
            ("value", Opt::str(value)),
        ]
    };
    let a = run(&admin_a, "settings", &default_to("999000999")).await;
    mentions(&a, &["999000999", "Error id E-"]);
    let a = run(&admin_a, "settings", &default_to(&second)).await;
    mentions(
        &a,
        &[&format!("Setting `default_server` updated to `{second}`")],
    );
    let a = run(&admin_a, "settings", &[("setting", Opt::str("prefix"))]).await;
    mentions(&a, &["no prefix"]);
    let sent = sim.slash(0, &admin_a, "historical_parse", &[]);
    assert_eq!(ok(sim.first_answer(&sent, WAIT).await).title(), "Working…");
    let a = ok(sim.edited_answer(&sent, WAIT).await);
    assert_eq!(a.title(), "Historical parse", "{}", a.text());
    assert!(
        a.text().contains(&second) && !a.text().contains(&server_id),
        "only the default server is read: {}",
        a.text()
    );
    // Removing the default server clears the setting: every server is used again.
    let a = remove_server(&sim, &admin_a, &second).await;
    assert_eq!(a.title(), "Server removed", "{}", a.text());
    let a = run(
        &admin_a,
        "settings",
        &[("setting", Opt::str("default_server"))],
    )
    .await;
    mentions(
        &a,
        &["None (a command without server_id uses every game server)"],
    );

    // The earlier bot's manual re-reads: a read now, told in its words.
    let slow = async |path: &str, opts: &[(&str, Opt)]| {
        let sent = sim.slash(0, &admin_a, path, opts);
        assert_eq!(ok(sim.first_answer(&sent, WAIT).await).title(), "Working…");
        ok(sim.edited_answer(&sent, WAIT).await)
    };
    let a = slow("process_csv", &[sid()]).await;
    assert_eq!(a.title(), "No Files Found", "{}", a.text());
    mentions(
        &a,
        &[&format!(
            "No new CSV files found for server `{server_id}` in the last 24 hours"
        )],
    );
    let a = slow("process_logs", &[sid()]).await;
    assert_eq!(a.title(), "Log Processing Complete", "{}", a.text());
    mentions(
        &a,
        &["Processed 1 log file(s)", "Deadside.log` read to byte"],
    );
    let a = run(&admin_a, "clear_csv_cache", &[]).await;
    assert_eq!(a.title(), "Cache Cleared", "{}", a.text());
    let server = || ("server", Opt::str(&server_id));
    let sent = sim.slash(0, &admin_a, "get_latest_logs", &[server()]);
    let working = ok(sim.first_answer(&sent, WAIT).await);
    assert!(working.is_ephemeral(), "log paths are told privately");
    let a = ok(sim.edited_answer(&sent, WAIT).await);
    assert!(a.title().starts_with("Latest Log Files on"), "{}", a.text());
    mentions(&a, &["📄 `Deadside.log` - ", "Showing up to 5 log files"]);
    let a = run(
        &admin_a,
        "download_log",
        &[server(), ("path", Opt::str("/etc/passwd"))],
    )
    .await;
    assert_eq!(a.title(), "Downloads are not sent through Discord");
    assert!(!a.text().contains("root:"), "{}", a.text());

    let sent = sim.slash(0, &admin_a, "historical_parse", &[sid()]);
    assert_eq!(ok(sim.first_answer(&sent, WAIT).await).title(), "Working…");
    let a = ok(sim.edited_answer(&sent, WAIT).await);
    assert_eq!(a.title(), "Historical parse", "{}", a.text());
    // The file was read as it grew: nothing was left to read.
    assert!(
        a.text().contains("up to date") && !a.text().contains("failed"),
        "{}",
        a.text()
    );
    let a = run(&admin_a, "log_status", &[]).await;
    assert_eq!(a.title(), "Server log reading");
    mentions(&a, &[&server_id, "Deadside.log` at ", "· ok"]);
    assert!(!a.text().contains("last error"), "{}", a.text());

    let a = run(&admin_a, "events stop", &[sid()]).await;
    assert_eq!(a.title(), "Events stopped", "{}", a.text());
    let a = run(&member_a, "events status", &[]).await;
    mentions(&a, &["events stopped"]);
    // Removal asks first; only the admin who asked can answer, and Cancel keeps it.
    let a = run(&admin_a, "setup removeserver", &[sid()]).await;
    assert_eq!(a.title(), "Confirm Server Removal", "{}", a.text());
    mentions(&a, &[&server_id, "Are you sure"]);
    let buttons = a.buttons();
    assert_eq!(buttons.len(), 2, "Confirm and Cancel");
    let other_admin = Member::admin(GUILD_A, 910_000_000_000_000_010);
    let sent = sim.press(0, &other_admin, &buttons[0]);
    let refused = ok(sim.first_answer(&sent, WAIT).await);
    assert!(
        refused.is_ephemeral() && refused.title() == "Not your buttons",
        "{}",
        refused.text()
    );
    let sent = sim.press(0, &admin_a, &buttons[1]);
    let cancelled = ok(sim.first_answer(&sent, WAIT).await);
    assert_eq!(cancelled.title(), "Removal cancelled");
    assert!(cancelled.buttons().is_empty(), "the buttons go");
    let a = run(&member_a, "setup list_servers", &[]).await;
    assert!(a.text().contains(&server_id), "still there: {}", a.text());
    let a = remove_server(&sim, &admin_a, &server_id).await;
    assert_eq!(a.title(), "Server removed", "{}", a.text());
    let a = run(&member_a, "setup list_servers", &[]).await;
    assert!(!a.text().contains(&server_id), "{}", a.text());

    ok(stack.stop_cleanly(Duration::from_secs(20)).await);
    ok(db.drop_database().await);
}

#[tokio::test]
async fn posting_survives_rate_limits_and_restarts_without_repeating() {
    let db = ok(TestDatabase::create("gateway_posting").await);
    let home = Home::new("gateway_posting");
    let key = ok(SecretKey::generate_base64());
    let server_id = unique_server_id();
    let file = fixture("2025.05.01-00.00.00.csv");
    let first = lines(&file, 25);
    let csv = home.killfeed(&server_id).join("2025.05.01-00.00.00.csv");
    let sim = ok(DiscordSimulator::start().await);
    // Discord answers the first two posts 429: they are waited out and retried.
    sim.rate_limit(
        "POST",
        &format!("/channels/{KILLFEED_CHANNEL}/messages"),
        2,
        0.2,
        false,
    );
    let opts = options(&db, &sim, &key);
    let stack = ok(Stack::start(&opts).await);
    let admin = Member::admin(GUILD_A, ADMIN_A);
    add_server(&sim, &admin, &server_id).await;
    let sent = sim.slash(
        0,
        &admin,
        "setup channels",
        &[
            ("server_id", Opt::str(&server_id)),
            ("killfeed_channel", Opt::Channel(KILLFEED_CHANNEL)),
        ],
    );
    assert_eq!(ok(sim.answer(&sent, WAIT).await).title(), "Channels saved");
    ok(std::fs::write(&csv, ""));
    first_read_done(&db.handle(), GUILD_A, &server_id).await;
    ok(std::fs::write(&csv, first));

    let count = |bytes: &[u8]| {
        let mut chunk = parse_killfeed_chunk("f.csv", bytes, 0, true);
        chunk.dedupe(GUILD_A, &server_id, &mut HashSet::new());
        chunk.events.len()
    };
    let want = count(first);
    eventually("the first lines posted", WAIT, || async {
        sim.embeds_posted(KILLFEED_CHANNEL).len() >= want
    })
    .await;
    posting_caught_up(&db.handle(), 1).await;
    assert_eq!(sim.embeds_posted(KILLFEED_CHANNEL).len(), want);
    let limited = sim.rest_calls().iter().filter(|c| c.rate_limited).count();
    assert_eq!(limited, 2, "both 429s were hit and retried");

    // Stop the gateway; pretend it crashed before acknowledging anything and before
    // marking its last message sent (the state a crash between post and record leaves).
    let acks = db.handle().collection::<Document>("notification_acks");
    let deliveries = db.handle().collection::<Document>("deliveries");
    let more = lines(&file, 45);
    let (stack, stopped, last_id) = ok(stack
        .restart_gateway(&opts, Duration::from_secs(20), async {
            ok(acks
                .update_many(doc! {}, doc! { "$set": { "seq": 0i64 } })
                .await);
            let last = ok(deliveries.find_one(doc! {}).sort(doc! { "at": -1 }).await);
            let last_id = last
                .as_ref()
                .and_then(|d| d.get_str("_id").ok())
                .unwrap_or_default()
                .to_owned();
            ok(deliveries
                .update_one(
                    doc! { "_id": &last_id },
                    doc! { "$set": { "state": "sending" } },
                )
                .await);
            // More lines arrive while it is down; the new gateway posts those, once, and
            // nothing twice.
            ok(std::fs::write(&csv, more));
            last_id
        })
        .await);
    assert!(stopped.success(), "the gateway stopped cleanly: {stopped}");
    let want = count(more);
    eventually("the new lines posted", WAIT, || async {
        sim.embeds_posted(KILLFEED_CHANNEL).len() >= want
    })
    .await;
    // Wait until the new gateway has worked through everything stored.
    posting_caught_up(&db.handle(), 1).await;
    assert_eq!(
        sim.embeds_posted(KILLFEED_CHANNEL).len(),
        want,
        "no line posted twice after the restart"
    );

    // The restarted gateway resumed its saved session instead of identifying again.
    ok(sim
        .wait_for("RESUME", WAIT, |e| matches!(e, SimEvent::Resumed { .. }))
        .await);
    let identified = sim
        .events()
        .iter()
        .filter(|e| matches!(e, SimEvent::Identified { .. }))
        .count();
    assert_eq!(identified, 1, "one IDENTIFY across the restart");
    let reposted = sim
        .rest_calls()
        .iter()
        .filter(|c| {
            c.method == "POST"
                && c.body
                    .as_ref()
                    .and_then(|b| b.get("nonce"))
                    .and_then(Value::as_str)
                    == Some(last_id.as_str())
        })
        .count();
    assert_eq!(
        reposted, 1,
        "the interrupted message was found in the channel, not sent again"
    );
    let checked = format!("/channels/{KILLFEED_CHANNEL}/messages");
    assert!(
        sim.rest_calls()
            .iter()
            .any(|c| c.method == "GET" && c.path == checked),
        "the channel's recent messages were looked at first"
    );
    let sent = ok(deliveries.count_documents(doc! { "state": "sent" }).await);
    assert_eq!(sent, ok(deliveries.count_documents(doc! {}).await));

    ok(stack.stop_cleanly(Duration::from_secs(20)).await);
    ok(db.drop_database().await);
}

#[tokio::test]
async fn two_gateway_processes_share_the_identify_limit() {
    let db = ok(TestDatabase::create("gateway_identify").await);
    let key = ok(SecretKey::generate_base64());
    let sim = ok(DiscordSimulator::start().await);
    let range = |shards: &str| {
        ["--shards", shards, "--total-shards", "2"]
            .map(str::to_owned)
            .to_vec()
    };
    let mut opts = options(&db, &sim, &key);
    opts.gateway_args = range("0..1");
    let stack = ok(Stack::start(&opts).await);
    let second = ok(stack.spawn_gateway(&opts, &range("1..2")).await);

    // One IDENTIFY per shard, each process its own shard; Discord says max_concurrency 1,
    // so both are in one bucket and may not identify within 5 s of each other.
    let mut identified: Vec<([u32; 2], std::time::Instant)> = sim
        .events()
        .into_iter()
        .filter_map(|e| match e {
            SimEvent::Identified { shard, at, .. } => Some((shard, at)),
            _ => None,
        })
        .collect();
    identified.sort_by_key(|(_, at)| *at);
    let shards: Vec<[u32; 2]> = identified.iter().map(|(s, _)| *s).collect();
    assert_eq!(shards, vec![[0, 2], [1, 2]]);
    let gap = identified[1].1.duration_since(identified[0].1);
    assert!(
        gap >= Duration::from_millis(4500),
        "the second IDENTIFY came {gap:?} after the first"
    );
    // And the gap is the queue's doing, not a slow start: the second process waited.
    assert!(
        second.logs().iter().any(|l| l
            .message()
            .is_some_and(|m| m.starts_with("identify bucket taken"))),
        "the second gateway did not wait for the identify bucket"
    );

    assert!(ok(second.stop(Duration::from_secs(20)).await).success());
    ok(stack.stop_cleanly(Duration::from_secs(20)).await);
    ok(db.drop_database().await);
}

#[tokio::test]
async fn a_close_code_that_forbids_reconnecting_stops_the_shard_with_a_clear_log() {
    let db = ok(TestDatabase::create("gateway_fatal_close").await);
    let key = ok(SecretKey::generate_base64());
    let sim = ok(DiscordSimulator::start().await);
    let stack = ok(Stack::start(&options(&db, &sim, &key)).await);

    // Discord closes with 4004 (authentication failed): reconnecting cannot help.
    sim.close_all(4004, "Authentication failed.");
    let line = ok(stack
        .gateway
        .wait_for_log("the shard stopped", WAIT, |l| {
            l.message()
                .is_some_and(|m| m.contains("forbids reconnecting"))
        })
        .await);
    assert!(
        line.field("close")
            .and_then(Value::as_str)
            .is_some_and(|c| c.starts_with("4004")),
        "{}",
        line.raw
    );
    // The process says it cannot do its job, and did not connect again.
    let channel = ok(ok(tonic::transport::Endpoint::from_shared(format!(
        "http://{}",
        stack.gateway_addr
    )))
    .connect()
    .await);
    let health = tonic_health::pb::health_client::HealthClient::new(channel);
    eventually("the gateway NOT_SERVING", WAIT, || {
        let mut health = health.clone();
        async move {
            health
                .check(tonic_health::pb::HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .is_ok_and(|r| {
                    r.into_inner().status
                        == tonic_health::pb::health_check_response::ServingStatus::NotServing as i32
                })
        }
    })
    .await;
    let connections = sim
        .events()
        .iter()
        .filter(|e| matches!(e, SimEvent::Connected { .. }))
        .count();
    assert_eq!(connections, 1);

    ok(stack.stop_cleanly(Duration::from_secs(20)).await);
    ok(db.drop_database().await);
}
