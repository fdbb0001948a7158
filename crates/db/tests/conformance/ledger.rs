//! The ledger and creators' purchases at the database level: an income divided into tax, the
//! platform's fee and the creators' shares (held, then available), once per payment and once
//! per event; splits; mismatched payments refused; refunds and chargebacks reversing the right
//! entries, never more than was paid; memberships extended and ended; and `ledger_verify`
//! finding an entry edited behind the application's back.

use ferrocast_db::billing::GatewayEvent;
use ferrocast_db::purchases::{
    IncomeRules, NewPurchase, PaidPayment, PurchaseApplied, PurchaseKind, PurchaseRecord, Reversal,
};
use ferrocast_db::Db;
use ferrocast_domain::billing::NotApplied;
use ferrocast_domain::ledger::account;

use crate::support::{both_backends, user, uuid, NOW};

const DAY: i64 = 86_400_000;
const RULES: IncomeRules = IncomeRules {
    fee_bps: 1000,
    hold_ms: 7 * DAY,
    membership_period_ms: 30 * DAY,
};

async fn purchase(
    db: &Db,
    kind: PurchaseKind,
    buyer: i64,
    creator: i64,
    amount: i64,
    tax: i64,
    tier: Option<i64>,
) -> PurchaseRecord {
    db.create_purchase(
        &NewPurchase {
            uuid: &uuid(),
            kind,
            buyer_id: buyer,
            creator_id: creator,
            provider: "stripe",
            amount_minor: amount,
            currency: "USD",
            tax_minor: tax,
            tax_country: (tax > 0).then_some("DE"),
            message: Some("great stream"),
            display_name: Some("Ann"),
            tier_id: tier,
            video_id: None,
            source_id: None,
        },
        NOW,
    )
    .await
    .expect("purchase")
}

fn pay(id: &str, amount: i64) -> PaidPayment<'_> {
    PaidPayment {
        provider_payment_id: id,
        amount_minor: amount,
        currency: "usd",
        subscription: None,
        period_end: None,
    }
}

fn event<'a>(id: &'a str) -> GatewayEvent<'a> {
    GatewayEvent {
        provider: "stripe",
        id,
        kind: "checkout.session.completed",
    }
}

async fn exec(db: &Db, sql: &str) {
    match db {
        Db::Sqlite(p) => {
            sqlx::query(sql).execute(p).await.expect(sql);
        }
        Db::Postgres(p) => {
            sqlx::query(sql).execute(p).await.expect(sql);
        }
    }
}

async fn verify_clean(db: &Db) {
    let report = db.ledger_verify().await.expect("verify");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

async fn income_divided_once(db: &Db) {
    let creator = user(db, "creator@example.com").await;
    let fan = user(db, "fan@example.com").await;
    let p = purchase(db, PurchaseKind::Tip, fan.id, creator.id, 1200, 200, None).await;
    let first = db
        .complete_purchase(Some(&event("evt_1")), &p, &pay("pi_1", 1200), &RULES, NOW)
        .await
        .expect("complete");
    assert!(matches!(first, PurchaseApplied::Done { .. }), "{first:?}");
    // The same event again, and the same payment through another event (the browser's
    // confirmation): each credited once.
    assert_eq!(
        db.complete_purchase(
            Some(&event("evt_1")),
            &p,
            &pay("pi_1", 1200),
            &RULES,
            NOW + 1
        )
        .await
        .expect("replay"),
        PurchaseApplied::Duplicate
    );
    assert_eq!(
        db.complete_purchase(None, &p, &pay("pi_1", 1200), &RULES, NOW + 2)
            .await
            .expect("browser"),
        PurchaseApplied::Duplicate
    );
    let t = db
        .ledger_transaction("pay:stripe:pi_1")
        .await
        .expect("read")
        .expect("posted");
    let amounts: Vec<(String, i64)> = t
        .entries
        .iter()
        .map(|e| (e.account.clone(), e.amount_minor))
        .collect();
    assert_eq!(
        amounts,
        vec![
            (account::gateway("stripe"), -1200),
            (account::tax("DE"), 200),
            (account::PLATFORM_FEES.to_owned(), 100),
            (account::creator(creator.id), 900),
        ]
    );
    let held = db
        .creator_balances(creator.id, NOW)
        .await
        .expect("balances");
    assert_eq!((held[0].pending, held[0].available), (900, 0));
    let later = db
        .creator_balances(creator.id, NOW + 7 * DAY)
        .await
        .expect("balances");
    assert_eq!((later[0].pending, later[0].available), (0, 900));
    let p = db
        .purchase_by_uuid(&p.uuid)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(p.status, "paid");
    assert_eq!(
        db.purchase_by_payment("stripe", "pi_1")
            .await
            .expect("read")
            .map(|x| x.id),
        Some(p.id)
    );
    verify_clean(db).await;
}

async fn mismatched_payment_credits_nothing(db: &Db) {
    let creator = user(db, "creator@example.com").await;
    let fan = user(db, "fan@example.com").await;
    let p = purchase(db, PurchaseKind::Ppv, fan.id, creator.id, 500, 0, None).await;
    let r = db
        .complete_purchase(
            Some(&event("evt_short")),
            &p,
            &pay("pi_short", 499),
            &RULES,
            NOW,
        )
        .await
        .expect("complete");
    assert_eq!(r, PurchaseApplied::Ignored(NotApplied::AmountMismatch));
    assert!(db
        .ledger_transaction("pay:stripe:pi_short")
        .await
        .expect("read")
        .is_none());
    // Once refused, a later payment of the right amount is not credited either: a person looks.
    let r = db
        .complete_purchase(
            Some(&event("evt_again")),
            &p,
            &pay("pi_again", 500),
            &RULES,
            NOW,
        )
        .await
        .expect("complete");
    assert_eq!(r, PurchaseApplied::Ignored(NotApplied::RefusedOrder));
    assert!(db
        .creator_balances(creator.id, NOW)
        .await
        .expect("balances")
        .is_empty());
}

async fn splits_divide_the_creators_share(db: &Db) {
    let creator = user(db, "creator@example.com").await;
    let editor = user(db, "editor@example.com").await;
    let fan = user(db, "fan@example.com").await;
    exec(db, &format!(
        "INSERT INTO revenue_splits (scope, target_id, creator_id, user_id, bps, created_at) VALUES \
         ('channel', {c}, {c}, {e}, 3000, 1), ('channel', {c}, {c}, {c}, 7000, 2)",
        c = creator.id, e = editor.id
    )).await;
    let p = purchase(db, PurchaseKind::Tip, fan.id, creator.id, 1001, 0, None).await;
    db.complete_purchase(None, &p, &pay("pi_split", 1001), &RULES, NOW)
        .await
        .expect("complete");
    let t = db
        .ledger_transaction("pay:stripe:pi_split")
        .await
        .expect("read")
        .expect("posted");
    let share = |u: i64| {
        t.entries
            .iter()
            .find(|e| e.user_id == Some(u))
            .map(|e| e.amount_minor)
    };
    // 1001 - fee 100 = 901: the editor 30 % (270), the creator the rest (631).
    assert_eq!(share(editor.id), Some(270));
    assert_eq!(share(creator.id), Some(631));
    verify_clean(db).await;
}

async fn refunds_and_chargebacks_reverse_once(db: &Db) {
    let creator = user(db, "creator@example.com").await;
    let fan = user(db, "fan@example.com").await;
    let p = purchase(db, PurchaseKind::Tip, fan.id, creator.id, 1000, 0, None).await;
    db.complete_purchase(None, &p, &pay("pi_r", 1000), &RULES, NOW)
        .await
        .expect("complete");
    // Unknown payments wait for the gateway's retry.
    let unknown = Reversal {
        chargeback: false,
        id: "re_x",
        amount_minor: None,
        running_total: false,
    };
    assert_eq!(
        db.reverse_payment(None, "stripe", "pi_nope", &unknown, NOW)
            .await
            .expect("reverse"),
        PurchaseApplied::Unknown
    );
    let part = Reversal {
        chargeback: false,
        id: "re_1",
        amount_minor: Some(400),
        running_total: false,
    };
    let r = db
        .reverse_payment(Some(&event("evt_re1")), "stripe", "pi_r", &part, NOW + 1)
        .await
        .expect("refund");
    assert!(matches!(r, PurchaseApplied::Done { .. }));
    assert_eq!(
        db.reverse_payment(Some(&event("evt_re1b")), "stripe", "pi_r", &part, NOW + 2)
            .await
            .expect("again"),
        PurchaseApplied::Duplicate
    );
    let b = db
        .creator_balances(creator.id, NOW + 1)
        .await
        .expect("balances");
    assert_eq!(b[0].pending, 540);
    assert_eq!(
        db.purchase_by_uuid(&p.uuid).await.unwrap().unwrap().status,
        "paid"
    );
    // A chargeback takes what is left, and no more.
    let cb = Reversal {
        chargeback: true,
        id: "dp_1",
        amount_minor: None,
        running_total: false,
    };
    db.reverse_payment(None, "stripe", "pi_r", &cb, NOW + 3)
        .await
        .expect("chargeback");
    let b = db
        .creator_balances(creator.id, NOW + 3)
        .await
        .expect("balances");
    assert_eq!(b[0].pending, 0);
    let again = Reversal {
        chargeback: false,
        id: "re_2",
        amount_minor: None,
        running_total: false,
    };
    assert_eq!(
        db.reverse_payment(None, "stripe", "pi_r", &again, NOW + 4)
            .await
            .expect("nothing left"),
        PurchaseApplied::Duplicate
    );
    assert_eq!(
        db.purchase_by_uuid(&p.uuid).await.unwrap().unwrap().status,
        "disputed"
    );
    let totals = db.ledger_account_totals().await.expect("totals");
    assert!(totals.iter().all(|(_, _, b)| *b == 0), "{totals:?}");
    verify_clean(db).await;
}

async fn memberships_extend_and_end(db: &Db) {
    let creator = user(db, "creator@example.com").await;
    let fan = user(db, "fan@example.com").await;
    exec(db, &format!(
        "INSERT INTO membership_tiers (creator_id, name, price_minor, currency, rank, created_at) VALUES ({}, 'Supporter', 500, 'USD', 1, 1)",
        creator.id
    )).await;
    let tier: i64 = match db {
        Db::Sqlite(p) => sqlx::query_scalar("SELECT id FROM membership_tiers")
            .fetch_one(p)
            .await
            .unwrap(),
        Db::Postgres(p) => sqlx::query_scalar("SELECT id FROM membership_tiers")
            .fetch_one(p)
            .await
            .unwrap(),
    };
    let p = purchase(
        db,
        PurchaseKind::Membership,
        fan.id,
        creator.id,
        500,
        0,
        Some(tier),
    )
    .await;
    db.complete_purchase(None, &p, &pay("in_1", 500), &RULES, NOW)
        .await
        .expect("first month");
    let p = db.purchase_by_uuid(&p.uuid).await.unwrap().unwrap();
    db.complete_purchase(None, &p, &pay("in_2", 500), &RULES, NOW + DAY)
        .await
        .expect("renewal");
    let end: i64 = match db {
        Db::Sqlite(x) => sqlx::query_scalar("SELECT period_end FROM memberships")
            .fetch_one(x)
            .await
            .unwrap(),
        Db::Postgres(x) => sqlx::query_scalar("SELECT period_end FROM memberships")
            .fetch_one(x)
            .await
            .unwrap(),
    };
    assert_eq!(end, NOW + 60 * DAY);
    let memo = db
        .ledger_transaction("pay:stripe:in_2")
        .await
        .unwrap()
        .unwrap()
        .memo;
    assert_eq!(memo, "membership renewal");
    db.reverse_payment(
        None,
        "stripe",
        "in_2",
        &Reversal {
            chargeback: true,
            id: "dp_m",
            amount_minor: None,
            running_total: false,
        },
        NOW + 2 * DAY,
    )
    .await
    .expect("chargeback");
    let (status, end): (String, i64) = match db {
        Db::Sqlite(x) => sqlx::query_as("SELECT status, period_end FROM memberships")
            .fetch_one(x)
            .await
            .unwrap(),
        Db::Postgres(x) => sqlx::query_as("SELECT status, period_end FROM memberships")
            .fetch_one(x)
            .await
            .unwrap(),
    };
    assert_eq!((status.as_str(), end), ("ended", NOW + 2 * DAY));
    verify_clean(db).await;
}

async fn verify_finds_an_edited_entry(db: &Db) {
    let creator = user(db, "creator@example.com").await;
    let fan = user(db, "fan@example.com").await;
    for i in 0..3 {
        let p = purchase(db, PurchaseKind::Tip, fan.id, creator.id, 300 + i, 0, None).await;
        db.complete_purchase(None, &p, &pay(&format!("pi_{i}"), 300 + i), &RULES, NOW)
            .await
            .expect("complete");
    }
    verify_clean(db).await;
    let t = db
        .ledger_transaction("pay:stripe:pi_1")
        .await
        .unwrap()
        .unwrap();
    let creator_entry = t
        .entries
        .iter()
        .find(|e| e.user_id == Some(creator.id))
        .unwrap()
        .id;
    exec(
        db,
        &format!(
            "UPDATE ledger_entries SET amount_minor = amount_minor + 1 WHERE id = {creator_entry}"
        ),
    )
    .await;
    let report = db.ledger_verify().await.expect("verify");
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains(&format!("transaction {}", t.id)) && p.contains("digest")),
        "{:?}",
        report.problems
    );
    assert!(
        report.problems.iter().any(|p| p.contains("sum to 1")),
        "{:?}",
        report.problems
    );
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains(&account::creator(creator.id))),
        "{:?}",
        report.problems
    );
}

both_backends!(inline:
    income_divided_once,
    mismatched_payment_credits_nothing,
    splits_divide_the_creators_share,
    refunds_and_chargebacks_reverse_once,
    memberships_extend_and_end,
    verify_finds_an_edited_entry,
);
