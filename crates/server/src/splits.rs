//! Collaborator splits: a creator divides the income of their channel, of one video or of one
//! live stream (a source) between collaborators, in percentages summing to 100. The shares are
//! stored in `revenue_splits` as basis points; each income is divided by the most specific
//! split when it is posted to the ledger (video, else stream, else channel).

use crate::error::ApiError;
use crate::state::AppState;
use ferrocast_db::accounts::UserRecord;
use ferrocast_domain::ledger::{validate_splits, Split, MAX_SPLITS, WHOLE_BPS};

/// What a split divides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `channel`, `video` or `source`.
    pub scope: &'static str,
    /// The stored target id (the owner's user id, the video's or the source's id).
    pub id: i64,
    /// Its public id (`channel`, the video's public id, the source's id).
    pub public: String,
    /// What the creator calls it.
    pub name: String,
}

/// Reads `"33.34"` (percent, at most two decimals) as basis points.
pub fn percent_to_bps(text: &str) -> Option<i64> {
    let t = text.trim().trim_end_matches('%').trim();
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty()
        || whole.len() > 3
        || frac.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let w: i64 = whole.parse().ok()?;
    let f: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<2}").parse().ok()?
    };
    let bps = w * 100 + f;
    (bps <= WHOLE_BPS).then_some(bps)
}

/// Basis points as a percentage (`3334` → `"33.34"`).
pub fn bps_to_percent(bps: i64) -> String {
    format!("{}.{:02}", bps / 100, bps % 100)
}

/// The target `scope`/`target` of `owner`, checked to be theirs.
pub async fn target(
    state: &AppState,
    owner: &UserRecord,
    scope: &str,
    target: Option<&str>,
) -> Result<Target, ApiError> {
    let target = target.map(str::trim).filter(|t| !t.is_empty());
    match scope {
        "channel" => Ok(Target {
            scope: "channel",
            id: owner.id,
            public: "channel".into(),
            name: format!("Your channel ({})", owner.display_name),
        }),
        "video" => {
            let id = target
                .filter(|t| t.len() <= 64)
                .ok_or_else(|| ApiError::validation("target: the video's id"))?;
            let v = state
                .db
                .video_by_uuid(id)
                .await?
                .filter(|v| v.user_id == owner.id)
                .ok_or_else(|| ApiError::not_found("video"))?;
            Ok(Target {
                scope: "video",
                id: v.id,
                public: v.uuid,
                name: v.title,
            })
        }
        "source" => {
            let id: i64 = target
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| ApiError::validation("target: the source's id (a number)"))?;
            let s = state
                .db
                .source_by_id(id)
                .await?
                .filter(|s| s.user_id == owner.id)
                .ok_or_else(|| ApiError::not_found("source"))?;
            Ok(Target {
                scope: "source",
                id: s.id,
                public: s.id.to_string(),
                name: s.name,
            })
        }
        _ => Err(ApiError::validation("scope: channel, video or source")),
    }
}

/// The public id and name of a stored target of `owner`, for listing (`None`: it is gone).
pub async fn describe(
    state: &AppState,
    owner: &UserRecord,
    scope: &str,
    id: i64,
) -> Result<Option<Target>, ApiError> {
    Ok(match scope {
        "channel" => Some(Target {
            scope: "channel",
            id,
            public: "channel".into(),
            name: format!("Your channel ({})", owner.display_name),
        }),
        "video" => state.db.video_by_id(id).await?.map(|v| Target {
            scope: "video",
            id,
            public: v.uuid,
            name: v.title,
        }),
        "source" => state.db.source_by_id(id).await?.map(|s| Target {
            scope: "source",
            id,
            public: s.id.to_string(),
            name: s.name,
        }),
        _ => None,
    })
}

/// Resolves shares given as (channel handle, percent) into checked splits.
pub async fn shares(state: &AppState, given: &[(String, String)]) -> Result<Vec<Split>, ApiError> {
    if given.len() > MAX_SPLITS {
        return Err(ApiError::validation(format!(
            "shares: at most {MAX_SPLITS}"
        )));
    }
    let mut out = Vec::with_capacity(given.len());
    for (i, (handle, percent)) in given.iter().enumerate() {
        let n = i + 1;
        let handle = handle.trim().trim_start_matches('@').to_ascii_lowercase();
        if handle.is_empty() || handle.len() > 64 {
            return Err(ApiError::validation(format!(
                "shares[{n}].handle: a channel handle"
            )));
        }
        let user = state
            .db
            .user_by_handle(&handle)
            .await?
            .filter(|u| u.suspended_at.is_none())
            .ok_or_else(|| {
                ApiError::validation(format!("shares[{n}].handle: no channel @{handle}"))
            })?;
        let bps = percent_to_bps(percent).filter(|b| *b > 0).ok_or_else(|| {
            ApiError::validation(format!("shares[{n}].percent: a percentage above 0 and at most 100, with at most two decimals (\"33.33\")"))
        })?;
        out.push(Split {
            user_id: user.id,
            bps,
        });
    }
    validate_splits(&out).map_err(|e| ApiError::validation(format!("shares: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_are_read_exactly() {
        assert_eq!(percent_to_bps("33.34"), Some(3334));
        assert_eq!(percent_to_bps("50"), Some(5000));
        assert_eq!(percent_to_bps("7.5 %"), Some(750));
        assert_eq!(percent_to_bps("100"), Some(10000));
        for bad in ["", "-1", "100.01", "1.234", "abc", "1e2", ".5"] {
            assert_eq!(percent_to_bps(bad), None, "{bad}");
        }
        assert_eq!(bps_to_percent(3334), "33.34");
        assert_eq!(bps_to_percent(750), "7.50");
    }
}
