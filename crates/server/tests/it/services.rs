//! The services on their own, over a real SQLite database, with time under the test's control:
//! a [`ManualClock`] for the wall clock the services read, and paused Tokio time for their
//! timers and rate limits. No HTTP, no Socket.IO.

use ferrocast_db::accounts::{NewUser, UserRecord};
use ferrocast_db::moderation::{Action, ChatSettingsRecord};
use ferrocast_db::sources::{NewSource, SourceRecord};
use ferrocast_db::Db;
use ferrocast_domain::account::{self, Guarded, Role};
use ferrocast_server::metrics::Metrics;
use ferrocast_server::service::accounts::{Accounts, AccountsError, Keys};
use ferrocast_server::service::chat::{Chat, Member, Post, PostError, CHAT_BURST};
use ferrocast_server::service::clock::{Clock, ManualClock};
use ferrocast_server::service::events::{Fanout, InProcess, RealtimeEvent};
use ferrocast_server::service::hashing::HashPool;
use ferrocast_server::service::site::Site;
use ferrocast_server::service::vault::Vault;
use std::sync::Arc;

const T0: i64 = 1_800_000_000_000;

/// A migrated SQLite database in a fresh directory.
async fn sqlite() -> (Db, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "ferrocast-services-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let db = Db::connect(&format!("sqlite://{}/t.db", dir.display()))
        .await
        .expect("sqlite");
    db.migrate().await.expect("migrate");
    (db, dir)
}

async fn user(db: &Db, email: &str, role: Role) -> UserRecord {
    let uuid = uuid::Uuid::new_v4().to_string();
    db.create_user(
        &NewUser {
            uuid: &uuid,
            email,
            password_hash: "x",
            display_name: email.split('@').next().expect("an email has a local part"),
            role: role.as_str(),
            email_verified: true,
        },
        T0,
    )
    .await
    .expect("user")
}

async fn source(db: &Db, owner: &UserRecord) -> SourceRecord {
    let uuid = uuid::Uuid::new_v4().to_string();
    db.create_source_limited(
        &NewSource {
            uuid: &uuid,
            user_id: owner.id,
            name: "show",
            description: None,
            stream_key_hash: &uuid,
            stream_key_sealed: "sealed",
            playback_id: &uuid[..16],
        },
        T0,
        10,
    )
    .await
    .expect("source")
    .expect("within the limit")
}

fn member(u: &UserRecord) -> Member<'_> {
    Member {
        id: u.id,
        uuid: &u.uuid,
        name: &u.display_name,
        role: Role::Viewer,
    }
}

/// Slow mode counts from the last message by the service's clock: the same viewer is refused
/// until the clock has moved on by the slow-mode interval, whatever the system time is.
#[tokio::test]
async fn slow_mode_is_measured_on_the_service_clock() {
    let (db, dir) = sqlite().await;
    let owner = user(&db, "owner@example.com", Role::Creator).await;
    let viewer = user(&db, "viewer@example.com", Role::Viewer).await;
    let src = source(&db, &owner).await;
    db.put_chat_settings(
        src.id,
        &ChatSettingsRecord {
            slow_mode_seconds: 30,
            blocked_words: "[]".into(),
            links_allowed: true,
        },
        &Action {
            source_id: Some(src.id),
            actor_id: owner.id,
            action: "settings",
            target_user_id: None,
            target_message_id: None,
            details: "{}",
        },
        T0,
    )
    .await
    .expect("settings");
    let clock = ManualClock::at(T0 + 1_000);
    let fanout: Arc<dyn Fanout> = Arc::new(InProcess::new("node".into()));
    let mut room = fanout.subscribe();
    let chat = Chat::new(db.clone(), fanout.clone(), clock.clone());
    let post = |text: &'static str| Post::Native {
        source: &src,
        member: member(&viewer),
        text,
    };

    let first = chat.post(post("hello")).await.expect("first message");
    assert_eq!(first.message_text, "hello");
    assert_eq!(first.author_name, "viewer");
    match room.recv().await.expect("fan-out").event {
        RealtimeEvent::ChatMessage(m) => assert_eq!(m.id, first.id),
        other => panic!("expected the message in the room, got {other:?}"),
    }

    clock.advance(29_000);
    let refused = chat.post(post("again")).await.expect_err("slow mode");
    assert!(
        matches!(refused, PostError::Refused(_)),
        "refused by the rule, got {refused:?}"
    );
    assert!(refused.to_string().contains("slow mode"), "{refused}");

    clock.advance(1_000);
    let second = chat.post(post("again")).await.expect("after the interval");
    assert!(second.id > first.id);
    // The owner is exempt from the rule.
    let own = Post::Native {
        source: &src,
        member: Member {
            role: Role::Creator,
            ..member(&owner)
        },
        text: "welcome",
    };
    chat.post(own).await.expect("the owner is exempt");
    db.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// The per-user chat rate is a burst of [`CHAT_BURST`] refilled over ten seconds of Tokio time:
/// with time paused, the next message waits exactly until time is advanced.
#[tokio::test]
async fn the_chat_rate_refills_with_tokio_time() {
    let (db, dir) = sqlite().await;
    let chat = Chat::new(
        db.clone(),
        Arc::new(InProcess::new("node".into())),
        ManualClock::at(T0),
    );
    tokio::time::pause();
    for _ in 0..CHAT_BURST {
        chat.admit(7).expect("within the burst");
    }
    match chat.admit(7) {
        Err(PostError::TooFast(wait)) => assert_eq!(wait, 1),
        other => panic!("over the burst, got {other:?}"),
    }
    chat.admit(8).expect("another user has their own burst");
    tokio::time::advance(std::time::Duration::from_millis(999)).await;
    assert!(chat.admit(7).is_err(), "not yet refilled");
    tokio::time::advance(std::time::Duration::from_millis(1)).await;
    chat.admit(7).expect("one message refilled after a second");
    assert!(chat.admit(7).is_err(), "and only one");
    tokio::time::resume();
    db.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// An account's lock after repeated wrong passwords lasts exactly its time on the service's
/// clock.
#[tokio::test]
async fn an_account_lock_expires_on_the_service_clock() {
    let (db, dir) = sqlite().await;
    let u = user(&db, "locked@example.com", Role::Viewer).await;
    let clock = ManualClock::at(T0);
    let master = [9u8; 32];
    let accounts = Accounts::new(
        db.clone(),
        Keys::derive(&master),
        Arc::new(Vault::new(ferrocast_auth::secretbox::SecretBox::new(
            &master,
        ))),
        Arc::new(ferrocast_server::mail::LogMailer),
        HashPool::start().expect("hashing threads"),
        clock.clone(),
        Arc::new(Metrics::new()),
        "http://127.0.0.1".into(),
    );
    for _ in 0..account::GUARD_MAX_FAILURES {
        accounts
            .guard_open(&u, Guarded::Password)
            .await
            .expect("open until the last failure");
        accounts
            .guard_failed(&u, Guarded::Password)
            .await
            .expect("failure recorded");
    }
    match accounts.guard_open(&u, Guarded::Password).await {
        Err(AccountsError::Locked { wait_ms, .. }) => assert_eq!(wait_ms, account::GUARD_LOCK_MS),
        other => panic!("locked, got {other:?}"),
    }
    clock.advance(account::GUARD_LOCK_MS - 1);
    match accounts.guard_open(&u, Guarded::Password).await {
        Err(AccountsError::Locked { wait_ms, .. }) => assert_eq!(wait_ms, 1),
        other => panic!("still locked, got {other:?}"),
    }
    clock.advance(1);
    accounts
        .guard_open(&u, Guarded::Password)
        .await
        .expect("the lock has expired");
    db.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// Site settings are read through a two-second cache on the service's clock.
#[tokio::test]
async fn site_settings_are_cached_for_two_seconds_of_the_clock() {
    let (db, dir) = sqlite().await;
    let admin = user(&db, "admin@example.com", Role::Admin).await;
    let clock = ManualClock::at(T0);
    let site = Site::new(db.clone(), clock.clone(), true);
    assert!(!site.settings().await.maintenance_mode);
    db.put_site_settings(
        &[("maintenance_mode", "true".to_string())],
        admin.id,
        clock.now_ms(),
    )
    .await
    .expect("settings");
    clock.advance(1_999);
    assert!(
        !site.settings().await.maintenance_mode,
        "still the cached copy"
    );
    clock.advance(1);
    assert!(
        site.settings().await.maintenance_mode,
        "read again after 2 s"
    );
    db.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// Billing on its own, on the service's clock: a purchase checked, a one-time payment applied
/// once whichever confirmation comes first, a subscription event that overtook its Checkout
/// deferred (nothing recorded), and a payment that does not match its order refused and
/// counted.
#[tokio::test]
async fn billing_applies_each_payment_once_and_defers_what_overtook_its_checkout() {
    use ferrocast_db::billing::{GatewayEvent, SubscriptionChange};
    use ferrocast_domain::billing::{Cycle, GatewayFact, NotApplied, SubscriptionStatus};
    use ferrocast_server::service::billing::{Billing, BillingError, Purchase};

    let (db, dir) = sqlite().await;
    let buyer = user(&db, "buyer@example.com", Role::Creator).await;
    let pro = db
        .list_plans()
        .await
        .expect("plans")
        .into_iter()
        .find(|p| p.spec.name == "Pro")
        .expect("Pro");
    let clock = ManualClock::at(T0);
    let metrics = Arc::new(Metrics::new());
    let billing = Billing::new(
        db.clone(),
        clock.clone(),
        metrics.clone(),
        Arc::new(ferrocast_server::mail::LogMailer),
        7,
    );
    let weekly = Purchase {
        plan_id: pro.id,
        billing_cycle: "weekly",
        currency: None,
    };
    assert!(matches!(
        billing
            .new_order(buyer.id, &weekly, "razorpay", "INR")
            .await,
        Err(BillingError::Invalid(_))
    ));
    let monthly = Purchase {
        billing_cycle: "monthly",
        ..weekly
    };
    let (order, plan) = billing
        .new_order(buyer.id, &monthly, "razorpay", "INR")
        .await
        .expect("order");
    assert_eq!((plan.as_str(), order.currency.as_str()), ("Pro", "INR"));
    assert_eq!(order.created_at, T0, "the service's clock");

    // The browser's confirmation, then the webhook for the same payment.
    clock.advance(60_000);
    let first = billing.pay_order(None, &order, "pay_1").await.expect("pay");
    assert!(first.applied);
    let webhook = GatewayEvent {
        provider: "razorpay",
        id: "evt_1",
        kind: "payment.captured",
    };
    let again = billing
        .pay_order(Some(&webhook), &order, "pay_1")
        .await
        .expect("pay");
    assert!(!again.applied, "applied once");
    let sub = db
        .current_subscription(buyer.id)
        .await
        .expect("q")
        .expect("granted");
    assert_eq!(sub.status, SubscriptionStatus::Active.as_str());
    assert_eq!(
        sub.current_period_end,
        Cycle::Monthly.period_end(T0 + 60_000)
    );

    // A Stripe subscription whose Checkout has not been applied yet: deferred.
    let (stripe_order, _) = billing
        .new_order(buyer.id, &monthly, "stripe", "USD")
        .await
        .expect("order");
    let created = GatewayEvent {
        provider: "stripe",
        id: "evt_2",
        kind: "customer.subscription.created",
    };
    let change = SubscriptionChange {
        provider: "stripe",
        order: Some(&stripe_order),
        subscription: Some("sub_1"),
        customer: None,
        payment: None,
        invoice: None,
        fact: GatewayFact::Reported {
            status: Some(SubscriptionStatus::Active),
            period_start: None,
            period_end: None,
            cancel_at_period_end: false,
            at: T0,
        },
    };
    assert!(matches!(
        billing.apply(Some(&created), &change).await,
        Err(BillingError::NotYetKnown)
    ));
    assert_eq!(db.gateway_event("stripe", "evt_2").await.expect("q"), None);

    // Its Checkout paid too little: refused, counted, and nothing granted from it.
    let checkout = GatewayEvent {
        provider: "stripe",
        id: "evt_3",
        kind: "checkout.session.completed",
    };
    let refused = billing
        .refuse(
            &checkout,
            &stripe_order,
            NotApplied::AmountMismatch,
            "0.01",
            "USD",
        )
        .await
        .expect("refuse");
    assert!(!refused.applied);
    let rendered = metrics.render();
    assert!(rendered.contains("ferrocast_webhook_events_deferred_total{gateway=\"stripe\"} 1"));
    assert!(rendered.contains(
        "ferrocast_webhook_events_ignored_total{gateway=\"stripe\",reason=\"amount_mismatch\"} 1"
    ));
    db.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// Sign-in's provider keys on the service clock: cached for an hour, fetched again after it;
/// an unknown `kid` fetches them again at once, then not again within 30 s; a pending login
/// past its 10 minutes is refused as expired. Against the local OpenID stand-in, whose clock
/// moves with the service's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_keys_and_pending_logins_follow_the_service_clock() {
    use crate::support::oidc::{self, Account, Fault};
    use ferrocast_server::service::identity::{
        CallbackParams, Completed, Identity, IdentityError, Provider, Purpose, SiteState,
    };
    let google = oidc::start(
        "google",
        Account {
            sub: "g-clock".into(),
            email: Some("clock@example.com".into()),
            email_verified: true,
            name: "Clock".into(),
            login: "clock".into(),
        },
    )
    .await;
    let config = ferrocast_config::Config::load(&ferrocast_config::Sources {
        config_file: None,
        working_dir: None,
        env: Default::default(),
        flags: google
            .settings()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    })
    .expect("config");
    let (db, dir) = sqlite().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_millis() as i64;
    let clock = ManualClock::at(now);
    let identity = Identity::new(
        db,
        Arc::new(Vault::new(ferrocast_auth::secretbox::SecretBox::new(
            &[9; 32],
        ))),
        reqwest::Client::new(),
        clock.clone(),
        config.identity,
        "http://127.0.0.1:9".into(),
    );
    let advance = |ms: i64| {
        clock.advance(ms);
        *google.provider.clock_offset.lock().expect("lock") += ms / 1000;
    };
    // A whole sign-in through the service: start, consent, callback with the browser's cookie.
    let sign_in = |delay_ms: i64| {
        let (identity, google) = (&identity, &google);
        let advance = &advance;
        async move {
            let started = identity
                .start(
                    Provider::Google,
                    Purpose::Login {
                        return_to: "/".into(),
                    },
                )
                .await
                .expect("start");
            let back = google.approve(&started.authorize_url).await;
            advance(delay_ms);
            let q = crate::support::form_decode(back.split_once('?').expect("query").1);
            identity
                .callback(
                    Provider::Google,
                    CallbackParams {
                        code: q.get("code").cloned(),
                        state: q.get("state").cloned(),
                        error: None,
                    },
                    Some(&started.binding),
                    SiteState {
                        registration_open: true,
                        maintenance: false,
                    },
                )
                .await
                .map_err(|(e, _)| e)
        }
    };
    let fetches = || google.provider.jwks_fetches();
    assert!(matches!(sign_in(0).await, Ok(Completed::SignedIn { .. })));
    assert_eq!(fetches(), 1);
    advance(59 * 60_000);
    assert!(sign_in(0).await.is_ok());
    assert_eq!(fetches(), 1, "cached within the hour");
    advance(2 * 60_000);
    assert!(sign_in(0).await.is_ok());
    assert_eq!(fetches(), 2, "fetched again after the hour");
    google.provider.fault(Fault::UnknownKey);
    assert!(matches!(
        sign_in(0).await,
        Err(IdentityError::IdToken(
            ferrocast_auth::oidc::IdTokenError::UnknownKey
        ))
    ));
    assert_eq!(fetches(), 3, "an unknown kid fetches at once");
    google.provider.fault(Fault::UnknownKey);
    assert!(sign_in(0).await.is_err());
    assert_eq!(fetches(), 3, "not again within 30 s");
    advance(31_000);
    google.provider.fault(Fault::UnknownKey);
    assert!(sign_in(0).await.is_err());
    assert_eq!(fetches(), 4, "again after 30 s");
    // Ten minutes to come back, not more.
    assert!(sign_in(9 * 60_000).await.is_ok());
    assert!(matches!(
        sign_in(10 * 60_000 + 1).await,
        Err(IdentityError::Expired)
    ));
    let _ = std::fs::remove_dir_all(dir);
}
