//! The economy's ledger in the real MongoDB-wire server: a change posted twice applies
//! once, concurrent transfers never overdraw, posts cut short by a crash are completed
//! once (transfers with both sides or neither), and a killfeed batch's kill rewards are
//! paid once and the same whether or not the worker died in the middle of it.

use mongodb::bson::{DateTime, Document, doc};
use tower_ingest::ingest::parse_killfeed_chunk;
use tower_ingest::reader::{BATCH_BYTES, PollOutcome, poll_killfeed};
use tower_ingest::source::LocalSource;
use tower_store::cursor_store::{CursorStore, StoreSink};
use tower_store::kill_rewards::KillRewards;
use tower_store::ledger::{AccountId, Entry, Ledger, Posted, Source, Transferred};
use tower_store::player_links::{PlayerLink, PlayerLinks};
use tower_store::stats_store::{BatchRef, StatsStore};
use tower_tests::backing::TestDatabase;
use tower_tests::support::{expected_stats, fixture, ok};

const GUILD: u64 = 121_212_121_212_121_212;
const SERVER: &str = "7020";

fn account(user: u64) -> AccountId {
    AccountId {
        guild_id: GUILD,
        server_id: SERVER.to_owned(),
        user_id: user,
    }
}

fn credit(key: &str, user: u64, amount: i64) -> Entry {
    Entry {
        key: key.to_owned(),
        account: account(user),
        amount,
        source: Source::KillReward,
        details: "Kill".to_owned(),
        reference: key.to_owned(),
    }
}

/// How many notifications (posts to come) match `filter`.
async fn notices(test: &TestDatabase, filter: Document) -> u64 {
    ok(test
        .handle()
        .collection::<Document>("notifications")
        .count_documents(filter)
        .await)
}

/// Makes every transaction look as if its process stopped long ago, in `state`.
async fn cut_short(test: &TestDatabase, key: &str, state: &str) {
    let long_ago = DateTime::from_millis(DateTime::now().timestamp_millis() - 3_600_000);
    ok(test
        .handle()
        .collection::<Document>("economy_transactions")
        .update_one(
            doc! { "_id": key },
            doc! { "$set": { "state": state, "at": long_ago }, "$unset": { "balance_after": "" } },
        )
        .await);
}

#[tokio::test]
async fn a_change_posted_twice_or_concurrently_applies_once() {
    let test = ok(TestDatabase::create("ledger_once").await);
    let ledger = Ledger::new(&ok(test.open().await));
    // A kill line read twice (a replay, a backfill, another worker): paid once.
    let first = ok(ledger.post(&credit("kill:1", 1, 10)).await);
    assert_eq!(
        first,
        Posted::Applied {
            balance_after: Some(10),
            earlier: false
        }
    );
    let again = ok(ledger.post(&credit("kill:1", 1, 10)).await);
    assert_eq!(
        again,
        Posted::Applied {
            balance_after: Some(10),
            earlier: true
        },
        "the first post's outcome, not a second payment"
    );
    assert_eq!(ok(ledger.account(&account(1)).await).balance, 10);
    // 40 posts at once, of 20 keys each posted twice: 20 payments.
    let posts = (0..40).map(|i| {
        let ledger = ledger.clone();
        async move {
            ledger
                .post(&credit(&format!("kill:c{}", i % 20), 2, 7))
                .await
        }
    });
    let mut now = 0;
    for posted in futures_util::future::join_all(posts).await {
        match ok(posted) {
            Posted::Applied { earlier: false, .. } => now += 1,
            Posted::Applied { earlier: true, .. } => {}
            refused => panic!("a credit is never refused: {refused:?}"),
        }
    }
    assert_eq!(now, 20, "each key applied by exactly one of its posts");
    let two = ok(ledger.account(&account(2)).await);
    assert_eq!(two.balance, 20 * 7);
    assert_eq!(two.lifetime, 20 * 7, "kill rewards are earnings");
    let (history, total) = ok(ledger.history(&account(2), 5).await);
    assert_eq!(total, 20);
    assert_eq!(history.len(), 5);
    assert!(
        history.windows(2).all(|w| w[0].at_unix >= w[1].at_unix),
        "newest first"
    );
    ok(test.drop_database().await);
}

#[tokio::test]
async fn concurrent_transfers_never_overdraw() {
    let test = ok(TestDatabase::create("ledger_transfers").await);
    let ledger = Ledger::new(&ok(test.open().await));
    ok(ledger.post(&credit("daily:1", 1, 100)).await);
    // Two `/economy give` at once with funds for one: exactly one goes through.
    let give = |key: &'static str, to: u64| {
        let ledger = ledger.clone();
        async move {
            ledger
                .transfer(
                    key,
                    &account(1),
                    &account(to),
                    80,
                    format!("To {to}"),
                    "From 1".to_owned(),
                )
                .await
        }
    };
    let (a, b) = tokio::join!(give("give:a", 2), give("give:b", 3));
    let (a, b) = (ok(a), ok(b));
    let done = [a, b]
        .iter()
        .filter(|t| matches!(t, Transferred::Done { .. }))
        .count();
    assert_eq!(done, 1, "{a:?} {b:?}");
    assert!(
        [a, b].contains(&Transferred::InsufficientFunds { balance: 20 }),
        "{a:?} {b:?}"
    );
    let balances: Vec<i64> = futures_util::future::join_all((1..=3).map(|u| {
        let ledger = ledger.clone();
        async move { ok(ledger.account(&account(u)).await).balance }
    }))
    .await;
    assert_eq!(balances.iter().sum::<i64>(), 100, "no money made or lost");
    assert_eq!(balances[0], 20);
    // The refused transfer's credit never applies, even when resumed later.
    let refused = if matches!(a, Transferred::Done { .. }) {
        "give:b"
    } else {
        "give:a"
    };
    cut_short(&test, &format!("{refused}:credit"), "waiting").await;
    ok(ledger.resume_pending().await);
    let after: i64 = futures_util::future::join_all((1..=3).map(|u| {
        let ledger = ledger.clone();
        async move { ok(ledger.account(&account(u)).await).balance }
    }))
    .await
    .iter()
    .sum();
    assert_eq!(after, 100);
    // The same transfer retried (the command ran twice): nothing moves again.
    let done_key = if refused == "give:a" {
        "give:b"
    } else {
        "give:a"
    };
    let to = if done_key == "give:a" { 2 } else { 3 };
    ok(give(done_key, to).await);
    assert_eq!(ok(ledger.account(&account(1)).await).balance, 20);
    ok(test.drop_database().await);
}

#[tokio::test]
async fn posts_cut_short_are_completed_once() {
    let test = ok(TestDatabase::create("ledger_resume").await);
    let ledger = Ledger::new(&ok(test.open().await));
    // Applied to the account, then the process stopped before recording it.
    ok(ledger.post(&credit("kill:r1", 1, 10)).await);
    cut_short(&test, "kill:r1", "pending").await;
    assert_eq!(ok(ledger.resume_pending().await), 1);
    assert_eq!(
        ok(ledger.account(&account(1)).await).balance,
        10,
        "not twice"
    );
    let (history, _) = ok(ledger.history(&account(1), 10).await);
    assert_eq!(history.len(), 1, "recorded as applied");
    // Recorded, then stopped before the account changed: applied by the resume.
    ok(test
        .handle()
        .collection::<Document>("economy_transactions")
        .insert_one(doc! {
            "_id": "kill:r2", "account": format!("{GUILD}:{SERVER}:1"),
            "guild_id": GUILD.to_string(), "server_id": SERVER, "user_id": "1",
            "amount": 5_i64, "source": "kill_reward", "details": "Kill", "reference": "",
            "state": "pending",
            "at": DateTime::from_millis(DateTime::now().timestamp_millis() - 3_600_000),
        })
        .await);
    assert_eq!(ok(ledger.resume_pending().await), 1);
    assert_eq!(ok(ledger.account(&account(1)).await).balance, 15);
    // A transfer stopped after its debit: the resume pays the receiver, once.
    let done = ok(ledger
        .transfer(
            "give:t",
            &account(1),
            &account(2),
            15,
            "To 2".into(),
            "From 1".into(),
        )
        .await);
    assert!(matches!(done, Transferred::Done { .. }));
    ok(test
        .handle()
        .collection::<Document>("economy_accounts")
        .update_one(
            doc! { "_id": format!("{GUILD}:{SERVER}:2") },
            doc! { "$inc": { "balance": -15_i64 }, "$pull": { "recent": "give:t:credit" } },
        )
        .await);
    cut_short(&test, "give:t:credit", "waiting").await;
    assert_eq!(ok(ledger.resume_pending().await), 1);
    assert_eq!(ok(ledger.resume_pending().await), 0, "once");
    assert_eq!(ok(ledger.account(&account(1)).await).balance, 0);
    let two = ok(ledger.account(&account(2)).await);
    assert_eq!(two.balance, 15);
    assert_eq!(two.lifetime, 0, "money received is not earned again");
    // A transfer that stalls after recording its credit, past the resume's wait: the
    // resume calls it off, and the debit that comes late moves nothing (before, it took
    // the sender's money and the credit stayed void).
    ok(ledger.post(&credit("kill:r4", 1, 20)).await);
    ok(test
        .handle()
        .collection::<Document>("economy_transactions")
        .insert_one(doc! {
            "_id": "give:s:credit", "account": format!("{GUILD}:{SERVER}:2"),
            "guild_id": GUILD.to_string(), "server_id": SERVER, "user_id": "2",
            "amount": 20_i64, "source": "received", "details": "From 1",
            "reference": "give:s:debit", "state": "waiting",
            "at": DateTime::from_millis(DateTime::now().timestamp_millis() - 3_600_000),
        })
        .await);
    assert_eq!(ok(ledger.resume_pending().await), 0);
    let late = ok(ledger
        .transfer(
            "give:s",
            &account(1),
            &account(2),
            20,
            "To 2".into(),
            "From 1".into(),
        )
        .await);
    assert!(matches!(late, Transferred::CalledOff), "{late:?}");
    assert_eq!(
        ok(ledger.account(&account(1)).await).balance,
        20,
        "nothing left the sender"
    );
    assert_eq!(
        ok(ledger.account(&account(2)).await).balance,
        15,
        "nor reached the receiver"
    );
    // Posted again while still pending (a batch retried after a crash) naming another
    // user and amount (the player was linked anew): what was recorded is what is paid.
    ok(test
        .handle()
        .collection::<Document>("economy_transactions")
        .insert_one(doc! {
            "_id": "kill:r3", "account": format!("{GUILD}:{SERVER}:1"),
            "guild_id": GUILD.to_string(), "server_id": SERVER, "user_id": "1",
            "amount": 5_i64, "source": "kill_reward", "details": "Kill", "reference": "",
            "state": "pending", "at": DateTime::now(),
        })
        .await);
    ok(ledger.post(&credit("kill:r3", 2, 99)).await);
    assert_eq!(ok(ledger.account(&account(1)).await).balance, 25);
    assert_eq!(ok(ledger.account(&account(2)).await).balance, 15);
    assert_eq!(ok(ledger.resume_pending().await), 0, "and not again");
    ok(test.drop_database().await);
}

/// Each account's history adds up to its balance: no payment made without its record, and
/// no record of a payment made twice.
async fn assert_history_adds_up(ledger: &Ledger, users: &[u64]) {
    for &user in users {
        let (history, _) = ok(ledger.history(&account(user), 1_000).await);
        let recorded: i64 = history.iter().map(|t| t.amount).sum();
        assert_eq!(
            recorded,
            ok(ledger.account(&account(user)).await).balance,
            "user {user}: {history:?}"
        );
    }
}

#[tokio::test]
async fn credits_posted_together_pay_each_once() {
    let test = ok(TestDatabase::create("ledger_credits").await);
    let ledger = Ledger::new(&ok(test.open().await));
    let transactions = test.handle().collection::<Document>("economy_transactions");
    ok(ledger.post(&credit("daily:g", 2, 100)).await);
    // A batch paying a new account and one with money: each credit's balance after it.
    let batch = [credit("kills:b1:1", 1, 35), credit("kills:b1:2", 2, 10)];
    let paid = ok(ledger.post_credits(1, &batch).await);
    assert_eq!(paid, vec![Some(35), Some(110)]);
    let (history, total) = ok(ledger.history(&account(1), 10).await);
    assert_eq!((total, history[0].amount), (1, 35), "one record per credit");
    assert_eq!(history[0].balance_after, Some(35));
    // The batch finished again (a worker took over): nothing moves, the records stand.
    assert_eq!(ok(ledger.post_credits(1, &batch).await), paid);
    // The accounts changed, then the process stopped before recording: recorded once,
    // with its balance, and not paid again.
    ok(transactions
        .delete_many(doc! { "_id": { "$in": ["kills:b1:1", "kills:b1:2"] } })
        .await);
    assert_eq!(ok(ledger.post_credits(1, &batch).await), paid);
    assert_eq!(ok(ledger.account(&account(1)).await).balance, 35);
    assert_eq!(ok(ledger.history(&account(1), 10).await).1, 1);
    // A credit recorded pending by an older build (record first), then stopped before
    // the account changed: the batch finished again pays it once and marks it applied.
    let old = credit("kills:b2:4", 4, 50);
    ok(transactions
        .insert_one({
            let mut d =
                ok(transactions.find_one(doc! { "_id": "kills:b1:2" }).await).unwrap_or_default();
            d.insert("_id", &old.key);
            d.insert("account", format!("{GUILD}:{SERVER}:4"));
            d.insert("user_id", "4");
            d.insert("amount", 50_i64);
            d.insert("state", "pending");
            d.remove("balance_after");
            d
        })
        .await);
    assert_eq!(
        ok(ledger.post_credits(2, std::slice::from_ref(&old)).await),
        vec![Some(50)]
    );
    assert_eq!(ok(ledger.resume_pending().await), 0, "nothing left pending");
    assert_eq!(ok(ledger.account(&account(4)).await).balance, 50);
    // The same new batch posted twice at once (two workers finishing it): paid once, and
    // each post knows the balance.
    let twice = [credit("kills:b3:3", 3, 30)];
    let (x, y) = tokio::join!(
        ledger.post_credits(3, &twice),
        ledger.post_credits(3, &twice)
    );
    assert_eq!((ok(x), ok(y)), (vec![Some(30)], vec![Some(30)]));
    let three = ok(ledger.account(&account(3)).await);
    assert_eq!((three.balance, three.lifetime), (30, 30));
    // A credit recorded pending by an older build and never applied (no batch came back
    // for it): the resume pays it, and posting it later changes nothing.
    let stale = [credit("kills:b4:5", 5, 15)];
    ok(transactions
        .insert_one({
            let mut d =
                ok(transactions.find_one(doc! { "_id": "kills:b1:2" }).await).unwrap_or_default();
            d.insert("_id", &stale[0].key);
            d.insert("account", format!("{GUILD}:{SERVER}:5"));
            d.insert("user_id", "5");
            d.insert("amount", 15_i64);
            d.insert("state", "pending");
            d.insert(
                "at",
                DateTime::from_millis(DateTime::now().timestamp_millis() - 3_600_000),
            );
            d.remove("balance_after");
            d
        })
        .await);
    assert_eq!(ok(ledger.resume_pending().await), 1);
    assert_eq!(ok(ledger.post_credits(4, &stale).await), vec![Some(15)]);
    assert_eq!(ok(ledger.account(&account(5)).await).balance, 15);
    assert_history_adds_up(&ledger, &[1, 2, 3, 4, 5]).await;
    ok(test.drop_database().await);
}

#[tokio::test]
async fn an_account_paid_by_every_batch_keeps_no_key_of_them() {
    let test = ok(TestDatabase::create("ledger_batch_guard").await);
    let ledger = Ledger::new(&ok(test.open().await));
    let accounts = test.handle().collection::<Document>("economy_accounts");
    // An account opened by a command (its key kept), then paid by 520 batches: more than
    // the keys an account remembers, so a key per batch would have pushed the command's
    // out, and made the document carry hundreds.
    ok(ledger.post(&credit("daily:1", 1, 100)).await);
    for batch in 1..=520 {
        let key = format!("kills:{batch}:1");
        ok(ledger.post_credits(batch, &[credit(&key, 1, 10)]).await);
    }
    let stored = ok(accounts
        .find_one(doc! { "_id": format!("{GUILD}:{SERVER}:1") })
        .await);
    let recent = stored
        .as_ref()
        .and_then(|d| d.get_array("recent").ok())
        .map(|keys| keys.len());
    assert_eq!(recent, Some(1), "only the command's key: {stored:?}");
    assert_eq!(ok(ledger.account(&account(1)).await).balance, 5_300);
    // A batch finished again after later ones were paid, and the command retried: nothing
    // moves, and each still shows what it paid.
    let again = ok(ledger
        .post_credits(300, &[credit("kills:300:1", 1, 10)])
        .await);
    assert_eq!(again, vec![Some(3_100)], "as recorded when it was paid");
    assert_eq!(
        ok(ledger.post(&credit("daily:1", 1, 100)).await),
        Posted::Applied {
            balance_after: Some(100),
            earlier: true,
        }
    );
    assert_eq!(ok(ledger.account(&account(1)).await).balance, 5_300);
    assert_eq!(ok(ledger.history(&account(1), 1).await).1, 521);
    assert_history_adds_up(&ledger, &[1]).await;
    ok(test.drop_database().await);
}

#[tokio::test]
async fn a_servers_leaderboard_and_figures_count_only_its_own_accounts() {
    let test = ok(TestDatabase::create("ledger_server_range").await);
    let ledger = Ledger::new(&ok(test.open().await));
    let on = |server: &str, user: u64| AccountId {
        guild_id: GUILD,
        server_id: server.to_owned(),
        user_id: user,
    };
    let paid = |key: String, account: AccountId, amount: i64| Entry {
        key,
        account,
        amount,
        source: Source::KillReward,
        details: "Kill".to_owned(),
        reference: "batch".to_owned(),
    };
    // This server's three accounts; a server whose id starts with this one's, and a busy
    // server of 300 accounts, in the same guild.
    for (user, amount) in [(1, 50), (2, 300), (3, 120)] {
        ok(ledger
            .post(&credit(&format!("daily:{user}"), user, amount))
            .await);
    }
    let annex = format!("{SERVER}:annex");
    ok(ledger
        .post(&paid("daily:annex".to_owned(), on(&annex, 9), 5_000))
        .await);
    let busy: Vec<Entry> = (1..=300)
        .map(|user| {
            paid(
                format!("kills:1:{user}"),
                on("9999", user),
                1_000 + user as i64,
            )
        })
        .collect();
    ok(ledger.post_credits(1, &busy).await);
    let richest = ok(ledger.richest(GUILD, SERVER, 10).await);
    let users: Vec<(u64, i64)> = richest.iter().map(|(u, a)| (*u, a.balance)).collect();
    assert_eq!(users, vec![(2, 300), (3, 120), (1, 50)]);
    let stats = ok(ledger.server_stats(GUILD, SERVER).await);
    assert_eq!(
        (stats.total_balance, stats.accounts),
        (470, 3),
        "only this server's accounts: {stats:?}"
    );
    let sources: Vec<(&str, i64, i64)> = stats
        .sources
        .iter()
        .map(|s| (s.source.as_str(), s.count, s.credits_in))
        .collect();
    assert_eq!(sources, vec![("kill_reward", 3, 470)]);
    ok(test.drop_database().await);
}

/// Every killer of a killfeed linked to a user of their own; their users by EOS id.
async fn link_every_killer(
    db: &tower_store::db::Database,
    files: &[&[u8]],
) -> std::collections::HashMap<String, u64> {
    let links = PlayerLinks::new(db);
    let stats = expected_stats(GUILD, SERVER, files);
    let mut users = std::collections::HashMap::new();
    // In id order: each run gives each player the same user.
    let mut killers: Vec<_> = stats.players.iter().filter(|(_, p)| p.kills > 0).collect();
    killers.sort_by(|a, b| a.0.cmp(b.0));
    for (n, (id, p)) in killers.into_iter().enumerate() {
        let user = 5_000 + n as u64;
        let link = PlayerLink {
            server_id: SERVER.to_owned(),
            player_id: id.clone(),
            player_name: p.name.clone(),
        };
        ok(links.link(GUILD, user, &link).await);
        users.insert(id.clone(), user);
    }
    users
}

#[tokio::test]
async fn kill_rewards_are_the_same_when_the_worker_dies_mid_batch() {
    const DIR: &str = "deathlogs/world_0";
    let a = fixture("2025.05.01-00.00.00.csv");
    let b = fixture("2025.05.15-00.00.00.csv");
    let half = a
        .iter()
        .enumerate()
        .filter(|&(_, &byte)| byte == b'\n')
        .nth(99)
        .map_or(a.len(), |(i, _)| i + 1);
    // Two runs of the same lines, live (every killer linked): the first 100 lines of A,
    // then the rest of A and all of B in one batch. In the second, the worker applies that
    // batch and pays it, then dies before committing it; the next worker finishes it.
    let mut balances = Vec::new();
    for crash in [false, true] {
        let name = format!("ledger_kill_rewards_{crash}");
        let test = ok(TestDatabase::create(&name).await);
        let db = ok(test.open().await);
        let (stats, cursors) = (StatsStore::new(&db), CursorStore::new(&db));
        let rewards = KillRewards::new(&db);
        let users = link_every_killer(&db, &[&a, &b]).await;
        // The fixtures' kills are old: late kills pay, as the guild may ask, so every one
        // does (what is late is judged in `late_kills_pay_only_where_the_guild_asks`).
        ok(tower_store::guilds::GuildStore::new(&db)
            .set_economy_setting(GUILD, "pay_history", mongodb::bson::Bson::Boolean(true))
            .await);
        let root = std::env::temp_dir().join(format!("tower-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        ok(std::fs::create_dir_all(root.join(DIR)));
        let source = LocalSource::new(&root);
        let a_path = root.join(DIR).join("2025.05.01-00.00.00.csv");
        ok(std::fs::write(&a_path, &a[..half]));
        let mut sink = ok(StoreSink::open(GUILD, SERVER, &stats, &cursors).await);
        sink.state.listed = true;
        sink.rewards = Some(&rewards);
        let mut outcome = PollOutcome::default();
        ok(poll_killfeed(&source, DIR, BATCH_BYTES, None, &mut sink, &mut outcome).await);
        ok(std::fs::write(&a_path, &a));
        ok(std::fs::write(
            root.join(DIR).join("2025.05.15-00.00.00.csv"),
            &b,
        ));
        if crash {
            let batch = [
                parse_killfeed_chunk(
                    &format!("{DIR}/2025.05.01-00.00.00.csv"),
                    &a[half..],
                    half as u64,
                    true,
                ),
                parse_killfeed_chunk(&format!("{DIR}/2025.05.15-00.00.00.csv"), &b, 0, false),
            ];
            let next = tower_ingest::cursor::FileCursor {
                file: "2025.05.15-00.00.00.csv".to_owned(),
                offset: batch[1].consumed as u64,
                size: b.len() as u64,
                ..Default::default()
            };
            let pending = ok(sink.begin(&batch, &next).await);
            let prepared = pending.rewards.clone().unwrap_or_default();
            assert!(!prepared.killers.is_empty(), "read before the batch");
            let at = BatchRef {
                guild_id: GUILD,
                server_id: SERVER,
                batch: pending.batch,
            };
            let applied = ok(stats.apply_batch(at, &batch).await);
            let paid = ok(rewards
                .pay(
                    GUILD,
                    SERVER,
                    pending.batch,
                    &batch,
                    &applied.kept,
                    &prepared,
                )
                .await);
            assert!(!paid.paid.is_empty());
            drop(sink);
            let mut next_worker = ok(StoreSink::open(GUILD, SERVER, &stats, &cursors).await);
            next_worker.rewards = Some(&rewards);
            ok(next_worker.recover(&source).await);
            assert!(next_worker.state.pending.is_none());
            ok(poll_killfeed(
                &source,
                DIR,
                BATCH_BYTES,
                next_worker.state.cursor.clone(),
                &mut next_worker,
                &mut outcome,
            )
            .await);
        } else {
            ok(poll_killfeed(
                &source,
                DIR,
                BATCH_BYTES,
                sink.state.cursor.clone(),
                &mut sink,
                &mut outcome,
            )
            .await);
        }
        let ledger = Ledger::new(&db);
        let mut by_user = std::collections::BTreeMap::new();
        let mut ids: Vec<u64> = users.values().copied().collect();
        ids.sort_unstable();
        for &user in &ids {
            let acc = ok(ledger.account(&account(user)).await);
            by_user.insert(user, (acc.balance, acc.lifetime));
        }
        assert!(by_user.values().any(|(b, _)| *b > 0), "kills were paid");
        assert_history_adds_up(&ledger, &ids).await;
        balances.push(by_user);
        let _ = std::fs::remove_dir_all(&root);
        ok(test.drop_database().await);
    }
    assert_eq!(
        balances[0], balances[1],
        "the same users paid the same, streak bonuses included"
    );
}

#[tokio::test]
async fn bounties_pay_their_hunter_once_and_refund_once() {
    use tower_store::bounties::{Bounties, KillSeen, NewBounty, Placed, Status};
    let test = ok(TestDatabase::create("ledger_bounties").await);
    let db = ok(test.open().await);
    let (ledger, bounties) = (Ledger::new(&db), Bounties::new(&db));
    let links = PlayerLinks::new(&db);
    ok(ledger.post(&credit("daily:b", 1, 500)).await);
    let new = |id: &str, target: &str, reward: i64| NewBounty {
        id: id.to_owned(),
        guild_id: GUILD,
        server_id: SERVER.to_owned(),
        target_id: target.to_owned(),
        target_name: format!("Name of {target}"),
        reward,
        reason: "No reason provided".to_owned(),
        placed_by: 1,
    };
    let balance = async |user: u64| ok(ledger.account(&account(user)).await).balance;
    // Placing pays the reward; the same command again (same id) pays nothing more.
    let placed = ok(bounties.place(&new("b1", "target-a", 200)).await);
    assert!(matches!(&placed, Placed::Active(b) if b.status == Status::Active));
    ok(bounties.place(&new("b1", "target-a", 200)).await);
    assert_eq!(balance(1).await, 300);
    assert_eq!(
        ok(bounties.place(&new("b2", "target-a", 1_000)).await),
        Placed::InsufficientFunds { balance: 300 }
    );
    assert_eq!(ok(bounties.active(GUILD, SERVER).await).len(), 1);

    // A kill of the target by a linked hunter claims it and pays them; the same line
    // read again (a batch finished after a crash) pays nothing more, and a later kill of
    // the same target finds nothing to claim.
    let hunter = PlayerLink {
        server_id: SERVER.to_owned(),
        player_id: "hunter".to_owned(),
        player_name: "Hunter".to_owned(),
    };
    ok(links.link(GUILD, 2, &hunter).await);
    let holders = std::collections::HashMap::from([("hunter", 2_u64)]);
    let now = DateTime::now().timestamp_millis() / 1000;
    let kill_at =
        |at_unix: i64, line: &'static str, killer: &'static str, victim: &'static str| KillSeen {
            line,
            at_unix,
            killer_id: killer,
            killer_name: killer,
            victim_id: victim,
        };
    // A kill made as it is claimed (read at once).
    let kill = |line, killer, victim| {
        kill_at(
            DateTime::now().timestamp_millis() / 1000,
            line,
            killer,
            victim,
        )
    };
    let claims = ok(bounties
        .claim(
            GUILD,
            SERVER,
            &[kill("line-1", "hunter", "target-a")],
            &holders,
        )
        .await);
    assert_eq!(claims.len(), 1);
    assert_eq!(balance(2).await, 200);
    let again = ok(bounties
        .claim(
            GUILD,
            SERVER,
            &[kill("line-1", "hunter", "target-a")],
            &holders,
        )
        .await);
    assert_eq!(
        again.len(),
        1,
        "the same claim, announced under the same key"
    );
    assert_eq!(again[0].key, claims[0].key);
    assert!(
        ok(bounties
            .claim(
                GUILD,
                SERVER,
                &[kill("line-2", "hunter", "target-a")],
                &holders
            )
            .await)
        .is_empty()
    );
    assert_eq!(balance(2).await, 200, "paid once");

    // The placer's own kill of their target claims nothing.
    ok(links
        .link(
            GUILD,
            1,
            &PlayerLink {
                server_id: SERVER.to_owned(),
                player_id: "placer".to_owned(),
                player_name: "Placer".to_owned(),
            },
        )
        .await);
    ok(bounties.place(&new("b3", "target-b", 100)).await);
    let own = std::collections::HashMap::from([("placer", 1_u64)]);
    assert!(
        ok(bounties
            .claim(GUILD, SERVER, &[kill("line-3", "placer", "target-b")], &own)
            .await)
        .is_empty()
    );
    // Unclaimed past its hour: expired and refunded, once, however many sweeps run.
    ok(test
        .handle()
        .collection::<Document>("bounties")
        .update_one(
            doc! { "_id": "b3" },
            doc! { "$set": { "expires_at": DateTime::from_millis(DateTime::now().timestamp_millis() - 601_000) } },
        )
        .await);
    assert_eq!(balance(1).await, 200);
    let (x, y) = tokio::join!(bounties.sweep(), bounties.sweep());
    ok(x);
    ok(y);
    ok(bounties.sweep().await);
    assert_eq!(balance(1).await, 300, "refunded once");
    let b3 = ok(bounties.get("b3").await);
    assert!(b3.is_some_and(|b| b.status == Status::Expired && b.refunded));

    // A hunter with no linked user: the claim is held, and paid once they link.
    ok(bounties.place(&new("b4", "target-c", 150)).await);
    let none = std::collections::HashMap::new();
    ok(bounties
        .claim(
            GUILD,
            SERVER,
            &[kill("line-4", "stranger", "target-c")],
            &none,
        )
        .await);
    ok(bounties.sweep().await);
    let held = ok(bounties.get("b4").await);
    assert!(held.is_some_and(|b| b.claim.is_some_and(|c| !c.paid)));
    ok(links
        .link(
            GUILD,
            3,
            &PlayerLink {
                server_id: SERVER.to_owned(),
                player_id: "stranger".to_owned(),
                player_name: "Stranger".to_owned(),
            },
        )
        .await);
    ok(bounties.sweep().await);
    ok(bounties.sweep().await);
    assert_eq!(balance(3).await, 150, "paid once, after linking");
    assert_eq!(balance(1).await, 150, "500 - 200 - 150 (b3 refunded)");

    // A held claim past its hold: refunded to the placer, and a /link after that pays
    // nothing (the refund and the payment never both happen).
    ok(bounties.place(&new("b5", "target-d", 50)).await);
    ok(bounties
        .claim(
            GUILD,
            SERVER,
            &[kill("line-5", "drifter", "target-d")],
            &none,
        )
        .await);
    let long_ago = DateTime::from_millis(DateTime::now().timestamp_millis() - 8 * 86_400_000);
    ok(test
        .handle()
        .collection::<Document>("bounties")
        .update_one(
            doc! { "_id": "b5" },
            doc! { "$set": { "claim.at": long_ago } },
        )
        .await);
    assert_eq!(balance(1).await, 100);
    ok(bounties.sweep().await);
    assert_eq!(balance(1).await, 150, "refunded after the hold");
    assert_eq!(ok(bounties.pay_held(GUILD, SERVER, "drifter", 4).await), 0);
    assert_eq!(balance(4).await, 0);
    // A sweep that decided on the refund and was cut short before making it: a /link
    // then pays nothing, says nothing was paid and announces no payment; the next sweep
    // makes the refund.
    ok(bounties.place(&new("b7", "target-f", 40)).await);
    ok(bounties
        .claim(GUILD, SERVER, &[kill("line-7", "nomad", "target-f")], &none)
        .await);
    ok(test
        .handle()
        .collection::<Document>("bounties")
        .update_one(
            doc! { "_id": "b7" },
            doc! { "$set": { "claim.at": long_ago, "claim.settle": "refund" } },
        )
        .await);
    assert_eq!(ok(bounties.pay_held(GUILD, SERVER, "nomad", 5).await), 0);
    assert_eq!(balance(5).await, 0);
    let announced = notices(&test, doc! { "_id": "b:b7:paid" }).await;
    assert_eq!(announced, 0, "no payment announced for a refunded claim");
    ok(bounties.sweep().await);
    assert_eq!(balance(1).await, 150, "b7 refunded to its placer");
    // A bounty past its hour but not swept yet is not claimed by a kill.
    ok(bounties.place(&new("b6", "target-e", 50)).await);
    ok(test
        .handle()
        .collection::<Document>("bounties")
        .update_one(
            doc! { "_id": "b6" },
            doc! { "$set": { "expires_at": DateTime::from_millis(DateTime::now().timestamp_millis() - 601_000) } },
        )
        .await);
    assert!(
        ok(bounties
            .claim(
                GUILD,
                SERVER,
                &[kill("line-6", "hunter", "target-e")],
                &holders
            )
            .await)
        .is_empty()
    );
    ok(bounties.sweep().await);
    assert_eq!(balance(1).await, 150, "b6 refunded");
    assert_eq!(balance(2).await, 200);
    // A kill is judged by when it happened, not when it was read: one made before the
    // bounty was placed claims nothing; one made before the bounty ran out, read after,
    // claims it.
    ok(bounties.place(&new("b9", "target-h", 10)).await);
    let before = kill_at(now - 120, "line-9", "hunter", "target-h");
    assert!(ok(bounties.claim(GUILD, SERVER, &[before], &holders).await).is_empty());
    ok(test
        .handle()
        .collection::<Document>("bounties")
        .update_one(
            doc! { "_id": "b9" },
            doc! { "$set": {
                "created_at": DateTime::from_millis((now - 3_600) * 1000),
                "expires_at": DateTime::from_millis((now - 60) * 1000),
            } },
        )
        .await);
    ok(bounties.sweep().await);
    let in_time = kill_at(now - 120, "line-10", "hunter", "target-h");
    assert_eq!(
        ok(bounties.claim(GUILD, SERVER, &[in_time], &holders).await).len(),
        1
    );
    assert_eq!(
        balance(2).await,
        210,
        "the hunter paid for a kill made in time"
    );
    assert_eq!(balance(1).await, 140, "and the placer not refunded");
    // A placing cut short after the bounty went active, before its notice was stored:
    // the sweep announces it, once.
    let an_hour_ago = DateTime::from_millis(DateTime::now().timestamp_millis() - 3_600_000);
    let in_a_day = DateTime::from_millis(DateTime::now().timestamp_millis() + 86_400_000);
    ok(test
        .handle()
        .collection::<Document>("bounties")
        .insert_one(doc! {
            "_id": "b8", "guild_id": GUILD.to_string(), "server_id": SERVER,
            "target_id": "target-g", "target_name": "target-g", "reward": 30_i64,
            "reason": "Cut short", "placed_by": "1", "source": "player", "refunded": false,
            "created_at": an_hour_ago, "expires_at": in_a_day, "status": "active",
            "unannounced": true, "schema_version": 3,
        })
        .await);
    ok(bounties.sweep().await);
    ok(bounties.sweep().await);
    let placed = notices(&test, doc! { "_id": "b:b8:placed" }).await;
    assert_eq!(placed, 1, "a placing cut short is announced by the sweep");
    let b8 = ok(test
        .handle()
        .collection::<Document>("bounties")
        .find_one(doc! { "_id": "b8" })
        .await);
    assert!(b8.is_some_and(|d| !d.contains_key("unannounced")));
    assert_history_adds_up(&ledger, &[1, 2, 3, 4, 5]).await;
    ok(test.drop_database().await);
}

#[tokio::test]
async fn games_take_the_bet_once_and_pay_once_even_after_a_restart() {
    use tower_store::gambling::{Gambling, GameKind, GameState, Started};
    use tower_store::games::{Blackjack, FixedDraw, RouletteBet, shuffled_deck};
    let test = ok(TestDatabase::create("ledger_games").await);
    let db = ok(test.open().await);
    let (ledger, games) = (Ledger::new(&db), Gambling::new(&db));
    ok(ledger.post(&credit("daily:games", 1, 1_000)).await);
    let balance = async |user: u64| ok(ledger.account(&account(user)).await).balance;
    let draw = |numbers: &[u32]| FixedDraw(numbers.iter().copied().collect());
    let open = |s: Started| match s {
        Started::Open(g) => *g,
        other => panic!("not started: {other:?}"),
    };
    // Slots with three emeralds drawn: 50 times the bet, paid once however often pressed.
    let slots = open(ok(games
        .start(
            "s1",
            &account(1),
            GameKind::Slots,
            10,
            &mut draw(&[107, 106, 105]),
        )
        .await));
    assert_eq!(slots.state, GameState::Open);
    assert_eq!(
        balance(1).await,
        990,
        "the bet is taken when the game starts"
    );
    let spun = ok(games.spin("s1").await);
    assert_eq!((spun.state, spun.returned), (GameState::Settled, 500));
    ok(games.spin("s1").await);
    assert_eq!(balance(1).await, 1_490);
    let jackpots = notices(&test, doc! { "kind": "jackpot" }).await;
    assert_eq!(jackpots, 1, "a 50x win is announced, once");
    // The same command again (same id) takes no second bet.
    ok(games
        .start(
            "s1",
            &account(1),
            GameKind::Slots,
            10,
            &mut draw(&[0, 0, 0]),
        )
        .await);
    assert_eq!(balance(1).await, 1_490);
    // Roulette: the ball was drawn at the start (17, black).
    open(ok(games
        .start("r1", &account(1), GameKind::Roulette, 10, &mut draw(&[17]))
        .await));
    let played = ok(games.choose("r1", RouletteBet::Black).await);
    assert_eq!((played.pocket, played.returned), (Some(17), 20));
    ok(games.choose("r1", RouletteBet::Red).await);
    assert_eq!(balance(1).await, 1_500, "1490 - 10 + 20, chosen once");
    // Not enough credits: nothing taken.
    assert!(matches!(
        ok(games
            .start("s2", &account(2), GameKind::Slots, 10, &mut draw(&[]))
            .await),
        Started::InsufficientFunds { balance: 0 }
    ));
    // Blackjack left open, then the bot restarts and its buttons expire: the worker's
    // sweep (another process) settles it as it stood, once.
    let mut expected = Blackjack::deal(shuffled_deck(&mut draw(&[])));
    if expected.result.is_none() {
        expected.stand();
    }
    open(ok(games
        .start("b1", &account(1), GameKind::Blackjack, 100, &mut draw(&[]))
        .await));
    ok(test
        .handle()
        .collection::<Document>("gambling_games")
        .update_one(
            doc! { "_id": "b1" },
            doc! { "$set": { "expires_at": DateTime::from_millis(DateTime::now().timestamp_millis() - 600_000) } },
        )
        .await);
    // A double click on Draw Card (both presses from the message at version 0), or a
    // Hold from a message older than the last card: nothing more happens.
    let hand = ok(games.get("b1").await).unwrap_or_else(|| panic!("b1 is stored"));
    assert_eq!(hand.state, GameState::Open, "this draw deals no natural");
    {
        let cards =
            |g: &tower_store::gambling::Game| g.blackjack.as_ref().map_or(0, |h| h.player.len());
        let once = ok(games.hit("b1", 0).await);
        let twice = ok(games.hit("b1", 0).await);
        assert_eq!(cards(&twice), cards(&once), "one card for two presses");
        let stale = ok(games.stand("b1", Some(0)).await);
        assert_eq!(
            stale.state, once.state,
            "a Hold from before the card changes nothing"
        );
        expected = Blackjack::deal(shuffled_deck(&mut draw(&[])));
        expected.hit();
        if expected.result.is_none() {
            expected.stand();
        }
    }
    let expected_return = expected.result.map_or(0, |r| r.returns(100));
    let after_restart = Gambling::new(&ok(test.open().await));
    ok(after_restart.sweep().await);
    ok(after_restart.sweep().await);
    let hand = ok(games.get("b1").await).unwrap_or_else(|| panic!("b1 is stored"));
    assert_eq!((hand.state, hand.paid), (GameState::Settled, true));
    assert_eq!(hand.returned, expected_return);
    assert_eq!(balance(1).await, 1_500 - 100 + expected_return);
    assert_history_adds_up(&ledger, &[1]).await;
    ok(test.drop_database().await);
}

#[tokio::test]
async fn history_pays_only_where_the_guild_asks_and_never_claims_bounties() {
    use tower_store::bounties::{Bounties, NewBounty, Status};
    const DIR: &str = "deathlogs/world_0";
    let a = fixture("2025.05.01-00.00.00.csv");
    let mut balances = Vec::new();
    for pay_history in [false, true] {
        let name = format!("ledger_history_{pay_history}");
        let test = ok(TestDatabase::create(&name).await);
        let db = ok(test.open().await);
        let (stats, cursors) = (StatsStore::new(&db), CursorStore::new(&db));
        let rewards = KillRewards::new(&db);
        let users = link_every_killer(&db, &[&a]).await;
        ok(tower_store::guilds::GuildStore::new(&db)
            .set_economy_setting(
                GUILD,
                "pay_history",
                mongodb::bson::Bson::Boolean(pay_history),
            )
            .await);
        // An active bounty on the file's five most killed victims, placed before it is
        // read (five: the tests share one database server with the timing-sensitive ones).
        let ledger = Ledger::new(&db);
        ok(ledger.post(&credit("daily:placer", 1, 1_000_000)).await);
        let mut victims: Vec<(String, u64)> = expected_stats(GUILD, SERVER, &[&a])
            .players
            .into_iter()
            .filter(|(_, p)| p.deaths > 0)
            .map(|(id, p)| (id, p.deaths))
            .collect();
        victims.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        let victims: Vec<String> = victims.into_iter().take(5).map(|(id, _)| id).collect();
        let bounties = Bounties::new(&db);
        for (n, victim) in victims.iter().enumerate() {
            ok(bounties
                .place(&NewBounty {
                    id: format!("h{n}"),
                    guild_id: GUILD,
                    server_id: SERVER.to_owned(),
                    target_id: victim.clone(),
                    target_name: victim.clone(),
                    reward: 50,
                    reason: "History".to_owned(),
                    placed_by: 1,
                })
                .await);
        }
        // The folder's first read: history.
        let root = std::env::temp_dir().join(format!("tower-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        ok(std::fs::create_dir_all(root.join(DIR)));
        ok(std::fs::write(
            root.join(DIR).join("2025.05.01-00.00.00.csv"),
            &a,
        ));
        let source = LocalSource::new(&root);
        let mut sink = ok(StoreSink::open(GUILD, SERVER, &stats, &cursors).await);
        sink.rewards = Some(&rewards);
        let mut outcome = PollOutcome::default();
        ok(poll_killfeed(&source, DIR, BATCH_BYTES, None, &mut sink, &mut outcome).await);
        assert!(sink.totals.counted > 0);
        let total = async || {
            let mut paid = 0;
            for user in users.values() {
                paid += ok(ledger.account(&account(*user)).await).balance;
            }
            paid
        };
        let paid = total().await;
        balances.push(paid);
        // The same lines read again from the start (the cursor rewound: a replay), in
        // batches numbered on: counted and paid once.
        ok(test
            .handle()
            .collection::<Document>("ingest_cursors")
            .update_many(doc! {}, doc! { "$unset": { "state.cursor": "" } })
            .await);
        let mut again = ok(StoreSink::open(GUILD, SERVER, &stats, &cursors).await);
        again.rewards = Some(&rewards);
        let mut outcome = PollOutcome::default();
        ok(poll_killfeed(&source, DIR, BATCH_BYTES, None, &mut again, &mut outcome).await);
        assert!(again.totals.duplicates > 0, "the lines were read again");
        assert_eq!(again.totals.counted, 0, "a replay counts nothing again");
        assert_eq!(total().await, paid, "a replay pays nothing again");
        for n in 0..victims.len() {
            let b = ok(bounties.get(&format!("h{n}")).await);
            assert!(
                b.is_some_and(|b| b.status == Status::Active),
                "an old kill claims no bounty placed after it (pay_history {pay_history})"
            );
        }
        let _ = std::fs::remove_dir_all(&root);
        ok(test.drop_database().await);
    }
    assert_eq!(balances[0], 0, "history pays nothing by default");
    assert!(balances[1] > 0, "and pays when the guild asks");
}

/// A kill read long after it happened (a worker catching up after downtime) pays nothing
/// and claims no bounty, unless the guild pays history. Judged from the killfeed file's
/// own time (its mtime is when its newest line was written), so a game server whose
/// clock runs hours off UTC is judged alike.
#[tokio::test]
async fn late_kills_pay_only_where_the_guild_asks() {
    use tower_store::bounties::{Bounties, NewBounty, Status};
    const DIR: &str = "deathlogs/world_0";
    const KILLER: &str = "0002ca35475e48e28fdf97e052dc1111";
    let unix_now = DateTime::now().timestamp_millis() / 1000;
    for (name, clock_ahead, pay_history) in [
        ("utc", 0, false),
        ("ahead", 5 * 3600, false),
        ("behind", -7 * 3600, false),
        ("paid", 0, true),
    ] {
        let test = ok(TestDatabase::create(&format!("ledger_late_{name}")).await);
        let db = ok(test.open().await);
        let (stats, cursors) = (StatsStore::new(&db), CursorStore::new(&db));
        let (rewards, ledger, bounties) =
            (KillRewards::new(&db), Ledger::new(&db), Bounties::new(&db));
        let link = PlayerLink {
            server_id: SERVER.to_owned(),
            player_id: KILLER.to_owned(),
            player_name: "Alpha".to_owned(),
        };
        ok(PlayerLinks::new(&db).link(GUILD, 1, &link).await);
        if pay_history {
            ok(tower_store::guilds::GuildStore::new(&db)
                .set_economy_setting(GUILD, "pay_history", mongodb::bson::Bson::Boolean(true))
                .await);
        }
        // A bounty on the victim of the late kill, placed by someone with the money.
        ok(ledger.post(&credit("daily:placer", 9, 500)).await);
        let victim = |n: u32| format!("0002ca35475e48e28fdf97e052dc{n:04}");
        ok(bounties
            .place(&NewBounty {
                id: "late".to_owned(),
                guild_id: GUILD,
                server_id: SERVER.to_owned(),
                target_id: victim(1),
                target_name: "Victim 1".to_owned(),
                reward: 100,
                reason: "No reason provided".to_owned(),
                placed_by: 9,
            })
            .await);
        // Three kills by Alpha on the game server's clock: three hours ago (late), a
        // minute ago and now; the file is written now.
        let server_now = unix_now + clock_ahead;
        let line = |at: i64, n: u32| {
            format!(
                "{};Alpha;{KILLER};Victim {n};{};AK-74;50;\n",
                tower_ingest::timestamp::format_seconds(at),
                victim(n)
            )
        };
        let text = [
            line(server_now - 3 * 3600, 1),
            line(server_now - 60, 2),
            line(server_now, 3),
        ]
        .concat();
        let root = std::env::temp_dir().join(format!("tower-late-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        ok(std::fs::create_dir_all(root.join(DIR)));
        let day = tower_ingest::timestamp::format_seconds(server_now - 3 * 3600);
        ok(std::fs::write(
            root.join(DIR).join(format!("{}-00.00.00.csv", &day[..10])),
            text,
        ));
        let mut sink = ok(StoreSink::open(GUILD, SERVER, &stats, &cursors).await);
        sink.state.listed = true;
        sink.rewards = Some(&rewards);
        let mut outcome = PollOutcome::default();
        ok(poll_killfeed(
            &LocalSource::new(&root),
            DIR,
            BATCH_BYTES,
            None,
            &mut sink,
            &mut outcome,
        )
        .await);
        assert_eq!(sink.totals.counted, 3, "{name}: every kill counted");
        // Fresh: 10 + 10 + 15 (the third kill of a streak); late paid too: 10 more.
        let expected = if pay_history { 45 } else { 35 };
        assert_eq!(
            ok(ledger.account(&account(1)).await).balance,
            expected,
            "{name}: what Alpha's user was paid"
        );
        let bounty = ok(bounties.active(GUILD, SERVER).await);
        assert_eq!(
            bounty.iter().map(|b| b.status).collect::<Vec<_>>(),
            vec![Status::Active],
            "{name}: a late kill claims no bounty"
        );
        let _ = std::fs::remove_dir_all(&root);
        ok(test.drop_database().await);
    }
}

/// The bot pays auto-bounties, so one is placed on a player at most once a day: two
/// players taking turns to trigger one on each other and claim it make money once, not
/// without end.
#[tokio::test]
async fn auto_bounties_are_placed_on_a_player_once_a_day() {
    use tower_store::auto_bounties::Trigger;
    use tower_store::bounties::Bounties;
    let test = ok(TestDatabase::create("ledger_auto_cooldown").await);
    let bounties = Bounties::new(&ok(test.open().await));
    let trigger = |line: &str, killer: &str| Trigger {
        line: line.to_owned(),
        killer_id: killer.to_owned(),
        killer_name: format!("Name of {killer}"),
        reason: "Target fixation on B (2 kills)".to_owned(),
    };
    let first = ok(bounties
        .place_auto(GUILD, SERVER, &trigger("line-1", "a"), 100)
        .await);
    assert!(first.is_some(), "the first is placed");
    // Claimed (no longer active), then triggered again the same day: not placed again.
    ok(test
        .handle()
        .collection::<Document>("bounties")
        .update_many(
            doc! { "target_id": "a" },
            doc! { "$set": { "status": "claimed" } },
        )
        .await);
    let again = ok(bounties
        .place_auto(GUILD, SERVER, &trigger("line-2", "a"), 100)
        .await);
    assert!(again.is_none(), "not twice in a day: {again:?}");
    // Another player is not held back by it.
    assert!(
        ok(bounties
            .place_auto(GUILD, SERVER, &trigger("line-3", "b"), 100)
            .await)
        .is_some()
    );
    ok(test.drop_database().await);
}

/// Kill rewards fixed with a pending batch are paid by the next worker before it reads
/// the game server again: a server that cannot be read for days does not leave accounts
/// half paid (credited before the crash, without their records) for that long.
#[tokio::test]
async fn fixed_kill_rewards_are_paid_before_the_batch_is_read_again() {
    const DIR: &str = "deathlogs/world_0";
    let a = fixture("2025.05.01-00.00.00.csv");
    let test = ok(TestDatabase::create("ledger_fixed_first").await);
    let db = ok(test.open().await);
    let (stats, cursors) = (StatsStore::new(&db), CursorStore::new(&db));
    let rewards = KillRewards::new(&db);
    let ledger = Ledger::new(&db);
    let users = link_every_killer(&db, &[&a]).await;
    ok(tower_store::guilds::GuildStore::new(&db)
        .set_economy_setting(GUILD, "pay_history", mongodb::bson::Bson::Boolean(true))
        .await);
    let root = std::env::temp_dir().join(format!("tower-fixed-first-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    ok(std::fs::create_dir_all(root.join(DIR)));
    let path = root.join(DIR).join("2025.05.01-00.00.00.csv");
    ok(std::fs::write(&path, &a));
    // The worker begins the batch, applies it and fixes its credits, then dies.
    let mut sink = ok(StoreSink::open(GUILD, SERVER, &stats, &cursors).await);
    sink.state.listed = true;
    sink.rewards = Some(&rewards);
    let batch = [parse_killfeed_chunk(
        &format!("{DIR}/2025.05.01-00.00.00.csv"),
        &a,
        0,
        true,
    )];
    let next = tower_ingest::cursor::FileCursor {
        file: "2025.05.01-00.00.00.csv".to_owned(),
        offset: a.len() as u64,
        size: a.len() as u64,
        ..Default::default()
    };
    let pending = ok(sink.begin(&batch, &next).await);
    let mut prepared = pending.rewards.clone().unwrap_or_default();
    let at = BatchRef {
        guild_id: GUILD,
        server_id: SERVER,
        batch: pending.batch,
    };
    let applied = ok(stats.apply_batch(at, &batch).await);
    let credits = KillRewards::credits(&batch, &applied.kept, &prepared, pending.batch);
    assert!(!credits.is_empty());
    prepared.credits = Some(credits.clone());
    ok(cursors
        .save_pending_rewards(
            GUILD,
            SERVER,
            tower_store::cursor_store::PRIMARY_KILLFEED,
            pending.batch,
            &prepared,
            None,
        )
        .await);
    drop(sink);
    // The file cannot be read now (a directory stands where it was).
    ok(std::fs::remove_file(&path));
    ok(std::fs::create_dir_all(&path));
    let mut next_worker = ok(StoreSink::open(GUILD, SERVER, &stats, &cursors).await);
    next_worker.rewards = Some(&rewards);
    assert!(
        next_worker.recover(&LocalSource::new(&root)).await.is_err(),
        "the batch cannot be read again yet"
    );
    assert!(next_worker.state.pending.is_some(), "still pending");
    for c in &credits {
        let user: u64 = ok(c.user_id.parse());
        assert_eq!(
            ok(ledger.account(&account(user)).await).balance,
            c.amount,
            "user {user} paid what was fixed"
        );
    }
    let ids: Vec<u64> = users.values().copied().collect();
    assert_history_adds_up(&ledger, &ids).await;
    let _ = std::fs::remove_dir_all(&root);
    ok(test.drop_database().await);
}
