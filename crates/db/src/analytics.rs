//! Creator analytics of live broadcasts (`stream_sessions`): the viewer sessions that ended
//! ([`ViewerSessionRow`], one row each: protocol, coarse origin, a keyed hash of the viewer,
//! start and end) and the concurrency sampled every few seconds ([`ViewerSampleRow`]). The
//! figures are read back per broadcast ([`Db::broadcast_summaries`], [`Db::broadcast_breakdown`],
//! [`Db::viewer_samples`]), per channel over time ([`Db::channel_series`]) and for the whole
//! site ([`Db::site_series`]). One SQL text serves both databases.

use crate::{on_pool, Db, DbError};
use sqlx::Row;
use std::collections::HashMap;

/// One viewer session, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerSessionRow {
    /// The broadcast.
    pub stream_session_id: i64,
    /// `rtmp`, `http_flv`, `hls` or `ll_hls`.
    pub protocol: String,
    /// `watch_page`, `embed` or `external`.
    pub origin: String,
    /// A keyed hash of the viewer (address and user agent); equal for the same viewer.
    pub viewer_key: String,
    /// Unix ms.
    pub started_at: i64,
    /// Unix ms.
    pub ended_at: i64,
}

/// One sample of a broadcast's concurrent viewers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ViewerSampleRow {
    /// The broadcast.
    pub stream_session_id: i64,
    /// The end of the sampled interval (Unix ms).
    pub at: i64,
    /// Watching at `at`.
    pub viewers: i64,
    /// The most watching at once during the interval that ends at `at`.
    pub peak: i64,
    /// Watching at `at` over RTMP.
    pub rtmp: i64,
    /// … over HTTP-FLV.
    pub http_flv: i64,
    /// … over HLS.
    pub hls: i64,
    /// … over Low-Latency HLS.
    pub ll_hls: i64,
    /// … from this site's watch and channel pages.
    pub watch_page: i64,
    /// … from the embeddable player.
    pub embed: i64,
    /// … from other players and sites.
    pub external: i64,
    /// People with the watch page open (its chat and presence), whether or not they play.
    pub page_viewers: i64,
}

/// A broadcast with its figures.
#[derive(Debug, Clone, PartialEq)]
pub struct BroadcastSummary {
    /// The `stream_sessions` id.
    pub id: i64,
    /// Its owner.
    pub user_id: i64,
    /// Its source (`None` once the source is deleted).
    pub source_id: Option<i64>,
    /// The source's name, or `None`.
    pub source_name: Option<String>,
    /// The source's stream title, or `None`.
    pub title: Option<String>,
    /// Unix ms.
    pub started_at: i64,
    /// Unix ms; `None` while live.
    pub ended_at: Option<i64>,
    /// The last heartbeat (Unix ms).
    pub last_seen_at: i64,
    /// The most viewers at once.
    pub peak_viewers: i64,
    /// Distinct viewers.
    pub unique_viewers: i64,
    /// Viewer sessions.
    pub sessions: i64,
    /// Watch time over every session, ms.
    pub watch_ms: i64,
    /// Chat messages during the broadcast (every platform).
    pub chat_messages: i64,
    /// Accounts that followed the channel during the broadcast.
    pub new_followers: i64,
}

/// A broadcast's figures for one protocol or one origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakdownRow {
    /// The protocol or origin.
    pub key: String,
    /// Viewer sessions.
    pub sessions: i64,
    /// Distinct viewers.
    pub unique_viewers: i64,
    /// Watch time, ms.
    pub watch_ms: i64,
}

/// One bucket of a series over time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeriesBucket {
    /// The bucket's start (Unix ms).
    pub from: i64,
    /// Broadcasts started in it.
    pub broadcasts: i64,
    /// The most viewers at once of one broadcast (channel) or of all of them together, by
    /// sample (site).
    pub peak_viewers: i64,
    /// Distinct viewers whose sessions started in it.
    pub unique_viewers: i64,
    /// Watch time of the sessions started in it, ms.
    pub watch_ms: i64,
    /// Chat messages (channel series only).
    pub chat_messages: i64,
    /// New followers (channel) or sign-ups (site).
    pub new_people: i64,
    /// Videos uploaded (site series only).
    pub uploads: i64,
}

/// Rows per multi-row insert.
const INSERT_BATCH: usize = 200;
/// Buckets per series at most.
pub const MAX_BUCKETS: i64 = 400;

impl Db {
    /// Stores ended viewer sessions.
    pub async fn insert_viewer_sessions(&self, rows: &[ViewerSessionRow]) -> Result<(), DbError> {
        for chunk in rows.chunks(INSERT_BATCH) {
            let marks = (0..chunk.len())
                .map(|i| {
                    let b = i * 6;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${})",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO viewer_sessions (stream_session_id, protocol, origin, viewer_key, started_at, ended_at) VALUES {marks}"
            );
            on_pool!(self, p => {
                let mut q = sqlx::query(&sql);
                for r in chunk {
                    q = q
                        .bind(r.stream_session_id)
                        .bind(&r.protocol)
                        .bind(&r.origin)
                        .bind(&r.viewer_key)
                        .bind(r.started_at)
                        .bind(r.ended_at);
                }
                q.execute(p).await?;
            });
        }
        Ok(())
    }

    /// Stores samples, many in one statement (a second one for the same broadcast and instant
    /// replaces the first, in the database or in `rows`).
    pub async fn insert_viewer_samples(&self, rows: &[ViewerSampleRow]) -> Result<(), DbError> {
        // One statement may not touch a row twice (PostgreSQL refuses it): the last one wins.
        let mut last: HashMap<(i64, i64), &ViewerSampleRow> = HashMap::new();
        for r in rows {
            last.insert((r.stream_session_id, r.at), r);
        }
        let mut rows: Vec<&ViewerSampleRow> = last.into_values().collect();
        rows.sort_by_key(|r| (r.stream_session_id, r.at));
        for chunk in rows.chunks(INSERT_BATCH / 2) {
            let marks = (0..chunk.len())
                .map(|i| {
                    let b = i * 12;
                    let n: Vec<String> = (1..=12).map(|k| format!("${}", b + k)).collect();
                    format!("({})", n.join(", "))
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO viewer_samples (stream_session_id, at, viewers, peak, rtmp, http_flv, hls, ll_hls, watch_page, embed, external, page_viewers) \
                 VALUES {marks} \
                 ON CONFLICT (stream_session_id, at) DO UPDATE SET viewers = excluded.viewers, peak = excluded.peak, \
                 rtmp = excluded.rtmp, http_flv = excluded.http_flv, hls = excluded.hls, ll_hls = excluded.ll_hls, \
                 watch_page = excluded.watch_page, embed = excluded.embed, external = excluded.external, page_viewers = excluded.page_viewers"
            );
            on_pool!(self, p => {
                let mut q = sqlx::query(&sql);
                for s in chunk {
                    q = q
                        .bind(s.stream_session_id).bind(s.at).bind(s.viewers).bind(s.peak)
                        .bind(s.rtmp).bind(s.http_flv).bind(s.hls).bind(s.ll_hls)
                        .bind(s.watch_page).bind(s.embed).bind(s.external).bind(s.page_viewers);
                }
                q.execute(p).await?;
            });
        }
        Ok(())
    }

    /// A user's broadcasts, newest first, with their figures: those with an id below `before`
    /// (`None`: from the newest), at most `limit`. `now` ends the figures of a live one.
    pub async fn broadcast_summaries(
        &self,
        user_id: i64,
        before: Option<i64>,
        limit: i64,
        now: i64,
    ) -> Result<Vec<BroadcastSummary>, DbError> {
        self.summaries(
            "ss.user_id = $1 AND ss.id < $2",
            user_id,
            before.unwrap_or(i64::MAX),
            limit,
            now,
        )
        .await
    }

    /// One broadcast with its figures.
    pub async fn broadcast_summary(
        &self,
        id: i64,
        now: i64,
    ) -> Result<Option<BroadcastSummary>, DbError> {
        Ok(self
            .summaries("ss.id = $1 AND $2 = $2", id, 0, 1, now)
            .await?
            .pop())
    }

    async fn summaries(
        &self,
        filter: &str,
        a: i64,
        b: i64,
        limit: i64,
        now: i64,
    ) -> Result<Vec<BroadcastSummary>, DbError> {
        let sql = format!(
            "SELECT ss.id, ss.user_id, ss.source_id, src.name AS source_name, src.title AS title, ss.started_at, ss.ended_at, ss.last_seen_at, \
             (SELECT COALESCE(MAX(v.peak), 0) FROM viewer_samples v WHERE v.stream_session_id = ss.id) AS peak, \
             (SELECT COUNT(DISTINCT w.viewer_key) FROM viewer_sessions w WHERE w.stream_session_id = ss.id) AS uniq, \
             (SELECT COUNT(*) FROM viewer_sessions w WHERE w.stream_session_id = ss.id) AS sessions, \
             (SELECT CAST(COALESCE(SUM(w.ended_at - w.started_at), 0) AS BIGINT) FROM viewer_sessions w WHERE w.stream_session_id = ss.id) AS watch_ms, \
             (SELECT COUNT(*) FROM chat_messages c WHERE c.source_id = ss.source_id AND c.message_type = 'message' \
                AND c.created_at >= ss.started_at AND c.created_at < COALESCE(ss.ended_at, $4)) AS chat, \
             (SELECT COUNT(*) FROM follows f WHERE f.channel_id = ss.user_id \
                AND f.created_at >= ss.started_at AND f.created_at < COALESCE(ss.ended_at, $4)) AS followers \
             FROM stream_sessions ss LEFT JOIN stream_sources src ON src.id = ss.source_id \
             WHERE {filter} ORDER BY ss.id DESC LIMIT $3"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(a).bind(b).bind(limit).bind(now).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(BroadcastSummary {
                    id: r.try_get("id")?,
                    user_id: r.try_get("user_id")?,
                    source_id: r.try_get("source_id")?,
                    source_name: r.try_get("source_name")?,
                    title: r.try_get("title")?,
                    started_at: r.try_get("started_at")?,
                    ended_at: r.try_get("ended_at")?,
                    last_seen_at: r.try_get("last_seen_at")?,
                    peak_viewers: r.try_get("peak")?,
                    unique_viewers: r.try_get("uniq")?,
                    sessions: r.try_get("sessions")?,
                    watch_ms: r.try_get("watch_ms")?,
                    chat_messages: r.try_get("chat")?,
                    new_followers: r.try_get("followers")?,
                });
            }
            Ok(out)
        })
    }

    /// A broadcast's figures by protocol and by origin.
    pub async fn broadcast_breakdown(
        &self,
        id: i64,
    ) -> Result<(Vec<BreakdownRow>, Vec<BreakdownRow>), DbError> {
        let mut out = (Vec::new(), Vec::new());
        for (column, list) in [("protocol", &mut out.0), ("origin", &mut out.1)] {
            let sql = format!(
                "SELECT {column} AS k, COUNT(*) AS n, COUNT(DISTINCT viewer_key) AS u, \
                 CAST(COALESCE(SUM(ended_at - started_at), 0) AS BIGINT) AS ms \
                 FROM viewer_sessions WHERE stream_session_id = $1 GROUP BY {column} ORDER BY {column}"
            );
            on_pool!(self, p => {
                for r in sqlx::query(&sql).bind(id).fetch_all(p).await? {
                    list.push(BreakdownRow {
                        key: r.try_get("k")?,
                        sessions: r.try_get("n")?,
                        unique_viewers: r.try_get("u")?,
                        watch_ms: r.try_get("ms")?,
                    });
                }
            });
        }
        Ok(out)
    }

    /// A broadcast's samples, oldest first (at most `limit`).
    pub async fn viewer_samples(
        &self,
        id: i64,
        limit: i64,
    ) -> Result<Vec<ViewerSampleRow>, DbError> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT stream_session_id, at, viewers, peak, rtmp, http_flv, hls, ll_hls, watch_page, embed, external, page_viewers \
                 FROM viewer_samples WHERE stream_session_id = $1 ORDER BY at LIMIT $2",
            )
            .bind(id).bind(limit).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(ViewerSampleRow {
                    stream_session_id: r.try_get("stream_session_id")?,
                    at: r.try_get("at")?,
                    viewers: r.try_get("viewers")?,
                    peak: r.try_get("peak")?,
                    rtmp: r.try_get("rtmp")?,
                    http_flv: r.try_get("http_flv")?,
                    hls: r.try_get("hls")?,
                    ll_hls: r.try_get("ll_hls")?,
                    watch_page: r.try_get("watch_page")?,
                    embed: r.try_get("embed")?,
                    external: r.try_get("external")?,
                    page_viewers: r.try_get("page_viewers")?,
                });
            }
            Ok(out)
        })
    }

    /// A channel's totals over time: `buckets` buckets of `step` ms from `from`.
    pub async fn channel_series(
        &self,
        user_id: i64,
        from: i64,
        step: i64,
        buckets: i64,
    ) -> Result<Vec<SeriesBucket>, DbError> {
        let (step, buckets) = (step.max(1), buckets.clamp(1, MAX_BUCKETS));
        let to = from + step * buckets;
        let mut out: Vec<SeriesBucket> = (0..buckets)
            .map(|i| SeriesBucket {
                from: from + i * step,
                ..Default::default()
            })
            .collect();
        let len = out.len();
        let index = |b: i64| usize::try_from(b).ok().filter(|i| *i < len);
        let b = |col: &str| format!("({col} - $2) / $3");
        let broadcasts = format!(
            "SELECT {} AS b, COUNT(*) AS n, \
             CAST(COALESCE(MAX((SELECT MAX(v.peak) FROM viewer_samples v WHERE v.stream_session_id = ss.id)), 0) AS BIGINT) AS peak \
             FROM stream_sessions ss WHERE ss.user_id = $1 AND ss.started_at >= $2 AND ss.started_at < $4 GROUP BY 1",
            b("ss.started_at")
        );
        let viewers = format!(
            "SELECT {} AS b, COUNT(DISTINCT w.viewer_key) AS u, CAST(COALESCE(SUM(w.ended_at - w.started_at), 0) AS BIGINT) AS ms \
             FROM viewer_sessions w JOIN stream_sessions ss ON ss.id = w.stream_session_id \
             WHERE ss.user_id = $1 AND w.started_at >= $2 AND w.started_at < $4 GROUP BY 1",
            b("w.started_at")
        );
        let chat = format!(
            "SELECT {} AS b, COUNT(*) AS n FROM chat_messages c JOIN stream_sources s ON s.id = c.source_id \
             WHERE s.user_id = $1 AND c.message_type = 'message' AND c.created_at >= $2 AND c.created_at < $4 GROUP BY 1",
            b("c.created_at")
        );
        let follows = format!(
            "SELECT {} AS b, COUNT(*) AS n FROM follows f WHERE f.channel_id = $1 AND f.created_at >= $2 AND f.created_at < $4 GROUP BY 1",
            b("f.created_at")
        );
        on_pool!(self, p => {
            for r in sqlx::query(&broadcasts).bind(user_id).bind(from).bind(step).bind(to).fetch_all(p).await? {
                if let Some(i) = index(r.try_get("b")?) {
                    out[i].broadcasts = r.try_get("n")?;
                    out[i].peak_viewers = r.try_get("peak")?;
                }
            }
            for r in sqlx::query(&viewers).bind(user_id).bind(from).bind(step).bind(to).fetch_all(p).await? {
                if let Some(i) = index(r.try_get("b")?) {
                    out[i].unique_viewers = r.try_get("u")?;
                    out[i].watch_ms = r.try_get("ms")?;
                }
            }
            for r in sqlx::query(&chat).bind(user_id).bind(from).bind(step).bind(to).fetch_all(p).await? {
                if let Some(i) = index(r.try_get("b")?) {
                    out[i].chat_messages = r.try_get("n")?;
                }
            }
            for r in sqlx::query(&follows).bind(user_id).bind(from).bind(step).bind(to).fetch_all(p).await? {
                if let Some(i) = index(r.try_get("b")?) {
                    out[i].new_people = r.try_get("n")?;
                }
            }
        });
        Ok(out)
    }

    /// The site's figures over time: broadcasts started, the most viewers at once (the sum over
    /// live broadcasts of one sampling instant), distinct viewers, watch time, sign-ups and
    /// uploads, in `buckets` buckets of `step` ms from `from`.
    pub async fn site_series(
        &self,
        from: i64,
        step: i64,
        buckets: i64,
    ) -> Result<Vec<SeriesBucket>, DbError> {
        let (step, buckets) = (step.max(1), buckets.clamp(1, MAX_BUCKETS));
        let to = from + step * buckets;
        let mut out: Vec<SeriesBucket> = (0..buckets)
            .map(|i| SeriesBucket {
                from: from + i * step,
                ..Default::default()
            })
            .collect();
        let len = out.len();
        let index = |b: i64| usize::try_from(b).ok().filter(|i| *i < len);
        let b = |col: &str| format!("({col} - $1) / $2");
        let queries = [
            format!("SELECT {} AS b, COUNT(*) AS n FROM stream_sessions WHERE started_at >= $1 AND started_at < $3 GROUP BY 1", b("started_at")),
            // Samples are taken on a 5 s grid per broadcast, not in step across broadcasts: the
            // site's concurrent viewers are summed per 5-second slot.
            format!(
                "SELECT {} AS b, CAST(MAX(t.n) AS BIGINT) AS n FROM (SELECT (at / 5000) * 5000 AS at, SUM(viewers) AS n FROM viewer_samples \
                 WHERE at >= $1 AND at < $3 GROUP BY at / 5000) t GROUP BY 1",
                b("t.at")
            ),
            format!("SELECT {} AS b, COUNT(DISTINCT viewer_key) AS n FROM viewer_sessions WHERE started_at >= $1 AND started_at < $3 GROUP BY 1", b("started_at")),
            format!("SELECT {} AS b, CAST(COALESCE(SUM(ended_at - started_at), 0) AS BIGINT) AS n FROM viewer_sessions WHERE started_at >= $1 AND started_at < $3 GROUP BY 1", b("started_at")),
            format!("SELECT {} AS b, COUNT(*) AS n FROM users WHERE created_at >= $1 AND created_at < $3 GROUP BY 1", b("created_at")),
            format!("SELECT {} AS b, COUNT(*) AS n FROM videos WHERE kind <> 'recording' AND created_at >= $1 AND created_at < $3 GROUP BY 1", b("created_at")),
        ];
        for (k, sql) in queries.iter().enumerate() {
            on_pool!(self, p => {
                for r in sqlx::query(sql).bind(from).bind(step).bind(to).fetch_all(p).await? {
                    if let Some(i) = index(r.try_get("b")?) {
                        let n: i64 = r.try_get("n")?;
                        let bucket = &mut out[i];
                        match k {
                            0 => bucket.broadcasts = n,
                            1 => bucket.peak_viewers = n,
                            2 => bucket.unique_viewers = n,
                            3 => bucket.watch_ms = n,
                            4 => bucket.new_people = n,
                            _ => bucket.uploads = n,
                        }
                    }
                }
            });
        }
        Ok(out)
    }
}
