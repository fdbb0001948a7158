//! A creator's schedule: upcoming streams they announce (title, start, duration, category,
//! reminder), checked by `ferrocast_domain::schedule`, listed on their channel and published as
//! an iCalendar feed (`/c/<handle>/schedule.ics`) that calendar apps subscribe to.

use super::discovery::category_name;
use super::videos::new_video_id;
use ferrocast_db::accounts::UserRecord;
use ferrocast_db::schedule::{ScheduleFields, ScheduledStream};
use ferrocast_db::{Db, DbError};
use ferrocast_domain::schedule::{self, CalendarEvent, MAX_UPCOMING};

/// Why a schedule change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The database failed.
    #[error(transparent)]
    Db(DbError),
    /// A field is not acceptable (the sentence names it and says what is).
    #[error("{0}")]
    Invalid(String),
    /// No such scheduled stream of this creator.
    #[error("no such scheduled stream")]
    NotFound,
    /// The creator has [`MAX_UPCOMING`] upcoming streams already.
    #[error("the schedule is full")]
    Full,
}

impl From<DbError> for ScheduleError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Invalid(m) => ScheduleError::Invalid(m),
            e => ScheduleError::Db(e),
        }
    }
}

/// A stream to schedule, as sent.
#[derive(Debug, Clone)]
pub struct Draft {
    /// Title.
    pub title: String,
    /// RFC 3339.
    pub starts_at: String,
    /// Minutes.
    pub duration_minutes: i64,
    /// A category's slug.
    pub category: Option<String>,
    /// Minutes before the start; `None`: no reminder.
    pub reminder_minutes: Option<i64>,
}

/// Changes to a scheduled stream: `None` leaves a field; `Some(None)` clears a clearable one.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// Title.
    pub title: Option<String>,
    /// RFC 3339.
    pub starts_at: Option<String>,
    /// Minutes.
    pub duration_minutes: Option<i64>,
    /// A category's slug.
    pub category: Option<Option<String>>,
    /// Minutes before the start.
    pub reminder_minutes: Option<Option<i64>>,
}

fn category(c: Option<&str>) -> Option<String> {
    c.map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
}

/// Schedules a stream.
pub async fn create(
    db: &Db,
    user: &UserRecord,
    d: Draft,
    now_ms: i64,
) -> Result<ScheduledStream, ScheduleError> {
    let invalid = ScheduleError::Invalid;
    let title = schedule::title(&d.title).map_err(invalid)?;
    let starts_at = schedule::starts_at(&d.starts_at, now_ms).map_err(invalid)?;
    let minutes = schedule::duration_minutes(d.duration_minutes).map_err(invalid)?;
    let reminder = schedule::reminder_minutes(d.reminder_minutes).map_err(invalid)?;
    let category = category(d.category.as_deref());
    let created = db
        .create_scheduled_stream(
            &new_video_id(),
            user.id,
            &ScheduleFields {
                title: &title,
                starts_at,
                duration_ms: minutes * 60_000,
                category: category.as_deref(),
                reminder_minutes: reminder,
            },
            now_ms,
            MAX_UPCOMING,
        )
        .await?;
    created.map_err(|_| ScheduleError::Full)
}

/// The creator's scheduled stream with this public id.
pub async fn own(db: &Db, user: &UserRecord, id: &str) -> Result<ScheduledStream, ScheduleError> {
    db.scheduled_stream_by_uuid(id)
        .await?
        .filter(|s| s.user_id == user.id)
        .ok_or(ScheduleError::NotFound)
}

/// Changes a scheduled stream. A start already past may stay as it is; a new one must be to come.
pub async fn update(
    db: &Db,
    user: &UserRecord,
    id: &str,
    c: Changes,
    now_ms: i64,
) -> Result<ScheduledStream, ScheduleError> {
    let invalid = ScheduleError::Invalid;
    let s = own(db, user, id).await?;
    let title = match c.title {
        Some(t) => schedule::title(&t).map_err(invalid)?,
        None => s.title.clone(),
    };
    let starts_at = match c.starts_at {
        Some(t) => schedule::starts_at(&t, now_ms).map_err(invalid)?,
        None => s.starts_at,
    };
    let duration_ms = match c.duration_minutes {
        Some(m) => schedule::duration_minutes(m).map_err(invalid)? * 60_000,
        None => s.duration_ms,
    };
    let category = match c.category {
        Some(c) => category(c.as_deref()),
        None => s.category.clone(),
    };
    let reminder = match c.reminder_minutes {
        Some(r) => schedule::reminder_minutes(r).map_err(invalid)?,
        None => s.reminder_minutes,
    };
    let fields = ScheduleFields {
        title: &title,
        starts_at,
        duration_ms,
        category: category.as_deref(),
        reminder_minutes: reminder,
    };
    if !db.update_scheduled_stream(s.id, &fields, now_ms).await? {
        return Err(ScheduleError::NotFound);
    }
    db.scheduled_stream_by_uuid(id)
        .await?
        .ok_or(ScheduleError::NotFound)
}

/// Removes a scheduled stream.
pub async fn delete(db: &Db, user: &UserRecord, id: &str) -> Result<(), ScheduleError> {
    let s = own(db, user, id).await?;
    db.delete_scheduled_stream(s.id).await?;
    Ok(())
}

/// The iCalendar feed of `user`'s upcoming streams; `base` is the node's public URL.
pub async fn calendar(
    db: &Db,
    user: &UserRecord,
    base: &str,
    now_ms: i64,
) -> Result<String, DbError> {
    let items = db.upcoming_streams(user.id, now_ms, MAX_UPCOMING).await?;
    let categories = db.list_categories().await?;
    let base = base.trim_end_matches('/');
    let host = base
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', ':']).next().unwrap_or(rest))
        .unwrap_or("ferrocast");
    let url = format!("{base}/c/{}", user.handle);
    let events: Vec<CalendarEvent<'_>> = items
        .iter()
        .map(|s| CalendarEvent {
            uid: format!("{}@{host}", s.uuid),
            summary: &s.title,
            description: format!(
                "{} streams live on ferrocast. Watch at {url}",
                user.display_name
            ),
            url: url.clone(),
            start_ms: s.starts_at,
            end_ms: s.starts_at + s.duration_ms,
            updated_ms: s.updated_at,
            reminder_minutes: s.reminder_minutes,
            category: category_name(&categories, s.category.as_deref()),
        })
        .collect();
    Ok(schedule::calendar(
        &format!("{} (@{}) on ferrocast", user.display_name, user.handle),
        &events,
        now_ms,
    ))
}
