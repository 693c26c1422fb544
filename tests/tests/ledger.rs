//! The economy's ledger in the real MongoDB-wire server: a change posted twice applies
//! once, concurrent transfers never overdraw, and posts cut short by a crash are completed
//! once, transfers with both sides or neither.

use mongodb::bson::{DateTime, Document, doc};
use tower_store::ledger::{AccountId, Entry, Ledger, Posted, Source, Transferred};
use tower_tests::backing::TestDatabase;
use tower_tests::support::ok;

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
    assert_eq!(ok(ledger.account(&account(1)).await).balance, 5);
    assert_eq!(ok(ledger.account(&account(2)).await).balance, 15);
    assert_eq!(ok(ledger.resume_pending().await), 0, "and not again");
    ok(test.drop_database().await);
}
