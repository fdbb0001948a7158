//! Provider identities (link, find, unlink but never the last way in), pending provider logins
//! (taken once, expiry told apart from unknown), and the single-use hand-off codes.

use ferrocast_db::identities::{NewIdentity, NewPendingLogin, NewProviderUser, Taken};
use ferrocast_db::{Db, DbError};

use crate::support::{both_backends, user, uuid, HOUR, MINUTE, NOW};

both_backends!(
    identities_link_once_and_are_found,
    provider_users_have_no_password_and_their_identity,
    the_last_way_in_cannot_be_unlinked,
    pending_logins_are_taken_once_and_expire,
    handoff_codes_are_single_use_and_short_lived,
);

fn google<'a>(sub: &'a str, email: Option<&'a str>) -> NewIdentity<'a> {
    NewIdentity {
        provider: "google",
        subject: sub,
        email,
        email_verified: true,
    }
}

async fn identities_link_once_and_are_found(db: &Db) {
    let a = user(db, "a@example.com").await;
    let b = user(db, "b@example.com").await;
    let id = db
        .link_identity(a.id, &google("g-1", Some("a@gmail.com")), NOW)
        .await
        .expect("link");
    assert_eq!(
        (id.user_id, id.provider.as_str(), id.subject.as_str()),
        (a.id, "google", "g-1")
    );
    assert_eq!(id.email.as_deref(), Some("a@gmail.com"));
    assert!(id.email_verified);
    assert_eq!(id.last_login_at, Some(NOW));
    // The same provider account cannot be linked twice, to anyone.
    for who in [a.id, b.id] {
        assert!(matches!(
            db.link_identity(who, &google("g-1", None), NOW).await,
            Err(DbError::Conflict)
        ));
    }
    // The same subject at another provider is another identity.
    let t = NewIdentity {
        provider: "twitch",
        subject: "g-1",
        email: None,
        email_verified: false,
    };
    db.link_identity(a.id, &t, NOW + 1).await.expect("twitch");
    assert_eq!(db.identities_of(a.id).await.expect("list").len(), 2);
    assert!(db.identities_of(b.id).await.expect("list").is_empty());
    assert_eq!(
        db.identity("google", "g-1")
            .await
            .expect("q")
            .map(|i| i.user_id),
        Some(a.id)
    );
    assert!(db.identity("google", "g-2").await.expect("q").is_none());
    db.touch_identity(id.id, Some("new@gmail.com"), false, NOW + 5)
        .await
        .expect("touch");
    let again = db
        .identity("google", "g-1")
        .await
        .expect("q")
        .expect("there");
    assert_eq!(
        (
            again.email.as_deref(),
            again.email_verified,
            again.last_login_at
        ),
        (Some("new@gmail.com"), false, Some(NOW + 5))
    );
}

async fn provider_users_have_no_password_and_their_identity(db: &Db) {
    let u = db
        .create_user_with_identity(
            &NewProviderUser {
                uuid: &uuid(),
                email: "p@example.com",
                display_name: "P",
                role: "creator",
                email_verified: true,
            },
            &google("g-p", Some("p@example.com")),
            NOW,
        )
        .await
        .expect("created");
    assert!(u.password_hash.is_none());
    assert!(u.email_verified);
    assert_eq!(db.identities_of(u.id).await.expect("list").len(), 1);
    // A taken email or a linked identity fails it whole: no user without its identity.
    let taken = db
        .create_user_with_identity(
            &NewProviderUser {
                uuid: &uuid(),
                email: "p@example.com",
                display_name: "Q",
                role: "creator",
                email_verified: true,
            },
            &google("g-q", None),
            NOW,
        )
        .await;
    assert!(matches!(taken, Err(DbError::Conflict)), "{taken:?}");
    assert!(db.identity("google", "g-q").await.expect("q").is_none());
    let linked = db
        .create_user_with_identity(
            &NewProviderUser {
                uuid: &uuid(),
                email: "r@example.com",
                display_name: "R",
                role: "creator",
                email_verified: true,
            },
            &google("g-p", None),
            NOW,
        )
        .await;
    assert!(matches!(linked, Err(DbError::Conflict)), "{linked:?}");
    assert!(db
        .user_by_email("r@example.com")
        .await
        .expect("q")
        .is_none());
}

async fn the_last_way_in_cannot_be_unlinked(db: &Db) {
    let u = db
        .create_user_with_identity(
            &NewProviderUser {
                uuid: &uuid(),
                email: "l@example.com",
                display_name: "L",
                role: "creator",
                email_verified: true,
            },
            &google("g-l", None),
            NOW,
        )
        .await
        .expect("created");
    let g = db
        .identity("google", "g-l")
        .await
        .expect("q")
        .expect("there");
    assert_eq!(
        db.unlink_identity(u.id, g.id, NOW).await.expect("q"),
        Some(false),
        "no password, no other identity"
    );
    let t = db
        .link_identity(
            u.id,
            &NewIdentity {
                provider: "twitch",
                subject: "t-l",
                email: None,
                email_verified: false,
            },
            NOW,
        )
        .await
        .expect("link");
    assert_eq!(
        db.unlink_identity(u.id, g.id, NOW).await.expect("q"),
        Some(true)
    );
    assert_eq!(
        db.unlink_identity(u.id, t.id, NOW).await.expect("q"),
        Some(false),
        "now twitch is the last"
    );
    // Someone else's identity, or an unknown one, is not theirs to unlink.
    let other = user(db, "o@example.com").await;
    assert_eq!(
        db.unlink_identity(other.id, t.id, NOW).await.expect("q"),
        None
    );
    assert_eq!(
        db.unlink_identity(u.id, 999_999, NOW).await.expect("q"),
        None
    );
    // With a password every identity can go.
    db.set_password_hash(u.id, "$argon2id$h", NOW)
        .await
        .expect("password");
    assert_eq!(
        db.unlink_identity(u.id, t.id, NOW).await.expect("q"),
        Some(true)
    );
    assert!(db.identities_of(u.id).await.expect("list").is_empty());
}

fn pending<'a>(state_hash: &'a str, expires_at: i64) -> NewPendingLogin<'a> {
    NewPendingLogin {
        state_hash,
        provider: "google",
        purpose: "login",
        user_id: None,
        source_id: None,
        verifier_sealed: "sealed",
        nonce_hash: "nh",
        binding_hash: "bh",
        return_to: "/dashboard",
        expires_at,
    }
}

async fn pending_logins_are_taken_once_and_expire(db: &Db) {
    db.create_pending_login(&pending("s1", NOW + 10 * MINUTE), NOW)
        .await
        .expect("store");
    db.create_pending_login(&pending("s2", NOW + 10 * MINUTE), NOW)
        .await
        .expect("store");
    assert!(matches!(
        db.create_pending_login(&pending("s1", NOW), NOW).await,
        Err(DbError::Conflict)
    ));
    // Another provider's callback cannot take it.
    assert_eq!(
        db.take_pending_login("twitch", "s1", NOW + 1)
            .await
            .expect("q"),
        Taken::Unknown
    );
    let Taken::Fresh(l) = db
        .take_pending_login("google", "s1", NOW + 1)
        .await
        .expect("q")
    else {
        panic!("fresh")
    };
    assert_eq!(
        (
            l.purpose.as_str(),
            l.verifier_sealed.as_str(),
            l.nonce_hash.as_str(),
            l.binding_hash.as_str(),
            l.return_to.as_str()
        ),
        ("login", "sealed", "nh", "bh", "/dashboard")
    );
    assert_eq!(
        db.take_pending_login("google", "s1", NOW + 2)
            .await
            .expect("q"),
        Taken::Unknown,
        "once"
    );
    // Past its expiry it is told apart from unknown, and spent all the same.
    assert_eq!(
        db.take_pending_login("google", "s2", NOW + 10 * MINUTE)
            .await
            .expect("q"),
        Taken::Expired
    );
    assert_eq!(
        db.take_pending_login("google", "s2", NOW + 10 * MINUTE)
            .await
            .expect("q"),
        Taken::Unknown
    );
    // Rows long past expiry are cleaned when another is stored.
    db.create_pending_login(&pending("s3", NOW + 10 * MINUTE), NOW)
        .await
        .expect("store");
    db.create_pending_login(&pending("s4", NOW + 3 * HOUR), NOW + 2 * HOUR)
        .await
        .expect("store");
    assert_eq!(
        db.take_pending_login("google", "s3", NOW + 2 * HOUR)
            .await
            .expect("q"),
        Taken::Unknown,
        "deleted"
    );
}

async fn handoff_codes_are_single_use_and_short_lived(db: &Db) {
    let u = user(db, "h@example.com").await;
    db.create_handoff("c1", "b1", u.id, NOW + MINUTE, NOW)
        .await
        .expect("store");
    db.create_handoff("c2", "b2", u.id, NOW + MINUTE, NOW)
        .await
        .expect("store");
    assert_eq!(
        db.take_handoff("c1", "b2", NOW + 1).await.expect("q"),
        None,
        "only with its browser's binding"
    );
    assert_eq!(
        db.take_handoff("c1", "b1", NOW + 1).await.expect("q"),
        Some(u.id),
        "another browser's try did not spend it"
    );
    assert_eq!(
        db.take_handoff("c1", "b1", NOW + 2).await.expect("q"),
        None,
        "once"
    );
    assert_eq!(
        db.take_handoff("c2", "b2", NOW + MINUTE).await.expect("q"),
        None,
        "expired"
    );
    assert_eq!(db.take_handoff("nope", "b1", NOW).await.expect("q"), None);
}
