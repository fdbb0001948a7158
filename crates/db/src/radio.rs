//! Radio: a creator's station (its playback id, whether it plays, the DJ's source, what is
//! playing now), its tracks in playing order, and the one lease under which a node plays every
//! station.

use crate::{on_pool, Db, DbError};
use sqlx::Row;

/// A creator's radio station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationRecord {
    /// The creator.
    pub user_id: i64,
    /// The station's stream (HLS at `/hls/<playback_id>/index.m3u8`).
    pub playback_id: String,
    /// What listeners see above the player.
    pub title: String,
    /// Whether it plays.
    pub enabled: bool,
    /// The source a DJ publishes to, taking the air while live.
    pub dj_source_id: Option<i64>,
    /// What is playing now: a track's title, or the DJ's stream title.
    pub now_title: Option<String>,
    /// The track playing now (`None` while a DJ is on).
    pub now_track_id: Option<i64>,
    /// A DJ is on the air.
    pub now_dj: bool,
    /// Since when (ms) it plays.
    pub now_since: Option<i64>,
    /// The creator's handle.
    pub handle: String,
    /// The creator's display name.
    pub display_name: String,
}

/// A track of a station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackRecord {
    /// Row id.
    pub id: i64,
    /// The station's creator.
    pub user_id: i64,
    /// Its title.
    pub title: String,
    /// Its artist (may be empty).
    pub artist: String,
    /// How long it plays (ms).
    pub duration_ms: i64,
    /// The AAC object in storage.
    pub storage_key: String,
    /// Its place in the playlist (ascending).
    pub position: i64,
}

const STATION_SELECT: &str = "SELECT s.user_id, s.playback_id, s.title, s.enabled, s.dj_source_id, \
     s.now_title, s.now_track_id, s.now_dj, s.now_since, COALESCE(u.handle, '') AS handle, u.display_name \
     FROM radio_stations s JOIN users u ON u.id = s.user_id";

const TRACK_SELECT: &str =
    "SELECT id, user_id, title, artist, duration_ms, storage_key, position FROM radio_tracks";

macro_rules! station_from_row {
    ($r:expr) => {
        StationRecord {
            user_id: $r.try_get("user_id")?,
            playback_id: $r.try_get("playback_id")?,
            title: $r.try_get("title")?,
            enabled: $r.try_get("enabled")?,
            dj_source_id: $r.try_get("dj_source_id")?,
            now_title: $r.try_get("now_title")?,
            now_track_id: $r.try_get("now_track_id")?,
            now_dj: $r.try_get("now_dj")?,
            now_since: $r.try_get("now_since")?,
            handle: $r.try_get("handle")?,
            display_name: $r.try_get("display_name")?,
        }
    };
}

macro_rules! track_from_row {
    ($r:expr) => {
        TrackRecord {
            id: $r.try_get("id")?,
            user_id: $r.try_get("user_id")?,
            title: $r.try_get("title")?,
            artist: $r.try_get("artist")?,
            duration_ms: $r.try_get("duration_ms")?,
            storage_key: $r.try_get("storage_key")?,
            position: $r.try_get("position")?,
        }
    };
}

impl Db {
    /// A creator's station, made (disabled, with `playback_id`) if they had none.
    pub async fn ensure_station(
        &self,
        user_id: i64,
        playback_id: &str,
        now: i64,
    ) -> Result<StationRecord, DbError> {
        on_pool!(self, p => sqlx::query(
            "INSERT INTO radio_stations (user_id, playback_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user_id).bind(playback_id).bind(now)
        .execute(p).await.map(|_| ()))?;
        self.station_of(user_id)
            .await?
            .ok_or_else(|| DbError::Invalid("the station was not stored".into()))
    }

    /// A creator's station, if they have one.
    pub async fn station_of(&self, user_id: i64) -> Result<Option<StationRecord>, DbError> {
        let sql = format!("{STATION_SELECT} WHERE s.user_id = $1");
        on_pool!(self, p => match sqlx::query(&sql).bind(user_id).fetch_optional(p).await? {
            Some(r) => Ok(Some(station_from_row!(r))),
            None => Ok(None),
        })
    }

    /// The stations that play: enabled, of accounts not suspended.
    pub async fn stations_on_air(&self) -> Result<Vec<StationRecord>, DbError> {
        let sql = format!(
            "{STATION_SELECT} WHERE s.enabled = TRUE AND u.suspended_at IS NULL ORDER BY s.user_id"
        );
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(station_from_row!(r));
            }
            Ok(out)
        })
    }

    /// Changes a station's title, whether it plays and its DJ source.
    pub async fn update_station(
        &self,
        user_id: i64,
        title: &str,
        enabled: bool,
        dj_source_id: Option<i64>,
    ) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query(
            "UPDATE radio_stations SET title = $2, enabled = $3, dj_source_id = $4 WHERE user_id = $1",
        )
        .bind(user_id).bind(title).bind(enabled).bind(dj_source_id)
        .execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// Notes what a station plays now (`None`: nothing).
    pub async fn set_now_playing(
        &self,
        user_id: i64,
        title: Option<&str>,
        track_id: Option<i64>,
        dj: bool,
        since: Option<i64>,
    ) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query(
            "UPDATE radio_stations SET now_title = $2, now_track_id = $3, now_dj = $4, now_since = $5 WHERE user_id = $1",
        )
        .bind(user_id).bind(title).bind(track_id).bind(dj).bind(since)
        .execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// Adds a track at the end of a station's playlist; its id.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_track(
        &self,
        user_id: i64,
        title: &str,
        artist: &str,
        duration_ms: i64,
        storage_key: &str,
        now: i64,
    ) -> Result<i64, DbError> {
        Ok(on_pool!(self, p => sqlx::query_scalar::<_, i64>(
            "INSERT INTO radio_tracks (user_id, title, artist, duration_ms, storage_key, position, created_at) \
             VALUES ($1, $2, $3, $4, $5, (SELECT COALESCE(MAX(position), 0) + 1 FROM radio_tracks WHERE user_id = $1), $6) RETURNING id",
        )
        .bind(user_id).bind(title).bind(artist).bind(duration_ms).bind(storage_key).bind(now)
        .fetch_one(p).await?))
    }

    /// A station's tracks in playing order.
    pub async fn tracks_of(&self, user_id: i64) -> Result<Vec<TrackRecord>, DbError> {
        let sql = format!("{TRACK_SELECT} WHERE user_id = $1 ORDER BY position, id");
        on_pool!(self, p => {
            let rows = sqlx::query(&sql).bind(user_id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(track_from_row!(r));
            }
            Ok(out)
        })
    }

    /// The track after `after` in a station's playlist, going round to the first; the first
    /// when `after` is `None` or gone.
    pub async fn next_track(
        &self,
        user_id: i64,
        after: Option<i64>,
    ) -> Result<Option<TrackRecord>, DbError> {
        let tracks = self.tracks_of(user_id).await?;
        let next = after
            .and_then(|a| tracks.iter().position(|t| t.id == a))
            .map_or(0, |i| i + 1);
        Ok(tracks.get(next).or_else(|| tracks.first()).cloned())
    }

    /// Deletes a track of `user_id`'s; its storage key if it was theirs.
    pub async fn delete_track(&self, user_id: i64, id: i64) -> Result<Option<String>, DbError> {
        on_pool!(self, p => Ok(sqlx::query_scalar::<_, String>(
            "DELETE FROM radio_tracks WHERE id = $1 AND user_id = $2 RETURNING storage_key",
        )
        .bind(id).bind(user_id)
        .fetch_optional(p).await?))
    }

    /// Puts a station's tracks in the order of `ids` (each must be one of theirs); whether all
    /// were.
    pub async fn order_tracks(&self, user_id: i64, ids: &[i64]) -> Result<bool, DbError> {
        let tracks = self.tracks_of(user_id).await?;
        let mine =
            ids.len() == tracks.len() && ids.iter().all(|id| tracks.iter().any(|t| t.id == *id));
        if !mine {
            return Ok(false);
        }
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            for (i, id) in ids.iter().enumerate() {
                sqlx::query("UPDATE radio_tracks SET position = $1 WHERE id = $2 AND user_id = $3")
                    .bind(i as i64 + 1).bind(id).bind(user_id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, DbError>(())
        })?;
        Ok(true)
    }

    /// Takes or renews the radio runner's lease for `holder` until `until`; whether it holds it.
    pub async fn take_radio_lease(
        &self,
        holder: &str,
        now: i64,
        until: i64,
    ) -> Result<bool, DbError> {
        self.take_row_lease("radio_runner", holder, now, until)
            .await
    }

    /// Gives the radio lease up, so another node may take it at once.
    pub async fn release_radio_lease(&self, holder: &str) -> Result<(), DbError> {
        self.release_row_lease("radio_runner", holder).await
    }
}
