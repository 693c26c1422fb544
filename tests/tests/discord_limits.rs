//! Answers at the largest a guild can make them: the top tier's 25 game servers, each with
//! a 100-character name full of markdown, and players whose names Discord would refuse as
//! a suggestion. The simulator refuses any body over Discord's limits (400 Invalid Form
//! Body), as Discord does, so an answer that would be refused or cut fails here.

use mongodb::bson::{Document, doc};
use tower_store::secret::SecretKey;
use tower_tests::WAIT;
use tower_tests::backing::{TestDatabase, sshd_port};
use tower_tests::discord_sim::interactions::{Answer, Member, Opt, Sent};
use tower_tests::discord_sim::{DiscordSimulator, OWNER_USER_ID};
use tower_tests::sftp_home::{Home, unique_server_id};
use tower_tests::stack::{Stack, StackOptions};
use tower_tests::support::{eventually, ok, required_env};

const GUILD: u64 = 830_000_000_000_000_003;
const ADMIN: u64 = 930_000_000_000_000_001;
const SERVERS: usize = 25;

/// A server name of exactly 100 characters that would be a link if shown as markdown.
fn long_name(i: usize) -> String {
    let mut name = format!("[Free skins {i:02}](https://evil.example/{i}) **bold** ");
    while name.chars().count() < 100 {
        name.push('x');
    }
    name
}

/// Every message of the answer once it names each of `want`; panics on a message
/// Discord would have refused.
async fn answer_naming(sim: &DiscordSimulator, sent: &Sent, want: &[String]) -> Vec<Answer> {
    let text = |messages: &[Result<Answer, String>]| {
        messages
            .iter()
            .filter_map(|m| m.as_ref().ok())
            .map(Answer::text)
            .collect::<String>()
    };
    eventually("an answer naming every server", WAIT, || async {
        let messages = sim.messages(sent);
        messages.iter().any(Result::is_err) || want.iter().all(|w| text(&messages).contains(w))
    })
    .await;
    let messages = sim.messages(sent);
    let refused: Vec<&String> = messages.iter().filter_map(|m| m.as_ref().err()).collect();
    assert!(refused.is_empty(), "Discord would refuse: {refused:?}");
    messages.into_iter().filter_map(Result::ok).collect()
}

#[tokio::test]
async fn answers_for_25_servers_with_long_names_fit_discords_limits() {
    let db = ok(TestDatabase::create("discord_limits").await);
    let home = Home::new("discord_limits");
    let key = ok(SecretKey::generate_base64());
    let sim = ok(DiscordSimulator::start().await);
    let options = StackOptions::simulated(&db, &sim, Some(key)).with_loopback_sftp();
    let stack = ok(Stack::start(&options).await);
    let admin = Member::admin(GUILD, ADMIN);
    let owner = Member::ordinary(GUILD, OWNER_USER_ID);

    let sent = sim.slash(
        0,
        &owner,
        "admin premium",
        &[
            ("guild_id", Opt::str(GUILD.to_string())),
            ("tier", Opt::Int(4)),
        ],
    );
    assert_eq!(ok(sim.answer(&sent, WAIT).await).title(), "Premium granted");

    // The first server's top killer has no name: the parser keeps the line.
    let base = unique_server_id();
    let ids: Vec<String> = (0..SERVERS).map(|i| format!("{base}{i:02}")).collect();
    let nameless = "2025.05.01-00.07.23;;00024d4be1e44ba0aa342b39b0fb9937;KT93141;00022ba2df89427c8a252ab6be1df3f3;M99;152;PS5;XSX;\n\
                    2025.05.01-00.08.23;;00024d4be1e44ba0aa342b39b0fb9937;Bob;00022ba2df89427c8a252ab6be1df3f4;M99;15;PS5;XSX;\n";
    for (i, id) in ids.iter().enumerate() {
        let killfeed = home.killfeed(id);
        if i == 0 {
            ok(std::fs::write(
                killfeed.join("2025.05.01-00.00.00.csv"),
                nameless,
            ));
        }
        ok(std::fs::write(
            home.log(id),
            "Log file open, 05/03/25 02:00:00\n",
        ));
        let sent = sim.slash(
            0,
            &admin,
            "setup addserver",
            &[
                ("server_name", Opt::str(long_name(i))),
                ("host", Opt::str("127.0.0.1")),
                ("port", Opt::Int(i64::from(ok(sshd_port())))),
                ("username", Opt::str(required_env("TOWER_TEST_SFTP_USER"))),
                (
                    "password",
                    Opt::str(required_env("TOWER_TEST_SFTP_PASSWORD")),
                ),
                ("server_id", Opt::str(id)),
            ],
        );
        let answer = ok(sim.answer(&sent, WAIT).await);
        assert_eq!(answer.title(), "Server added", "{}", answer.text());
    }

    // Lists of every server: each answer is accepted and names all 25.
    for path in ["setup list_servers", "killfeed status", "events status"] {
        let sent = sim.slash(0, &admin, path, &[]);
        let messages = answer_naming(&sim, &sent, &ids).await;
        for m in &messages {
            let text = m.text();
            assert!(
                !text.contains("](https://") && !text.contains("**bold**"),
                "/{path}: a server name shows as markdown: {text}"
            );
        }
    }
    // The status lists come from the worker once it has read every server.
    let status = db.handle().collection::<Document>("server_status");
    eventually("every server polled", WAIT, || async {
        status
            .count_documents(doc! { "polls": { "$gte": 1 } })
            .await
            .is_ok_and(|n| n == SERVERS as u64)
    })
    .await;
    for path in ["csv_status", "log_status"] {
        let sent = sim.slash(0, &admin, path, &[]);
        let polled: Vec<String> = ids.iter().map(|id| format!("{id}\npolled")).collect();
        answer_naming(&sim, &sent, &polled).await;
    }
    let sent = sim.slash(0, &admin, "historical_parse", &[]);
    let messages = answer_naming(&sim, &sent, &ids).await;
    let text: String = messages.iter().map(Answer::text).collect();
    assert!(!text.contains("failed"), "{text}");

    // Suggestions for the first server: the nameless top killer is not offered as an
    // empty choice, which would make Discord refuse every suggestion.
    eventually(
        "the players of the first server suggested",
        WAIT,
        || async {
            let sent = sim.autocomplete(
                0,
                &admin,
                "stats player",
                &[
                    ("server_id", Opt::str(&ids[0])),
                    ("player_name", Opt::Focused(String::new())),
                ],
            );
            let choices = ok(sim.first_answer(&sent, WAIT).await).choices();
            assert!(
                choices
                    .iter()
                    .all(|(n, v)| !n.trim().is_empty() && !v.trim().is_empty()),
                "{choices:?}"
            );
            choices.iter().any(|(_, v)| v == "Bob")
        },
    )
    .await;
    ok(stack.stop_cleanly(WAIT).await);
}
