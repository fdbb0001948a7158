//! Plans: the seeded catalogue, the default plan, syncing from a plans file, and the plan that
//! governs a user.

use ferrocast_db::Db;
use ferrocast_domain::media::Rung;
use ferrocast_domain::plans::PlanSpec;

use crate::support::{both_backends, user, NOW};

both_backends!(
    seeded_plans_and_the_default,
    sync_updates_inserts_and_retires,
);

async fn seeded_plans_and_the_default(db: &Db) {
    let plans = db.list_plans().await.expect("plans");
    assert_eq!(
        plans
            .iter()
            .map(|p| (p.spec.name.as_str(), p.spec.max_sources, p.sort_order))
            .collect::<Vec<_>>(),
        vec![("Free", 1, 1), ("Pro", 3, 2), ("Business", 10, 3)]
    );
    let pro = &plans[1];
    assert_eq!(
        pro.spec.features,
        vec!["priority_support".to_string(), "analytics".to_string()]
    );
    assert_eq!(
        (
            pro.spec.price_monthly_cents,
            pro.spec.price_yearly_cents,
            pro.spec.price_monthly_inr_paise,
            pro.spec.max_destinations,
            pro.spec.max_streaming_minutes_monthly
        ),
        (999, 9999, 79900, 10, 12000)
    );
    assert!(pro.is_active && !pro.spec.is_default);
    // Video allowances of the seeds (migration 0015).
    assert_eq!(
        plans
            .iter()
            .map(|p| (
                p.spec.max_storage_mb,
                p.spec.max_upload_mb,
                p.spec.recording_retention_days,
                p.spec.record_by_default
            ))
            .collect::<Vec<_>>(),
        vec![
            (2048, 2048, 7, true),
            (51_200, 10_240, 90, true),
            (512_000, 51_200, 0, true)
        ]
    );
    let free = db.default_plan().await.expect("default");
    assert_eq!(free.spec.name, "Free");
    assert!(free.spec.is_default);
    assert_eq!(db.plan_by_id(pro.id).await.expect("q"), Some(pro.clone()));

    // A user without a subscription is on the default plan.
    let u = user(db, "free@example.com").await;
    assert_eq!(db.current_subscription(u.id).await.expect("q"), None);
    let (plan, sub) = db.user_plan(u.id).await.expect("plan");
    assert_eq!((plan.id, sub), (free.id, None));
}

fn spec(name: &str, max_sources: i64, is_default: bool) -> PlanSpec {
    PlanSpec {
        name: name.into(),
        description: format!("{name} plan"),
        price_monthly_cents: 500,
        price_yearly_cents: 5000,
        price_monthly_inr_paise: 40000,
        price_yearly_inr_paise: 400000,
        max_sources,
        max_destinations: 4,
        max_streaming_minutes_monthly: 600,
        features: vec!["analytics".into()],
        is_default,
        max_storage_mb: 1000 + max_sources,
        max_upload_mb: 500,
        recording_retention_days: 30,
        record_by_default: !is_default,
        // Stored and read back (update and insert alike).
        transcode_ladder: if is_default {
            vec![]
        } else {
            vec![Rung::P720, Rung::P360]
        },
    }
}

async fn sync_updates_inserts_and_retires(db: &Db) {
    let before = db.list_plans().await.expect("plans");
    let business = before
        .iter()
        .find(|p| p.spec.name == "Business")
        .expect("Business")
        .clone();
    // Pro updated (and made the default), Starter new, Free and Business retired.
    db.sync_plans(&[spec("Starter", 2, false), spec("Pro", 5, true)], NOW)
        .await
        .expect("sync");
    let after = db.list_plans().await.expect("plans");
    assert_eq!(
        after
            .iter()
            .map(|p| (p.spec.clone(), p.sort_order, p.is_active))
            .collect::<Vec<_>>(),
        vec![
            (spec("Starter", 2, false), 1, true),
            (spec("Pro", 5, true), 2, true)
        ]
    );
    let pro_before = before.iter().find(|p| p.spec.name == "Pro").expect("Pro");
    assert_eq!(after[1].id, pro_before.id, "updated in place");
    assert_eq!(after[1].uuid, pro_before.uuid);
    assert_eq!(db.default_plan().await.expect("default").id, pro_before.id);
    // A retired plan is still there for those who have it.
    let retired = db
        .plan_by_id(business.id)
        .await
        .expect("q")
        .expect("retired");
    assert!(!retired.is_active);
    assert_eq!(retired.spec.name, "Business");

    // Syncing the same file again changes nothing.
    db.sync_plans(&[spec("Starter", 2, false), spec("Pro", 5, true)], NOW + 1)
        .await
        .expect("sync");
    assert_eq!(
        db.list_plans()
            .await
            .expect("plans")
            .iter()
            .map(|p| p.id)
            .collect::<Vec<_>>(),
        after.iter().map(|p| p.id).collect::<Vec<_>>()
    );
}
