//! Restream destinations: the platforms ferrocast knows and what a destination may look like.
//! The network checks (DNS, address classes) live with the push client in the engine.

/// A platform preset: its ingest URL when the user gives none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Platform {
    /// API name (`youtube`).
    pub name: &'static str,
    /// Default ingest URL, `None` for `custom`.
    pub default_url: Option<&'static str>,
    /// Whether the platform requires RTMPS.
    pub requires_tls: bool,
}

/// The known platforms. `custom` takes any RTMP(S) URL.
pub const PLATFORMS: &[Platform] = &[
    Platform {
        name: "youtube",
        default_url: Some("rtmp://a.rtmp.youtube.com/live2"),
        requires_tls: false,
    },
    Platform {
        name: "twitch",
        default_url: Some("rtmp://live.twitch.tv/app"),
        requires_tls: false,
    },
    Platform {
        name: "facebook",
        default_url: Some("rtmps://live-api-s.facebook.com:443/rtmp"),
        requires_tls: true,
    },
    Platform {
        name: "kick",
        // Kick shows each creator their own ingest URL; it must be given.
        default_url: None,
        requires_tls: true,
    },
    Platform {
        name: "custom",
        default_url: None,
        requires_tls: false,
    },
];

/// The preset called `name` (case-insensitive).
pub fn platform(name: &str) -> Option<&'static Platform> {
    PLATFORMS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// Longest destination stream key accepted.
pub const MAX_KEY_LEN: usize = 512;

/// Checks a destination stream key: 1 to 512 printable ASCII characters without spaces (what
/// every platform issues).
pub fn validate_stream_key(key: &str) -> Result<(), &'static str> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err("stream_key: must be 1 to 512 characters");
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("stream_key: only printable ASCII without spaces");
    }
    Ok(())
}

/// A key as responses show it: the last four characters, the rest hidden.
pub fn mask_key(key: &str) -> String {
    let n = key.chars().count();
    if n <= 4 {
        return "*".repeat(n.max(4));
    }
    let tail: String = key.chars().skip(n - 4).collect();
    format!("****{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets() {
        assert_eq!(
            platform("YouTube").and_then(|p| p.default_url),
            Some("rtmp://a.rtmp.youtube.com/live2")
        );
        assert!(platform("facebook").is_some_and(|p| p.requires_tls));
        assert!(platform("myspace").is_none());
    }

    #[test]
    fn keys() {
        assert!(validate_stream_key("abcd-1234-efgh").is_ok());
        assert!(validate_stream_key("").is_err());
        assert!(validate_stream_key("a b").is_err());
        assert!(validate_stream_key(&"x".repeat(513)).is_err());
        assert_eq!(mask_key("live_123456789_abcdef"), "****cdef");
        assert_eq!(mask_key("ab"), "****");
    }
}
