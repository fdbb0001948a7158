//! Destination URLs: `rtmp://host[:port]/app[/more]` and `rtmps://…`, and which addresses a
//! push may connect to.
//!
//! The URL is parsed by the `url` crate (WHATWG URL rules; `rtmp` is a non-special scheme, so
//! its host is kept as written, not IDNA-mapped, and its port has no default). On top of that
//! come our own rules, which the crate does not know: only `rtmp`/`rtmps`, no user info, query
//! or fragment, a host of letters, digits, `-`, `.` and `_` (or a bracketed IPv6 address), a
//! port from 1 to 65535 when one is written, and an application path.
//!
//! The application path is taken from the URL as written, not from the crate's path: WHATWG
//! path parsing percent-encodes characters (`<`, `{`, non-ASCII…) and resolves `.` and `..`
//! segments, and a destination's application must reach it byte for byte.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest destination URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Longest host name accepted (RFC 1035 §2.3.4, without the trailing dot).
const MAX_HOST_LEN: usize = 253;

/// A destination URL taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUrl {
    /// `rtmps://`.
    pub tls: bool,
    /// A lower-case DNS name, or an IP address (IPv6 without brackets); also the TLS server
    /// name.
    pub host: String,
    /// The port (1935 for `rtmp://`, 443 for `rtmps://` unless given).
    pub port: u16,
    /// The RTMP application: the path after the host without leading or trailing slashes
    /// (may contain `/`, e.g. `app/instance`).
    pub app: String,
    /// The `tcUrl` sent in `connect`: `scheme://host[:port]/app` (the port only if the URL
    /// had one).
    pub tc_url: String,
}

const PORT_ERROR: &str = "the URL's port must be a number from 1 to 65535";

/// Takes a destination URL apart: `rtmp://host[:port]/app[/more]` or `rtmps://…`, the host a
/// DNS name, an IPv4 address or a bracketed IPv6 address. Refuses other schemes, user info,
/// queries, fragments, whitespace and control characters, a missing application path, and URLs
/// over [`MAX_URL_LEN`] bytes. Errors say what to fix.
pub fn parse_target_url(input: &str) -> Result<ParsedUrl, String> {
    // The checks run in a fixed order, so that a URL with several faults always gets the same
    // message: length, characters, scheme, query, user info, host, port, path.
    if input.len() > MAX_URL_LEN {
        return Err(format!("the URL is longer than {MAX_URL_LEN} characters"));
    }
    // The `url` crate would strip or percent-encode these; we refuse them.
    if input.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("the URL contains spaces or control characters".to_owned());
    }
    // Checked on the text: `url` also takes `rtmp:/x` and `rtmp:x`, which have no host.
    let Some((scheme, rest)) = input.split_once("://") else {
        return Err("the URL must start with rtmp:// or rtmps://".to_owned());
    };
    let tls = if scheme.eq_ignore_ascii_case("rtmp") {
        false
    } else if scheme.eq_ignore_ascii_case("rtmps") {
        true
    } else {
        return Err("only rtmp:// and rtmps:// destinations are supported".to_owned());
    };
    if rest.contains(['?', '#']) {
        return Err(
            "the URL must not have a query (?…) or a fragment (#…); put the stream key \
                    in the stream key field"
                .to_owned(),
        );
    }
    // In a non-special URL without query or fragment the authority ends at the first `/`
    // (WHATWG URL, authority and host states). Needed as written for what `url` normalises
    // away: an empty user info (`@host`), an empty port (`host:`) and the path.
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.contains('@') {
        return Err("the URL must not contain a user name or password".to_owned());
    }
    // Our host rules come before the crate's port check, as the order above says; `url`
    // takes any of these characters in a non-special URL's (opaque) host.
    let bracketed = authority.starts_with('[');
    if !bracketed {
        check_host_name(authority.split(':').next().unwrap_or_default())?;
    }
    let url = ::url::Url::parse(input).map_err(|e| match e {
        ::url::ParseError::InvalidIpv6Address if bracketed => ipv6_error(authority),
        ::url::ParseError::EmptyHost => "the URL has no host".to_owned(),
        _ => PORT_ERROR.to_owned(),
    })?;
    let host = match url.host() {
        Some(::url::Host::Ipv6(ip)) => ip.to_string(),
        Some(::url::Host::Ipv4(ip)) => ip.to_string(),
        Some(::url::Host::Domain(name)) => name.to_ascii_lowercase(),
        None => return Err("the URL has no host".to_owned()),
    };
    // The port as written: `url` reads `host:` as no port, takes port 0 and ends a port at a
    // `\` (as if the scheme were special).
    let after_host = if bracketed {
        authority.split_once(']').map_or("", |(_, tail)| tail)
    } else {
        authority.find(':').map_or("", |i| &authority[i..])
    };
    let written_port = after_host.strip_prefix(':');
    let port = match (written_port, url.port()) {
        (Some(text), Some(n)) if n != 0 && text.bytes().all(|b| b.is_ascii_digit()) => n,
        (Some(_), _) => return Err(PORT_ERROR.to_owned()),
        (None, _) if tls => 443,
        (None, _) => 1935,
    };
    let app = path.trim_matches('/');
    if app.is_empty() {
        return Err(
            "the URL needs an application path after the host, e.g. rtmp://host/live".to_owned(),
        );
    }
    let scheme = if tls { "rtmps" } else { "rtmp" };
    let host_in_url = if bracketed {
        format!("[{host}]")
    } else {
        host.clone()
    };
    let tc_url = if written_port.is_some() {
        format!("{scheme}://{host_in_url}:{port}/{app}")
    } else {
        format!("{scheme}://{host_in_url}/{app}")
    };
    Ok(ParsedUrl {
        tls,
        host,
        port,
        app: app.to_owned(),
        tc_url,
    })
}

/// A host name as written (before any port): not empty, at most [`MAX_HOST_LEN`] bytes, ASCII
/// letters, digits, `-`, `.` and `_` only.
fn check_host_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the URL has no host".to_owned());
    }
    if name.len() > MAX_HOST_LEN {
        return Err(format!(
            "the URL's host name is longer than {MAX_HOST_LEN} characters"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return Err(
            "the host may contain only letters, digits, '-', '.' and '_' (use \
                    punycode for international names, [brackets] for IPv6)"
                .to_owned(),
        );
    }
    Ok(())
}

/// What is wrong with a bracketed host that `url` refused: the bracket, the address, or what
/// follows it.
fn ipv6_error(authority: &str) -> String {
    let inner = authority.strip_prefix('[').unwrap_or(authority);
    let Some((ip, tail)) = inner.split_once(']') else {
        return "the URL's IPv6 address lacks its closing ]".to_owned();
    };
    if ip.parse::<Ipv6Addr>().is_err() {
        return "the URL's IPv6 address is not valid".to_owned();
    }
    if !tail.is_empty() && !tail.starts_with(':') {
        return "unexpected characters after the URL's IPv6 address".to_owned();
    }
    PORT_ERROR.to_owned()
}

/// True if `ip` is a public unicast address a push may connect to. Refused: unspecified,
/// loopback, private (10/8, 172.16/12, 192.168/16), CGNAT (100.64/10), link-local
/// (169.254/16, fe80::/10), "this network" (0/8), IETF protocol assignments (192.0.0/24),
/// benchmarking (198.18/15), documentation (192.0.2/24, 198.51.100/24, 203.0.113/24,
/// 2001:db8::/32, 3fff::/20), 6to4 relay anycast (192.88.99/24), multicast, reserved and
/// broadcast (240/4), unique-local (fc00::/7), site-local (fec0::/10), discard (100::/64), and
/// everything outside 2000::/3. IPv4-mapped (::ffff:0:0/96), NAT64 (64:ff9b::/96) and 6to4
/// (2002::/16) addresses are judged by the IPv4 address they carry; Teredo and the rest of
/// 2001::/23 are refused.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b))
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && c == 0)
        || (a == 192 && b == 0 && c == 2)
        || (a == 192 && b == 88 && c == 99)
        || (a == 198 && (b == 18 || b == 19))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || a >= 224)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded_v4 = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    // ::ffff:0:0/96, IPv4-mapped.
    if s[..5] == [0; 5] && s[5] == 0xffff {
        return is_public_v4(embedded_v4(s[6], s[7]));
    }
    // 64:ff9b::/96, NAT64 well-known prefix (RFC 6052).
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(embedded_v4(s[6], s[7]));
    }
    // 2002::/16, 6to4 (RFC 3056): the IPv4 address in bits 16..48.
    if s[0] == 0x2002 {
        return is_public_v4(embedded_v4(s[1], s[2]));
    }
    // Global unicast is 2000::/3: this refuses ::, ::1, ::/96, 64:ff9b:1::/48, 100::/64,
    // fc00::/7, fe80::/10, fec0::/10 and ff00::/8 at once.
    if s[0] & 0xe000 != 0x2000 {
        return false;
    }
    // 2001::/23 IETF protocol assignments (Teredo, ORCHID, …), 2001:db8::/32 and 3fff::/20
    // documentation.
    match s[0] {
        0x2001 => s[1] >= 0x0200 && s[1] != 0x0db8,
        0x3fff => s[1] >= 0x1000,
        _ => true,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn public(s: &str) -> bool {
        is_public_ip(s.parse().unwrap())
    }

    #[test]
    fn classifies_addresses() {
        for ok in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.169.0.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2a00:1450:4001:80b::200e",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:0808:0808::1",
        ] {
            assert!(public(ok), "{ok} is public");
        }
        for bad in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "64:ff9b::7f00:1",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:db8::1",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
            "3fff::1",
            "fc00::1",
            "fd12:3456:789a::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
        ] {
            assert!(!public(bad), "{bad} is not public");
        }
    }

    #[test]
    fn parses_urls() {
        let u = parse_target_url("rtmp://a.rtmp.youtube.com/live2").unwrap();
        assert_eq!(
            u,
            ParsedUrl {
                tls: false,
                host: "a.rtmp.youtube.com".into(),
                port: 1935,
                app: "live2".into(),
                tc_url: "rtmp://a.rtmp.youtube.com/live2".into(),
            }
        );
        let u = parse_target_url("RTMPS://Live-API-S.Facebook.com:443/rtmp/").unwrap();
        assert!(u.tls);
        assert_eq!(u.host, "live-api-s.facebook.com");
        assert_eq!((u.port, u.app.as_str()), (443, "rtmp"));
        assert_eq!(u.tc_url, "rtmps://live-api-s.facebook.com:443/rtmp");
        let u = parse_target_url("rtmps://[2001:DB8::1]/app/instance").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("2001:db8::1", 443));
        assert_eq!(u.app, "app/instance");
        assert_eq!(u.tc_url, "rtmps://[2001:db8::1]/app/instance");
        let u = parse_target_url("rtmp://10.0.0.2:19350//live//").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.app.as_str()),
            ("10.0.0.2", 19350, "live")
        );
    }

    #[test]
    fn refuses_bad_urls() {
        for (url, says) in [
            ("http://example.com/live", "rtmp:// and rtmps://"),
            ("example.com/live", "must start with"),
            ("rtmp://example.com", "application path"),
            ("rtmp://example.com/", "application path"),
            ("rtmp://example.com///", "application path"),
            ("rtmp://user:pw@example.com/live", "user name"),
            ("rtmp://example.com/live?key=x", "query"),
            ("rtmp://example.com/live#x", "fragment"),
            ("rtmp://exa mple.com/live", "spaces"),
            ("rtmp://example.com/li\nve", "control"),
            ("rtmp://example.com:0/live", "port"),
            ("rtmp://example.com:65536/live", "port"),
            ("rtmp://example.com:/live", "port"),
            ("rtmp://example.com:+80/live", "port"),
            ("rtmp://example.com:1:2/live", "port"),
            ("rtmp://:1935/live", "no host"),
            ("rtmp://[::1/live", "closing ]"),
            ("rtmp://[::1]x/live", "after the URL's IPv6"),
            ("rtmp://[not-ip]/live", "IPv6 address is not valid"),
            ("rtmp://[fe80::1%eth0]/live", "IPv6 address is not valid"),
            ("rtmp://exämple.com/live", "punycode"),
        ] {
            let e = parse_target_url(url).unwrap_err();
            assert!(e.contains(says), "{url}: {e}");
        }
        let long = format!("rtmp://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(parse_target_url(&long).unwrap_err().contains("longer"));
    }

    fn host() -> impl Strategy<Value = (String, String)> {
        prop_oneof![
            "[a-z0-9]([a-z0-9_-]{0,10}[a-z0-9])?(\\.[a-z0-9-]{1,10}){0,3}"
                .prop_map(|h| (h.clone(), h)),
            any::<Ipv4Addr>().prop_map(|ip| (ip.to_string(), ip.to_string())),
            any::<Ipv6Addr>().prop_map(|ip| (format!("[{ip}]"), ip.to_string())),
        ]
    }

    proptest! {
        #[test]
        fn parser_never_panics(s in "\\PC{0,80}", t in "(rtmps?://)?[\\[\\]:/@?#a-z0-9.%]{0,40}") {
            let _ = parse_target_url(&s);
            let _ = parse_target_url(&t);
        }

        #[test]
        fn parser_round_trips(
            tls in any::<bool>(),
            upper in any::<bool>(),
            (host_in_url, host) in host(),
            port in proptest::option::of(1u16..),
            app in "[A-Za-z0-9_.~-]{1,12}(/[A-Za-z0-9_.~-]{1,12}){0,2}",
            trailing in any::<bool>(),
        ) {
            let scheme = if tls { "rtmps" } else { "rtmp" };
            let written = if upper { scheme.to_ascii_uppercase() } else { scheme.to_owned() };
            let port_part = port.map(|p| format!(":{p}")).unwrap_or_default();
            let slash = if trailing { "/" } else { "" };
            let url = format!("{written}://{host_in_url}{port_part}/{app}{slash}");
            let u = parse_target_url(&url).unwrap();
            prop_assert_eq!(u.tls, tls);
            prop_assert_eq!(&u.host, &host);
            prop_assert_eq!(u.port, port.unwrap_or(if tls { 443 } else { 1935 }));
            prop_assert_eq!(&u.app, &app);
            prop_assert_eq!(u.tc_url, format!("{scheme}://{host_in_url}{port_part}/{app}"));
        }
    }
}
