//! Premium after a downgrade: the guild's oldest servers keep its tier's slots and the
//! others stop being read (and say so in `/setup list_servers`); page buttons of an
//! earlier answer check the tier again; two admins adding a server at once cannot both
//! take a guild's last slot.

use mongodb::bson::{Document, doc};
use tower_store::secret::SecretKey;
use tower_tests::WAIT;
use tower_tests::backing::TestDatabase;
use tower_tests::discord_sim::interactions::{Member, Opt};
use tower_tests::discord_sim::{DiscordSimulator, OWNER_USER_ID};
use tower_tests::guild_setup::{ALPHA, addserver_options, kills};
use tower_tests::sftp_home::{Home, unique_server_id};
use tower_tests::stack::{Stack, StackOptions};
use tower_tests::support::{eventually, first_read_done, ok};

const GUILD: u64 = 870_000_000_000_000_001;
const OTHER_GUILD: u64 = 870_000_000_000_000_002;
const ADMIN: u64 = 970_000_000_000_000_001;
const OTHER_ADMIN: u64 = 970_000_000_000_000_002;

#[tokio::test]
async fn a_downgrade_pauses_servers_beyond_the_slots_and_buttons_check_the_tier_again() {
    let db = ok(TestDatabase::create("downgrade").await);
    let home = Home::new("downgrade");
    let key = ok(SecretKey::generate_base64());
    let (older, newer) = (unique_server_id(), unique_server_id());
    let csv = |s: &str| home.killfeed(s).join("2026.01.01-00.00.00.csv");
    for s in [&older, &newer] {
        ok(std::fs::write(csv(s), ""));
    }
    let sim = ok(DiscordSimulator::start().await);
    let mut options = StackOptions::simulated(&db, &sim, Some(key)).with_loopback_sftp();
    // Lease rounds every second, so a paused server is given back at once.
    options
        .extra_env
        .push(("TOWER_LEASE_SECS".to_owned(), "3".to_owned()));
    let stack = ok(Stack::start(&options).await);
    let admin = Member::admin(GUILD, ADMIN);
    let owner = Member::ordinary(GUILD, OWNER_USER_ID);
    let run = async |member: &Member, path: &str, opts: &[(&str, Opt)]| {
        let sent = sim.slash(0, member, path, opts);
        ok(sim.answer(&sent, WAIT).await)
    };
    let grant = async |tier: i64| {
        let a = run(
            &owner,
            "admin premium",
            &[
                ("guild_id", Opt::str(GUILD.to_string())),
                ("tier", Opt::Int(tier)),
            ],
        )
        .await;
        assert_eq!(a.title(), "Premium granted", "{}", a.text());
    };
    grant(1).await;
    for s in [&older, &newer] {
        let a = run(&admin, "setup addserver", &addserver_options(s)).await;
        assert_eq!(a.title(), "Server added", "{}", a.text());
        first_read_done(&db.handle(), GUILD, s).await;
    }
    ok(std::fs::write(csv(&older), kills(3)));
    let stats = db.handle().collection::<Document>("player_stats");
    let alpha_kills = |server: String| {
        let stats = stats.clone();
        async move {
            stats
                .find_one(
                    doc! { "guild_id": GUILD.to_string(), "server_id": server, "player_id": ALPHA },
                )
                .await
                .ok()
                .flatten()
                .map_or(0, |d| {
                    d.get_i64("kills")
                        .or_else(|_| d.get_i32("kills").map(i64::from))
                        .unwrap_or(0)
                })
        }
    };
    eventually("the older server's kills counted", WAIT, || async {
        alpha_kills(older.clone()).await == 3
    })
    .await;
    let page = run(
        &admin,
        "stats player",
        &[
            ("server_id", Opt::str(&older)),
            ("player_name", Opt::str("Alpha One")),
        ],
    )
    .await;
    let buttons = page.buttons();
    assert_eq!(buttons.len(), 4, "{}", page.text());

    // Down to Scavenger: one server. The older keeps it; the newer is paused.
    grant(0).await;
    let list = run(&admin, "setup list_servers", &[]).await;
    let text = list.text();
    let paused_line = |s: &str| {
        text.split(&format!("({s})")).nth(1).is_some_and(|rest| {
            rest.split("\nServer ")
                .next()
                .unwrap_or_default()
                .contains("paused")
        })
    };
    assert!(paused_line(&newer) && !paused_line(&older), "{text}");
    let status = db.handle().collection::<Document>("server_status");
    let polls = |s: String| {
        let status = status.clone();
        async move {
            status
                .find_one(doc! { "_id": format!("{GUILD}:{s}") })
                .await
                .ok()
                .flatten()
                .and_then(|d| d.get_i64("polls").ok())
                .unwrap_or(0)
        }
    };
    // Polls are reported once a second: the newer server's count is read once the older
    // has been polled three more times (a poll of the newer begun before the lease round
    // is in by then), then must not move while the older is polled three times again.
    let mut older_polls = polls(older.clone()).await;
    eventually("three more polls of the older server", WAIT, || async {
        polls(older.clone()).await >= older_polls + 3
    })
    .await;
    let newer_polls = polls(newer.clone()).await;
    older_polls = polls(older.clone()).await;
    eventually("three more polls of the older server", WAIT, || async {
        polls(older.clone()).await >= older_polls + 3
    })
    .await;
    assert_eq!(
        polls(newer.clone()).await,
        newer_polls,
        "the paused server is not polled"
    );
    // Now that the worker has let it go, kills written to it are not counted; the older
    // server reads on.
    ok(std::fs::write(csv(&newer), kills(4)));
    ok(std::fs::write(csv(&older), kills(5)));
    eventually("the older server read on", WAIT, || async {
        alpha_kills(older.clone()).await == 5
    })
    .await;
    assert_eq!(alpha_kills(newer.clone()).await, 0, "nor its kills counted");

    // The page buttons of the earlier answer: Stats needs Survivor now.
    let sent = sim.press(0, &admin, &buttons[1]);
    let refused = ok(sim.first_answer(&sent, WAIT).await);
    assert!(
        refused.is_ephemeral() && refused.title() == "Not allowed",
        "{}",
        refused.text()
    );

    // Another Scavenger guild: two admins add a server at the same moment; one slot.
    let other = Member::admin(OTHER_GUILD, OTHER_ADMIN);
    let (a, b) = (unique_server_id(), unique_server_id());
    let first = sim.slash(0, &other, "setup addserver", &addserver_options(&a));
    let second = sim.slash(0, &other, "setup addserver", &addserver_options(&b));
    let titles = [
        ok(sim.answer(&first, WAIT).await).title(),
        ok(sim.answer(&second, WAIT).await).title(),
    ];
    assert_eq!(
        titles.iter().filter(|t| *t == "Server added").count(),
        1,
        "{titles:?}"
    );
    let servers = ok(db
        .handle()
        .collection::<Document>("game_servers")
        .count_documents(doc! { "guild_id": OTHER_GUILD.to_string() })
        .await);
    assert_eq!(servers, 1);
    ok(stack.stop_cleanly(WAIT).await);
}
