//! Site administration: maintenance mode (the API closed to all but administrators, logging in
//! and the gateways' callbacks still open), registration opened and closed at run time, users
//! listed and searched.

use crate::support;

use serde_json::json;
use support::{call, register_user, Backend, TestApp};

async fn maintenance_registration_and_users(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let admin = register_user(&app, "admin@example.com", "Admin").await;
    let db = &app.running.as_ref().expect("running").state.db;
    let me = db
        .user_by_email("admin@example.com")
        .await
        .expect("q")
        .expect("user");
    db.set_role(me.id, "admin", 0).await.expect("role");
    let user = register_user(&app, "viewer@example.com", "Viewer Person").await;

    let (status, site) = call(&app, "GET", "/api/site", None, None).await;
    assert_eq!(
        (status, site["maintenance_mode"].clone()),
        (200, json!(false))
    );
    assert_eq!(
        call(
            &app,
            "PUT",
            "/api/admin/settings",
            Some(&user),
            Some(json!({"maintenance_mode": true}))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call(
            &app,
            "PUT",
            "/api/admin/settings",
            Some(&admin),
            Some(json!({"maintenance_mode": "yes"}))
        )
        .await
        .0,
        422
    );

    // Maintenance: others are held out with the message; administrators are not.
    let (status, s) = call(
        &app,
        "PUT",
        "/api/admin/settings",
        Some(&admin),
        Some(json!({"maintenance_mode": true, "maintenance_message": "Back at 10:00 UTC."})),
    )
    .await;
    assert_eq!(
        (status, s["maintenance_mode"].clone()),
        (200, json!(true)),
        "{s}"
    );
    let (status, e) = call(&app, "GET", "/api/sources", Some(&user), None).await;
    assert_eq!(status, 503, "{e}");
    assert_eq!(
        (e["code"].as_str(), e["details"].as_str()),
        (Some("MAINTENANCE"), Some("Back at 10:00 UTC."))
    );
    assert_eq!(call(&app, "GET", "/api/sources", None, None).await.0, 503);
    assert_eq!(
        call(&app, "GET", "/api/sources", Some(&admin), None)
            .await
            .0,
        200
    );
    assert_eq!(
        call(&app, "GET", "/api/site", None, None).await.1["maintenance_mode"],
        true
    );
    let (status, _) = call(
        &app,
        "POST",
        "/api/auth/login",
        None,
        Some(json!({"email": "admin@example.com", "password": "password123"})),
    )
    .await;
    assert_eq!(status, 200, "administrators can still log in");
    let (status, e) = call(
        &app,
        "POST",
        "/api/payments/stripe/webhook",
        None,
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (status, e["code"].as_str()),
        (503, Some("GATEWAY_DISABLED")),
        "gateways' callbacks pass the gate"
    );
    call(
        &app,
        "PUT",
        "/api/admin/settings",
        Some(&admin),
        Some(json!({"maintenance_mode": false})),
    )
    .await;
    assert_eq!(
        call(&app, "GET", "/api/sources", Some(&user), None).await.0,
        200
    );

    // Registration closed and opened again, at run time.
    call(
        &app,
        "PUT",
        "/api/admin/settings",
        Some(&admin),
        Some(json!({"registration_open": false})),
    )
    .await;
    let (status, e) = call(
        &app,
        "POST",
        "/api/auth/register",
        None,
        Some(
            json!({"email": "late@example.com", "password": "password123", "display_name": "Late"}),
        ),
    )
    .await;
    assert_eq!(status, 403, "{e}");
    assert_eq!(
        call(&app, "GET", "/api/site", None, None).await.1["registration_open"],
        false
    );
    call(
        &app,
        "PUT",
        "/api/admin/settings",
        Some(&admin),
        Some(json!({"registration_open": true})),
    )
    .await;
    assert_eq!(call(&app, "POST", "/api/auth/register", None, Some(json!({"email": "late@example.com", "password": "password123", "display_name": "Late"}))).await.0, 201);

    // Users: pages and search.
    let (status, page) = call(
        &app,
        "GET",
        "/api/admin/users?per_page=2",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 3);
    assert_eq!(
        page["users"][0]["email"], "late@example.com",
        "newest first"
    );
    assert_eq!(page["users"].as_array().map(Vec::len), Some(2));
    let (_, found) = call(&app, "GET", "/api/admin/users?q=PERSON", Some(&admin), None).await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["users"][0]["email"], "viewer@example.com");
    let (_, none) = call(&app, "GET", "/api/admin/users?q=%25", Some(&admin), None).await;
    assert_eq!(
        none["total"], 0,
        "a % is searched for, not a wildcard: {none}"
    );
    assert_eq!(
        call(&app, "GET", "/api/admin/users", Some(&user), None)
            .await
            .0,
        403
    );
    app.finish().await;
}

both_backends!(maintenance_registration_and_users);
