//! The answers to "why is nothing posting?". `/setup check`: a healthy server is said to
//! be healthy; once the guild takes the bot's Send Messages in the killfeed channel, the
//! check reads the bot's permissions from Discord, names the channel and the missing
//! permission and gives the fix; another Discord server's admin cannot check this server.
//! `/error_guide`: a guide for anyone, and `command_usage` explaining a command (suggested
//! as the user types) from the registered schema.

use tower_tests::WAIT;
use tower_tests::backing::TestDatabase;
use tower_tests::discord_sim::interactions::{Member, Opt};
use tower_tests::guild_setup::KillfeedSetup;
use tower_tests::support::ok;

const GUILD: u64 = 897_000_000_000_000_001;
const ADMIN: u64 = 997_000_000_000_000_001;
const CHANNEL: u64 = 697_000_000_000_000_001;
const OTHER_GUILD: u64 = 897_000_000_000_000_002;
const OTHER_ADMIN: u64 = 997_000_000_000_000_002;

#[tokio::test]
async fn setup_check_and_error_guide_say_what_is_wrong_and_how_to_fix_it() {
    let KillfeedSetup {
        db: _db,
        home: _home,
        sim,
        stack: _stack,
        admin,
        server,
        ..
    } = KillfeedSetup::start(
        ok(TestDatabase::create("diagnostics").await),
        "diagnostics",
        (GUILD, ADMIN),
        CHANNEL,
    )
    .await;
    let check = async |member: &Member| {
        let sent = sim.slash(
            0,
            member,
            "setup check",
            &[("server_id", Opt::str(&server))],
        );
        // It tests SFTP: "Working…" (only the caller sees it), then the answer edited in.
        let first = ok(sim.first_answer(&sent, WAIT).await);
        assert!(first.is_ephemeral(), "it names hosts, folders and errors");
        ok(sim.edited_answer(&sent, WAIT).await)
    };

    let healthy = check(&admin).await;
    let text = healthy.text();
    assert!(text.contains("Nothing wrong found"), "{text}");
    assert!(text.contains("**auth**"), "the SFTP steps: {text}");
    assert!(
        text.contains(&format!("✅ <#{CHANNEL}> (killfeed)")),
        "the bot's permissions in the killfeed channel: {text}"
    );

    // The guild takes the bot's Send Messages in the killfeed channel.
    sim.refuse_posts(CHANNEL, true);
    let broken = check(&admin).await;
    let text = broken.text();
    assert!(text.contains("1 problem(s) found"), "{text}");
    // Without Send Messages, Discord takes Embed Links too (twilight's calculator does
    // as Discord does).
    assert!(
        text.contains(&format!(
            "The bot lacks Send Messages, Embed Links in <#{CHANNEL}> (killfeed)"
        )),
        "the channel and the permission: {text}"
    );
    assert!(
        // The simulator denies it on the bot's own entry, which beats any role's allow.
        text.contains("the entry for the bot itself denies Send Messages: remove that deny"),
        "the fix: {text}"
    );
    // It read that from Discord, not from a refused post.
    assert_eq!(sim.post_attempts(CHANNEL), 0, "nothing was posted");
    assert!(
        sim.rest_calls()
            .iter()
            .any(|c| c.method == "GET" && c.path == format!("/channels/{CHANNEL}")),
        "the channel's overwrites were read"
    );

    // Another Discord server's admin: not their server.
    let other = check(&Member::admin(OTHER_GUILD, OTHER_ADMIN)).await;
    let text = other.text();
    assert!(!text.contains("Setup check"), "{text}");
    assert!(
        text.contains(&server),
        "says which server was not found: {text}"
    );

    // `/error_guide`, for anyone: the command to explain is suggested as it is typed…
    let player = Member::ordinary(GUILD, 997_000_000_000_000_003);
    let sent = sim.autocomplete(
        0,
        &player,
        "error_guide",
        &[
            ("error_type", Opt::str("command_usage")),
            ("command", Opt::Focused("setup ch".to_owned())),
        ],
    );
    let choices = ok(sim.first_answer(&sent, WAIT).await).choices();
    assert!(
        choices.iter().any(|(_, value)| value == "setup check"),
        "{choices:?}"
    );
    // …and explained from the registered schema.
    let sent = sim.slash(
        0,
        &player,
        "error_guide",
        &[
            ("error_type", Opt::str("command_usage")),
            ("command", Opt::str("setup check")),
        ],
    );
    let usage = ok(sim.answer(&sent, WAIT).await);
    assert!(!usage.is_ephemeral(), "a guide is public");
    assert_eq!(usage.title(), "❓ Command Usage Guide: /setup check");
    let text = usage.text();
    assert!(
        text.contains("/setup check server_id:"),
        "the syntax: {text}"
    );
    assert!(text.contains("**server_id** (text, required)"), "{text}");
    assert!(text.contains("admins"), "who may use it: {text}");
    let sent = sim.slash(
        0,
        &player,
        "error_guide",
        &[("error_type", Opt::str("sftp_connection"))],
    );
    let text = ok(sim.answer(&sent, WAIT).await).text();
    assert!(
        text.contains("actual1/deathlogs/world_*"),
        "where the game writes kills: {text}"
    );
}
