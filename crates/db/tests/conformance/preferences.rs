//! Billing preferences: none until chosen, then the last choice, per user.

use ferrocast_db::Db;

use crate::support::{both_backends, user, NOW};

both_backends!(a_users_currency_is_none_until_chosen_then_the_last_choice);

async fn a_users_currency_is_none_until_chosen_then_the_last_choice(db: &Db) {
    let a = user(db, "a@example.com").await;
    let b = user(db, "b@example.com").await;
    assert_eq!(db.billing_currency(a.id).await.expect("q"), None);
    db.set_billing_currency(a.id, "INR", NOW)
        .await
        .expect("set");
    assert_eq!(
        db.billing_currency(a.id).await.expect("q").as_deref(),
        Some("INR")
    );
    assert_eq!(
        db.billing_currency(b.id).await.expect("q"),
        None,
        "per user"
    );
    db.set_billing_currency(a.id, "USD", NOW + 1)
        .await
        .expect("change");
    assert_eq!(
        db.billing_currency(a.id).await.expect("q").as_deref(),
        Some("USD")
    );
}
