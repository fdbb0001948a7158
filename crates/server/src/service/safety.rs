//! Trust and safety: reports of channels, live streams, videos, comments and chat messages; the
//! moderation queue (the item, its context, its history) and the moderators' decisions on it
//! (dismiss, remove, warn, strike, suspend, ban); strikes, which restrict an account while three
//! count (ferrocast_domain::safety); appeals and their decisions. The reporter and the subject
//! are told of every decision ([`Kind::Moderation`] notifications).
//!
//! A restriction is not a suspension: the account signs in, reads its standing and appeals, but
//! [`restriction`] refuses its publishing ([`super::streams::SourceAuthorizer`]) and uploads
//! ([`super::uploads::Uploads::create`]), and its live streams end (here at once, on other
//! nodes at their next minute check).

use super::clock::SharedClock;
use super::events::{Fanout, RealtimeEvent};
use super::notify::{Kind, Notice, Notifier};
use super::streams::Streams;
use super::videos::Videos;
use crate::ratelimit::RateLimiter;
use ferrocast_db::accounts::UserRecord;
use ferrocast_db::engagement::CommentDeletion;
use ferrocast_db::moderation::Action;
use ferrocast_db::safety::{AppealRecord, NewSafetyReport, ReportRecord, StrikeRecord};
use ferrocast_db::{Db, DbError};
use ferrocast_domain::account::Role;
use ferrocast_domain::safety::{
    clean_text, restriction_reason, strike_expires_at, Category, Outcome, Standing, StrikeTerm,
    TargetKind, MAX_STRIKE_REASON_CHARS, MAX_TEXT_CHARS,
};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;

pub use super::audit::Actor;

/// Reports a user may send per hour (a burst; then one every few minutes).
pub const REPORTS_PER_HOUR: u32 = 20;
/// Appeals a user may send per hour.
pub const APPEALS_PER_HOUR: u32 = 10;
/// Chat lines shown on each side of a reported message.
pub const CHAT_CONTEXT: i64 = 5;
/// Reports and strikes shown in a subject's history.
pub const HISTORY: i64 = 50;

/// Why a safety operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SafetyError {
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A field is wrong; the sentence says which.
    #[error("{0}")]
    Invalid(String),
    /// No such item (or the caller may not see it); names what.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The caller may not do this; the sentence says who may.
    #[error("{0}")]
    Forbidden(&'static str),
    /// Done already (a second report of the same item, a decided report or appeal).
    #[error("{0}")]
    Conflict(String),
    /// Too many reports or appeals; seconds to wait.
    #[error("{0}")]
    TooFast(String, u64),
    /// An administrator's action on an account failed.
    #[error(transparent)]
    Admin(#[from] super::admin::AdminError),
}

/// What issuing a strike left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct StrikeOutcome {
    /// The strike's id.
    pub strike_id: i64,
    /// Strikes counting now, this one included.
    pub active: u32,
    /// Whether the account is restricted now.
    pub restricted: bool,
}

/// The reason streaming and uploads are refused to `user_id` at `now`, if they are (three
/// strikes or more count). A database question, so publishing and uploads ask it without
/// depending on this service.
pub async fn restriction(db: &Db, user_id: i64, now: i64) -> Result<Option<String>, DbError> {
    db.restriction_of(user_id, now).await
}

async fn standing_of(db: &Db, user_id: i64, now: i64) -> Result<Standing, DbError> {
    db.standing_of(user_id, now).await
}

/// `reason` as a sentence: capitalised, with a full stop (for API error details).
pub fn sentence(reason: &str) -> String {
    let mut c = reason.chars();
    match c.next() {
        Some(f) => format!("{}{}.", f.to_uppercase(), c.as_str().trim_end_matches('.')),
        None => String::new(),
    }
}

/// What a user reports.
#[derive(Debug, Clone, Copy)]
pub struct ReportInput<'a> {
    /// `channel`, `live_stream`, `video`, `comment` or `chat_message`.
    pub kind: &'a str,
    /// The item: a channel's handle, a live stream's playback id, a video's id, a comment's or
    /// chat message's number.
    pub target: &'a str,
    /// A category name.
    pub category: &'a str,
    /// The reporter's words (may be empty, except for `other`).
    pub details: &'a str,
}

/// A line of chat around a reported message.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContextLine {
    /// Message or comment id.
    pub id: i64,
    /// Author.
    pub author: String,
    /// Text.
    pub text: String,
    /// When (RFC 3339).
    pub at: String,
    /// Whether it is the reported one.
    pub reported: bool,
    /// Whether it was deleted.
    pub deleted: bool,
}

/// A reported item as the moderator sees it now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ItemView {
    /// The item's kind.
    pub kind: String,
    /// Its public id (handle, playback id, video id, comment or message number).
    pub target: String,
    /// A title: the video's, the stream's, the channel's name; for a message, its author.
    pub title: String,
    /// Its text (a message, a comment, a description, a bio).
    pub text: String,
    /// Where it is seen in the app.
    pub url: Option<String>,
    /// A picture (a video's thumbnail).
    pub thumbnail: Option<String>,
    /// Whether it is still there (not deleted, removed or private).
    pub present: bool,
    /// The subject: whose it is.
    pub owner: Option<PersonView>,
    /// Surrounding chat lines or the comment's thread.
    pub context: Vec<ContextLine>,
}

/// A user, briefly.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonView {
    /// Public id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Channel handle.
    pub handle: String,
    /// Role.
    pub role: String,
    /// Whether the account is suspended.
    pub suspended: bool,
    /// Whether the account is banned.
    pub banned: bool,
    /// Strikes counting now.
    pub active_strikes: u32,
    /// Whether the account is restricted now.
    pub restricted: bool,
}

/// A report as stored, for the queue and for its reporter.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportView {
    /// Id.
    pub id: i64,
    /// The item's kind.
    pub kind: String,
    /// The category.
    pub category: String,
    /// The category in words.
    pub category_label: String,
    /// The reporter's words.
    pub details: String,
    /// `open`, `resolved` or `dismissed`.
    pub status: String,
    /// What was decided.
    pub outcome: Option<String>,
    /// What the reporter is told the decision did.
    pub outcome_text: Option<String>,
    /// The moderator's note.
    pub note: String,
    /// When it was made.
    pub created_at: String,
    /// When it was decided.
    pub resolved_at: Option<String>,
    /// What the item said when it was reported (its title or text).
    pub snapshot: serde_json::Value,
}

/// A queue entry: the report, the item now, other open reports of it, the history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueueEntry {
    /// The report.
    pub report: ReportView,
    /// Who reported (moderators see it).
    pub reporter: Option<String>,
    /// The item now.
    pub item: ItemView,
    /// Open reports of the same item (this one included).
    pub open_reports: i64,
    /// Earlier reports of anything of the subject's, newest first.
    pub history: Vec<ReportView>,
    /// The subject's strikes, newest first.
    pub strikes: Vec<StrikeView>,
}

/// A strike.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StrikeView {
    /// Id.
    pub id: i64,
    /// Why.
    pub reason: String,
    /// What it rests on (`report:7`, `dmca:12`).
    pub evidence: Option<String>,
    /// When it was issued.
    pub issued_at: String,
    /// When it stops counting.
    pub expires_at: String,
    /// Whether it counts now.
    pub active: bool,
    /// Whether it was overturned on appeal.
    pub overturned: bool,
    /// The appeal's note, when overturned.
    pub overturn_note: String,
    /// The appeal of it, if any: `open`, `upheld` or `overturned`.
    pub appeal: Option<String>,
}

/// An appeal.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AppealView {
    /// Id.
    pub id: i64,
    /// The strike appealed.
    pub strike_id: Option<i64>,
    /// The report whose removal is appealed.
    pub report_id: Option<i64>,
    /// The user's statement.
    pub statement: String,
    /// `open`, `upheld` or `overturned`.
    pub status: String,
    /// The decision's note.
    pub decision_note: String,
    /// When it was made.
    pub created_at: String,
    /// When it was decided.
    pub decided_at: Option<String>,
}

/// An appeal in the moderators' list: the appeal, who made it, what it is about.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AppealEntry {
    /// The appeal.
    pub appeal: AppealView,
    /// Who appeals.
    pub user: Option<PersonView>,
    /// The strike appealed.
    pub strike: Option<StrikeView>,
    /// The report whose removal is appealed.
    pub report: Option<ReportView>,
}

/// A user's standing: strikes, restriction, appeals, the removals of their content, their
/// reports and what became of them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StandingView {
    /// Strikes counting now.
    pub active_strikes: u32,
    /// Strikes that restrict.
    pub restrict_at: u32,
    /// Whether streaming and uploads are refused.
    pub restricted: bool,
    /// Why, when restricted.
    pub restriction: Option<String>,
    /// When the restriction lifts by itself.
    pub restricted_until: Option<String>,
    /// Every strike, newest first.
    pub strikes: Vec<StrikeView>,
    /// Decisions on the user's content (removals, warnings), newest first; appealable.
    pub decisions: Vec<DecisionView>,
    /// Their appeals, newest first.
    pub appeals: Vec<AppealView>,
    /// Reports they made, newest first.
    pub reports: Vec<ReportView>,
}

/// A decision on a user's content, as they see it (not who reported it).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DecisionView {
    /// The report's id (the appeal names it).
    pub report_id: i64,
    /// The item's kind.
    pub kind: String,
    /// What it said.
    pub snapshot: serde_json::Value,
    /// The category in words.
    pub category_label: String,
    /// What was decided.
    pub outcome: String,
    /// The moderator's note.
    pub note: String,
    /// When.
    pub decided_at: Option<String>,
    /// The appeal of it, if any: `open`, `upheld` or `overturned`.
    pub appeal: Option<String>,
}

/// A moderator's decision on a report.
#[derive(Debug, Clone, Copy)]
pub struct Decision<'a> {
    /// What to do.
    pub outcome: &'a str,
    /// The note (told to the subject; to the reporter only the outcome).
    pub note: &'a str,
}

/// Trust and safety.
pub struct Safety {
    db: Db,
    clock: SharedClock,
    streams: Arc<Streams>,
    notify: Arc<Notifier>,
    fanout: Arc<dyn Fanout>,
    videos: Videos,
    audit: Arc<super::audit::Audit>,
    reports_per_user: RateLimiter,
    appeals_per_user: RateLimiter,
}

fn rfc(ms: i64) -> String {
    ferrocast_domain::time::rfc3339_ms(ms)
}

/// Whether `user` may work the moderation queue.
pub fn is_moderator(user: &UserRecord) -> bool {
    matches!(
        Role::parse(&user.role),
        Some(Role::Moderator) | Some(Role::Admin)
    )
}

fn is_admin(user: &UserRecord) -> bool {
    Role::parse(&user.role) == Some(Role::Admin)
}

fn report_view(r: &ReportRecord) -> ReportView {
    let category = Category::parse(&r.category);
    let outcome = r.outcome.as_deref().and_then(Outcome::parse);
    ReportView {
        id: r.id,
        kind: r.kind.clone(),
        category: r.category.clone(),
        category_label: category
            .map(|c| c.label().to_string())
            .unwrap_or_else(|| r.category.clone()),
        details: r.reason.clone(),
        status: r.status.clone(),
        outcome: r.outcome.clone(),
        outcome_text: outcome.map(|o| o.told_reporter().to_string()),
        note: r.resolution_note.clone(),
        created_at: rfc(r.created_at),
        resolved_at: r.resolved_at.map(rfc),
        snapshot: serde_json::from_str(&r.snapshot).unwrap_or(serde_json::Value::Null),
    }
}

fn strike_view(s: &StrikeRecord, now: i64, appeal: Option<String>) -> StrikeView {
    StrikeView {
        id: s.id,
        reason: s.reason.clone(),
        evidence: s.evidence.clone(),
        issued_at: rfc(s.issued_at),
        expires_at: rfc(s.expires_at),
        active: StrikeTerm {
            expires_at: s.expires_at,
            overturned: s.overturned_at.is_some(),
        }
        .active(now),
        overturned: s.overturned_at.is_some(),
        overturn_note: s.overturn_note.clone(),
        appeal,
    }
}

fn appeal_view(a: &AppealRecord) -> AppealView {
    AppealView {
        id: a.id,
        strike_id: a.strike_id,
        report_id: a.report_id,
        statement: a.statement.clone(),
        status: a.status.clone(),
        decision_note: a.decision_note.clone(),
        created_at: rfc(a.created_at),
        decided_at: a.decided_at.map(rfc),
    }
}

fn excerpt(s: &str, n: usize) -> String {
    let mut out: String = s.chars().take(n).collect();
    if s.chars().count() > n {
        out.push('…');
    }
    out
}

fn parse_number(target: &str, what: &'static str) -> Result<i64, SafetyError> {
    target
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(SafetyError::NotFound(what))
}

impl Safety {
    /// The service.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        db: Db,
        clock: SharedClock,
        streams: Arc<Streams>,
        notify: Arc<Notifier>,
        fanout: Arc<dyn Fanout>,
        videos: Videos,
        audit: Arc<super::audit::Audit>,
    ) -> Self {
        Self {
            db,
            clock,
            streams,
            notify,
            fanout,
            videos,
            audit,
            reports_per_user: RateLimiter::new(REPORTS_PER_HOUR, Duration::from_secs(3600)),
            appeals_per_user: RateLimiter::new(APPEALS_PER_HOUR, Duration::from_secs(3600)),
        }
    }

    async fn audit(
        &self,
        action: &str,
        actor: Actor,
        subject: Option<(&str, String)>,
        details: serde_json::Value,
        personal: serde_json::Value,
        personal_of: Option<i64>,
    ) {
        let event = super::audit::AuditEvent {
            action,
            actor,
            subject,
            details,
            personal,
            personal_of,
        };
        if let Err(e) = self.audit.record(event).await {
            tracing::error!(error = %e, action, "cannot append to the audit log");
        }
    }

    async fn tell(&self, user_id: i64, title: &str, body: &str, key: &str) {
        let n = Notice {
            user_id,
            kind: Kind::Moderation,
            actor_id: None,
            title,
            body,
            url: "/standing",
            dedup_key: key,
        };
        if let Err(e) = self.notify.notify(&n, None).await {
            tracing::warn!(error = %e, user_id, "cannot notify a moderation decision");
        }
    }

    /// The standing of `user_id` now.
    pub async fn standing(&self, user_id: i64) -> Result<Standing, SafetyError> {
        Ok(standing_of(&self.db, user_id, self.clock.now_ms()).await?)
    }

    /// Why `user_id` may not stream or upload now, if they may not.
    pub async fn restriction(&self, user_id: i64) -> Result<Option<String>, SafetyError> {
        Ok(restriction(&self.db, user_id, self.clock.now_ms()).await?)
    }

    /// Issues a strike to `user_id` for `reason`, resting on `evidence` (`report:7`,
    /// `dmca:12`), by `by`. When it makes three count, the account is restricted: its live
    /// streams end now and it is told why.
    pub async fn issue_strike(
        &self,
        user_id: i64,
        reason: &str,
        evidence: Option<&str>,
        by: Actor,
    ) -> Result<StrikeOutcome, SafetyError> {
        let reason = clean_text("reason", reason, MAX_STRIKE_REASON_CHARS, true)
            .map_err(SafetyError::Invalid)?;
        let evidence = evidence
            .map(|e| e.chars().take(200).collect::<String>())
            .filter(|e| !e.is_empty());
        if self.db.user_by_id(user_id).await?.is_none() {
            return Err(SafetyError::NotFound("user"));
        }
        let now = self.clock.now_ms();
        let before = standing_of(&self.db, user_id, now).await?;
        let issued_by = match by {
            Actor::User(id) => Some(id),
            _ => None,
        };
        let id = self
            .db
            .insert_strike(
                user_id,
                &reason,
                evidence.as_deref(),
                issued_by,
                now,
                strike_expires_at(now),
            )
            .await?;
        let after = standing_of(&self.db, user_id, now).await?;
        self.audit(
            "strike.issued",
            by,
            Some(("user", user_id.to_string())),
            serde_json::json!({"strike_id": id, "evidence": evidence, "active": after.active, "restricted": after.restricted}),
            serde_json::json!({"reason": reason}),
            Some(user_id),
        )
        .await;
        tracing::info!(user_id, strike = id, active = after.active, "strike issued");
        let body = format!(
            "{reason}. It counts until {} ({} of {} strikes count now). You can appeal it on My standing.",
            rfc(strike_expires_at(now)),
            after.active,
            ferrocast_domain::safety::RESTRICT_AT
        );
        self.tell(
            user_id,
            "You received a strike",
            &body,
            &format!("strike:{id}"),
        )
        .await;
        if after.restricted && !before.restricted {
            self.restrict(user_id, &after, by).await;
        }
        Ok(StrikeOutcome {
            strike_id: id,
            active: after.active,
            restricted: after.restricted,
        })
    }

    /// The account just became restricted: its streams end, it is told, it is recorded.
    async fn restrict(&self, user_id: i64, s: &Standing, by: Actor) {
        let reason = restriction_reason(s);
        let stopped = match self.streams.stop_streams_of(user_id, &reason).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, user_id, "cannot list a restricted user's sources");
                0
            }
        };
        self.audit(
            "account.restricted",
            by,
            Some(("user", user_id.to_string())),
            serde_json::json!({"active_strikes": s.active, "until": s.restricted_until, "streams_stopped": stopped}),
            serde_json::json!(null),
            None,
        )
        .await;
        tracing::info!(user_id, stopped, "account restricted by strikes");
        let body = format!("Streaming and uploads are refused: {reason}.");
        let key = format!("restricted:{user_id}:{}", self.clock.now_ms());
        self.tell(user_id, "Your account is restricted", &body, &key)
            .await;
    }

    /// Stores `reporter`'s report of an item, with what the item says now.
    pub async fn report(
        &self,
        reporter: &UserRecord,
        input: ReportInput<'_>,
    ) -> Result<ReportView, SafetyError> {
        let kind = TargetKind::parse(input.kind).ok_or_else(|| {
            SafetyError::Invalid(
                "kind: one of channel, live_stream, video, comment, chat_message".into(),
            )
        })?;
        let category = Category::parse(input.category).ok_or_else(|| {
            SafetyError::Invalid(format!(
                "category: one of {}",
                Category::ALL.map(|c| c.as_str()).join(", ")
            ))
        })?;
        let details = clean_text(
            "details",
            input.details,
            MAX_TEXT_CHARS,
            category == Category::Other,
        )
        .map_err(SafetyError::Invalid)?;
        if input.target.len() > 200 {
            return Err(SafetyError::NotFound("item"));
        }
        let (subject_id, subject_user, snapshot) =
            self.resolve(kind, input.target, reporter).await?;
        if subject_user == Some(reporter.id) {
            return Err(SafetyError::Invalid(format!(
                "You cannot report your own {}.",
                kind.label()
            )));
        }
        self.reports_per_user
            .check(&reporter.id.to_string())
            .map_err(|s| {
                SafetyError::TooFast(format!("You have sent many reports: wait {s} s."), s)
            })?;
        let snapshot = snapshot.to_string();
        let id = self
            .db
            .insert_safety_report(
                &NewSafetyReport {
                    reporter_id: reporter.id,
                    kind: kind.as_str(),
                    subject_id,
                    subject_user_id: subject_user,
                    category: category.as_str(),
                    reason: &details,
                    snapshot: &snapshot,
                },
                self.clock.now_ms(),
            )
            .await?
            .ok_or_else(|| {
                SafetyError::Conflict(format!(
                    "You have reported this {} already; moderators will review it.",
                    kind.label()
                ))
            })?;
        self.audit(
            "report.filed",
            Actor::User(reporter.id),
            Some(("report", id.to_string())),
            serde_json::json!({"kind": kind.as_str(), "subject_id": subject_id, "subject_user": subject_user, "category": category.as_str()}),
            serde_json::json!({"details": details}),
            Some(reporter.id),
        )
        .await;
        let r = self
            .db
            .report_by_id(id)
            .await?
            .ok_or(SafetyError::NotFound("report"))?;
        Ok(report_view(&r))
    }

    /// The item a report names: its id in its table, its owner, a snapshot (JSON).
    async fn resolve(
        &self,
        kind: TargetKind,
        target: &str,
        viewer: &UserRecord,
    ) -> Result<(i64, Option<i64>, serde_json::Value), SafetyError> {
        match kind {
            TargetKind::Channel => {
                let handle = target.trim().trim_start_matches('@').to_lowercase();
                let u = self
                    .db
                    .user_by_handle(&handle)
                    .await?
                    .ok_or(SafetyError::NotFound("channel"))?;
                Ok((
                    u.id,
                    Some(u.id),
                    serde_json::json!({"title": u.display_name, "text": excerpt(&u.bio, 500), "handle": u.handle}),
                ))
            }
            TargetKind::LiveStream => {
                let s = self
                    .db
                    .source_by_playback_id(target.trim())
                    .await?
                    .ok_or(SafetyError::NotFound("live stream"))?;
                Ok((
                    s.id,
                    Some(s.user_id),
                    serde_json::json!({"title": s.title.clone().unwrap_or_else(|| s.name.clone()), "playback_id": s.playback_id}),
                ))
            }
            TargetKind::Video => {
                let v = self
                    .db
                    .video_by_uuid(target.trim())
                    .await?
                    .filter(|v| super::videos::may_see(v, Some(viewer.id)))
                    .ok_or(SafetyError::NotFound("video"))?;
                Ok((
                    v.id,
                    Some(v.user_id),
                    serde_json::json!({"title": v.title, "text": excerpt(&v.description, 500), "video": v.uuid}),
                ))
            }
            TargetKind::Comment => {
                let c = self
                    .db
                    .comment_by_id(parse_number(target, "comment")?)
                    .await?
                    .ok_or(SafetyError::NotFound("comment"))?;
                let v = self
                    .db
                    .video_by_id(c.video_id)
                    .await?
                    .filter(|v| super::videos::may_see(v, Some(viewer.id)))
                    .ok_or(SafetyError::NotFound("comment"))?;
                Ok((
                    c.id,
                    Some(c.user_id),
                    serde_json::json!({"title": c.author_name, "text": c.body, "video": v.uuid, "video_title": v.title, "parent_id": c.parent_id}),
                ))
            }
            TargetKind::Post => {
                let p = self
                    .db
                    .post_by_uuid(target.trim())
                    .await?
                    .ok_or(SafetyError::NotFound("post"))?;
                Ok((
                    p.id,
                    Some(p.user_id),
                    serde_json::json!({"title": p.display_name, "text": excerpt(&p.body, 500), "post": p.uuid, "handle": p.handle}),
                ))
            }
            TargetKind::PostComment => {
                let c = self
                    .db
                    .post_comment_by_id(parse_number(target, "comment")?)
                    .await?
                    .ok_or(SafetyError::NotFound("comment"))?;
                let p = self
                    .db
                    .post_by_id(c.post_id)
                    .await?
                    .ok_or(SafetyError::NotFound("comment"))?;
                Ok((
                    c.id,
                    Some(c.user_id),
                    serde_json::json!({"title": c.display_name, "text": c.body, "post": p.uuid, "handle": p.handle}),
                ))
            }
            TargetKind::ChatMessage => {
                let m = self
                    .db
                    .chat_message_by_id(parse_number(target, "chat message")?)
                    .await?
                    .ok_or(SafetyError::NotFound("chat message"))?;
                let s = self
                    .db
                    .source_by_id(m.source_id)
                    .await?
                    .ok_or(SafetyError::NotFound("chat message"))?;
                Ok((
                    m.id,
                    m.user_id,
                    serde_json::json!({"title": m.author_name, "text": m.message_text, "playback_id": s.playback_id, "platform": m.platform}),
                ))
            }
        }
    }

    async fn person(&self, user_id: i64) -> Result<Option<PersonView>, SafetyError> {
        let Some(u) = self.db.user_by_id(user_id).await? else {
            return Ok(None);
        };
        let s = self.standing(u.id).await?;
        let banned = self.db.ban_of(u.id).await?.is_some();
        Ok(Some(PersonView {
            id: u.uuid,
            name: u.display_name,
            handle: u.handle,
            role: u.role,
            suspended: u.suspended_at.is_some(),
            // A ban is a suspension marked final; a reactivated account is not banned now.
            banned: banned && u.suspended_at.is_some(),
            active_strikes: s.active,
            restricted: s.restricted,
        }))
    }

    /// The item a report is about, as it is now, with its context.
    async fn item(&self, r: &ReportRecord) -> Result<ItemView, SafetyError> {
        let snap: serde_json::Value = serde_json::from_str(&r.snapshot).unwrap_or_default();
        let s = |k: &str| {
            snap.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        let owner = match r.subject_user_id {
            Some(id) => self.person(id).await?,
            None => None,
        };
        let mut view = ItemView {
            kind: r.kind.clone(),
            target: r.subject_id.to_string(),
            title: s("title"),
            text: s("text"),
            url: None,
            thumbnail: None,
            present: false,
            owner,
            context: Vec::new(),
        };
        match TargetKind::parse(&r.kind) {
            Some(TargetKind::Channel) => {
                if let Some(u) = self.db.user_by_id(r.subject_id).await? {
                    view.target = u.handle.clone();
                    view.url = Some(format!("/c/{}", u.handle));
                    view.title = u.display_name;
                    view.text = excerpt(&u.bio, 500);
                    view.present = u.suspended_at.is_none();
                }
            }
            Some(TargetKind::LiveStream) => {
                if let Some(src) = self.db.source_by_id(r.subject_id).await? {
                    view.target = src.playback_id.clone();
                    view.url = Some(format!("/watch/{}", src.playback_id));
                    view.present = self.streams.is_live(&src.playback_id);
                }
            }
            Some(TargetKind::Video) => {
                if let Some(v) = self.db.video_by_id(r.subject_id).await? {
                    view.target = v.uuid.clone();
                    view.url = Some(format!("/v/{}", v.uuid));
                    view.title = v.title.clone();
                    view.text = excerpt(&v.description, 500);
                    view.present = v.visibility != "private";
                    if v.has_thumbnail {
                        let q = self.videos.signer().query(&v.uuid, self.videos.now_secs());
                        view.thumbnail = Some(format!("/vod/{}/thumb.jpg?{q}", v.uuid));
                    }
                }
            }
            Some(TargetKind::Comment) => {
                let video = s("video");
                if !video.is_empty() {
                    view.url = Some(format!("/v/{video}"));
                }
                let comment = self.db.comment_by_id(r.subject_id).await?;
                view.present = comment.is_some();
                // A report made before snapshots were kept: the comment as it is now.
                if let (Some(c), true) = (&comment, view.text.is_empty()) {
                    view.title = c.author_name.clone();
                    view.text = c.body.clone();
                }
                let root = snap
                    .get("parent_id")
                    .and_then(|v| v.as_i64())
                    .unwrap_or(r.subject_id);
                view.context = self
                    .db
                    .comment_thread(root)
                    .await?
                    .into_iter()
                    .map(|c| ContextLine {
                        reported: c.id == r.subject_id,
                        id: c.id,
                        author: c.author_name,
                        text: c.body,
                        at: rfc(c.created_at),
                        deleted: false,
                    })
                    .collect();
            }
            Some(TargetKind::Post) | Some(TargetKind::PostComment) => {
                let handle = s("handle");
                if !handle.is_empty() {
                    view.url = Some(format!("/c/{handle}"));
                }
                view.target = s("post");
                view.present = if r.kind == TargetKind::Post.as_str() {
                    self.db.post_by_id(r.subject_id).await?.is_some()
                } else {
                    view.target = r.subject_id.to_string();
                    self.db.post_comment_by_id(r.subject_id).await?.is_some()
                };
            }
            Some(TargetKind::ChatMessage) => {
                if let Some(m) = self.db.chat_message_by_id(r.subject_id).await? {
                    view.present = m.deleted_at.is_none();
                    let playback = s("playback_id");
                    if !playback.is_empty() {
                        view.url = Some(format!("/watch/{playback}"));
                    }
                    view.context = self
                        .db
                        .chat_context(m.source_id, m.id, CHAT_CONTEXT)
                        .await?
                        .into_iter()
                        .map(|l| ContextLine {
                            reported: l.id == m.id,
                            id: l.id,
                            author: l.author_name,
                            text: l.text,
                            at: rfc(l.created_at),
                            deleted: l.deleted,
                        })
                        .collect();
                }
            }
            None => {}
        }
        Ok(view)
    }

    fn require_moderator(user: &UserRecord) -> Result<(), SafetyError> {
        if is_moderator(user) {
            Ok(())
        } else {
            Err(SafetyError::Forbidden(
                "Only moderators and administrators work the moderation queue.",
            ))
        }
    }

    /// The queue: reports in `status` (`open` by default: oldest first), with their items,
    /// context and the subjects' history.
    pub async fn queue(
        &self,
        moderator: &UserRecord,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<QueueEntry>, SafetyError> {
        Self::require_moderator(moderator)?;
        let status = match status {
            None | Some("open") => Some("open"),
            Some("resolved") => Some("resolved"),
            Some("dismissed") => Some("dismissed"),
            Some("all") => None,
            Some(_) => {
                return Err(SafetyError::Invalid(
                    "status: one of open, resolved, dismissed, all".into(),
                ))
            }
        };
        let reports = self
            .db
            .list_safety_reports(status, None, limit.clamp(1, 100))
            .await?;
        let mut out = Vec::with_capacity(reports.len());
        for r in &reports {
            out.push(self.entry(r).await?);
        }
        Ok(out)
    }

    /// One queue entry.
    pub async fn queue_entry(
        &self,
        moderator: &UserRecord,
        report_id: i64,
    ) -> Result<QueueEntry, SafetyError> {
        Self::require_moderator(moderator)?;
        let r = self
            .db
            .report_by_id(report_id)
            .await?
            .ok_or(SafetyError::NotFound("report"))?;
        self.entry(&r).await
    }

    async fn entry(&self, r: &ReportRecord) -> Result<QueueEntry, SafetyError> {
        let now = self.clock.now_ms();
        let same = self.db.reports_of_item(&r.kind, r.subject_id).await?;
        let open_reports = same.iter().filter(|x| x.status == "open").count() as i64;
        let (history, strikes) = match r.subject_user_id {
            Some(u) => (
                self.db
                    .reports_about_user(u, HISTORY)
                    .await?
                    .iter()
                    .filter(|x| x.id != r.id && x.status != "open")
                    .map(report_view)
                    .collect(),
                self.db
                    .strikes_of(u)
                    .await?
                    .iter()
                    .map(|s| strike_view(s, now, None))
                    .collect(),
            ),
            None => (Vec::new(), Vec::new()),
        };
        let reporter = match r.reporter_id {
            Some(id) => self.db.user_by_id(id).await?.map(|u| u.display_name),
            None => None,
        };
        Ok(QueueEntry {
            report: report_view(r),
            reporter,
            item: self.item(r).await?,
            open_reports,
            history,
            strikes,
        })
    }

    /// How many reports are open.
    pub async fn open_count(&self, moderator: &UserRecord) -> Result<i64, SafetyError> {
        Self::require_moderator(moderator)?;
        Ok(self.db.count_open_reports().await?)
    }

    /// Decides a report — and with it every open report of the same item: the content is
    /// removed (unless dismissed), the author warned, struck, suspended or banned as decided;
    /// the reporters and the author are told.
    pub async fn decide(
        &self,
        moderator: &UserRecord,
        report_id: i64,
        d: Decision<'_>,
    ) -> Result<Vec<ReportView>, SafetyError> {
        Self::require_moderator(moderator)?;
        let outcome = Outcome::parse(d.outcome).ok_or_else(|| {
            SafetyError::Invalid(
                "outcome: one of dismiss, remove, warn, strike, suspend, ban".into(),
            )
        })?;
        if outcome.admin_only() && !is_admin(moderator) {
            return Err(SafetyError::Forbidden(
                "Only administrators suspend or ban accounts; choose another outcome or ask one.",
            ));
        }
        let note =
            clean_text("note", d.note, MAX_TEXT_CHARS, false).map_err(SafetyError::Invalid)?;
        let r = self
            .db
            .report_by_id(report_id)
            .await?
            .ok_or(SafetyError::NotFound("report"))?;
        let kind = TargetKind::parse(&r.kind).ok_or(SafetyError::NotFound("report"))?;
        if outcome != Outcome::Dismiss
            && r.subject_user_id.is_none()
            && kind != TargetKind::ChatMessage
        {
            return Err(SafetyError::Invalid(
                "The item's owner no longer exists; dismiss the report.".into(),
            ));
        }
        if matches!(
            outcome,
            Outcome::Strike | Outcome::Suspend | Outcome::Ban | Outcome::Warn
        ) && r.subject_user_id.is_none()
        {
            return Err(SafetyError::Invalid(
                "This message came from another platform's chat: remove it, or dismiss the report."
                    .into(),
            ));
        }
        if r.subject_user_id == Some(moderator.id) {
            return Err(SafetyError::Forbidden(
                "You cannot decide a report about your own content; another moderator can.",
            ));
        }
        let now = self.clock.now_ms();
        let decided = self
            .db
            .resolve_reports_of_item(
                &r.kind,
                r.subject_id,
                outcome.status(),
                outcome.as_str(),
                &note,
                moderator.id,
                now,
            )
            .await?;
        if decided.is_empty() {
            return Err(SafetyError::Conflict(
                "This report was decided already; reload the queue.".into(),
            ));
        }
        let by = Actor::User(moderator.id);
        let mut removed = false;
        if outcome.removes_content() && kind.removable() {
            removed = self.remove_content(kind, &r, moderator, &note).await?;
        }
        let ids: Vec<i64> = decided.iter().map(|x| x.id).collect();
        self.audit(
            "report.resolved",
            by,
            Some(("report", r.id.to_string())),
            serde_json::json!({"reports": ids, "kind": r.kind, "subject_id": r.subject_id, "subject_user": r.subject_user_id, "outcome": outcome.as_str(), "removed": removed}),
            serde_json::json!({"note": note}),
            r.subject_user_id,
        )
        .await;
        let label = kind.label();
        let cat = Category::parse(&r.category)
            .map(|c| c.label())
            .unwrap_or("Reported");
        if let Some(subject) = r.subject_user_id {
            match outcome {
                Outcome::Dismiss => {}
                Outcome::Remove | Outcome::Warn => {
                    let title = if outcome == Outcome::Warn {
                        format!("Warning: your {label} was removed")
                    } else {
                        format!("Your {label} was removed")
                    };
                    let mut body = format!("Reason: {cat}.");
                    if !note.is_empty() {
                        body.push_str(&format!(" {note}"));
                    }
                    body.push_str(" You can appeal on My standing.");
                    self.tell(subject, &title, &body, &format!("decision:{}", r.id))
                        .await;
                }
                Outcome::Strike => {
                    let reason = if note.is_empty() {
                        format!("{cat} ({label})")
                    } else {
                        excerpt(&format!("{cat} ({label}): {note}"), MAX_STRIKE_REASON_CHARS)
                    };
                    self.issue_strike(subject, &reason, Some(&format!("report:{}", r.id)), by)
                        .await?;
                }
                Outcome::Suspend | Outcome::Ban => {
                    if let Some(target) = self.db.user_by_id(subject).await? {
                        super::admin::suspend(&self.db, &self.streams, moderator.id, &target, now)
                            .await?;
                        if outcome == Outcome::Ban {
                            let reason = if note.is_empty() {
                                cat.to_string()
                            } else {
                                note.clone()
                            };
                            self.db.set_ban(subject, Some((now, &reason)), now).await?;
                        }
                        self.audit(
                            if outcome == Outcome::Ban {
                                "user.banned"
                            } else {
                                "user.suspended"
                            },
                            by,
                            Some(("user", subject.to_string())),
                            serde_json::json!({"report": r.id}),
                            serde_json::json!({"note": note}),
                            Some(subject),
                        )
                        .await;
                    }
                }
            }
        }
        for x in &decided {
            if let Some(reporter) = x.reporter_id {
                let title = format!("Your report of a {label} was reviewed");
                self.tell(
                    reporter,
                    &title,
                    outcome.told_reporter(),
                    &format!("report:{}:outcome", x.id),
                )
                .await;
            }
        }
        tracing::info!(
            report = r.id,
            outcome = outcome.as_str(),
            moderator = moderator.id,
            "report decided"
        );
        Ok(decided.iter().map(report_view).collect())
    }

    /// Takes reported content down; whether there was something to take down.
    async fn remove_content(
        &self,
        kind: TargetKind,
        r: &ReportRecord,
        moderator: &UserRecord,
        note: &str,
    ) -> Result<bool, SafetyError> {
        let now = self.clock.now_ms();
        match kind {
            TargetKind::ChatMessage => {
                let Some(m) = self.db.chat_message_by_id(r.subject_id).await? else {
                    return Ok(false);
                };
                let details = serde_json::json!({"report": r.id}).to_string();
                let action = Action {
                    source_id: Some(m.source_id),
                    actor_id: moderator.id,
                    action: "delete_message",
                    target_user_id: m.user_id,
                    target_message_id: Some(m.id),
                    details: &details,
                };
                let done = self.db.delete_chat_message(m.id, &action, now).await?;
                if done {
                    self.fanout.publish(RealtimeEvent::MessageDeleted {
                        source_id: m.source_id,
                        id: m.id,
                    });
                }
                Ok(done)
            }
            TargetKind::Comment => {
                let Some(c) = self.db.comment_by_id(r.subject_id).await? else {
                    return Ok(false);
                };
                let source_id = match self.db.video_by_id(c.video_id).await? {
                    Some(v) => v.source_id,
                    None => None,
                };
                let details = serde_json::json!({"report": r.id, "comment_id": c.id}).to_string();
                let n = self
                    .db
                    .delete_comment(
                        &c,
                        Some(&CommentDeletion {
                            source_id,
                            actor_id: moderator.id,
                            details: &details,
                        }),
                        now,
                    )
                    .await?;
                Ok(n > 0)
            }
            TargetKind::Video => {
                let Some(v) = self.db.video_by_id(r.subject_id).await? else {
                    return Ok(false);
                };
                if v.visibility == "private" {
                    return Ok(false);
                }
                Ok(self
                    .db
                    .update_video_metadata(v.id, &v.title, &v.description, &v.tags, "private", now)
                    .await?)
            }
            TargetKind::LiveStream => {
                let Some(s) = self.db.source_by_id(r.subject_id).await? else {
                    return Ok(false);
                };
                let reason = if note.is_empty() {
                    "a moderator ended the stream after a report".to_string()
                } else {
                    format!("a moderator ended the stream after a report: {note}")
                };
                Ok(self.streams.stop_stream(&s.playback_id, &reason))
            }
            TargetKind::Post => {
                let Some(p) = self.db.post_by_id(r.subject_id).await? else {
                    return Ok(false);
                };
                let gone = self.db.delete_post(p.id).await?;
                for key in super::posts::images_of(&p.images) {
                    if let Err(e) = self.videos.storage().delete(&key).await {
                        tracing::warn!(%key, error = %e, "a removed post's picture stays in storage");
                    }
                }
                Ok(gone)
            }
            TargetKind::PostComment => Ok(self.db.delete_post_comment(r.subject_id).await?),
            TargetKind::Channel => Ok(false),
        }
    }

    /// `user`'s standing: strikes, restriction, decisions on their content, appeals, reports.
    pub async fn standing_view(&self, user: &UserRecord) -> Result<StandingView, SafetyError> {
        let now = self.clock.now_ms();
        let s = self.standing(user.id).await?;
        let appeals = self.db.appeals_of(user.id).await?;
        let appeal_of_strike = |id: i64| {
            appeals
                .iter()
                .find(|a| a.strike_id == Some(id))
                .map(|a| a.status.clone())
        };
        let appeal_of_report = |id: i64| {
            appeals
                .iter()
                .find(|a| a.report_id == Some(id))
                .map(|a| a.status.clone())
        };
        let strikes = self
            .db
            .strikes_of(user.id)
            .await?
            .iter()
            .map(|x| strike_view(x, now, appeal_of_strike(x.id)))
            .collect();
        let mut decisions = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for r in self.db.reports_about_user(user.id, 200).await? {
            let Some(outcome) = r.outcome.as_deref().and_then(Outcome::parse) else {
                continue;
            };
            if outcome == Outcome::Dismiss || !seen.insert((r.kind.clone(), r.subject_id)) {
                continue;
            }
            decisions.push(DecisionView {
                report_id: r.id,
                kind: r.kind.clone(),
                snapshot: serde_json::from_str(&r.snapshot).unwrap_or(serde_json::Value::Null),
                category_label: Category::parse(&r.category)
                    .map(|c| c.label().to_string())
                    .unwrap_or_default(),
                outcome: outcome.as_str().into(),
                note: r.resolution_note.clone(),
                decided_at: r.resolved_at.map(rfc),
                appeal: appeal_of_report(r.id),
            });
        }
        let reports = self
            .db
            .reports_by_reporter(user.id, 200)
            .await?
            .iter()
            .map(report_view)
            .collect();
        Ok(StandingView {
            active_strikes: s.active,
            restrict_at: ferrocast_domain::safety::RESTRICT_AT,
            restricted: s.restricted,
            restriction: s.restricted.then(|| restriction_reason(&s)),
            restricted_until: s.restricted_until.map(rfc),
            strikes,
            decisions,
            appeals: appeals.iter().map(appeal_view).collect(),
            reports,
        })
    }

    /// `user` appeals a strike of theirs (`strike_id`) or a decision on their content
    /// (`report_id`); one appeal each.
    pub async fn appeal(
        &self,
        user: &UserRecord,
        strike_id: Option<i64>,
        report_id: Option<i64>,
        statement: &str,
    ) -> Result<AppealView, SafetyError> {
        let statement = clean_text("statement", statement, MAX_TEXT_CHARS, true)
            .map_err(SafetyError::Invalid)?;
        match (strike_id, report_id) {
            (Some(id), None) => {
                self.db
                    .strike_by_id(id)
                    .await?
                    .filter(|s| s.user_id == user.id)
                    .ok_or(SafetyError::NotFound("strike"))?;
            }
            (None, Some(id)) => {
                self.db
                    .report_by_id(id)
                    .await?
                    .filter(|r| {
                        r.subject_user_id == Some(user.id)
                            && r.outcome
                                .as_deref()
                                .and_then(Outcome::parse)
                                .is_some_and(|o| o != Outcome::Dismiss)
                    })
                    .ok_or(SafetyError::NotFound("decision"))?;
            }
            _ => {
                return Err(SafetyError::Invalid(
                    "Name either strike_id or report_id: the strike or the decision you appeal."
                        .into(),
                ))
            }
        }
        self.appeals_per_user
            .check(&user.id.to_string())
            .map_err(|s| {
                SafetyError::TooFast(format!("You have sent many appeals: wait {s} s."), s)
            })?;
        let id = self
            .db
            .insert_appeal(
                user.id,
                strike_id,
                report_id,
                &statement,
                self.clock.now_ms(),
            )
            .await?
            .ok_or_else(|| {
                SafetyError::Conflict(
                    "You have appealed this already; an appeal is decided once.".into(),
                )
            })?;
        self.audit(
            "appeal.filed",
            Actor::User(user.id),
            Some(("appeal", id.to_string())),
            serde_json::json!({"strike_id": strike_id, "report_id": report_id}),
            serde_json::json!({"statement": statement}),
            Some(user.id),
        )
        .await;
        let a = self
            .db
            .appeal_by_id(id)
            .await?
            .ok_or(SafetyError::NotFound("appeal"))?;
        Ok(appeal_view(&a))
    }

    /// Appeals for the moderators: `open` (oldest first) by default.
    pub async fn appeals(
        &self,
        moderator: &UserRecord,
        status: Option<&str>,
    ) -> Result<Vec<AppealEntry>, SafetyError> {
        Self::require_moderator(moderator)?;
        let status = match status {
            None | Some("open") => Some("open"),
            Some("upheld") => Some("upheld"),
            Some("overturned") => Some("overturned"),
            Some("all") => None,
            Some(_) => {
                return Err(SafetyError::Invalid(
                    "status: one of open, upheld, overturned, all".into(),
                ))
            }
        };
        let now = self.clock.now_ms();
        let mut out = Vec::new();
        for a in self.db.list_appeals(status, 100).await? {
            let strike = match a.strike_id {
                Some(id) => self
                    .db
                    .strike_by_id(id)
                    .await?
                    .map(|s| strike_view(&s, now, Some(a.status.clone()))),
                None => None,
            };
            let report = match a.report_id {
                Some(id) => self.db.report_by_id(id).await?.map(|r| report_view(&r)),
                None => None,
            };
            out.push(AppealEntry {
                appeal: appeal_view(&a),
                user: self.person(a.user_id).await?,
                strike,
                report,
            });
        }
        Ok(out)
    }

    /// Decides an appeal: `overturn` (the strike stops counting; a removed video is made
    /// unlisted again) or uphold, with a note the user reads. Recorded and kept.
    pub async fn decide_appeal(
        &self,
        moderator: &UserRecord,
        appeal_id: i64,
        overturn: bool,
        note: &str,
    ) -> Result<AppealView, SafetyError> {
        Self::require_moderator(moderator)?;
        let note = clean_text("note", note, MAX_TEXT_CHARS, true).map_err(SafetyError::Invalid)?;
        let a = self
            .db
            .appeal_by_id(appeal_id)
            .await?
            .ok_or(SafetyError::NotFound("appeal"))?;
        if a.user_id == moderator.id {
            return Err(SafetyError::Forbidden(
                "You cannot decide your own appeal; another moderator can.",
            ));
        }
        let now = self.clock.now_ms();
        let status = if overturn { "overturned" } else { "upheld" };
        if !self
            .db
            .decide_appeal(a.id, status, moderator.id, &note, now)
            .await?
        {
            return Err(SafetyError::Conflict(
                "This appeal was decided already; reload.".into(),
            ));
        }
        let mut restored = false;
        if overturn {
            if let Some(strike) = a.strike_id {
                self.db
                    .overturn_strike(strike, moderator.id, &note, now)
                    .await?;
            }
            if let Some(report) = a.report_id {
                if let Some(r) = self.db.report_by_id(report).await? {
                    // A strike that came with the decision goes with it.
                    for s in self.db.strikes_of(a.user_id).await? {
                        if s.evidence.as_deref() == Some(&format!("report:{}", r.id)) {
                            self.db
                                .overturn_strike(s.id, moderator.id, &note, now)
                                .await?;
                        }
                    }
                    if r.kind == TargetKind::Video.as_str() {
                        if let Some(v) = self.db.video_by_id(r.subject_id).await? {
                            if v.visibility == "private" {
                                restored = self
                                    .db
                                    .update_video_metadata(
                                        v.id,
                                        &v.title,
                                        &v.description,
                                        &v.tags,
                                        "unlisted",
                                        now,
                                    )
                                    .await?;
                            }
                        }
                    }
                }
            }
        }
        self.audit(
            "appeal.decided",
            Actor::User(moderator.id),
            Some(("appeal", a.id.to_string())),
            serde_json::json!({"decision": status, "strike_id": a.strike_id, "report_id": a.report_id, "video_restored": restored}),
            serde_json::json!({"note": note}),
            Some(a.user_id),
        )
        .await;
        let title = if overturn {
            "Your appeal was granted"
        } else {
            "Your appeal was turned down"
        };
        self.tell(a.user_id, title, &note, &format!("appeal:{}", a.id))
            .await;
        let a = self
            .db
            .appeal_by_id(a.id)
            .await?
            .ok_or(SafetyError::NotFound("appeal"))?;
        Ok(appeal_view(&a))
    }
}
