//! What administrators do to accounts: change a user's role, suspend and reactivate them. Each
//! is recorded as the administrator's action; an administrator cannot do either to themselves
//! (a site would otherwise be left without one by a slip).

use super::streams::{Streams, SUSPENDED_REASON};
use ferrocast_db::accounts::UserRecord;
use ferrocast_db::{Db, DbError};
use ferrocast_domain::account::Role;

/// Why an administrator's change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The administrator tried it on their own account; the text says what.
    #[error("{0}")]
    OwnAccount(&'static str),
}

/// Records an administrator's action; a record that cannot be written is logged (the action
/// is done, and it is the operator's to see).
async fn record(
    db: &Db,
    admin_id: i64,
    action: &str,
    target: i64,
    details: serde_json::Value,
    now: i64,
) {
    if let Err(e) = db
        .record_admin_action(admin_id, action, Some(target), &details.to_string(), now)
        .await
    {
        tracing::error!(error = %e, action, "cannot record an administrator's action");
    }
}

async fn reload(db: &Db, user: &UserRecord) -> Result<UserRecord, AdminError> {
    Ok(db
        .user_by_id(user.id)
        .await?
        .unwrap_or_else(|| user.clone()))
}

/// Gives `target` the role `role` (takes effect on their next request).
pub async fn change_role(
    db: &Db,
    admin_id: i64,
    target: &UserRecord,
    role: Role,
    now: i64,
) -> Result<UserRecord, AdminError> {
    if target.id == admin_id {
        return Err(AdminError::OwnAccount(
            "You cannot change your own role; another administrator can.",
        ));
    }
    if target.role != role.as_str() {
        db.set_role(target.id, role.as_str(), now).await?;
        record(
            db,
            admin_id,
            "role_changed",
            target.id,
            serde_json::json!({"from": target.role, "to": role.as_str()}),
            now,
        )
        .await;
        tracing::info!(
            admin = admin_id,
            user = target.id,
            role = role.as_str(),
            "role changed"
        );
    }
    reload(db, target).await
}

/// Suspends `target`: they cannot log in, their sessions end, their API keys and stream keys
/// are refused, and their live streams stop (on this node now; on the others at their next
/// check, within a minute).
pub async fn suspend(
    db: &Db,
    streams: &Streams,
    admin_id: i64,
    target: &UserRecord,
    now: i64,
) -> Result<UserRecord, AdminError> {
    if target.id == admin_id {
        return Err(AdminError::OwnAccount(
            "You cannot suspend your own account; another administrator can.",
        ));
    }
    if db.set_suspended(target.id, Some(now), now).await? {
        let sessions = db
            .revoke_all_sessions(target.id, None, "suspended", now)
            .await?;
        let stopped = match streams.stop_streams_of(target.id, SUSPENDED_REASON).await {
            Ok(n) => n,
            Err(e) => {
                // Their streams end at the next check of each (within a minute).
                tracing::error!(error = %e, user = target.id, "cannot list a suspended user's sources");
                0
            }
        };
        record(
            db,
            admin_id,
            "user_suspended",
            target.id,
            serde_json::json!({"sessions_ended": sessions, "streams_stopped": stopped}),
            now,
        )
        .await;
        tracing::info!(
            admin = admin_id,
            user = target.id,
            sessions,
            stopped,
            "user suspended"
        );
    }
    reload(db, target).await
}

/// Reactivates a suspended `target`: they may log in and stream again (their API keys work
/// again; their ended sessions stay ended).
pub async fn reactivate(
    db: &Db,
    admin_id: i64,
    target: &UserRecord,
    now: i64,
) -> Result<UserRecord, AdminError> {
    if target.id == admin_id {
        return Err(AdminError::OwnAccount(
            "You cannot reactivate your own account.",
        ));
    }
    if db.set_suspended(target.id, None, now).await? {
        record(
            db,
            admin_id,
            "user_reactivated",
            target.id,
            serde_json::json!({}),
            now,
        )
        .await;
        tracing::info!(admin = admin_id, user = target.id, "user reactivated");
    }
    reload(db, target).await
}
