//! URLs, templates and a minimal HTTP/1.1 GET client (Content-Length, chunked or
//! close-delimited bodies) — just enough for HTTP-FLV and HLS players against loopback servers.

use anyhow::{anyhow, bail, Context, Result};
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `scheme://host:port/path` split up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `rtmp`, `http`.
    pub scheme: String,
    /// `host:port`.
    pub authority: String,
    /// The path with its leading `/` (and query).
    pub path: String,
}

impl Url {
    /// Parses an absolute URL; the port defaults to 1935 (rtmp) or 80 (http).
    pub fn parse(s: &str) -> Result<Self> {
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| anyhow!("not a URL: {s}"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let authority = if authority.contains(':') {
            authority.to_owned()
        } else {
            let port = match scheme {
                "rtmp" => 1935,
                "http" => 80,
                _ => bail!("unsupported scheme in {s}"),
            };
            format!("{authority}:{port}")
        };
        Ok(Self {
            scheme: scheme.to_owned(),
            authority,
            path: path.to_owned(),
        })
    }

    /// For RTMP: (app, stream name, tcUrl). The app is the first path segment.
    pub fn rtmp_parts(&self) -> Result<(String, String, String)> {
        let p = self.path.trim_start_matches('/');
        let (app, name) = p
            .split_once('/')
            .ok_or_else(|| anyhow!("RTMP URL needs /app/name: {}", self.path))?;
        let tc_url = format!("{}://{}/{}", self.scheme, self.authority, app);
        Ok((app.to_owned(), name.to_owned(), tc_url))
    }

    /// Resolves a (possibly relative) reference against this URL, as HLS playlists need.
    pub fn join(&self, reference: &str) -> Result<Self> {
        if reference.contains("://") {
            return Self::parse(reference);
        }
        let path = if reference.starts_with('/') {
            reference.to_owned()
        } else {
            let base = self.path.split('?').next().unwrap_or_default();
            let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
            format!("{dir}{reference}")
        };
        Ok(Self {
            scheme: self.scheme.clone(),
            authority: self.authority.clone(),
            path,
        })
    }
}

/// Fills `{i}`, `{key}` and `{play}` in a URL template.
pub fn fill(template: &str, i: usize, key: &str, play: &str) -> String {
    template
        .replace("{i}", &i.to_string())
        .replace("{key}", key)
        .replace("{play}", play)
}

/// Body framing announced by the response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked,
    Close,
}

/// A streaming HTTP response body.
pub struct Response {
    stream: TcpStream,
    buf: BytesMut,
    framing: Framing,
    /// Bytes left in the current chunk (chunked) or body (length).
    left: u64,
    done: bool,
    /// The status code.
    pub status: u16,
}

/// Sends `GET` and reads the response head.
pub async fn get(url: &Url) -> Result<Response> {
    let mut stream = TcpStream::connect(&url.authority)
        .await
        .with_context(|| format!("connect {}", url.authority))?;
    stream.set_nodelay(true)?;
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: ferrocast-bench\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        url.path, url.authority
    );
    stream.write_all(req.as_bytes()).await?;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 64 * 1024 {
            bail!("response head too long");
        }
        if stream.read_buf(&mut buf).await? == 0 {
            bail!("connection closed before the response head");
        }
    };
    let head = std::str::from_utf8(&buf[..head_end]).context("response head not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_ascii_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("bad status line"))?;
    let mut framing = Framing::Close;
    for l in lines {
        let Some((name, value)) = l.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            framing = Framing::Chunked;
        } else if name.eq_ignore_ascii_case("content-length") && framing != Framing::Chunked {
            framing = Framing::Length(value.parse().context("bad Content-Length")?);
        }
    }
    buf.advance(head_end + 4);
    let left = match framing {
        Framing::Length(n) => n,
        _ => 0,
    };
    Ok(Response {
        stream,
        buf,
        framing,
        left,
        done: framing == Framing::Length(0),
        status,
    })
}

impl Response {
    /// Appends the next body bytes to `out`; false at the end of the body.
    pub async fn read_into(&mut self, out: &mut BytesMut) -> Result<bool> {
        loop {
            if self.done {
                return Ok(false);
            }
            match self.framing {
                Framing::Close | Framing::Length(_) => {
                    if !self.buf.is_empty() {
                        let n = match self.framing {
                            Framing::Length(_) => (self.left as usize).min(self.buf.len()),
                            _ => self.buf.len(),
                        };
                        out.extend_from_slice(&self.buf[..n]);
                        self.buf.advance(n);
                        self.consumed(n);
                        return Ok(true);
                    }
                    // Read straight into the caller's buffer: no copy for streamed bodies.
                    let before = out.len();
                    if self.stream.read_buf(out).await? == 0 {
                        self.done = true;
                        if let Framing::Length(_) = self.framing {
                            if self.left > 0 {
                                bail!("body truncated");
                            }
                        }
                        return Ok(false);
                    }
                    let n = out.len() - before;
                    if let Framing::Length(_) = self.framing {
                        if n as u64 > self.left {
                            out.truncate(before + self.left as usize);
                        }
                        self.consumed(n);
                    }
                    return Ok(true);
                }
                Framing::Chunked => {
                    if self.left == 0 {
                        // chunk-size line (RFC 9112 §7.1), after the previous chunk's CRLF.
                        let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") else {
                            self.fill().await?;
                            continue;
                        };
                        let line = std::str::from_utf8(&self.buf[..i]).unwrap_or("");
                        let size = line.split(';').next().unwrap_or("").trim();
                        if size.is_empty() {
                            // The CRLF that ends a chunk's data.
                            self.buf.advance(i + 2);
                            continue;
                        }
                        let n = u64::from_str_radix(size, 16)
                            .map_err(|_| anyhow!("bad chunk size {size:?}"))?;
                        self.buf.advance(i + 2);
                        if n == 0 {
                            self.done = true;
                            return Ok(false);
                        }
                        self.left = n;
                    }
                    if self.buf.is_empty() {
                        self.fill().await?;
                    }
                    let n = (self.left as usize).min(self.buf.len());
                    out.extend_from_slice(&self.buf[..n]);
                    self.buf.advance(n);
                    self.left -= n as u64;
                    return Ok(true);
                }
            }
        }
    }

    /// Reads the whole (remaining) body.
    pub async fn read_all(&mut self, limit: usize) -> Result<BytesMut> {
        let mut out = BytesMut::new();
        while self.read_into(&mut out).await? {
            if out.len() > limit {
                bail!("body over {limit} bytes");
            }
        }
        Ok(out)
    }

    fn consumed(&mut self, n: usize) {
        self.left = self.left.saturating_sub(n as u64);
        if self.left == 0 {
            self.done = true;
        }
    }

    async fn fill(&mut self) -> Result<()> {
        if self.buf.capacity() - self.buf.len() < 16 * 1024 {
            self.buf.reserve(64 * 1024);
        }
        if self.stream.read_buf(&mut self.buf).await? == 0 {
            bail!("connection closed inside a chunked body");
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("rtmp://127.0.0.1:1936/live/sk_1?x=1").unwrap();
        assert_eq!(
            u.rtmp_parts().unwrap(),
            (
                "live".into(),
                "sk_1?x=1".into(),
                "rtmp://127.0.0.1:1936/live".into()
            )
        );
        assert_eq!(Url::parse("rtmp://h/a/b").unwrap().authority, "h:1935");
        let h = Url::parse("http://127.0.0.1:8080/hls/pb/index.m3u8?x").unwrap();
        assert_eq!(h.join("seg1.ts").unwrap().path, "/hls/pb/seg1.ts");
        assert_eq!(h.join("/a.ts").unwrap().path, "/a.ts");
        assert_eq!(fill("/live/{key}/{i}", 3, "k", "p"), "/live/k/3");
    }

    async fn serve_once(body: &'static [u8]) -> Url {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut b = [0u8; 1024];
            let _ = s.read(&mut b).await.unwrap();
            for part in body.chunks(5) {
                s.write_all(part).await.unwrap();
                s.flush().await.unwrap();
                tokio::task::yield_now().await;
            }
        });
        Url::parse(&format!("http://{addr}/x")).unwrap()
    }

    #[tokio::test]
    async fn chunked_and_length_bodies() {
        let url = serve_once(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n6;x=y\r\npedia \r\n0\r\n\r\n",
        )
        .await;
        let mut r = get(&url).await.unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(&r.read_all(100).await.unwrap()[..], b"Wikipedia ");
        let url = serve_once(b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nabcdef").await;
        let mut r = get(&url).await.unwrap();
        assert_eq!(r.status, 404);
        assert_eq!(&r.read_all(100).await.unwrap()[..], b"abc");
    }
}
