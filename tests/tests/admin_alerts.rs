//! A game server whose password is wrong is not read; the next admin who runs a command is
//! told privately, with the fix, once: not on every poll, not on every command.

use mongodb::bson::{Document, doc};
use tower_tests::WAIT;
use tower_tests::backing::TestDatabase;
use tower_tests::discord_sim::interactions::{Member, Opt, Sent};
use tower_tests::discord_sim::{DiscordSimulator, SimEvent};
use tower_tests::guild_setup::addserver_options;
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
    let _stack = ok(tower_tests::stack::Stack::start(&options).await);
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
    assert!(text.contains("password was refused"), "the fix: {text}");

    // The worker keeps failing (its polls go on); the admins are not told again.
    let sent = sim.slash(0, &admin, "csv_status", &[]);
    ok(sim.answer(&sent, WAIT).await);
    let later = sim.slash(0, &admin, "log_status", &[]);
    ok(sim.answer(&later, WAIT).await);
    assert_eq!(note(&sent), None, "told once");
}
