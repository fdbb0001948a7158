//! What administrators read and do: the site's figures, daily series split at midnight UTC,
//! each user's current plan, every source with its counts, and a plan changed and canceled by
//! hand (through the domain's transition) with each action recorded.

use ferrocast_db::admin::DAY_MS;
use ferrocast_db::billing::{ManualAction, ManualOutcome};
use ferrocast_db::Db;
use ferrocast_domain::billing::Cycle;

use crate::support::{both_backends, source, user, uuid, DAY, HOUR, MINUTE, NOW};

both_backends!(
    figures_and_daily_series,
    plans_changed_and_canceled_by_hand,
    every_source_with_its_owner_and_counts,
);

async fn figures_and_daily_series(db: &Db) {
    assert_eq!(DAY_MS, DAY);
    let u = user(db, "live@example.com").await;
    let s = source(db, u.id, "cam").await;
    let today = NOW - NOW.rem_euclid(DAY);
    // Across last midnight: an hour on each side. Then one live since NOW.
    let a = db
        .open_stream_session(&uuid(), u.id, s.id, today - HOUR)
        .await
        .expect("open");
    db.close_stream_session(a, today + HOUR, "done", 0, 0)
        .await
        .expect("close");
    let b = db
        .open_stream_session(&uuid(), u.id, s.id, NOW)
        .await
        .expect("open");
    assert!(db
        .touch_stream_session(b, NOW + MINUTE, 0, 0)
        .await
        .expect("touch"));

    let f = db.site_figures(NOW + 2 * MINUTE).await.expect("figures");
    assert_eq!(
        (
            f.total_users,
            f.active_users_today,
            f.total_streams,
            f.active_streams,
            f.total_subscriptions,
            f.active_subscriptions,
            f.streamed_ms_today
        ),
        (1, 1, 2, 1, 0, 0, HOUR + MINUTE)
    );

    let first = today / DAY - 2;
    let d = db.daily_series(first, 3).await.expect("series");
    assert_eq!(d.new_users, vec![0, 0, 1]);
    assert_eq!(d.users_before, 0);
    assert_eq!(d.streams, vec![0, 1, 1]);
    assert_eq!(
        d.streamed_ms,
        vec![0, HOUR, HOUR + MINUTE],
        "a session across midnight counts on both days; an empty day is 0"
    );
    assert!(d.revenue.is_empty());
    // Out of range, nothing.
    let later = db.daily_series(today / DAY + 1, 2).await.expect("series");
    assert_eq!(
        (later.new_users, later.users_before, later.streamed_ms),
        (vec![0, 0], 1, vec![0, 0])
    );
}

async fn plans_changed_and_canceled_by_hand(db: &Db) {
    let admin = user(db, "admin@example.com").await;
    let u = user(db, "member@example.com").await;
    let plans = db.list_plans().await.expect("plans");
    let id_of = |n: &str| plans.iter().find(|p| p.spec.name == n).expect("plan").id;
    assert_eq!(
        db.manual_subscription_change(u.id, ManualAction::Cancel, admin.id, "{}", NOW)
            .await
            .expect("cancel"),
        ManualOutcome::NothingToCancel
    );
    let ManualOutcome::Done {
        subscription: pro,
        ended_at_gateway,
    } = db
        .manual_subscription_change(
            u.id,
            ManualAction::ChangePlan {
                plan_id: id_of("Pro"),
                cycle: Cycle::Monthly,
            },
            admin.id,
            r#"{"plan":"Pro"}"#,
            NOW,
        )
        .await
        .expect("grant")
    else {
        panic!("granted");
    };
    assert!(ended_at_gateway.is_empty());
    let current = db.current_plans(&[u.id, admin.id]).await.expect("plans");
    assert_eq!(current.len(), 1, "{current:?}");
    assert_eq!(
        (
            current[0].plan_name.as_str(),
            current[0].status.as_str(),
            current[0].subscription_uuid.as_str()
        ),
        ("Pro", "active", pro.as_str())
    );
    let (plan, sub) = db.user_plan(u.id).await.expect("plan");
    assert_eq!(plan.spec.name, "Pro");
    let sub = sub.expect("subscription");
    assert_eq!(
        (sub.current_period_start, sub.current_period_end),
        (NOW, Cycle::Monthly.period_end(NOW))
    );
    // Another plan replaces it.
    db.manual_subscription_change(
        u.id,
        ManualAction::ChangePlan {
            plan_id: id_of("Business"),
            cycle: Cycle::Yearly,
        },
        admin.id,
        "{}",
        NOW + MINUTE,
    )
    .await
    .expect("grant");
    let (rows, total) = db.list_subscriptions(10, 0).await.expect("subs");
    assert_eq!(total, 2);
    let first = rows.iter().find(|r| r.uuid == pro).expect("first");
    assert_eq!(first.status, "canceled");
    assert_eq!(
        db.user_plan(u.id).await.expect("plan").0.spec.name,
        "Business"
    );
    // Canceled: the default plan.
    assert!(matches!(
        db.manual_subscription_change(u.id, ManualAction::Cancel, admin.id, "{}", NOW + 2 * MINUTE)
            .await
            .expect("cancel"),
        ManualOutcome::Done { .. }
    ));
    assert_eq!(db.user_plan(u.id).await.expect("plan").1, None);
    let log = db.admin_actions(10).await.expect("log");
    let seen: Vec<(&str, Option<&str>)> = log
        .iter()
        .map(|a| (a.action.as_str(), a.target_email.as_deref()))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("subscription_canceled", Some("member@example.com")),
            ("subscription_plan_changed", Some("member@example.com")),
            ("subscription_plan_changed", Some("member@example.com")),
        ],
        "a refused cancel records nothing"
    );
    assert_eq!(log[2].details, r#"{"plan":"Pro"}"#);
    assert_eq!(log[0].admin_email.as_deref(), Some("admin@example.com"));
}

async fn every_source_with_its_owner_and_counts(db: &Db) {
    let a = user(db, "a@example.com").await;
    let b = user(db, "b@example.com").await;
    let sa = source(db, a.id, "one").await;
    let sb = source(db, b.id, "two").await;
    db.upsert_chat_connector(
        &ferrocast_db::connectors::NewConnector {
            source_id: sb.id,
            user_id: b.id,
            platform: "twitch",
            config: "{}",
            secrets_sealed: "",
        },
        &uuid(),
        NOW,
    )
    .await
    .expect("connector");
    let (rows, total) = db.admin_sources(10, 0).await.expect("sources");
    assert_eq!(total, 2);
    let seen: Vec<(i64, &str, i64, i64)> = rows
        .iter()
        .map(|r| {
            (
                r.source.id,
                r.owner_email.as_str(),
                r.destinations_count,
                r.chat_connectors_count,
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (sb.id, "b@example.com", 0, 1),
            (sa.id, "a@example.com", 0, 0)
        ],
        "newest first"
    );
    assert_eq!(db.count_chat_connectors(sb.id).await.expect("n"), 1);
    let (page, _) = db.admin_sources(1, 1).await.expect("page");
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].source.id, sa.id);
}
