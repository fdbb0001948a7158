//! Gateway events that change nothing, at the database level: what is recorded as ignored and
//! why, that a redelivery is a duplicate, that a refused order grants nothing afterwards, and
//! which events wait for the gateway's retry (nothing recorded) rather than being ignored.

use ferrocast_db::accounts::NewUser;
use ferrocast_db::billing::{
    Applied, GatewayEvent, NewOrder, OrderRecord, PaymentEntry, SubscriptionChange,
};
use ferrocast_db::Db;
use ferrocast_domain::billing::{Cycle, GatewayFact, NotApplied, SubscriptionStatus};

use crate::support::{both_backends, NOW};

async fn stripe_order(db: &Db, email: &str) -> OrderRecord {
    let user = db
        .create_user(
            &NewUser {
                uuid: &uuid::Uuid::new_v4().to_string(),
                email,
                password_hash: "x",
                display_name: "Buyer",
                role: "creator",
                email_verified: true,
            },
            NOW,
        )
        .await
        .expect("user");
    let plan = db
        .list_plans()
        .await
        .expect("plans")
        .into_iter()
        .find(|p| p.spec.name == "Pro")
        .expect("Pro");
    db.create_order(
        &NewOrder {
            uuid: &uuid::Uuid::new_v4().to_string(),
            user_id: user.id,
            plan_id: plan.id,
            cycle: Cycle::Monthly,
            provider: "stripe",
            amount_minor: 999,
            currency: "USD",
        },
        NOW,
    )
    .await
    .expect("order")
}

fn event<'a>(id: &'a str, kind: &'a str) -> GatewayEvent<'a> {
    GatewayEvent {
        provider: "stripe",
        id,
        kind,
    }
}

/// The gateway's statement that a subscription is active, as of `NOW`.
fn active() -> GatewayFact {
    GatewayFact::Reported {
        status: Some(SubscriptionStatus::Active),
        period_start: Some(NOW),
        period_end: Some(NOW + 30 * 86_400_000),
        cancel_at_period_end: false,
        at: NOW,
    }
}

/// A change to the Stripe subscription `sub`, behind `order` if it names one of ours.
fn stripe<'a>(
    sub: &'a str,
    order: Option<&'a OrderRecord>,
    fact: GatewayFact,
) -> SubscriptionChange<'a> {
    SubscriptionChange {
        provider: "stripe",
        order,
        subscription: Some(sub),
        customer: None,
        payment: None,
        invoice: None,
        fact,
    }
}

/// An invoice `id` of the subscription `sub`, paid or failed.
fn invoice<'a>(
    id: &'a str,
    sub: &'a str,
    order: Option<&'a OrderRecord>,
    paid: bool,
) -> SubscriptionChange<'a> {
    SubscriptionChange {
        payment: Some(PaymentEntry {
            id,
            order_id: None,
            amount_minor: 999,
            currency: "USD",
            succeeded: paid,
            description: "subscription invoice",
        }),
        invoice: Some(id),
        ..stripe(
            sub,
            order,
            if paid {
                GatewayFact::RenewalPaid { period_end: None }
            } else {
                GatewayFact::RenewalFailed { settled: false }
            },
        )
    }
}

/// A completed Stripe Checkout of `order` for the subscription `sub`.
fn checkout<'a>(order: &'a OrderRecord, customer: &'a str, sub: &'a str) -> SubscriptionChange<'a> {
    SubscriptionChange {
        customer: Some(customer),
        ..stripe(
            sub,
            Some(order),
            GatewayFact::CheckoutCompleted {
                paid: true,
                bills_subscription: true,
            },
        )
    }
}

async fn outcome(db: &Db, id: &str) -> Option<(String, Option<String>)> {
    db.gateway_event("stripe", id)
        .await
        .expect("query")
        .map(|e| (e.outcome, e.reason))
}

fn ignored(reason: NotApplied) -> Option<(String, Option<String>)> {
    Some(("ignored".into(), Some(reason.as_str().into())))
}

both_backends!(events_that_change_nothing_are_recorded_once);

async fn events_that_change_nothing_are_recorded_once(db: &Db) {
    assert!(db.migration_status().await.expect("status").is_current());

    // Recorded with its reason and detail; a redelivery is a duplicate.
    let e = event("evt_1", "customer.subscription.deleted");
    for expected in [
        Applied::Ignored(NotApplied::UnknownSubscription),
        Applied::Duplicate,
    ] {
        let got = db
            .record_not_applied(&e, NotApplied::UnknownSubscription, "sub_x", NOW)
            .await
            .expect("record");
        assert_eq!(got, expected);
    }
    let rec = db
        .gateway_event("stripe", "evt_1")
        .await
        .expect("q")
        .expect("row");
    assert_eq!(
        (
            rec.outcome.as_str(),
            rec.reason.as_deref(),
            rec.detail.as_deref()
        ),
        ("ignored", Some("unknown_subscription"), Some("sub_x"))
    );

    // About an unknown subscription with no order of ours: ignored, not waited for.
    let got = db
        .apply_subscription_change(
            Some(&event("evt_2", "customer.subscription.updated")),
            &stripe("sub_ghost", None, active()),
            0,
            NOW,
        )
        .await
        .expect("event");
    assert_eq!(got, Applied::Ignored(NotApplied::UnknownSubscription));
    let got = db
        .apply_subscription_change(
            Some(&event("evt_3", "invoice.paid")),
            &invoice("in_ghost", "sub_ghost", None, true),
            0,
            NOW,
        )
        .await
        .expect("invoice");
    assert_eq!(got, Applied::Ignored(NotApplied::UnknownSubscription));

    // An order of ours whose Checkout has not come yet: its subscription's events and paid
    // invoices wait (nothing recorded); a failed invoice is ignored.
    let order = stripe_order(db, "waiting@example.com").await;
    assert_eq!(order.refused_reason, None);
    let got = db
        .apply_subscription_change(
            Some(&event("evt_4", "customer.subscription.created")),
            &stripe("sub_w", Some(&order), active()),
            0,
            NOW,
        )
        .await
        .expect("event");
    assert_eq!(got, Applied::Unknown);
    let got = db
        .apply_subscription_change(
            Some(&event("evt_5", "invoice.paid")),
            &invoice("in_w", "sub_w", Some(&order), true),
            0,
            NOW,
        )
        .await
        .expect("invoice");
    assert_eq!(got, Applied::Unknown);
    assert_eq!(outcome(db, "evt_4").await, None);
    assert_eq!(outcome(db, "evt_5").await, None);
    let got = db
        .apply_subscription_change(
            Some(&event("evt_6", "invoice.payment_failed")),
            &invoice("in_w", "sub_w", Some(&order), false),
            0,
            NOW,
        )
        .await
        .expect("invoice");
    assert_eq!(got, Applied::Ignored(NotApplied::UnknownSubscription));

    // Refused (its payment did not match it): the order is marked, and nothing is granted from
    // it afterwards — neither by its Checkout nor by its subscription's or invoices' events.
    let got = db
        .refuse_order(
            &event("evt_7", "checkout.session.completed"),
            &order,
            NotApplied::AmountMismatch,
            "paid 0.01 USD",
            NOW,
        )
        .await
        .expect("refuse");
    assert_eq!(got, Applied::Ignored(NotApplied::AmountMismatch));
    let refused = db
        .order_by_uuid(&order.uuid)
        .await
        .expect("q")
        .expect("order");
    assert_eq!(refused.refused_reason.as_deref(), Some("amount_mismatch"));
    let got = db
        .apply_subscription_change(
            Some(&event("evt_8", "checkout.session.async_payment_succeeded")),
            &checkout(&refused, "cus_w", "sub_w"),
            0,
            NOW,
        )
        .await
        .expect("checkout");
    assert_eq!(got, Applied::Ignored(NotApplied::RefusedOrder));
    let got = db
        .apply_subscription_change(
            Some(&event("evt_9", "customer.subscription.updated")),
            &stripe("sub_w", Some(&refused), active()),
            0,
            NOW,
        )
        .await
        .expect("event");
    assert_eq!(got, Applied::Ignored(NotApplied::RefusedOrder));
    let got = db
        .apply_subscription_change(
            Some(&event("evt_10", "invoice.paid")),
            &invoice("in_w", "sub_w", Some(&refused), true),
            0,
            NOW,
        )
        .await
        .expect("invoice");
    assert_eq!(got, Applied::Ignored(NotApplied::RefusedOrder));
    assert_eq!(
        outcome(db, "evt_10").await,
        ignored(NotApplied::RefusedOrder)
    );
    assert_eq!(
        db.current_subscription(order.user_id).await.expect("q"),
        None,
        "nothing granted"
    );
    assert!(db
        .payments_for_user(order.user_id, 10)
        .await
        .expect("q")
        .is_empty());

    // An ended subscription reported before its Checkout is recorded as ended, and the
    // Checkout that follows grants nothing and ends nothing else.
    let late = stripe_order(db, "late@example.com").await;
    let ended = GatewayFact::Reported {
        status: Some(SubscriptionStatus::Canceled),
        period_start: Some(NOW),
        period_end: Some(NOW + 30 * 86_400_000),
        cancel_at_period_end: false,
        at: NOW,
    };
    let got = db
        .apply_subscription_change(
            Some(&event("evt_11", "customer.subscription.deleted")),
            &stripe("sub_l", Some(&late), ended),
            0,
            NOW,
        )
        .await
        .expect("event");
    assert_eq!(got, Applied::Done { replaced: vec![] });
    let got = db
        .apply_subscription_change(
            Some(&event("evt_12", "checkout.session.completed")),
            &checkout(&late, "cus_l", "sub_l"),
            0,
            NOW,
        )
        .await
        .expect("checkout");
    assert_eq!(got, Applied::Done { replaced: vec![] });
    assert_eq!(
        db.current_subscription(late.user_id).await.expect("q"),
        None
    );
    assert_eq!(outcome(db, "evt_12").await, Some(("applied".into(), None)));
}

both_backends!(a_one_time_payment_buys_one_cycle_once);

/// Razorpay's and ePayco's way: each order paid once buys one more cycle of its plan.
async fn a_one_time_payment_buys_one_cycle_once(db: &Db) {
    let order = stripe_order(db, "once@example.com").await;
    let pay = |id: &'static str, fact: GatewayFact, succeeded: bool| SubscriptionChange {
        provider: "razorpay",
        order: Some(&order),
        subscription: None,
        customer: None,
        payment: Some(PaymentEntry {
            id,
            order_id: Some(order.id),
            amount_minor: 999,
            currency: "USD",
            succeeded,
            description: "plan",
        }),
        invoice: None,
        fact,
    };
    let paid = GatewayFact::CyclePaid {
        cycle: Cycle::Monthly,
    };
    // The buyer's browser confirms it first; the webhook for the same payment is a duplicate.
    let got = db
        .apply_subscription_change(None, &pay("pay_1", paid, true), 0, NOW)
        .await
        .expect("pay");
    assert_eq!(got, Applied::Done { replaced: vec![] });
    let e = GatewayEvent {
        provider: "razorpay",
        id: "evt_r1",
        kind: "payment.captured",
    };
    let got = db
        .apply_subscription_change(Some(&e), &pay("pay_1", paid, true), 0, NOW)
        .await
        .expect("pay");
    assert_eq!(got, Applied::Duplicate);
    let sub = db
        .current_subscription(order.user_id)
        .await
        .expect("q")
        .expect("granted");
    assert_eq!(sub.current_period_end, Cycle::Monthly.period_end(NOW));
    let payments = db.payments_for_user(order.user_id, 10).await.expect("q");
    assert_eq!(payments.len(), 1, "stored once");
    assert_eq!(payments[0].subscription_id, Some(sub.id));
    assert_eq!(payments[0].order_id, Some(order.id));

    // A refusal reported afterwards is recorded, and the paid order stays paid.
    let e = GatewayEvent {
        provider: "razorpay",
        id: "evt_r2",
        kind: "payment.failed",
    };
    let got = db
        .apply_subscription_change(
            Some(&e),
            &pay("pay_2:failed", GatewayFact::PaymentFailed, false),
            0,
            NOW,
        )
        .await
        .expect("fail");
    assert_eq!(got, Applied::Done { replaced: vec![] });
    let after = db
        .order_by_uuid(&order.uuid)
        .await
        .expect("q")
        .expect("order");
    assert_eq!(after.status, "paid");
    let payments = db.payments_for_user(order.user_id, 10).await.expect("q");
    assert_eq!(payments.len(), 2);
    assert_eq!(
        (payments[0].status.as_str(), payments[0].subscription_id),
        ("failed", None)
    );

    // Another payment renews it: the days left are kept.
    let got = db
        .apply_subscription_change(None, &pay("pay_3", paid, true), 0, NOW)
        .await
        .expect("renew");
    assert_eq!(got, Applied::Done { replaced: vec![] });
    let renewed = db
        .current_subscription(order.user_id)
        .await
        .expect("q")
        .expect("sub");
    assert_eq!(renewed.id, sub.id);
    assert_eq!(
        renewed.current_period_end,
        Cycle::Monthly.period_end(Cycle::Monthly.period_end(NOW))
    );
}
