//! The README's run command, driven as a user drives it: `tower-local --script` runs the
//! README's tour (`deploy/local/tour.txt`) through the sandbox, against the real test
//! MongoDB and sshd, and a user sees kills and events posted, the leaderboard, a player's
//! pages turned by a button, and a plain member refused an admin command. A second run
//! keeps the sandbox's data, and a script line Discord would refuse stops it with an error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tower_tests::backing::TestDatabase;
use tower_tests::daemon::binary_path;
use tower_tests::support::{ok, required_env};

/// A whole sandbox run: starting the stack, the tour's waits, stopping.
const RUN_LIMIT: Duration = Duration::from_secs(240);

struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs `tower-local` with `args` on this test's database and the test sshd.
async fn tower_local(db: &TestDatabase, state: &Path, args: &[&str]) -> Run {
    let mut command = tokio::process::Command::new(ok(binary_path("tower-local")));
    command
        .args(args)
        .env_clear()
        .env("PATH", required_env("PATH"))
        .env("MONGODB_URI", &db.uri)
        .env("TOWER_MONGODB_DATABASE", &db.name)
        .env("TOWER_STATE_DIR", state)
        .env(
            "TOWER_SANDBOX_SFTP_PORT",
            required_env("TOWER_TEST_SSHD_PORT"),
        )
        .env(
            "TOWER_SANDBOX_SFTP_USER",
            required_env("TOWER_TEST_SFTP_USER"),
        )
        .env(
            "TOWER_SANDBOX_SFTP_PASSWORD",
            required_env("TOWER_TEST_SFTP_PASSWORD"),
        )
        .env(
            "TOWER_SANDBOX_SFTP_HOME",
            required_env("TOWER_TEST_SFTP_HOME"),
        )
        // The top tier's 5 s would do; a second keeps the test short.
        .env("TOWER_POLL_INTERVAL_SECS", "1")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(RUN_LIMIT, command.output()).await;
    let Ok(output) = output else {
        panic!("tower-local {args:?} did not finish within {RUN_LIMIT:?}");
    };
    let output = ok(output);
    Run {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The text printed after the script line `line` (up to the next `> ` line).
fn after<'a>(out: &'a str, line: &str) -> &'a str {
    let echoed = format!("> {line}\n");
    let Some(start) = out.find(&echoed) else {
        panic!("the script line {line:?} was not echoed:\n{out}");
    };
    let rest = &out[start + echoed.len()..];
    rest.find("\n> ").map_or(rest, |end| &rest[..=end])
}

fn tour() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/local/tour.txt")
}

#[tokio::test]
async fn the_tour_shows_the_product_working() {
    let db = ok(TestDatabase::create("sandbox_tour").await);
    let state = std::env::temp_dir().join(format!("tower-sandbox-test-{}", std::process::id()));
    let tour = tour();
    let tour = tour.to_string_lossy();
    let run = tower_local(
        &db,
        &state,
        &["--script", &tour, "--speed", "20", "--reset"],
    )
    .await;
    let out = &run.stdout;
    assert!(run.success, "the tour failed:\n{out}\n{}", run.stderr);
    // Set up through the bot's own commands.
    assert!(
        run.stderr.contains("/setup addserver: Server added"),
        "{}",
        run.stderr
    );
    assert!(
        after(out, "/premium status").contains("Overseer (tier 4)"),
        "{out}"
    );
    // Kills and events as posted in their channels, rendered with their colour.
    let killfeed = after(out, "wait-post killfeed 90");
    assert!(killfeed.starts_with("#killfeed\n  [#"), "{out}");
    assert!(killfeed.contains("Sandbox Deadside"), "{out}");
    assert!(out.contains(" killed "), "no kill posted:\n{out}");
    let events = after(out, "wait-post events 90");
    assert!(
        events.contains("ready (level") || events.contains("flying"),
        "{out}"
    );
    assert!(after(out, "wait-post connections 90").starts_with("#connections\n"));
    // Statistics of the replayed fixture: HallagerTheDane's two M99 kills (its lines 3
    // and 5; his next kill is at line 180).
    let board = after(out, "/stats leaderboard server_id:7020 stat:kills");
    assert!(board.contains("Kills — Sandbox Deadside"), "{out}");
    assert!(board.contains("HallagerTheDane — 2"), "{out}");
    // The auto-posted board and the live status, posted in their channels.
    let posted = after(out, "wait-post leaderboards 60");
    assert!(posted.starts_with("#leaderboards\n"), "{out}");
    assert!(
        posted.contains("Kills (all time) — Sandbox Deadside"),
        "{out}"
    );
    assert!(posted.contains("🥇"), "{out}");
    let status = after(out, "wait-post status 60");
    assert!(status.contains("Sandbox Deadside — live status"), "{out}");
    assert!(status.contains("Killfeed current to"), "{out}");
    let player = after(
        out,
        "/stats player server_id:7020 player_name:HallagerTheDane",
    );
    assert!(player.contains("HallagerTheDane — Overview"), "{out}");
    assert!(player.contains("[2: Weapons]"), "{out}");
    // The last day read again: the summary, and what was new (nothing: polled already).
    let parse = after(out, "/historical_parse server_id:7020 days:1");
    assert!(parse.contains("Historical parse"), "{out}");
    assert!(
        parse.contains("Read again: the files written in the last day"),
        "{out}"
    );
    let weapons = after(out, "press 2");
    assert!(weapons.contains("HallagerTheDane — Weapons"), "{out}");
    assert!(weapons.contains("M99 — 2"), "{out}");
    assert!(
        after(out, "/killfeed status").contains("on in #killfeed"),
        "{out}"
    );
    // A plain member is refused an admin command.
    let refused = after(out, "/killfeed stop server_id:7020");
    assert!(refused.contains("Not allowed"), "{out}");

    // Run again on the same data: the sandbox is still set up, and a command Discord would
    // refuse (a value outside the option's choices) stops the script with the reason.
    let script = state.join("bad.txt");
    ok(std::fs::write(
        &script,
        "/setup list_servers\n/stats leaderboard server_id:7020 stat:charm\n/premium status\n",
    ));
    let run = tower_local(&db, &state, &["--script", &script.to_string_lossy()]).await;
    assert!(!run.success, "a refused command must fail the script");
    assert!(
        run.stderr
            .contains("Sandbox Deadside (7020) is already added"),
        "{}",
        run.stderr
    );
    assert!(
        after(&run.stdout, "/setup list_servers").contains("Sandbox Deadside (7020)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains(
            "script line 2: /stats leaderboard: stat=\"charm\" is not one of its choices"
        ),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("> /premium status"), "{}", run.stdout);
    let _ = std::fs::remove_dir_all(&state);
    let _ = std::fs::remove_dir_all(
        PathBuf::from(required_env("TOWER_TEST_SFTP_HOME")).join("127.0.0.1_7020"),
    );
}
