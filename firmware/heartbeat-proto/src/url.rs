use crate::Error;

/// The heartbeat endpoint, relative to the server's base URL.
pub const HEARTBEAT_PATH: &str = "/api/v1/heartbeat";

/// The URL scheme of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP (the only one the ESP32-C3 firmware supports).
    Http,
    /// HTTPS.
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// 80 or 443.
    pub const fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// A server base URL split into its parts by [`parse_server_url`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerUrl<'a> {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// Host name or address as written (an IPv6 address keeps its brackets).
    pub host: &'a str,
    /// The explicit port, or the scheme's default.
    pub port: u16,
    /// `host` or `host:port` exactly as written in the URL.
    pub authority: &'a str,
    /// Path prefix without trailing slashes, `""` when the server is at the
    /// root, e.g. `"/outage"` behind a reverse proxy. If the URL already ended
    /// in [`HEARTBEAT_PATH`], that suffix is removed here.
    pub base_path: &'a str,
}

/// Splits and checks a server base URL such as `http://192.168.1.10:8080`,
/// `https://outage.example.org/` or `http://nas.local/outage`.
///
/// Leading/trailing whitespace and trailing slashes are tolerated, and so is
/// a URL that already ends in `/api/v1/heartbeat`. Refused: other schemes,
/// an empty host, a bad port, `user:pass@`, `?query`, `#fragment`, inner
/// whitespace and control characters.
pub fn parse_server_url(base: &str) -> Result<ServerUrl<'_>, Error> {
    let url = base.trim();
    if url.is_empty() {
        return Err(Error::UrlEmpty);
    }
    if url
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || matches!(b, b'?' | b'#' | b'@'))
    {
        return Err(Error::UrlCharacters);
    }
    let (scheme, rest) = split_scheme(url)?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (host, port) = split_host_port(authority, scheme)?;

    let mut base_path = path.trim_end_matches('/');
    if let Some(prefix) = base_path.strip_suffix(HEARTBEAT_PATH) {
        base_path = prefix.trim_end_matches('/');
    }
    Ok(ServerUrl {
        scheme,
        host,
        port,
        authority,
        base_path,
    })
}

fn split_scheme(url: &str) -> Result<(Scheme, &str), Error> {
    for (prefix, scheme) in [("http://", Scheme::Http), ("https://", Scheme::Https)] {
        if let Some(head) = url.get(..prefix.len())
            && head.eq_ignore_ascii_case(prefix)
        {
            return Ok((scheme, &url[prefix.len()..]));
        }
    }
    Err(Error::UrlScheme)
}

fn split_host_port(authority: &str, scheme: Scheme) -> Result<(&str, u16), Error> {
    let (host, port) = if authority.starts_with('[') {
        // IPv6 literal: [::1] or [::1]:8080
        let close = authority.find(']').ok_or(Error::UrlHost)?;
        let host = &authority[..=close];
        match &authority[close + 1..] {
            "" => (host, None),
            rest => match rest.strip_prefix(':') {
                Some(p) => (host, Some(p)),
                None => return Err(Error::UrlPort),
            },
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host == "[]" || host.contains(['[', ']']) && !host.starts_with('[') {
        return Err(Error::UrlHost);
    }
    if !host.starts_with('[') && host.contains(':') {
        return Err(Error::UrlPort);
    }
    let port = match port {
        None => scheme.default_port(),
        Some(p) => parse_port(p)?,
    };
    Ok((host, port))
}

fn parse_port(p: &str) -> Result<u16, Error> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::UrlPort);
    }
    match p.parse::<u32>() {
        Ok(n) if (1..=65_535).contains(&n) => Ok(n as u16),
        _ => Err(Error::UrlPort),
    }
}

impl ServerUrl<'_> {
    /// Writes `{scheme}://{authority}{base_path}/api/v1/heartbeat`.
    pub fn write_heartbeat_url<W: core::fmt::Write>(&self, out: &mut W) -> core::fmt::Result {
        write!(
            out,
            "{}://{}{}{}",
            self.scheme.as_str(),
            self.authority,
            self.base_path,
            HEARTBEAT_PATH
        )
    }
}

/// Builds the full heartbeat URL from a server base URL:
/// `http://host:8080/` → `http://host:8080/api/v1/heartbeat`.
///
/// See [`parse_server_url`] for what is accepted. `N` is the capacity of the
/// result; [`Error::BufferTooSmall`] when it does not fit.
pub fn heartbeat_url<const N: usize>(base: &str) -> Result<heapless::String<N>, Error> {
    let parsed = parse_server_url(base)?;
    let mut out = heapless::String::new();
    parsed
        .write_heartbeat_url(&mut out)
        .map_err(|_| Error::BufferTooSmall)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(base: &str) -> Result<heapless::String<128>, Error> {
        heartbeat_url::<128>(base)
    }

    #[test]
    fn plain_base_urls() {
        assert_eq!(
            url("http://192.168.1.10:8080").unwrap(),
            "http://192.168.1.10:8080/api/v1/heartbeat"
        );
        assert_eq!(
            url("https://outage.example.org").unwrap(),
            "https://outage.example.org/api/v1/heartbeat"
        );
    }

    #[test]
    fn trailing_slashes_and_whitespace_are_tolerated() {
        for base in [
            "http://h:8080/",
            "http://h:8080//",
            "  http://h:8080/ \n",
            "http://h:8080/api/v1/heartbeat",
            "http://h:8080/api/v1/heartbeat/",
        ] {
            assert_eq!(
                url(base).unwrap(),
                "http://h:8080/api/v1/heartbeat",
                "{base:?}"
            );
        }
    }

    #[test]
    fn base_path_behind_reverse_proxy() {
        assert_eq!(
            url("http://nas.local/outage/").unwrap(),
            "http://nas.local/outage/api/v1/heartbeat"
        );
        assert_eq!(
            url("http://nas.local/outage/api/v1/heartbeat").unwrap(),
            "http://nas.local/outage/api/v1/heartbeat"
        );
    }

    #[test]
    fn scheme_is_case_insensitive_and_normalised() {
        assert_eq!(url("HTTP://h").unwrap(), "http://h/api/v1/heartbeat");
        let p = parse_server_url("HttpS://h").unwrap();
        assert_eq!(p.scheme, Scheme::Https);
        assert_eq!(p.port, 443);
    }

    #[test]
    fn parts() {
        let p = parse_server_url("http://monitor.lan:8080/x/").unwrap();
        assert_eq!(p.scheme, Scheme::Http);
        assert_eq!(p.host, "monitor.lan");
        assert_eq!(p.port, 8080);
        assert_eq!(p.authority, "monitor.lan:8080");
        assert_eq!(p.base_path, "/x");
        let p = parse_server_url("http://monitor.lan").unwrap();
        assert_eq!(p.port, 80);
        assert_eq!(p.base_path, "");
    }

    #[test]
    fn ipv6() {
        let p = parse_server_url("http://[fd00::1]:8080/").unwrap();
        assert_eq!(p.host, "[fd00::1]");
        assert_eq!(p.port, 8080);
        let p = parse_server_url("http://[::1]").unwrap();
        assert_eq!(p.port, 80);
        assert_eq!(
            url("http://[::1]/").unwrap(),
            "http://[::1]/api/v1/heartbeat"
        );
        assert_eq!(parse_server_url("http://[::1]x"), Err(Error::UrlPort));
        assert_eq!(parse_server_url("http://[::1"), Err(Error::UrlHost));
        assert_eq!(parse_server_url("http://[]:80"), Err(Error::UrlHost));
        assert_eq!(parse_server_url("http://::1"), Err(Error::UrlPort));
    }

    #[test]
    fn refused() {
        assert_eq!(url(""), Err(Error::UrlEmpty));
        assert_eq!(url("   "), Err(Error::UrlEmpty));
        assert_eq!(url("192.168.1.10:8080"), Err(Error::UrlScheme));
        assert_eq!(url("ftp://h"), Err(Error::UrlScheme));
        assert_eq!(url("http:/h"), Err(Error::UrlScheme));
        assert_eq!(url("http://"), Err(Error::UrlHost));
        assert_eq!(url("http:///x"), Err(Error::UrlHost));
        assert_eq!(url("http://:8080"), Err(Error::UrlHost));
        assert_eq!(url("http://h:"), Err(Error::UrlPort));
        assert_eq!(url("http://h:0"), Err(Error::UrlPort));
        assert_eq!(url("http://h:65536"), Err(Error::UrlPort));
        assert_eq!(url("http://h:123456"), Err(Error::UrlPort));
        assert_eq!(url("http://h:8o"), Err(Error::UrlPort));
        assert_eq!(url("http://h:+80"), Err(Error::UrlPort));
        assert_eq!(url("http://u:p@h"), Err(Error::UrlCharacters));
        assert_eq!(url("http://h/?a=b"), Err(Error::UrlCharacters));
        assert_eq!(url("http://h/#x"), Err(Error::UrlCharacters));
        assert_eq!(url("http://h x"), Err(Error::UrlCharacters));
        assert_eq!(url("http://h\u{7}"), Err(Error::UrlCharacters));
        assert_eq!(url("httpé://h"), Err(Error::UrlScheme));
    }

    #[test]
    fn capacity_is_checked() {
        assert_eq!(heartbeat_url::<10>("http://h"), Err(Error::BufferTooSmall));
        let exact = "http://h/api/v1/heartbeat".len();
        assert!(heartbeat_url::<25>("http://h").is_ok());
        assert_eq!(exact, 25);
    }

    #[test]
    fn never_panics_on_odd_input() {
        let odd = [
            "h",
            "http",
            "http:",
            "http://",
            "https://é",
            "http://é:é",
            "http://[",
            "http://]",
            "http://[:",
            "http://a]:1",
            "é://",
            "hTtP://x:65535",
        ];
        for s in odd {
            let _ = url(s);
        }
        assert!(url("http://a]:1").is_err());
        assert!(url("hTtP://x:65535").is_ok());
    }
}
