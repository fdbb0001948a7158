//! Trust and safety: reports of content and their decisions, strikes, appeals, bans
//! (migration 0028; reports began in 0020).

use crate::{map_unique, on_pool, Db, DbError};
use sqlx::Row;

/// A report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRecord {
    /// Id.
    pub id: i64,
    /// Who reported (`None` once their account is gone).
    pub reporter_id: Option<i64>,
    /// What kind of item: `channel`, `live_stream`, `video`, `comment`, `chat_message`.
    pub kind: String,
    /// The item's id in its table (a channel: its user).
    pub subject_id: i64,
    /// Whose item it is.
    pub subject_user_id: Option<i64>,
    /// Why (a category name).
    pub category: String,
    /// The reporter's words.
    pub reason: String,
    /// What the item said when it was reported (JSON).
    pub snapshot: String,
    /// `open`, `resolved` or `dismissed`.
    pub status: String,
    /// What the moderator did.
    pub outcome: Option<String>,
    /// The moderator's note.
    pub resolution_note: String,
    /// Which moderator decided.
    pub resolved_by: Option<i64>,
    /// When (ms).
    pub resolved_at: Option<i64>,
    /// When it was made (ms).
    pub created_at: i64,
}

const REPORT_COLUMNS: &str =
    "id, reporter_id, kind, subject_id, subject_user_id, category, reason, \
    snapshot, status, outcome, resolution_note, resolved_by, resolved_at, created_at";

macro_rules! report_from_row {
    ($r:expr) => {
        ReportRecord {
            id: $r.try_get("id")?,
            reporter_id: $r.try_get("reporter_id")?,
            kind: $r.try_get("kind")?,
            subject_id: $r.try_get("subject_id")?,
            subject_user_id: $r.try_get("subject_user_id")?,
            category: $r.try_get("category")?,
            reason: $r.try_get("reason")?,
            snapshot: $r.try_get("snapshot")?,
            status: $r.try_get("status")?,
            outcome: $r.try_get("outcome")?,
            resolution_note: $r.try_get("resolution_note")?,
            resolved_by: $r.try_get("resolved_by")?,
            resolved_at: $r.try_get("resolved_at")?,
            created_at: $r.try_get("created_at")?,
        }
    };
}

/// A report to store.
#[derive(Debug, Clone, Copy)]
pub struct NewSafetyReport<'a> {
    /// Who reports.
    pub reporter_id: i64,
    /// The item's kind.
    pub kind: &'a str,
    /// The item's id.
    pub subject_id: i64,
    /// Whose item it is.
    pub subject_user_id: Option<i64>,
    /// A category name.
    pub category: &'a str,
    /// The reporter's words.
    pub reason: &'a str,
    /// What the item says now (JSON).
    pub snapshot: &'a str,
}

/// A strike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrikeRecord {
    /// Id.
    pub id: i64,
    /// Whose.
    pub user_id: i64,
    /// Why.
    pub reason: String,
    /// What it rests on (`report:7`, `dmca:12`).
    pub evidence: Option<String>,
    /// Who issued it (`None`: the system).
    pub issued_by: Option<i64>,
    /// When (ms).
    pub issued_at: i64,
    /// When it stops counting (ms).
    pub expires_at: i64,
    /// When it was overturned on appeal (ms).
    pub overturned_at: Option<i64>,
    /// Who overturned it.
    pub overturned_by: Option<i64>,
    /// Why.
    pub overturn_note: String,
}

const STRIKE_COLUMNS: &str = "id, user_id, reason, evidence, issued_by, issued_at, expires_at, \
    overturned_at, overturned_by, overturn_note";

macro_rules! strike_from_row {
    ($r:expr) => {
        StrikeRecord {
            id: $r.try_get("id")?,
            user_id: $r.try_get("user_id")?,
            reason: $r.try_get("reason")?,
            evidence: $r.try_get("evidence")?,
            issued_by: $r.try_get("issued_by")?,
            issued_at: $r.try_get("issued_at")?,
            expires_at: $r.try_get("expires_at")?,
            overturned_at: $r.try_get("overturned_at")?,
            overturned_by: $r.try_get("overturned_by")?,
            overturn_note: $r.try_get("overturn_note")?,
        }
    };
}

/// An appeal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppealRecord {
    /// Id.
    pub id: i64,
    /// Who appeals.
    pub user_id: i64,
    /// The strike appealed.
    pub strike_id: Option<i64>,
    /// The report whose outcome (a removal) is appealed.
    pub report_id: Option<i64>,
    /// The user's statement.
    pub statement: String,
    /// `open`, `upheld` or `overturned`.
    pub status: String,
    /// Who decided.
    pub decided_by: Option<i64>,
    /// When (ms).
    pub decided_at: Option<i64>,
    /// The decision's note.
    pub decision_note: String,
    /// When it was made (ms).
    pub created_at: i64,
}

const APPEAL_COLUMNS: &str = "id, user_id, strike_id, report_id, statement, status, decided_by, \
    decided_at, decision_note, created_at";

macro_rules! appeal_from_row {
    ($r:expr) => {
        AppealRecord {
            id: $r.try_get("id")?,
            user_id: $r.try_get("user_id")?,
            strike_id: $r.try_get("strike_id")?,
            report_id: $r.try_get("report_id")?,
            statement: $r.try_get("statement")?,
            status: $r.try_get("status")?,
            decided_by: $r.try_get("decided_by")?,
            decided_at: $r.try_get("decided_at")?,
            decision_note: $r.try_get("decision_note")?,
            created_at: $r.try_get("created_at")?,
        }
    };
}

/// A line of chat around a reported message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatLine {
    /// Message id.
    pub id: i64,
    /// Author's user id (native chat).
    pub user_id: Option<i64>,
    /// Author's name.
    pub author_name: String,
    /// Text.
    pub text: String,
    /// When (ms).
    pub created_at: i64,
    /// Whether it was deleted.
    pub deleted: bool,
}

/// A comment of a reported comment's thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadLine {
    /// Comment id.
    pub id: i64,
    /// Author.
    pub user_id: i64,
    /// Author's name.
    pub author_name: String,
    /// Text.
    pub body: String,
    /// When (ms).
    pub created_at: i64,
}

impl Db {
    /// Stores a report; `None` if this reporter has an open report of this item already.
    pub async fn insert_safety_report(
        &self,
        r: &NewSafetyReport<'_>,
        now: i64,
    ) -> Result<Option<i64>, DbError> {
        let res = on_pool!(self, p => sqlx::query_scalar::<_, i64>(
            "INSERT INTO reports (reporter_id, kind, subject_id, subject_user_id, category, reason, snapshot, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8) RETURNING id",
        )
        .bind(r.reporter_id).bind(r.kind).bind(r.subject_id).bind(r.subject_user_id)
        .bind(r.category).bind(r.reason).bind(r.snapshot).bind(now)
        .fetch_one(p).await.map_err(map_unique));
        match res {
            Ok(id) => Ok(Some(id)),
            Err(DbError::Conflict) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A report by id.
    pub async fn report_by_id(&self, id: i64) -> Result<Option<ReportRecord>, DbError> {
        let sql = format!("SELECT {REPORT_COLUMNS} FROM reports WHERE id = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(id).fetch_optional(p).await? {
            Some(r) => Ok(Some(report_from_row!(r))),
            None => Ok(None),
        })
    }

    /// Reports in `status` (`open`, `resolved`, `dismissed`; `None`: any), newest first (open
    /// ones oldest first: the queue is worked in order), before id `before` (paging), at most
    /// `limit`.
    pub async fn list_safety_reports(
        &self,
        status: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ReportRecord>, DbError> {
        let order = if status == Some("open") {
            "ASC"
        } else {
            "DESC"
        };
        let cmp = if status == Some("open") { ">" } else { "<" };
        let sql = format!(
            "SELECT {REPORT_COLUMNS} FROM reports WHERE ($1 IS NULL OR status = $1) \
             AND ($2 IS NULL OR id {cmp} $2) ORDER BY id {order} LIMIT $3"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(status).bind(before).bind(limit).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(report_from_row!(r));
            }
            Ok(out)
        })
    }

    /// How many reports are open.
    pub async fn count_open_reports(&self) -> Result<i64, DbError> {
        on_pool!(self, p => Ok(sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM reports WHERE status = 'open'",
        ).fetch_one(p).await?))
    }

    /// Every report of one item, newest first (at most 100).
    pub async fn reports_of_item(
        &self,
        kind: &str,
        subject_id: i64,
    ) -> Result<Vec<ReportRecord>, DbError> {
        let sql = format!(
            "SELECT {REPORT_COLUMNS} FROM reports WHERE kind = $1 AND subject_id = $2 ORDER BY id DESC LIMIT 100"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(kind).bind(subject_id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(report_from_row!(r));
            }
            Ok(out)
        })
    }

    /// Reports about anything of `user_id`'s, newest first.
    pub async fn reports_about_user(
        &self,
        user_id: i64,
        limit: i64,
    ) -> Result<Vec<ReportRecord>, DbError> {
        self.reports_by_user_column("subject_user_id", user_id, limit)
            .await
    }

    /// Reports `user_id` made, newest first.
    pub async fn reports_by_reporter(
        &self,
        user_id: i64,
        limit: i64,
    ) -> Result<Vec<ReportRecord>, DbError> {
        self.reports_by_user_column("reporter_id", user_id, limit)
            .await
    }

    /// Reports whose `column` (one of the two above, never input) is `user_id`, newest first.
    async fn reports_by_user_column(
        &self,
        column: &'static str,
        user_id: i64,
        limit: i64,
    ) -> Result<Vec<ReportRecord>, DbError> {
        let sql = format!(
            "SELECT {REPORT_COLUMNS} FROM reports WHERE {column} = $1 ORDER BY id DESC LIMIT $2"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(user_id).bind(limit).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(report_from_row!(r));
            }
            Ok(out)
        })
    }

    /// Decides every open report of one item at once; the reports decided (none if another
    /// moderator decided first).
    #[allow(clippy::too_many_arguments)]
    pub async fn resolve_reports_of_item(
        &self,
        kind: &str,
        subject_id: i64,
        status: &str,
        outcome: &str,
        note: &str,
        by: i64,
        now: i64,
    ) -> Result<Vec<ReportRecord>, DbError> {
        let sql = format!(
            "UPDATE reports SET status = $3, outcome = $4, resolution_note = $5, resolved_by = $6, resolved_at = $7 \
             WHERE kind = $1 AND subject_id = $2 AND status = 'open' RETURNING {REPORT_COLUMNS}"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(kind).bind(subject_id).bind(status).bind(outcome)
                .bind(note).bind(by).bind(now).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(report_from_row!(r));
            }
            out.sort_by_key(|r| r.id);
            Ok(out)
        })
    }

    /// Stores a strike; its id.
    pub async fn insert_strike(
        &self,
        user_id: i64,
        reason: &str,
        evidence: Option<&str>,
        issued_by: Option<i64>,
        issued_at: i64,
        expires_at: i64,
    ) -> Result<i64, DbError> {
        on_pool!(self, p => Ok(sqlx::query_scalar::<_, i64>(
            "INSERT INTO strikes (user_id, reason, evidence, issued_by, issued_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(user_id).bind(reason).bind(evidence).bind(issued_by).bind(issued_at).bind(expires_at)
        .fetch_one(p).await?))
    }

    /// A strike by id.
    pub async fn strike_by_id(&self, id: i64) -> Result<Option<StrikeRecord>, DbError> {
        let sql = format!("SELECT {STRIKE_COLUMNS} FROM strikes WHERE id = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(id).fetch_optional(p).await? {
            Some(r) => Ok(Some(strike_from_row!(r))),
            None => Ok(None),
        })
    }

    /// Every strike of a user, newest first (at most 500).
    pub async fn strikes_of(&self, user_id: i64) -> Result<Vec<StrikeRecord>, DbError> {
        let sql = format!(
            "SELECT {STRIKE_COLUMNS} FROM strikes WHERE user_id = $1 ORDER BY id DESC LIMIT 500"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(user_id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(strike_from_row!(r));
            }
            Ok(out)
        })
    }

    /// `user_id`'s standing at `now`: the strikes that count and whether they restrict.
    pub async fn standing_of(
        &self,
        user_id: i64,
        now: i64,
    ) -> Result<ferrocast_domain::safety::Standing, DbError> {
        let terms: Vec<ferrocast_domain::safety::StrikeTerm> = self
            .active_strikes_of(user_id, now)
            .await?
            .iter()
            .map(|s| ferrocast_domain::safety::StrikeTerm {
                expires_at: s.expires_at,
                overturned: s.overturned_at.is_some(),
            })
            .collect();
        Ok(ferrocast_domain::safety::standing(&terms, now))
    }

    /// Why streaming and uploads are refused to `user_id` at `now`, if they are (three strikes
    /// or more count).
    pub async fn restriction_of(&self, user_id: i64, now: i64) -> Result<Option<String>, DbError> {
        let s = self.standing_of(user_id, now).await?;
        Ok(s.restricted
            .then(|| ferrocast_domain::safety::restriction_reason(&s)))
    }

    /// The strikes of a user that may count at `now` (unexpired, not overturned).
    pub async fn active_strikes_of(
        &self,
        user_id: i64,
        now: i64,
    ) -> Result<Vec<StrikeRecord>, DbError> {
        let sql = format!(
            "SELECT {STRIKE_COLUMNS} FROM strikes WHERE user_id = $1 AND expires_at > $2 \
             AND overturned_at IS NULL ORDER BY expires_at LIMIT 500"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(user_id).bind(now).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(strike_from_row!(r));
            }
            Ok(out)
        })
    }

    /// Overturns a strike; `false` if it was already.
    pub async fn overturn_strike(
        &self,
        id: i64,
        by: i64,
        note: &str,
        now: i64,
    ) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE strikes SET overturned_at = $2, overturned_by = $3, overturn_note = $4 \
             WHERE id = $1 AND overturned_at IS NULL",
        )
        .bind(id).bind(now).bind(by).bind(note).execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// Stores an appeal; `None` if this strike (or this user's report decision) was appealed
    /// already.
    pub async fn insert_appeal(
        &self,
        user_id: i64,
        strike_id: Option<i64>,
        report_id: Option<i64>,
        statement: &str,
        now: i64,
    ) -> Result<Option<i64>, DbError> {
        let res = on_pool!(self, p => sqlx::query_scalar::<_, i64>(
            "INSERT INTO appeals (user_id, strike_id, report_id, statement, status, created_at) \
             VALUES ($1, $2, $3, $4, 'open', $5) RETURNING id",
        )
        .bind(user_id).bind(strike_id).bind(report_id).bind(statement).bind(now)
        .fetch_one(p).await.map_err(map_unique));
        match res {
            Ok(id) => Ok(Some(id)),
            Err(DbError::Conflict) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// An appeal by id.
    pub async fn appeal_by_id(&self, id: i64) -> Result<Option<AppealRecord>, DbError> {
        let sql = format!("SELECT {APPEAL_COLUMNS} FROM appeals WHERE id = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(id).fetch_optional(p).await? {
            Some(r) => Ok(Some(appeal_from_row!(r))),
            None => Ok(None),
        })
    }

    /// Appeals in `status` (`None`: any): open ones oldest first, others newest first.
    pub async fn list_appeals(
        &self,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AppealRecord>, DbError> {
        let order = if status == Some("open") {
            "ASC"
        } else {
            "DESC"
        };
        let sql = format!(
            "SELECT {APPEAL_COLUMNS} FROM appeals WHERE ($1 IS NULL OR status = $1) ORDER BY id {order} LIMIT $2"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(status).bind(limit).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(appeal_from_row!(r));
            }
            Ok(out)
        })
    }

    /// A user's appeals, newest first.
    pub async fn appeals_of(&self, user_id: i64) -> Result<Vec<AppealRecord>, DbError> {
        let sql = format!(
            "SELECT {APPEAL_COLUMNS} FROM appeals WHERE user_id = $1 ORDER BY id DESC LIMIT 500"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(user_id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(appeal_from_row!(r));
            }
            Ok(out)
        })
    }

    /// Decides an open appeal; `false` if it was decided already.
    pub async fn decide_appeal(
        &self,
        id: i64,
        status: &str,
        by: i64,
        note: &str,
        now: i64,
    ) -> Result<bool, DbError> {
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE appeals SET status = $2, decided_by = $3, decision_note = $4, decided_at = $5 \
             WHERE id = $1 AND status = 'open'",
        )
        .bind(id).bind(status).bind(by).bind(note).bind(now).execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// Marks a user banned (with the reason) or, with `None`, not; `false` if no such user.
    pub async fn set_ban(
        &self,
        user_id: i64,
        ban: Option<(i64, &str)>,
        now: i64,
    ) -> Result<bool, DbError> {
        let (at, reason) = match ban {
            Some((at, r)) => (Some(at), Some(r)),
            None => (None, None),
        };
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE users SET banned_at = $2, ban_reason = $3, updated_at = $4 WHERE id = $1",
        )
        .bind(user_id).bind(at).bind(reason).bind(now).execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    /// When and why a user was banned, if they are.
    pub async fn ban_of(&self, user_id: i64) -> Result<Option<(i64, String)>, DbError> {
        on_pool!(self, p => {
            let row = sqlx::query("SELECT banned_at, ban_reason FROM users WHERE id = $1")
                .bind(user_id).fetch_optional(p).await?;
            Ok(match row {
                Some(r) => {
                    let at: Option<i64> = r.try_get("banned_at")?;
                    let reason: Option<String> = r.try_get("ban_reason")?;
                    at.map(|a| (a, reason.unwrap_or_default()))
                }
                None => None,
            })
        })
    }

    /// Up to `around` chat lines of the same source before and after message `id`, in order
    /// (the message itself included).
    pub async fn chat_context(
        &self,
        source_id: i64,
        id: i64,
        around: i64,
    ) -> Result<Vec<ChatLine>, DbError> {
        const COLS: &str = "id, user_id, author_name, message_text, created_at, deleted_at";
        let before = format!(
            "SELECT {COLS} FROM chat_messages WHERE source_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
        );
        let after = format!(
            "SELECT {COLS} FROM chat_messages WHERE source_id = $1 AND id >= $2 ORDER BY id ASC LIMIT $3"
        );
        on_pool!(self, p => {
            let mut rows = sqlx::query(&before).bind(source_id).bind(id).bind(around).fetch_all(p).await?;
            rows.reverse();
            rows.extend(sqlx::query(&after).bind(source_id).bind(id).bind(around + 1).fetch_all(p).await?);
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let deleted: Option<i64> = r.try_get("deleted_at")?;
                out.push(ChatLine {
                    id: r.try_get("id")?,
                    user_id: r.try_get("user_id")?,
                    author_name: r.try_get("author_name")?,
                    text: r.try_get("message_text")?,
                    created_at: r.try_get("created_at")?,
                    deleted: deleted.is_some(),
                });
            }
            Ok(out)
        })
    }

    /// A comment thread: the top-level comment `root` and its replies, oldest first (at most 50).
    pub async fn comment_thread(&self, root: i64) -> Result<Vec<ThreadLine>, DbError> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT c.id, c.user_id, u.display_name, c.body, c.created_at FROM video_comments c \
                 JOIN users u ON u.id = c.user_id WHERE c.id = $1 OR c.parent_id = $1 ORDER BY c.id LIMIT 50",
            )
            .bind(root).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(ThreadLine {
                    id: r.try_get("id")?,
                    user_id: r.try_get("user_id")?,
                    author_name: r.try_get("display_name")?,
                    body: r.try_get("body")?,
                    created_at: r.try_get("created_at")?,
                });
            }
            Ok(out)
        })
    }
}
