//! Notifications: the in-app list with its read state, each user's preferences, Web Push
//! subscriptions, the outbox that push, email and digest deliveries are worked from, and the
//! deployment's VAPID key.
//!
//! A notice is idempotent by its `dedup_key`: a fan-out that is retried after a crash inserts
//! nothing twice, and its deliveries are unique per notice, way out and target. The outbox is
//! claimed like the job queue ([`crate::jobs`]): a node writes its id with a lease; a node that
//! dies stops renewing and another takes the delivery over once the lease has run out.

use crate::{map_unique, on_pool, Db, DbError};
use sqlx::Row;

/// A stored notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRecord {
    /// Integer id; ids grow with time.
    pub id: i64,
    /// Whom it is for.
    pub user_id: i64,
    /// `live`, `video`, `follower` or `reply`.
    pub kind: String,
    /// One line.
    pub title: String,
    /// A sentence or empty.
    pub body: String,
    /// Where it leads (root-relative).
    pub url: String,
    /// Who caused it (the channel, the new follower), if still there.
    pub actor_id: Option<i64>,
    /// What makes it unique.
    pub dedup_key: String,
    /// Creation (ms).
    pub created_at: i64,
    /// When its user read it (ms).
    pub read_at: Option<i64>,
}

/// A notification to insert.
#[derive(Debug, Clone)]
pub struct NewNotification<'a> {
    /// Whom it is for.
    pub user_id: i64,
    /// `live`, `video`, `follower` or `reply`.
    pub kind: &'a str,
    /// One line.
    pub title: &'a str,
    /// A sentence or empty.
    pub body: &'a str,
    /// Where it leads.
    pub url: &'a str,
    /// Who caused it.
    pub actor_id: Option<i64>,
    /// What makes it unique.
    pub dedup_key: &'a str,
    /// Now (ms).
    pub created_at: i64,
    /// Listed in the app (a notice sent only by email or push is kept for its deliveries).
    pub in_app: bool,
}

const N_COLUMNS: &str =
    "id, user_id, kind, title, body, url, actor_id, dedup_key, created_at, read_at";

macro_rules! notification_from_row {
    ($r:expr) => {{
        NotificationRecord {
            id: $r.try_get("id")?,
            user_id: $r.try_get("user_id")?,
            kind: $r.try_get("kind")?,
            title: $r.try_get("title")?,
            body: $r.try_get("body")?,
            url: $r.try_get("url")?,
            actor_id: $r.try_get("actor_id")?,
            dedup_key: $r.try_get("dedup_key")?,
            created_at: $r.try_get("created_at")?,
            read_at: $r.try_get("read_at")?,
        }
    }};
}

/// One preference row: how notices of `kind` (from `channel_id`, 0: every channel) reach a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreferenceRecord {
    /// `live`, `video`, `follower` or `reply`.
    pub kind: String,
    /// The channel it is about; 0: every channel.
    pub channel_id: i64,
    /// Shown in the app (and pushed over Socket.IO).
    pub in_app: bool,
    /// `off`, `instant` or `daily`.
    pub email: String,
    /// Sent by Web Push.
    pub push: bool,
}

/// A Web Push subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSubscriptionRecord {
    /// Integer id.
    pub id: i64,
    /// Its user.
    pub user_id: i64,
    /// The push service's URL for this browser.
    pub endpoint: String,
    /// The browser's P-256 public key (base64url, uncompressed point).
    pub p256dh: String,
    /// The browser's 16-byte authentication secret (base64url).
    pub auth: String,
    /// Creation (ms).
    pub created_at: i64,
}

/// One delivery in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// Integer id.
    pub id: i64,
    /// The notice.
    pub notification_id: i64,
    /// Its user.
    pub user_id: i64,
    /// `push`, `email` or `digest`.
    pub channel: String,
    /// The push subscription (0 for email and digest).
    pub target: i64,
    /// `queued`, `running`, `sent`, `failed` or `dropped`.
    pub state: String,
    /// Times it was claimed.
    pub attempts: i64,
    /// Not claimed before (ms).
    pub run_after: i64,
    /// The last failure.
    pub error: Option<String>,
}

const D_COLUMNS: &str =
    "id, notification_id, user_id, channel, target, state, attempts, run_after, error";

macro_rules! delivery_from_row {
    ($r:expr) => {{
        DeliveryRecord {
            id: $r.try_get("id")?,
            notification_id: $r.try_get("notification_id")?,
            user_id: $r.try_get("user_id")?,
            channel: $r.try_get("channel")?,
            target: $r.try_get("target")?,
            state: $r.try_get("state")?,
            attempts: $r.try_get("attempts")?,
            run_after: $r.try_get("run_after")?,
            error: $r.try_get("error")?,
        }
    }};
}

impl Db {
    /// Inserts a notice unless one with its `dedup_key` exists, or (with `quiet_since`) the user
    /// already has a notice of the same kind from the same actor created at or after that
    /// instant. `None` when nothing was inserted.
    pub async fn insert_notification(
        &self,
        n: &NewNotification<'_>,
        quiet_since: Option<i64>,
    ) -> Result<Option<NotificationRecord>, DbError> {
        // The window test and the insert are one statement, so two fan-outs racing cannot both
        // pass it for one user (SQLite runs one writer at a time; on PostgreSQL the unique key
        // still holds each fan-out to one notice per user).
        let sql = format!(
            "INSERT INTO notifications (user_id, kind, title, body, url, actor_id, dedup_key, created_at, in_app) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $10 WHERE NOT EXISTS (\
               SELECT 1 FROM notifications WHERE user_id = $1 AND kind = $2 AND actor_id = $6 AND created_at >= $9) \
             ON CONFLICT (dedup_key) DO NOTHING RETURNING {N_COLUMNS}"
        );
        let since = quiet_since.unwrap_or(i64::MAX);
        on_pool!(self, p => {
            let r = sqlx::query(&sql)
                .bind(n.user_id).bind(n.kind).bind(n.title).bind(n.body).bind(n.url)
                .bind(n.actor_id).bind(n.dedup_key).bind(n.created_at).bind(since).bind(n.in_app)
                .fetch_optional(p).await?;
            match r {
                Some(r) => Ok(Some(notification_from_row!(r))),
                None => Ok(None),
            }
        })
    }

    /// A user's notices with an id below `before` (all if `None`), newest first, at most `limit`.
    pub async fn notifications_page(
        &self,
        user_id: i64,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<NotificationRecord>, DbError> {
        let sql = format!(
            "SELECT {N_COLUMNS} FROM notifications WHERE user_id = $1 AND in_app AND id < $2 ORDER BY id DESC LIMIT $3"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql)
                .bind(user_id).bind(before.unwrap_or(i64::MAX)).bind(limit)
                .fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(notification_from_row!(r));
            }
            Ok(out)
        })
    }

    /// A notice by id.
    pub async fn notification_by_id(&self, id: i64) -> Result<Option<NotificationRecord>, DbError> {
        let sql = format!("SELECT {N_COLUMNS} FROM notifications WHERE id = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(id).fetch_optional(p).await? {
            Some(r) => Ok(Some(notification_from_row!(r))),
            None => Ok(None),
        })
    }

    /// A notice by its dedup key.
    pub async fn notification_by_dedup_key(
        &self,
        key: &str,
    ) -> Result<Option<NotificationRecord>, DbError> {
        let sql = format!("SELECT {N_COLUMNS} FROM notifications WHERE dedup_key = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(key).fetch_optional(p).await? {
            Some(r) => Ok(Some(notification_from_row!(r))),
            None => Ok(None),
        })
    }

    /// How many of a user's notices are unread.
    pub async fn unread_notifications(&self, user_id: i64) -> Result<i64, DbError> {
        Ok(on_pool!(self, p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND in_app AND read_at IS NULL",
        )
        .bind(user_id).fetch_one(p).await?))
    }

    /// Marks the user's notices `ids` read (others' are untouched); how many changed.
    pub async fn mark_notifications_read(
        &self,
        user_id: i64,
        ids: &[i64],
        now: i64,
    ) -> Result<u64, DbError> {
        let mut changed = 0;
        for chunk in ids.chunks(100) {
            let marks = (0..chunk.len())
                .map(|i| format!("${}", i + 3))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "UPDATE notifications SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL AND id IN ({marks})"
            );
            changed += on_pool!(self, p => {
                let mut q = sqlx::query(&sql).bind(user_id).bind(now);
                for id in chunk {
                    q = q.bind(*id);
                }
                q.execute(p).await?.rows_affected()
            });
        }
        Ok(changed)
    }

    /// Marks every notice of the user read; how many changed.
    pub async fn mark_all_notifications_read(
        &self,
        user_id: i64,
        now: i64,
    ) -> Result<u64, DbError> {
        Ok(on_pool!(self, p => sqlx::query(
            "UPDATE notifications SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL",
        )
        .bind(user_id).bind(now).execute(p).await?.rows_affected()))
    }

    /// The user's stored preferences (kinds and channels without a row take the defaults).
    pub async fn notification_preferences(
        &self,
        user_id: i64,
    ) -> Result<Vec<PreferenceRecord>, DbError> {
        let rows: Vec<(String, i64, bool, String, bool)> = on_pool!(self, p => sqlx::query_as(
            "SELECT kind, channel_id, in_app, email, push FROM notification_preferences \
             WHERE user_id = $1 ORDER BY kind, channel_id",
        )
        .bind(user_id).fetch_all(p).await?);
        Ok(rows
            .into_iter()
            .map(|(kind, channel_id, in_app, email, push)| PreferenceRecord {
                kind,
                channel_id,
                in_app,
                email,
                push,
            })
            .collect())
    }

    /// Replaces every preference of the user with `prefs`, in one transaction.
    pub async fn replace_notification_preferences(
        &self,
        user_id: i64,
        prefs: &[PreferenceRecord],
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("DELETE FROM notification_preferences WHERE user_id = $1")
                .bind(user_id).execute(&mut *tx).await?;
            for pr in prefs {
                sqlx::query(
                    "INSERT INTO notification_preferences (user_id, kind, channel_id, in_app, email, push, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(user_id).bind(&pr.kind).bind(pr.channel_id).bind(pr.in_app).bind(&pr.email)
                .bind(pr.push).bind(now)
                .execute(&mut *tx).await.map_err(map_unique)?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Sets how notices of `kind` (every channel) reach the user by email, keeping the rest of
    /// that row (or the defaults, `in_app` and `push` on, when there is none).
    pub async fn set_email_preference(
        &self,
        user_id: i64,
        kind: &str,
        email: &str,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query(
            "INSERT INTO notification_preferences (user_id, kind, channel_id, in_app, email, push, updated_at) \
             VALUES ($1, $2, 0, TRUE, $3, TRUE, $4) \
             ON CONFLICT (user_id, kind, channel_id) DO UPDATE SET email = excluded.email, updated_at = excluded.updated_at",
        )
        .bind(user_id).bind(kind).bind(email).bind(now)
        .execute(p).await.map(|_| ())?);
        Ok(())
    }

    /// Stores a push subscription for the user; an endpoint already stored (the browser
    /// subscribed again, or another user signed in on it) is taken over with its new keys.
    pub async fn upsert_push_subscription(
        &self,
        user_id: i64,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
        now: i64,
    ) -> Result<i64, DbError> {
        Ok(on_pool!(self, p => sqlx::query_scalar(
            "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id, p256dh = excluded.p256dh, \
             auth = excluded.auth, created_at = excluded.created_at RETURNING id",
        )
        .bind(user_id).bind(endpoint).bind(p256dh).bind(auth).bind(now)
        .fetch_one(p).await?))
    }

    /// How many push subscriptions the user has.
    pub async fn push_subscription_count(&self, user_id: i64) -> Result<i64, DbError> {
        Ok(on_pool!(self, p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM push_subscriptions WHERE user_id = $1",
        )
        .bind(user_id).fetch_one(p).await?))
    }

    /// Removes the user's subscription at `endpoint`; `true` if there was one.
    pub async fn delete_push_subscription(
        &self,
        user_id: i64,
        endpoint: &str,
    ) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query(
            "DELETE FROM push_subscriptions WHERE user_id = $1 AND endpoint = $2",
        )
        .bind(user_id).bind(endpoint).execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// Removes a subscription by id (the push service said it is gone).
    pub async fn delete_push_subscription_by_id(&self, id: i64) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query("DELETE FROM push_subscriptions WHERE id = $1")
            .bind(id).execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// The user's push subscriptions, oldest first.
    pub async fn push_subscriptions_of(
        &self,
        user_id: i64,
    ) -> Result<Vec<PushSubscriptionRecord>, DbError> {
        let rows: Vec<(i64, i64, String, String, String, i64)> = on_pool!(self, p => sqlx::query_as(
            "SELECT id, user_id, endpoint, p256dh, auth, created_at FROM push_subscriptions \
             WHERE user_id = $1 ORDER BY id",
        )
        .bind(user_id).fetch_all(p).await?);
        Ok(rows.into_iter().map(sub_from_tuple).collect())
    }

    /// A push subscription by id.
    pub async fn push_subscription_by_id(
        &self,
        id: i64,
    ) -> Result<Option<PushSubscriptionRecord>, DbError> {
        let row: Option<(i64, i64, String, String, String, i64)> = on_pool!(self, p => sqlx::query_as(
            "SELECT id, user_id, endpoint, p256dh, auth, created_at FROM push_subscriptions WHERE id = $1",
        )
        .bind(id).fetch_optional(p).await?);
        Ok(row.map(sub_from_tuple))
    }

    /// Records that a push to the subscription was accepted.
    pub async fn push_subscription_succeeded(&self, id: i64, now: i64) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query("UPDATE push_subscriptions SET last_success_at = $2 WHERE id = $1")
            .bind(id).bind(now).execute(p).await.map(|_| ())?);
        Ok(())
    }

    /// Queues a delivery of a notice (once per notice, channel and target: queuing it again is
    /// a no-op); `true` if it is new.
    pub async fn enqueue_delivery(
        &self,
        notification_id: i64,
        user_id: i64,
        channel: &str,
        target: i64,
        run_after: i64,
        now: i64,
    ) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query(
            "INSERT INTO notification_deliveries (notification_id, user_id, channel, target, run_after, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (notification_id, channel, target) DO NOTHING",
        )
        .bind(notification_id).bind(user_id).bind(channel).bind(target).bind(run_after).bind(now)
        .execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// Claims for `node` the oldest due delivery on one of `channels` (queued and due, or
    /// running with its lease run out), leased until `now + lease_ms`, one more attempt counted.
    pub async fn claim_delivery(
        &self,
        node: &str,
        channels: &[&str],
        lease_ms: i64,
        now: i64,
    ) -> Result<Option<DeliveryRecord>, DbError> {
        if channels.is_empty() {
            return Ok(None);
        }
        let marks = (0..channels.len())
            .map(|i| format!("${}", i + 4))
            .collect::<Vec<_>>()
            .join(", ");
        // As in `claim_job`: PostgreSQL needs SKIP LOCKED for concurrent claimers; SQLite runs
        // one writer at a time.
        let lock = match self {
            Db::Sqlite(_) => "",
            Db::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        let due =
            "((state = 'queued' AND run_after <= $3) OR (state = 'running' AND locked_until < $3))";
        let sql = format!(
            "UPDATE notification_deliveries SET state = 'running', attempts = attempts + 1, locked_by = $1, \
             locked_until = $2, updated_at = $3 \
             WHERE id = (SELECT id FROM notification_deliveries WHERE channel IN ({marks}) AND {due} \
             ORDER BY run_after, id LIMIT 1{lock}) AND {due} RETURNING {D_COLUMNS}"
        );
        let until = now.saturating_add(lease_ms.max(0));
        on_pool!(self, p => {
            let mut q = sqlx::query(&sql).bind(node).bind(until).bind(now);
            for c in channels {
                q = q.bind(*c);
            }
            match q.fetch_optional(p).await? {
                Some(r) => Ok(Some(delivery_from_row!(r))),
                None => Ok(None),
            }
        })
    }

    /// Claims for `node` every due digest line of one user (the user with the oldest due line),
    /// in one statement, so the user's lines go out in one mail whatever other workers do.
    /// Empty if no digest is due.
    pub async fn claim_digest(
        &self,
        node: &str,
        lease_ms: i64,
        now: i64,
    ) -> Result<Vec<DeliveryRecord>, DbError> {
        let lock = match self {
            Db::Sqlite(_) => "",
            Db::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        let due =
            "((state = 'queued' AND run_after <= $3) OR (state = 'running' AND locked_until < $3))";
        let sql = format!(
            "UPDATE notification_deliveries SET state = 'running', attempts = attempts + 1, locked_by = $1, \
             locked_until = $2, updated_at = $3 \
             WHERE channel = 'digest' AND {due} AND user_id = (SELECT user_id FROM notification_deliveries \
             WHERE channel = 'digest' AND {due} ORDER BY run_after, id LIMIT 1{lock}) RETURNING {D_COLUMNS}"
        );
        let until = now.saturating_add(lease_ms.max(0));
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(node).bind(until).bind(now).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(delivery_from_row!(r));
            }
            Ok(out)
        })
    }

    /// Ends `node`'s attempt at a delivery: `sent`, `dropped` or `failed` for good, or (with
    /// `retry_at`) queued again; `false` if `node` no longer holds it.
    pub async fn finish_delivery(
        &self,
        id: i64,
        node: &str,
        state: &str,
        error: Option<&str>,
        retry_at: Option<i64>,
        now: i64,
    ) -> Result<bool, DbError> {
        let n = match retry_at {
            Some(at) => on_pool!(self, p => sqlx::query(
                "UPDATE notification_deliveries SET state = 'queued', run_after = $3, locked_by = NULL, \
                 locked_until = NULL, error = $4, updated_at = $5 WHERE id = $1 AND locked_by = $2 AND state = 'running'",
            )
            .bind(id).bind(node).bind(at).bind(error).bind(now)
            .execute(p).await?.rows_affected()),
            None => on_pool!(self, p => sqlx::query(
                "UPDATE notification_deliveries SET state = $3, locked_until = NULL, error = $4, updated_at = $5 \
                 WHERE id = $1 AND locked_by = $2 AND state = 'running'",
            )
            .bind(id).bind(node).bind(state).bind(error).bind(now)
            .execute(p).await?.rows_affected()),
        };
        Ok(n > 0)
    }

    /// Every delivery of a user, oldest first (for tests and support).
    pub async fn deliveries_of_user(&self, user_id: i64) -> Result<Vec<DeliveryRecord>, DbError> {
        let sql = format!(
            "SELECT {D_COLUMNS} FROM notification_deliveries WHERE user_id = $1 ORDER BY id"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(user_id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(delivery_from_row!(r));
            }
            Ok(out)
        })
    }

    /// How many deliveries are in each state, for metrics: (queued, sent, failed).
    pub async fn delivery_counts(&self) -> Result<(i64, i64, i64), DbError> {
        let rows: Vec<(String, i64)> = on_pool!(self, p => sqlx::query_as(
            "SELECT state, COUNT(*) FROM notification_deliveries GROUP BY state",
        )
        .fetch_all(p).await?);
        let mut c = (0, 0, 0);
        for (state, n) in rows {
            match state.as_str() {
                "queued" | "running" => c.0 += n,
                "sent" => c.1 += n,
                "failed" => c.2 += n,
                _ => {}
            }
        }
        Ok(c)
    }

    /// The stored VAPID key: (sealed PKCS#8, public key base64url).
    pub async fn vapid_key(&self) -> Result<Option<(String, String)>, DbError> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT private_sealed, public_key FROM vapid_keys WHERE id = 1",
        )
        .fetch_optional(p).await?))
    }

    /// Stores the VAPID key unless one is stored already (another node made it first).
    pub async fn insert_vapid_key(
        &self,
        private_sealed: &str,
        public_key: &str,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query(
            "INSERT INTO vapid_keys (id, private_sealed, public_key, created_at) VALUES (1, $1, $2, $3) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(private_sealed).bind(public_key).bind(now).execute(p).await.map(|_| ())?);
        Ok(())
    }
}

fn sub_from_tuple(t: (i64, i64, String, String, String, i64)) -> PushSubscriptionRecord {
    PushSubscriptionRecord {
        id: t.0,
        user_id: t.1,
        endpoint: t.2,
        p256dh: t.3,
        auth: t.4,
        created_at: t.5,
    }
}
