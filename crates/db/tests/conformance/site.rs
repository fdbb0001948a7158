//! Site-wide settings: stored, replaced, listed by key.

use ferrocast_db::Db;

use crate::support::{both_backends, user, NOW};

both_backends!(site_settings_are_upserted_and_listed_by_key);

async fn site_settings_are_upserted_and_listed_by_key(db: &Db) {
    assert!(db.site_settings().await.expect("q").is_empty());
    let admin = user(db, "admin@example.com").await;
    db.put_site_settings(
        &[
            ("registration_open", "false".to_string()),
            ("maintenance", "true".to_string()),
        ],
        admin.id,
        NOW,
    )
    .await
    .expect("put");
    db.put_site_settings(&[("maintenance", "false".to_string())], admin.id, NOW + 1)
        .await
        .expect("put");
    db.put_site_settings(&[], admin.id, NOW + 2)
        .await
        .expect("put nothing");
    assert_eq!(
        db.site_settings().await.expect("q"),
        vec![
            ("maintenance".to_string(), "false".to_string()),
            ("registration_open".to_string(), "false".to_string()),
        ]
    );
}
