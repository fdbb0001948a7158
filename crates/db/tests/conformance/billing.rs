//! Gateway events that change nothing, at the database level: what is recorded as ignored and
//! why, that a redelivery is a duplicate, that a refused order grants nothing afterwards, and
//! which events wait for the gateway's retry (nothing recorded) rather than being ignored.

use ferrocast_db::accounts::NewUser;
use ferrocast_db::billing::{
    Applied, GatewayEvent, NewOrder, OrderRecord, StripeInvoice, StripeSubscriptionState,
};
use ferrocast_db::Db;
use ferrocast_domain::billing::{Cycle, NotApplied};

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

fn active(id: &str) -> StripeSubscriptionState<'_> {
    StripeSubscriptionState {
        id,
        status: Some("active"),
        period_start: Some(NOW),
        period_end: Some(NOW + 30 * 86_400_000),
        cancel_at_period_end: false,
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
        .stripe_subscription_event(
            &event("evt_2", "customer.subscription.updated"),
            &active("sub_ghost"),
            None,
            NOW,
            0,
            NOW,
        )
        .await
        .expect("event");
    assert_eq!(got, Applied::Ignored(NotApplied::UnknownSubscription));
    let inv = StripeInvoice {
        id: "in_ghost",
        subscription: "sub_ghost",
        amount_minor: 999,
        currency: "USD",
        period_end: None,
    };
    let got = db
        .stripe_invoice(&event("evt_3", "invoice.paid"), &inv, None, true, 0, NOW)
        .await
        .expect("invoice");
    assert_eq!(got, Applied::Ignored(NotApplied::UnknownSubscription));

    // An order of ours whose Checkout has not come yet: its subscription's events and paid
    // invoices wait (nothing recorded); a failed invoice is ignored.
    let order = stripe_order(db, "waiting@example.com").await;
    assert_eq!(order.refused_reason, None);
    let waiting = StripeInvoice {
        id: "in_w",
        subscription: "sub_w",
        ..inv.clone()
    };
    let got = db
        .stripe_subscription_event(
            &event("evt_4", "customer.subscription.created"),
            &active("sub_w"),
            Some(&order),
            NOW,
            0,
            NOW,
        )
        .await
        .expect("event");
    assert_eq!(got, Applied::Unknown);
    let got = db
        .stripe_invoice(
            &event("evt_5", "invoice.paid"),
            &waiting,
            Some(&order),
            true,
            0,
            NOW,
        )
        .await
        .expect("invoice");
    assert_eq!(got, Applied::Unknown);
    assert_eq!(outcome(db, "evt_4").await, None);
    assert_eq!(outcome(db, "evt_5").await, None);
    let got = db
        .stripe_invoice(
            &event("evt_6", "invoice.payment_failed"),
            &waiting,
            Some(&order),
            false,
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
        .stripe_checkout_completed(
            &event("evt_8", "checkout.session.async_payment_succeeded"),
            &refused,
            Some("cus_w"),
            Some("sub_w"),
            true,
            NOW,
        )
        .await
        .expect("checkout");
    assert_eq!(got, Applied::Ignored(NotApplied::RefusedOrder));
    let got = db
        .stripe_subscription_event(
            &event("evt_9", "customer.subscription.updated"),
            &active("sub_w"),
            Some(&refused),
            NOW,
            0,
            NOW,
        )
        .await
        .expect("event");
    assert_eq!(got, Applied::Ignored(NotApplied::RefusedOrder));
    let got = db
        .stripe_invoice(
            &event("evt_10", "invoice.paid"),
            &waiting,
            Some(&refused),
            true,
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
    let ended = StripeSubscriptionState {
        status: Some("canceled"),
        ..active("sub_l")
    };
    let got = db
        .stripe_subscription_event(
            &event("evt_11", "customer.subscription.deleted"),
            &ended,
            Some(&late),
            NOW,
            0,
            NOW,
        )
        .await
        .expect("event");
    assert_eq!(got, Applied::Done { replaced: vec![] });
    let got = db
        .stripe_checkout_completed(
            &event("evt_12", "checkout.session.completed"),
            &late,
            Some("cus_l"),
            Some("sub_l"),
            true,
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
