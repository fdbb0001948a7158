//! The ledger's property, on a real SQLite database and on PostgreSQL: random sequences of tips,
//! memberships and their renewals, pay-per-view purchases, refunds (whole and partial, some
//! delivered twice), chargebacks, changes of collaborator splits and payouts, applied through
//! the database's own operations (`complete_purchase`, `reverse_payment`, `post_transaction`),
//! keep every transaction balanced and every account's balance equal to the sum replayed from
//! a model of the same operations; `ledger verify` passes. Then one entry edited behind the
//! application's back makes it fail, naming the transaction.

use crate::support;
use ferrocast_db::accounts::NewUser;
use ferrocast_db::billing::GatewayEvent;
use ferrocast_db::ledger::{NewTransaction, Posting};
use ferrocast_db::purchases::{
    IncomeRules, NewPurchase, PaidPayment, PurchaseApplied, PurchaseKind, Reversal,
};
use ferrocast_db::Db;
use ferrocast_domain::ledger::{account, divide_income, proportional, tax_included, Split};
use proptest::prelude::*;
use std::collections::BTreeMap;

const FEE_BPS: i64 = 1000;
const DAY: i64 = 86_400_000;
const PROVIDERS: [&str; 3] = ["stripe", "razorpay", "epayco"];

/// One step of a sequence. Indexes pick among what exists (modulo its count).
#[derive(Debug, Clone)]
enum Op {
    /// A viewer tips a creator; `taxed`: the buyer is in a country with a tax rate.
    Tip {
        buyer: usize,
        creator: usize,
        amount: i64,
        provider: usize,
        taxed: bool,
    },
    /// A viewer joins a creator's tier (the first payment).
    Join {
        buyer: usize,
        creator: usize,
        provider: usize,
    },
    /// A membership's next month is paid.
    Renew { membership: usize },
    /// A viewer buys a video (pay-per-view), `video` of the creator's three.
    Ppv {
        buyer: usize,
        creator: usize,
        video: i64,
        amount: i64,
    },
    /// A refund of `percent` of what is left of a payment (100: all); `twice`: delivered again.
    Refund {
        payment: usize,
        percent: i64,
        twice: bool,
    },
    /// A chargeback of a payment.
    Chargeback { payment: usize },
    /// A payment's confirmation delivered again (must credit nothing).
    Redeliver { payment: usize },
    /// A creator's channel (or one video's) income is now split with collaborators.
    Split {
        creator: usize,
        video: Option<i64>,
        weights: Vec<(usize, i64)>,
    },
    /// A creator is paid out `percent` of their balance: requested, then paid.
    Payout { creator: usize, percent: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..4usize, 0..2usize, 100i64..50_000, 0..3usize, any::<bool>())
            .prop_map(|(buyer, creator, amount, provider, taxed)| Op::Tip { buyer, creator, amount, provider, taxed }),
        2 => (0..4usize, 0..2usize, 0..3usize).prop_map(|(buyer, creator, provider)| Op::Join { buyer, creator, provider }),
        2 => (0..8usize).prop_map(|membership| Op::Renew { membership }),
        2 => (0..4usize, 0..2usize, 0..3i64, 100i64..20_000)
            .prop_map(|(buyer, creator, video, amount)| Op::Ppv { buyer, creator, video, amount }),
        3 => (0..32usize, 1i64..=100, any::<bool>()).prop_map(|(payment, percent, twice)| Op::Refund { payment, percent, twice }),
        1 => (0..32usize).prop_map(|payment| Op::Chargeback { payment }),
        2 => (0..32usize).prop_map(|payment| Op::Redeliver { payment }),
        1 => (0..2usize, proptest::option::of(0..3i64), proptest::collection::vec((0..3usize, 1i64..10), 1..4))
            .prop_map(|(creator, video, weights)| Op::Split { creator, video, weights }),
        1 => (0..2usize, 1i64..=100).prop_map(|(creator, percent)| Op::Payout { creator, percent }),
    ]
}

/// A payment credited: what the model needs to reverse it as the database must.
#[derive(Debug, Clone)]
struct Paid {
    purchase_id: i64,
    provider: &'static str,
    payment_id: String,
    amount: i64,
    currency: &'static str,
    /// The income's postings (account, amount), in the order they were posted.
    postings: Vec<(String, i64)>,
    /// What reversals took back so far.
    taken: i64,
}

/// The model: every account's balance, replayed from the operations.
#[derive(Default)]
struct Model {
    balances: BTreeMap<(String, String), i64>,
    paid: Vec<Paid>,
    /// Splits in force: (scope, target) → shares, the creator's first.
    splits: BTreeMap<(&'static str, i64), Vec<Split>>,
    /// Memberships: (purchase id, provider, amount).
    memberships: Vec<(i64, &'static str, i64)>,
    payments: u64,
}

impl Model {
    fn post(&mut self, currency: &str, postings: &[(String, i64)]) {
        for (a, v) in postings {
            *self
                .balances
                .entry((a.clone(), currency.to_string()))
                .or_default() += v;
        }
    }

    /// The income postings of a payment, as `complete_purchase` must post them.
    fn income(
        &self,
        amount: i64,
        tax: i64,
        provider: &str,
        creator: i64,
        video: Option<i64>,
    ) -> Vec<(String, i64)> {
        let splits = video
            .and_then(|v| self.splits.get(&("video", v)))
            .or_else(|| self.splits.get(&("channel", creator)))
            .cloned()
            .unwrap_or_default();
        let d = divide_income(amount, tax, FEE_BPS, creator, &splits);
        let mut p = vec![(account::gateway(provider), -amount)];
        if d.tax > 0 {
            p.push((account::tax("DE"), d.tax));
        }
        p.push((account::PLATFORM_FEES.to_string(), d.fee));
        for (user, share) in d.shares {
            p.push((account::creator(user), share));
        }
        // Zero amounts are not posted; their place does not matter to balances.
        p
    }
}

struct World {
    db: Db,
    users: Vec<i64>,
    creators: Vec<i64>,
    collaborators: Vec<i64>,
    tiers: Vec<i64>,
    now: i64,
}

async fn exec(db: &Db, sql: &str) {
    match db {
        Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn world(url: &str) -> World {
    let db = Db::connect(url).await.expect("connect");
    db.migrate().await.expect("migrate");
    let mut ids = Vec::new();
    for i in 0..9 {
        let uuid = uuid::Uuid::new_v4().to_string();
        let email = format!("u{i}@example.com");
        let name = format!("User {i}");
        let u = db
            .create_user(
                &NewUser {
                    uuid: &uuid,
                    email: &email,
                    password_hash: "x",
                    display_name: &name,
                    role: "creator",
                    email_verified: true,
                },
                1,
            )
            .await
            .expect("user");
        ids.push(u.id);
    }
    let creators = ids[4..6].to_vec();
    let mut tiers = Vec::new();
    for c in &creators {
        exec(&db, &format!("INSERT INTO membership_tiers (creator_id, name, price_minor, currency, perks, rank, active, created_at) VALUES ({c}, 'Gold', 1500, 'USD', '[]', 1, TRUE, 1)")).await;
        let id = match &db {
            Db::Sqlite(p) => {
                sqlx::query_scalar::<_, i64>("SELECT MAX(id) FROM membership_tiers")
                    .fetch_one(p)
                    .await
            }
            Db::Postgres(p) => {
                sqlx::query_scalar::<_, i64>("SELECT MAX(id) FROM membership_tiers")
                    .fetch_one(p)
                    .await
            }
        }
        .expect("tier");
        tiers.push(id);
    }
    exec(&db, "INSERT INTO tax_rates (country, rate_bps, label, updated_at) VALUES ('DE', 1900, 'VAT', 1)").await;
    World {
        db,
        users: ids[0..4].to_vec(),
        creators,
        collaborators: ids[6..9].to_vec(),
        tiers,
        now: 1_700_000_000_000,
    }
}

fn rules() -> IncomeRules {
    IncomeRules {
        fee_bps: FEE_BPS,
        hold_ms: 7 * DAY,
        membership_period_ms: 30 * DAY,
    }
}

/// Pays a purchase (`purchase`) once more with payment `n`; the model posts what must be posted.
async fn pay(
    w: &World,
    m: &mut Model,
    purchase_uuid: &str,
    provider: &'static str,
    creator: i64,
    video: Option<i64>,
) {
    let p =
        w.db.purchase_by_uuid(purchase_uuid)
            .await
            .expect("db")
            .expect("purchase");
    m.payments += 1;
    let payment_id = format!("pay_{}", m.payments);
    let event_id = format!("evt_{}", m.payments);
    let event = GatewayEvent {
        provider,
        id: &event_id,
        kind: "paid",
    };
    let pay = PaidPayment {
        provider_payment_id: &payment_id,
        amount_minor: p.amount_minor,
        currency: &p.currency,
        subscription: None,
        period_end: None,
    };
    let applied =
        w.db.complete_purchase(Some(&event), &p, &pay, &rules(), w.now)
            .await
            .expect("complete");
    assert!(
        matches!(applied, PurchaseApplied::Done { .. }),
        "{applied:?}"
    );
    let postings = m.income(p.amount_minor, p.tax_minor, provider, creator, video);
    let currency: &'static str = if p.currency == "INR" { "INR" } else { "USD" };
    m.post(currency, &postings);
    m.paid.push(Paid {
        purchase_id: p.id,
        provider,
        payment_id,
        amount: p.amount_minor,
        currency,
        postings,
        taken: 0,
    });
}

async fn purchase(
    w: &World,
    kind: PurchaseKind,
    buyer: i64,
    creator: i64,
    provider: &str,
    amount: i64,
    tax: i64,
    tier: Option<i64>,
    video: Option<i64>,
) -> String {
    let uuid = uuid::Uuid::new_v4().to_string();
    let currency = if provider == "razorpay" { "INR" } else { "USD" };
    w.db.create_purchase(
        &NewPurchase {
            uuid: &uuid,
            kind,
            buyer_id: buyer,
            creator_id: creator,
            provider,
            amount_minor: amount,
            currency,
            tax_minor: tax,
            tax_country: (tax > 0).then_some("DE"),
            message: None,
            display_name: None,
            tier_id: tier,
            video_id: video,
            source_id: None,
        },
        w.now,
    )
    .await
    .expect("purchase");
    uuid
}

async fn apply(w: &mut World, m: &mut Model, op: &Op) {
    w.now += 60_000;
    match op.clone() {
        Op::Tip {
            buyer,
            creator,
            amount,
            provider,
            taxed,
        } => {
            let provider = PROVIDERS[provider];
            let tax = if taxed { tax_included(amount, 1900) } else { 0 };
            let (b, c) = (w.users[buyer], w.creators[creator]);
            let uuid = purchase(
                w,
                PurchaseKind::Tip,
                b,
                c,
                provider,
                amount,
                tax,
                None,
                None,
            )
            .await;
            pay(w, m, &uuid, provider, c, None).await;
        }
        Op::Join {
            buyer,
            creator,
            provider,
        } => {
            let provider = PROVIDERS[provider];
            let (b, c) = (w.users[buyer], w.creators[creator]);
            let uuid = purchase(
                w,
                PurchaseKind::Membership,
                b,
                c,
                provider,
                1500,
                0,
                Some(w.tiers[creator]),
                None,
            )
            .await;
            pay(w, m, &uuid, provider, c, None).await;
            let p = w.db.purchase_by_uuid(&uuid).await.expect("db").expect("p");
            m.memberships.push((p.id, provider, c));
        }
        Op::Renew { membership } => {
            if m.memberships.is_empty() {
                return;
            }
            let (pid, provider, creator) = m.memberships[membership % m.memberships.len()];
            let uuid = m
                .paid
                .iter()
                .find(|p| p.purchase_id == pid)
                .map(|p| p.purchase_id)
                .expect("paid");
            let p = purchase_by_id(w, uuid).await;
            pay(w, m, &p, provider, creator, None).await;
        }
        Op::Ppv {
            buyer,
            creator,
            video,
            amount,
        } => {
            let (b, c) = (w.users[buyer], w.creators[creator]);
            let video = c * 10 + video;
            let uuid = purchase(
                w,
                PurchaseKind::Ppv,
                b,
                c,
                "stripe",
                amount,
                0,
                None,
                Some(video),
            )
            .await;
            pay(w, m, &uuid, "stripe", c, Some(video)).await;
        }
        Op::Refund {
            payment,
            percent,
            twice,
        } => reverse(w, m, payment, Some(percent), false, twice).await,
        Op::Chargeback { payment } => reverse(w, m, payment, None, true, false).await,
        Op::Redeliver { payment } => {
            if m.paid.is_empty() {
                return;
            }
            let paid = m.paid[payment % m.paid.len()].clone();
            let p = purchase_by_id(w, paid.purchase_id).await;
            let p = w.db.purchase_by_uuid(&p).await.expect("db").expect("p");
            let event_id = format!("evt_again_{}_{}", paid.payment_id, w.now);
            let event = GatewayEvent {
                provider: paid.provider,
                id: &event_id,
                kind: "paid",
            };
            let pay = PaidPayment {
                provider_payment_id: &paid.payment_id,
                amount_minor: paid.amount,
                currency: paid.currency,
                subscription: None,
                period_end: None,
            };
            let applied =
                w.db.complete_purchase(Some(&event), &p, &pay, &rules(), w.now)
                    .await
                    .expect("complete");
            assert_eq!(
                applied,
                PurchaseApplied::Duplicate,
                "a payment is credited once"
            );
        }
        Op::Split {
            creator,
            video,
            weights,
        } => {
            let c = w.creators[creator];
            let (scope, target) = match video {
                Some(v) => ("video", c * 10 + v),
                None => ("channel", c),
            };
            // The creator and some collaborators, each once, shares summing to 100 %.
            let mut people: Vec<(i64, i64)> = vec![(c, 5)];
            for (who, weight) in weights {
                let u = w.collaborators[who];
                if !people.iter().any(|(p, _)| *p == u) {
                    people.push((u, weight));
                }
            }
            // As the database reads them: the creator first, then by user.
            people[1..].sort_by_key(|(u, _)| *u);
            let total: i64 = people.iter().map(|(_, wt)| wt).sum();
            let mut splits: Vec<Split> = people
                .iter()
                .map(|(u, wt)| Split {
                    user_id: *u,
                    bps: wt * 10_000 / total,
                })
                .collect();
            let given: i64 = splits.iter().map(|s| s.bps).sum();
            splits[0].bps += 10_000 - given;
            exec(
                &w.db,
                &format!(
                    "DELETE FROM revenue_splits WHERE scope = '{scope}' AND target_id = {target}"
                ),
            )
            .await;
            for s in &splits {
                exec(&w.db, &format!("INSERT INTO revenue_splits (scope, target_id, creator_id, user_id, bps, created_at) VALUES ('{scope}', {target}, {c}, {}, {}, {})", s.user_id, s.bps, w.now)).await;
            }
            m.splits.insert((scope, target), splits);
        }
        Op::Payout { creator, percent } => {
            let c = w.creators[creator];
            let key = (account::creator(c), "USD".to_string());
            let have = m.balances.get(&key).copied().unwrap_or(0);
            let amount = have * percent / 100;
            if amount <= 0 {
                return;
            }
            let steps = [
                (
                    "payout_request",
                    account::creator(c),
                    account::PAYOUTS_IN_FLIGHT.to_string(),
                ),
                (
                    "payout_paid",
                    account::PAYOUTS_IN_FLIGHT.to_string(),
                    account::PAYOUTS_PAID.to_string(),
                ),
            ];
            m.payments += 1;
            for (kind, from, to) in steps {
                let t = NewTransaction {
                    reference: format!("payout:{}:{kind}", m.payments),
                    kind: kind.into(),
                    currency: "USD".into(),
                    memo: "payout".into(),
                    purchase_id: None,
                    payout_id: None,
                    reverses_id: None,
                    postings: vec![
                        Posting {
                            account: from.clone(),
                            user_id: from.starts_with("creator:").then_some(c),
                            amount_minor: -amount,
                            available_at: w.now,
                        },
                        Posting {
                            account: to.clone(),
                            user_id: to.starts_with("creator:").then_some(c),
                            amount_minor: amount,
                            available_at: w.now,
                        },
                    ],
                };
                w.db.post_transaction(&t, w.now).await.expect("payout");
                // Posting the same step again posts nothing.
                w.db.post_transaction(&t, w.now)
                    .await
                    .expect("payout again");
                m.post("USD", &[(from, -amount), (to, amount)]);
            }
        }
    }
}

/// A purchase's public id by its id.
async fn purchase_by_id(w: &World, id: i64) -> String {
    match &w.db {
        Db::Sqlite(p) => {
            sqlx::query_scalar::<_, String>("SELECT uuid FROM purchases WHERE id = $1")
                .bind(id)
                .fetch_one(p)
                .await
        }
        Db::Postgres(p) => {
            sqlx::query_scalar::<_, String>("SELECT uuid FROM purchases WHERE id = $1")
                .bind(id)
                .fetch_one(p)
                .await
        }
    }
    .expect("uuid")
}

async fn reverse(
    w: &World,
    m: &mut Model,
    payment: usize,
    percent: Option<i64>,
    chargeback: bool,
    twice: bool,
) {
    if m.paid.is_empty() {
        return;
    }
    let i = payment % m.paid.len();
    let p = m.paid[i].clone();
    let left = p.amount - p.taken;
    let part = match percent {
        Some(pc) if pc < 100 => (left * pc / 100).max(1).min(left),
        _ => left,
    };
    m.payments += 1;
    let id = format!("rev_{}", m.payments);
    let amount = (part < left).then_some(part);
    let r = Reversal {
        chargeback,
        id: &id,
        amount_minor: amount,
        running_total: false,
    };
    let event_id = format!("evt_rev_{}", m.payments);
    let event = GatewayEvent {
        provider: p.provider,
        id: &event_id,
        kind: if chargeback { "dispute" } else { "refund" },
    };
    let applied =
        w.db.reverse_payment(Some(&event), p.provider, &p.payment_id, &r, w.now)
            .await
            .expect("reverse");
    if left <= 0 {
        assert_eq!(
            applied,
            PurchaseApplied::Duplicate,
            "nothing left to take back"
        );
        return;
    }
    assert!(
        matches!(applied, PurchaseApplied::Done { .. }),
        "{applied:?}"
    );
    if twice {
        let again = format!("evt_rev_again_{}", m.payments);
        let event = GatewayEvent {
            provider: p.provider,
            id: &again,
            kind: "refund",
        };
        let applied =
            w.db.reverse_payment(Some(&event), p.provider, &p.payment_id, &r, w.now)
                .await
                .expect("reverse");
        assert_eq!(
            applied,
            PurchaseApplied::Duplicate,
            "one refund, reversed once"
        );
    }
    let amounts: Vec<i64> = p.postings.iter().map(|(_, a)| *a).collect();
    let scaled = proportional(&amounts, part, p.amount);
    let postings: Vec<(String, i64)> = p
        .postings
        .iter()
        .zip(scaled)
        .map(|((a, _), s)| (a.clone(), -s))
        .collect();
    m.post(p.currency, &postings);
    m.paid[i].taken += part;
}

async fn check(w: &World, m: &Model) {
    let report = w.db.ledger_verify().await.expect("verify");
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    let totals = w.db.ledger_account_totals().await.expect("totals");
    let mut recorded: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (a, c, b) in totals {
        if b != 0 {
            recorded.insert((a, c), b);
        }
    }
    let expected: BTreeMap<(String, String), i64> = m
        .balances
        .iter()
        .filter(|(_, v)| **v != 0)
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert_eq!(recorded, expected, "every balance is the replayed sum");
    let mut per_currency: BTreeMap<&str, i64> = BTreeMap::new();
    for ((_, c), v) in &recorded {
        *per_currency.entry(c).or_default() += v;
    }
    assert!(
        per_currency.values().all(|v| *v == 0),
        "the books balance: {per_currency:?}"
    );
}

/// Runs `cases` random sequences against fresh databases from `url_for`.
fn run(cases: u32, url_for: impl Fn() -> Option<(String, Option<String>)>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        ..ProptestConfig::default()
    });
    let tampered_once = std::cell::Cell::new(false);
    runner
        .run(&proptest::collection::vec(op(), 1..40), |ops| {
            let Some((url, _schema)) = url_for() else { return Ok(()) };
            runtime.block_on(async {
                let mut w = world(&url).await;
                let mut m = Model::default();
                for op in &ops {
                    apply(&mut w, &mut m, op).await;
                }
                check(&w, &m).await;
                if !tampered_once.get() && m.payments > 0 {
                    // An entry edited behind the application's back.
                    exec(&w.db, "UPDATE ledger_entries SET amount_minor = amount_minor + 1 WHERE id = (SELECT MIN(id) FROM ledger_entries)").await;
                    let report = w.db.ledger_verify().await.expect("verify");
                    assert!(
                        report.problems.iter().any(|p| p.contains("digest does not match")) && report.problems.iter().any(|p| p.contains("sum to 1, not 0")),
                        "{:#?}",
                        report.problems
                    );
                    tampered_once.set(true);
                }
                w.db.close().await;
            });
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(tampered_once.get(), "the tampering check ran");
}

#[test]
fn ledger_property_on_sqlite() {
    let dir = std::env::temp_dir().join(format!(
        "ferrocast-ledger-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let n = std::cell::Cell::new(0);
    run(24, || {
        n.set(n.get() + 1);
        Some((
            format!("sqlite://{}/case{}.db", dir.display(), n.get()),
            None,
        ))
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ledger_property_on_postgres() {
    if std::env::var("FERROCAST_TEST_POSTGRES_URL").is_err()
        && std::env::var("CI").map_or(true, |v| v != "true")
    {
        eprintln!(
            "SKIPPED: set FERROCAST_TEST_POSTGRES_URL to run the ledger property on PostgreSQL"
        );
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    run(12, || {
        runtime
            .block_on(support::postgres_schema())
            .map(|(url, schema)| (url, Some(schema)))
    });
}
