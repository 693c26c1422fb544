//! `/debug`: an error id that a failed command gave leads an admin to the error itself;
//! another Discord server's admin cannot look it up; `/debug show_recent` lists it, and
//! `/debug` alone gives the overview (errors by kind, each server's reading, the shard).

use tower_tests::WAIT;
use tower_tests::backing::TestDatabase;
use tower_tests::daemon::binary_path;
use tower_tests::discord_sim::interactions::{Member, Opt};
use tower_tests::guild_setup::KillfeedSetup;
use tower_tests::stack::TEST_TOKEN;
use tower_tests::support::ok;

const GUILD: u64 = 898_000_000_000_000_001;
const ADMIN: u64 = 998_000_000_000_000_001;
const CHANNEL: u64 = 698_000_000_000_000_001;
const OTHER_GUILD: u64 = 898_000_000_000_000_002;
const OTHER_ADMIN: u64 = 998_000_000_000_000_002;

#[tokio::test]
async fn an_error_id_leads_its_own_admins_to_the_error_and_no_one_else() {
    let KillfeedSetup {
        db: _db,
        home: _home,
        sim,
        stack,
        admin,
        server,
        options,
        ..
    } = KillfeedSetup::start(
        ok(TestDatabase::create("debug").await),
        "debug",
        (GUILD, ADMIN),
        CHANNEL,
    )
    .await;
    // A real failure: a folder the game server does not have.
    let sent = sim.slash(
        0,
        &admin,
        "list_sftp_files",
        &[
            ("server", Opt::str(&server)),
            ("path", Opt::str("no/such/folder")),
        ],
    );
    // A slow command: "Working…" first, then the answer edited in.
    ok(sim.first_answer(&sent, WAIT).await);
    let failed = ok(sim.edited_answer(&sent, WAIT).await).text();
    let Some(id) = failed
        .split("Error id ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
    else {
        panic!("the failure gives an error id: {failed}");
    };

    // Its admin looks it up (the report reaches the collector in the background).
    let debug = |member: &Member, options: Vec<(&'static str, Opt)>| {
        let sent = sim.slash(0, member, "debug", &options);
        let sim = &sim;
        async move { ok(sim.answer(&sent, WAIT).await) }
    };
    let shown = ok(tokio::time::timeout(WAIT, async {
        loop {
            let a = debug(&admin, vec![("error_id", Opt::str(&id))]).await;
            if a.title() == format!("Error {id}") {
                break a.text();
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    })
    .await);
    assert!(shown.contains("no/such/folder"), "what failed: {shown}");
    assert!(shown.contains(&server), "on which game server: {shown}");
    assert!(shown.contains("What to do"), "with what to do: {shown}");

    // Another Discord server's admin: not theirs, so not found.
    let other = Member::admin(OTHER_GUILD, OTHER_ADMIN);
    let refused = debug(&other, vec![("error_id", Opt::str(&id))]).await;
    assert!(refused.is_ephemeral());
    let text = refused.text();
    assert!(text.contains("No error"), "{text}");
    assert!(
        !text.contains("no/such/folder"),
        "nothing of it shown: {text}"
    );

    // The recent errors of the admin's own server list it.
    let recent = debug(&admin, vec![("show_recent", Opt::Bool(true))]).await;
    assert!(recent.text().contains(&id), "{}", recent.text());

    // Neither option: the week's errors by kind, each server's reading, the shard.
    let overview = debug(&admin, vec![]).await;
    let text = overview.text();
    assert_eq!(overview.title(), "Diagnostics", "{text}");
    assert!(text.contains(&id), "the week's errors: {text}");
    assert!(
        text.contains(&format!("`{server}` ✅ ok · last read")),
        "the server's reading: {text}"
    );
    assert!(text.contains("Shard\n0 of 1"), "the guild's shard: {text}");

    // Operators see the same from the command line (a gateway token, the collector's URL).
    let towerctl = async |args: &[&str]| -> serde_json::Value {
        let mut command = tokio::process::Command::new(ok(binary_path("towerctl")));
        command
            .args(args)
            .envs(options.base_env())
            .env(
                "TOWER_COLLECTOR_URL",
                format!("http://{}", stack.collector_addr),
            )
            .env("TOWER_AUTH_TOKEN", TEST_TOKEN);
        let out = ok(ok(tokio::time::timeout(WAIT, command.output()).await));
        assert!(
            out.status.success(),
            "towerctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        ok(serde_json::from_slice(&out.stdout))
    };
    let shown = towerctl(&["errors", "show", &id, "--json"]).await;
    assert_eq!(shown["error_id"], serde_json::json!(id), "{shown}");
    assert_eq!(shown["server_id"], serde_json::json!(server), "{shown}");
    let top = towerctl(&["errors", "top", "--since", "1h", "--json"]).await;
    let listed = top["errors"].as_array().cloned().unwrap_or_default();
    assert!(
        listed
            .iter()
            .any(|e| e["error_id"] == serde_json::json!(id)),
        "{top}"
    );
    let detections = towerctl(&["errors", "detections", "--json"]).await;
    assert!(detections["detections"].is_array(), "{detections}");
    // `towerctl status`: every process with its health and what it serves, and the
    // gateway's notification backlog.
    let status = towerctl(&["status", "--json"]).await;
    let processes = status["processes"].as_array().cloned().unwrap_or_default();
    let of_kind = |kind: &str| -> Vec<serde_json::Value> {
        processes
            .iter()
            .filter(|p| p["kind"] == serde_json::json!(kind) && p["state"] == "up")
            .cloned()
            .collect()
    };
    let gateways = of_kind("gateway-shard");
    assert_eq!(gateways.len(), 1, "{status}");
    assert_eq!(gateways[0]["shards"], "0..=0/1", "{status}");
    assert_eq!(gateways[0]["health"], "serving", "{status}");
    let workers = of_kind("sftp-worker");
    assert_eq!(workers.len(), 1, "{status}");
    assert_eq!(workers[0]["health"], "serving", "{status}");
    assert_eq!(workers[0]["leases"], 1, "the one game server: {status}");
    assert_eq!(of_kind("telemetry-collector").len(), 1, "{status}");
    for p in gateways.iter().chain(&workers) {
        assert!(
            p["reported_to_collector_unix_ms"].is_i64(),
            "heard by the collector: {status}"
        );
    }
    let subscribers = status["subscribers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        subscribers
            .iter()
            .any(|s| s["subscriber"] == "gateway:0-0/1" && s["backlog"] == 0),
        "{status}"
    );
    assert_eq!(status["collector"], "answering", "{status}");
    ok(stack.stop_cleanly(WAIT).await);
}
