//! Who may watch gated content, and the playback tokens that carry the answer to a player.
//!
//! A video or a live stream has an access level ([`Level`]): `public`, `members` (members of
//! its creator, of at least a tier when one is set) or `ppv` (a paid, unrefunded one-time
//! purchase of it). Its creator always may watch it. A viewer who may is handed playback URLs
//! with a **playback token** (`?token=<user>.<exp>.<sig>`): an HMAC-SHA256, with a key derived
//! from the master key for this purpose only, over the content, the viewer's user id, the
//! expiry and the address the token was issued to. Every gated playlist and segment request
//! is checked ([`Access::admit`]): the token must be valid for that content, unexpired, and
//! presented from the address it was issued to (by the user it names, when the request
//! carries a credential), and the viewer's entitlement is looked up again — a membership that
//! lapsed past its grace period, or a refunded purchase, stops the next request. Playlists
//! are answered with the token appended to each URI ([`sign_playlist`]), so a player stays
//! authorised without knowing about it.

use crate::service::clock::SharedClock;
use ferrocast_db::sources::SourceRecord;
use ferrocast_db::videos::VideoRecord;
use ferrocast_db::{Db, DbError};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a playback token stays valid (seconds). Each playlist answered re-checks the
/// entitlement; the web player asks for a fresh token when one expires.
pub const PLAYBACK_TOKEN_SECS: i64 = 3 * 3600;
/// How long a live stream's access level is remembered by a node between lookups: HLS players
/// fetch several objects a second, and public streams must not cost a query each.
pub const LEVEL_CACHE: Duration = Duration::from_secs(5);
/// Longest token read.
const MAX_TOKEN_LEN: usize = 128;
/// Streams remembered at most; the cache is cleared when it is full.
const MAX_CACHED_STREAMS: usize = 10_000;

/// The access levels.
pub const LEVELS: [&str; 3] = ["public", "members", "ppv"];

/// Who may watch a video or a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Level {
    /// Anyone who may see it.
    Public,
    /// Members of the creator, of at least the tier `min_tier` when set.
    Members {
        /// The lowest tier (its id).
        min_tier: Option<i64>,
    },
    /// Buyers of a one-time purchase.
    Ppv {
        /// The price, minor units.
        price_minor: i64,
        /// ISO 4217, upper case.
        currency: String,
    },
}

impl Level {
    /// The level stored in a row's access columns (a `ppv` row without a price counts as
    /// members-only rather than public: the creator meant it gated).
    pub fn from_columns(
        access: &str,
        tier: Option<i64>,
        price: Option<i64>,
        currency: Option<&str>,
    ) -> Self {
        match (access, price, currency) {
            ("public", _, _) => Level::Public,
            ("ppv", Some(p), Some(c)) if p > 0 => Level::Ppv {
                price_minor: p,
                currency: c.to_string(),
            },
            _ => Level::Members { min_tier: tier },
        }
    }

    /// A video's level.
    pub fn of_video(v: &VideoRecord) -> Self {
        Self::from_columns(
            &v.access,
            v.access_tier_id,
            v.ppv_price_minor,
            v.ppv_currency.as_deref(),
        )
    }

    /// A stream's (source's) level.
    pub fn of_source(s: &SourceRecord) -> Self {
        Self::from_columns(
            &s.access,
            s.access_tier_id,
            s.ppv_price_minor,
            s.ppv_currency.as_deref(),
        )
    }

    /// Whether it is gated.
    pub fn is_gated(&self) -> bool {
        !matches!(self, Level::Public)
    }

    /// `public`, `members` or `ppv`.
    pub fn name(&self) -> &'static str {
        match self {
            Level::Public => "public",
            Level::Members { .. } => "members",
            Level::Ppv { .. } => "ppv",
        }
    }
}

/// What a token opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content<'a> {
    /// A video, by its public id.
    Video(&'a str),
    /// A live stream, by its playback id.
    Stream(&'a str),
}

impl Content<'_> {
    fn tag(&self) -> (&'static str, &str) {
        match self {
            Content::Video(id) => ("v", id),
            Content::Stream(id) => ("s", id),
        }
    }
}

/// Gated content as an entitlement check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gated {
    /// Its creator.
    pub owner: i64,
    /// Its level.
    pub level: Level,
    /// A video's row id (for its purchases).
    pub video_id: Option<i64>,
    /// A stream's source id (for its purchases).
    pub source_id: Option<i64>,
}

impl Gated {
    /// A video.
    pub fn video(v: &VideoRecord) -> Self {
        Self {
            owner: v.user_id,
            level: Level::of_video(v),
            video_id: Some(v.id),
            source_id: None,
        }
    }

    /// A stream.
    pub fn source(s: &SourceRecord) -> Self {
        Self {
            owner: s.user_id,
            level: Level::of_source(s),
            video_id: None,
            source_id: Some(s.id),
        }
    }
}

/// Why a gated request is refused.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// No token, or one that is malformed, not for this content, or forged.
    #[error("no valid playback token")]
    NoToken,
    /// The token expired.
    #[error("the playback token expired")]
    Expired,
    /// The token was issued to another address, or the request's credential is another
    /// user's.
    #[error("the playback token belongs to someone else")]
    NotYours,
    /// The viewer is not (or no longer) a member of a high enough tier.
    #[error("members only")]
    MembersOnly,
    /// The viewer has not bought it (or the purchase was refunded).
    #[error("purchase required")]
    PurchaseRequired,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Signs and checks playback tokens.
#[derive(Clone)]
pub struct TokenKey {
    key: [u8; 32],
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey")
    }
}

/// An address as tokens bind it (an IPv4-mapped IPv6 address is its IPv4 address).
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

impl TokenKey {
    /// The key derived from the master key for playback tokens only.
    pub fn derive(master_key: &[u8; 32]) -> Self {
        Self {
            key: ferrocast_auth::secretbox::derive_key(master_key, "playback-token-hmac-sha256"),
        }
    }

    fn mac(&self, content: Content<'_>, user: i64, exp: i64, ip: IpAddr) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .expect("invariant: HMAC accepts any key length");
        let (kind, id) = content.tag();
        mac.update(format!("{kind}:{id}:{user}:{exp}:{}", canonical(ip)).as_bytes());
        mac
    }

    /// A token for `user` watching `content` from `ip`, valid until `exp` (Unix seconds).
    pub fn issue(&self, content: Content<'_>, user: i64, ip: IpAddr, exp: i64) -> String {
        let sig = data_encoding::HEXLOWER
            .encode(&self.mac(content, user, exp, ip).finalize().into_bytes());
        format!("{user}.{exp}.{sig}")
    }

    /// The user a token names, if it was issued for `content` to `ip` and has not expired at
    /// `now_secs` (constant-time comparison).
    pub fn verify(
        &self,
        content: Content<'_>,
        token: &str,
        ip: IpAddr,
        now_secs: i64,
    ) -> Result<i64, Refusal> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(Refusal::NoToken);
        }
        let mut parts = token.splitn(3, '.');
        let (Some(user), Some(exp), Some(sig)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Refusal::NoToken);
        };
        let (Ok(user), Ok(exp)) = (user.parse::<i64>(), exp.parse::<i64>()) else {
            return Err(Refusal::NoToken);
        };
        let Ok(raw) = data_encoding::HEXLOWER_PERMISSIVE.decode(sig.as_bytes()) else {
            return Err(Refusal::NoToken);
        };
        if self.mac(content, user, exp, ip).verify_slice(&raw).is_err() {
            // Signed for this content and user but another address: someone else's copy.
            return Err(Refusal::NotYours);
        }
        if exp < now_secs {
            return Err(Refusal::Expired);
        }
        Ok(user)
    }
}

/// `text` (an HLS playlist) with `query` appended to every URI: the URI lines and the `URI="…"`
/// attributes of tags (`EXT-X-PART`, `EXT-X-PRELOAD-HINT`, `EXT-X-MAP`,
/// `EXT-X-RENDITION-REPORT`, …).
pub fn sign_playlist(text: &str, query: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() {
            out.push_str(line);
        } else if t.starts_with('#') {
            let mut rest = line;
            while let Some(at) = rest.find("URI=\"") {
                let start = at + 5;
                out.push_str(&rest[..start]);
                rest = &rest[start..];
                let Some(end) = rest.find('"') else {
                    break;
                };
                let uri = &rest[..end];
                out.push_str(uri);
                out.push(if uri.contains('?') { '&' } else { '?' });
                out.push_str(query);
                rest = &rest[end..];
            }
            out.push_str(rest);
        } else {
            out.push_str(line);
            out.push(if t.contains('?') { '&' } else { '?' });
            out.push_str(query);
        }
        out.push('\n');
    }
    out
}

/// What a refused RTMP player is told (its status message).
pub fn play_refusal(r: &Refusal) -> String {
    match r {
        Refusal::NoToken => {
            "this stream is for members or buyers: play it with the token from its watch page (?token=...)".into()
        }
        Refusal::Expired => "the playback token expired: get a new one from the watch page".into(),
        Refusal::NotYours => "this playback token was issued to someone else".into(),
        Refusal::MembersOnly => "this stream is for members: join the channel to watch".into(),
        Refusal::PurchaseRequired => "this stream is pay-per-view: buy it to watch".into(),
        Refusal::Db(_) => "temporarily unavailable, try again".into(),
    }
}

/// A node's memory of a stream's gate, for [`LEVEL_CACHE`].
type StreamCache = HashMap<String, (Instant, Option<Gated>)>;

/// Entitlements and playback tokens.
pub struct Access {
    db: Db,
    clock: SharedClock,
    key: TokenKey,
    grace_ms: i64,
    streams: Mutex<StreamCache>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("grace_ms", &self.grace_ms)
            .finish_non_exhaustive()
    }
}

impl Access {
    /// The service; a membership whose renewal failed keeps its access for `grace_days` past
    /// the end of its period (`FERROCAST_PAYMENT_GRACE_DAYS`).
    pub fn new(db: Db, clock: SharedClock, master_key: &[u8; 32], grace_days: i64) -> Self {
        Self {
            db,
            clock,
            key: TokenKey::derive(master_key),
            grace_ms: grace_days.max(0) * 86_400_000,
            streams: Mutex::new(HashMap::new()),
        }
    }

    /// The token key.
    pub fn key(&self) -> &TokenKey {
        &self.key
    }

    /// Whether `user` may watch `g` now: its creator always; for `members` an active
    /// membership (or one within the grace period past its end; a canceled one until its end)
    /// of at least the lowest tier's rank; for `ppv` a paid, unrefunded purchase of it.
    pub async fn entitled(&self, user: i64, g: &Gated) -> Result<bool, DbError> {
        if user == g.owner {
            return Ok(true);
        }
        match &g.level {
            Level::Public => Ok(true),
            Level::Members { min_tier } => {
                let now = self.clock.now_ms();
                let Some(s) = self.db.standing(user, g.owner).await? else {
                    return Ok(false);
                };
                let current = (s.active && now < s.period_end.saturating_add(self.grace_ms))
                    || (s.canceled && now < s.period_end);
                if !current {
                    return Ok(false);
                }
                let Some(min) = min_tier else {
                    return Ok(true);
                };
                match self.db.tier(*min).await? {
                    // The lowest tier is gone: any member.
                    None => Ok(true),
                    Some(t) if t.creator_id != g.owner => Ok(true),
                    Some(t) => Ok(s.rank.is_some_and(|r| r >= t.rank)),
                }
            }
            Level::Ppv { .. } => match (g.video_id, g.source_id) {
                (Some(v), _) => self.db.bought_video(user, v).await,
                (None, Some(s)) => self.db.bought_stream(user, s).await,
                (None, None) => Ok(false),
            },
        }
    }

    /// A token for `user` at `ip`, valid for [`PLAYBACK_TOKEN_SECS`].
    pub fn issue(&self, content: Content<'_>, user: i64, ip: IpAddr) -> String {
        self.key.issue(
            content,
            user,
            ip,
            self.clock.now_secs() + PLAYBACK_TOKEN_SECS,
        )
    }

    /// Admits a request for gated content `g`: the token is valid for `content`, issued to
    /// `ip` (and to `caller`, the user of the request's credential, if it sent one), and its
    /// user is entitled now. The user on success.
    pub async fn admit(
        &self,
        content: Content<'_>,
        g: &Gated,
        token: Option<&str>,
        ip: IpAddr,
        caller: Option<i64>,
    ) -> Result<i64, Refusal> {
        let token = token.ok_or(Refusal::NoToken)?;
        let user = self.key.verify(content, token, ip, self.clock.now_secs())?;
        if caller.is_some_and(|c| c != user) {
            return Err(Refusal::NotYours);
        }
        if self.entitled(user, g).await? {
            Ok(user)
        } else {
            Err(match g.level {
                Level::Ppv { .. } => Refusal::PurchaseRequired,
                _ => Refusal::MembersOnly,
            })
        }
    }

    /// The gate of the live stream `playback_id` (`None`: no source has it), remembered for
    /// [`LEVEL_CACHE`].
    pub async fn stream_gate(&self, playback_id: &str) -> Result<Option<Gated>, DbError> {
        {
            let cache = self.streams.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((at, g)) = cache.get(playback_id) {
                if at.elapsed() < LEVEL_CACHE {
                    return Ok(g.clone());
                }
            }
        }
        let g = self
            .db
            .source_by_playback_id(playback_id)
            .await?
            .map(|s| Gated::source(&s));
        let mut cache = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_CACHED_STREAMS {
            cache.clear();
        }
        cache.insert(playback_id.to_string(), (Instant::now(), g.clone()));
        Ok(g)
    }

    /// Forgets what this node remembers of a stream's gate (its creator changed it).
    pub fn forget_stream(&self, playback_id: &str) {
        self.streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(playback_id);
    }

    /// Whether an RTMP or HTTP-FLV player may play the live stream `playback_id` with the
    /// query it sent (`token=…`) from `ip`: a public stream (or one no source has: the engine
    /// answers that) always; a gated one with a token admitted as [`Access::admit`] does.
    pub async fn admit_stream_query(
        &self,
        playback_id: &str,
        query: Option<&str>,
        ip: IpAddr,
    ) -> Result<(), Refusal> {
        let Some(g) = self.stream_gate(playback_id).await? else {
            return Ok(());
        };
        if !g.level.is_gated() {
            return Ok(());
        }
        let token = query.and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")));
        self.admit(Content::Stream(playback_id), &g, token, ip, None)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_bind_content_user_address_and_time() {
        let k = TokenKey::derive(&[3; 32]);
        let ip: IpAddr = "203.0.113.7".parse().expect("ip");
        let other: IpAddr = "203.0.113.8".parse().expect("ip");
        let t = k.issue(Content::Video("abc"), 42, ip, 1_000);
        assert_eq!(k.verify(Content::Video("abc"), &t, ip, 999).ok(), Some(42));
        assert!(matches!(
            k.verify(Content::Video("abc"), &t, other, 999),
            Err(Refusal::NotYours)
        ));
        assert!(k.verify(Content::Video("abd"), &t, ip, 999).is_err());
        assert!(k.verify(Content::Stream("abc"), &t, ip, 999).is_err());
        assert!(matches!(
            k.verify(Content::Video("abc"), &t, ip, 1_001),
            Err(Refusal::Expired)
        ));
        // Another user id with the same signature is not accepted.
        let forged = t.replacen("42.", "43.", 1);
        assert!(k.verify(Content::Video("abc"), &forged, ip, 999).is_err());
        // A mapped IPv4 address is the same address.
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().expect("ip");
        assert_eq!(
            k.verify(Content::Video("abc"), &t, mapped, 999).ok(),
            Some(42)
        );
        assert!(k.verify(Content::Video("abc"), "1.2", ip, 0).is_err());
        assert!(k
            .verify(Content::Video("abc"), &"9".repeat(500), ip, 0)
            .is_err());
    }

    #[test]
    fn playlists_are_signed_everywhere_a_uri_is() {
        let text = "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2.0,\nseg1.ts\n\
                    #EXT-X-PART:DURATION=0.5,URI=\"seg2.0.ts\",INDEPENDENT=YES\n\
                    #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"seg2.1.ts\"\nv1/index.m3u8?a=b\n";
        let out = sign_playlist(text, "token=t");
        assert!(out.contains("URI=\"init.mp4?token=t\""), "{out}");
        assert!(out.contains("\nseg1.ts?token=t\n"), "{out}");
        assert!(
            out.contains("URI=\"seg2.0.ts?token=t\",INDEPENDENT=YES"),
            "{out}"
        );
        assert!(out.contains("URI=\"seg2.1.ts?token=t\""), "{out}");
        assert!(out.contains("v1/index.m3u8?a=b&token=t"), "{out}");
        assert!(out.starts_with("#EXTM3U\n#EXT-X-MAP"));
    }

    #[test]
    fn levels_from_columns() {
        assert_eq!(
            Level::from_columns("public", Some(1), None, None),
            Level::Public
        );
        assert_eq!(
            Level::from_columns("members", Some(4), None, None),
            Level::Members { min_tier: Some(4) }
        );
        assert_eq!(
            Level::from_columns("ppv", None, Some(500), Some("USD")),
            Level::Ppv {
                price_minor: 500,
                currency: "USD".into()
            }
        );
        // A ppv row without a price stays gated.
        assert!(Level::from_columns("ppv", None, None, None).is_gated());
        assert!(Level::from_columns("something", None, None, None).is_gated());
    }
}
