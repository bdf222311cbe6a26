//! Absolute `http`/`https` URLs (RFC 3986), parsed strictly, and their normal form.
//!
//! Used for configured endpoints (discovery, `jwks_uri`), the `jwks_uri` a discovery document
//! names, and the DPoP `htu` comparison (RFC 9449 §4.3), which wants syntax- and scheme-based
//! normalisation (RFC 3986 §6.2.2, §6.2.3) on both sides. Anything a lenient parser would have
//! to guess about (userinfo, backslashes, whitespace, bad percent-escapes) is refused rather
//! than interpreted, because two parsers guessing differently is how URL confusion starts.

use std::fmt::{self, Write as _};
use std::net::Ipv6Addr;

/// Longer URLs are refused before any parsing.
pub const MAX_URL_LEN: usize = 8192;

/// RFC 1035 limit for a DNS name; also bounds literal addresses.
const MAX_HOST_LEN: usize = 253;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// An absolute http(s) URL. `host` is lower-cased (an IPv6 literal keeps its brackets),
/// `port` is as written (a default port is kept here and dropped by [`HttpUrl::normalized`]),
/// `path` is never empty (an empty path is `/`, RFC 3986 §6.2.3), the fragment is discarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub scheme: Scheme,
    pub host: String,
    pub port: Option<u16>,
    pub path: String,
    pub query: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlError {
    Empty,
    TooLong,
    /// A space, control character or non-ASCII byte anywhere in the URL.
    InvalidCharacter,
    /// Not `http://` or `https://` (relative references included).
    UnsupportedScheme,
    /// `user:pass@host`: never needed here and a classic way to disguise the real host.
    Userinfo,
    MissingHost,
    InvalidHost,
    InvalidPort,
    /// `%` not followed by two hex digits.
    InvalidPercentEncoding,
    /// A backslash, which WHATWG parsers treat as `/` and RFC 3986 forbids.
    Backslash,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UrlError::Empty => "URL is empty",
            UrlError::TooLong => "URL is too long",
            UrlError::InvalidCharacter => {
                "URL contains whitespace, a control character or a non-ASCII character"
            }
            UrlError::UnsupportedScheme => {
                "URL must be absolute and start with http:// or https://"
            }
            UrlError::Userinfo => "URL must not contain userinfo (user@host)",
            UrlError::MissingHost => "URL has no host",
            UrlError::InvalidHost => "URL host is not a valid host name or address",
            UrlError::InvalidPort => "URL port is not a number from 1 to 65535",
            UrlError::InvalidPercentEncoding => "URL contains a malformed percent-escape",
            UrlError::Backslash => "URL contains a backslash",
        })
    }
}

impl HttpUrl {
    pub fn parse(s: &str) -> Result<HttpUrl, UrlError> {
        if s.is_empty() {
            return Err(UrlError::Empty);
        }
        if s.len() > MAX_URL_LEN {
            return Err(UrlError::TooLong);
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(UrlError::InvalidCharacter);
        }
        if s.contains('\\') {
            return Err(UrlError::Backslash);
        }
        let (scheme, rest) = split_scheme(s).ok_or(UrlError::UnsupportedScheme)?;

        // The fragment is never sent to a server, so it plays no part in any comparison.
        let rest = rest.split('#').next().unwrap_or("");
        let (before_query, query) = match rest.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (rest, None),
        };
        let (authority, path) = match before_query.find('/') {
            Some(i) => before_query.split_at(i),
            None => (before_query, ""),
        };
        if authority.contains('@') {
            return Err(UrlError::Userinfo);
        }
        let (host, port) = split_host_port(authority)?;
        check_percent_encoding(path)?;
        if let Some(q) = query {
            check_percent_encoding(q)?;
        }
        Ok(HttpUrl {
            scheme,
            host,
            port,
            path: if path.is_empty() {
                "/".to_owned()
            } else {
                path.to_owned()
            },
            query: query.map(str::to_owned),
        })
    }

    /// `host` or `host:port` as written (for an HTTP `:authority`/`Host` header).
    pub fn authority(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }

    /// The request target in origin form.
    pub fn path_and_query(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }

    /// The form two URLs are compared in (RFC 9449 §4.3): scheme and host lower-case, default
    /// port dropped, percent-escapes of unreserved characters decoded and the others upper-cased,
    /// dot segments removed, query and fragment dropped. Path case and a trailing slash are kept.
    pub fn normalized(&self) -> String {
        let path = remove_dot_segments(&normalize_percent_encoding(&self.path));
        let port = match self.port {
            Some(p) if p != self.scheme.default_port() => format!(":{p}"),
            _ => String::new(),
        };
        format!("{}://{}{port}{path}", self.scheme.as_str(), self.host)
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme.as_str(),
            self.authority(),
            self.path_and_query()
        )
    }
}

fn split_scheme(s: &str) -> Option<(Scheme, &str)> {
    // Schemes are case-insensitive (RFC 3986 §3.1).
    for (name, scheme) in [("https://", Scheme::Https), ("http://", Scheme::Http)] {
        if let Some(head) = s.get(..name.len()) {
            if head.eq_ignore_ascii_case(name) {
                return s.get(name.len()..).map(|rest| (scheme, rest));
            }
        }
    }
    None
}

fn split_host_port(authority: &str) -> Result<(String, Option<u16>), UrlError> {
    if authority.is_empty() {
        return Err(UrlError::MissingHost);
    }
    let (host, port) = if let Some(after_bracket) = authority.strip_prefix('[') {
        let (literal, tail) = after_bracket.split_once(']').ok_or(UrlError::InvalidHost)?;
        // Zone identifiers and IPvFuture are refused by the std parser: neither names a
        // host an HTTP client can reach through a proxy.
        literal
            .parse::<Ipv6Addr>()
            .map_err(|_| UrlError::InvalidHost)?;
        let port = match tail {
            "" => None,
            t => Some(t.strip_prefix(':').ok_or(UrlError::InvalidHost)?),
        };
        (format!("[{}]", literal.to_ascii_lowercase()), port)
    } else {
        let (name, port) = match authority.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (authority, None),
        };
        if name.is_empty() {
            return Err(UrlError::MissingHost);
        }
        if !is_host_name(name) {
            return Err(UrlError::InvalidHost);
        }
        (name.to_ascii_lowercase(), port)
    };
    let port = match port {
        None => None,
        Some(p) => Some(parse_port(p).ok_or(UrlError::InvalidPort)?),
    };
    Ok((host, port))
}

/// A DNS name or IPv4 address: letters, digits, `-`, `.`, `_` only. Percent-encoded and
/// internationalised names are refused rather than decoded; `_` appears in real internal names.
pub fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_HOST_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        && !name.starts_with('.')
        && !name.contains("..")
}

fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse::<u16>().ok().filter(|&n| n != 0)
}

fn check_percent_encoding(s: &str) -> Result<(), UrlError> {
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = bytes.next().filter(u8::is_ascii_hexdigit);
            let lo = bytes.next().filter(u8::is_ascii_hexdigit);
            if hi.is_none() || lo.is_none() {
                return Err(UrlError::InvalidPercentEncoding);
            }
        }
    }
    Ok(())
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// RFC 3986 §2.3.
pub fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 §6.2.2.1 and §6.2.2.2: `%2e` becomes `.`, `%7E` becomes `~`, `%2f` becomes `%2F`.
/// Only unreserved characters are decoded, so the result means the same as the input to
/// every conforming server. A `%` not followed by two hex digits is copied unchanged.
pub fn normalize_percent_encoding(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_value);
            let lo = bytes.get(i + 2).copied().and_then(hex_value);
            if let (Some(hi), Some(lo)) = (hi, lo) {
                let decoded = hi * 16 + lo;
                if is_unreserved(decoded) {
                    out.push(char::from(decoded));
                } else {
                    // Writing to a String cannot fail.
                    let _ = write!(out, "%{decoded:02X}");
                }
                i += 3;
                continue;
            }
        }
        // Multi-byte characters are copied byte by byte through their char boundaries.
        match s.get(i..).and_then(|rest| rest.chars().next()) {
            Some(c) => {
                out.push(c);
                i += c.len_utf8();
            }
            None => break,
        }
    }
    out
}

/// RFC 3986 §5.2.4, step for step. Works on any path, absolute or not.
pub fn remove_dot_segments(path: &str) -> String {
    let mut input = path;
    let mut output = String::with_capacity(path.len());
    while !input.is_empty() {
        // A
        if let Some(rest) = input
            .strip_prefix("../")
            .or_else(|| input.strip_prefix("./"))
        {
            input = rest;
        // B: "/./" and "/." become "/"
        } else if input.starts_with("/./") {
            input = input.get(2..).unwrap_or("");
        } else if input == "/." {
            input = "/";
        // C: "/../" and "/.." become "/" and the last output segment goes
        } else if input.starts_with("/../") {
            input = input.get(3..).unwrap_or("");
            pop_segment(&mut output);
        } else if input == "/.." {
            input = "/";
            pop_segment(&mut output);
        // D
        } else if input == "." || input == ".." {
            input = "";
        // E: move the first segment, with its leading "/" if any, to the output
        } else {
            let skip = usize::from(input.starts_with('/'));
            let end = input
                .get(skip..)
                .and_then(|after| after.find('/'))
                .map_or(input.len(), |i| i + skip);
            let (segment, rest) = input.split_at(end);
            output.push_str(segment);
            input = rest;
        }
    }
    output
}

fn pop_segment(output: &mut String) {
    match output.rfind('/') {
        Some(i) => output.truncate(i),
        None => output.clear(),
    }
}

/// `tenant.example.com`, `https://tenant.example.com/` and `tenant.example.com:8443` are domains;
/// anything with another scheme, a path, userinfo, query or whitespace is refused.
pub fn normalize_domain(raw: &str) -> Result<HttpUrl, String> {
    if raw.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must not contain whitespace, control or non-ASCII characters".to_owned());
    }
    let has_prefix = |p: &str| {
        raw.get(..p.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(p))
    };
    if has_prefix("http://") {
        return Err("must use https: the issuer is https://<domain>/".to_owned());
    }
    let rest = if has_prefix("https://") {
        raw.get("https://".len()..).unwrap_or("")
    } else {
        raw
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains("://") {
        return Err("must be a host name, optionally preceded by https://".to_owned());
    }
    if rest.contains('@') {
        return Err("must not contain userinfo (user@host)".to_owned());
    }
    if rest.contains(['?', '#']) {
        return Err("must not contain a query or fragment".to_owned());
    }
    if rest.contains(['/', '\\']) {
        return Err("must be a host name without a path".to_owned());
    }
    HttpUrl::parse(&format!("https://{rest}/")).map_err(|e| match e {
        UrlError::MissingHost => "must name a host".to_owned(),
        other => format!("is not a valid host: {other}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(
        scheme: Scheme,
        host: &str,
        port: Option<u16>,
        path: &str,
        query: Option<&str>,
    ) -> HttpUrl {
        HttpUrl {
            scheme,
            host: host.to_owned(),
            port,
            path: path.to_owned(),
            query: query.map(str::to_owned),
        }
    }

    #[test]
    fn parses_components() {
        let cases = [
            (
                "https://tenant.example.com/",
                url(Scheme::Https, "tenant.example.com", None, "/", None),
            ),
            (
                "https://Tenant.Example.COM",
                url(Scheme::Https, "tenant.example.com", None, "/", None),
            ),
            (
                "HTTP://a.b:8080/x/y?q=1&r",
                url(Scheme::Http, "a.b", Some(8080), "/x/y", Some("q=1&r")),
            ),
            (
                "https://a.b/p?#frag",
                url(Scheme::Https, "a.b", None, "/p", Some("")),
            ),
            (
                "https://a.b/p#frag?not-query",
                url(Scheme::Https, "a.b", None, "/p", None),
            ),
            (
                "https://a.b?x",
                url(Scheme::Https, "a.b", None, "/", Some("x")),
            ),
            (
                "http://127.0.0.1:9000/jwks",
                url(Scheme::Http, "127.0.0.1", Some(9000), "/jwks", None),
            ),
            (
                "http://[::1]:8080/a",
                url(Scheme::Http, "[::1]", Some(8080), "/a", None),
            ),
            (
                "https://[2001:DB8::1]/",
                url(Scheme::Https, "[2001:db8::1]", None, "/", None),
            ),
            (
                "https://a.b:443/%7Euser",
                url(Scheme::Https, "a.b", Some(443), "/%7Euser", None),
            ),
            (
                "https://keys_internal/jwks",
                url(Scheme::Https, "keys_internal", None, "/jwks", None),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(HttpUrl::parse(input), Ok(want), "{input}");
        }
    }

    #[test]
    fn refuses_what_it_would_have_to_guess_about() {
        let long = format!("https://a.b/{}", "x".repeat(MAX_URL_LEN));
        let cases = [
            ("", UrlError::Empty),
            (long.as_str(), UrlError::TooLong),
            ("https://a.b/ x", UrlError::InvalidCharacter),
            (" https://a.b/", UrlError::InvalidCharacter),
            ("https://a.b/\tx", UrlError::InvalidCharacter),
            ("https://a.b/\r\nx", UrlError::InvalidCharacter),
            ("https://a.b/é", UrlError::InvalidCharacter),
            ("https://a.b\\@evil.com/", UrlError::Backslash),
            ("ftp://a.b/", UrlError::UnsupportedScheme),
            ("/relative/path", UrlError::UnsupportedScheme),
            ("//a.b/x", UrlError::UnsupportedScheme),
            ("https:/a.b/", UrlError::UnsupportedScheme),
            ("tenant.example.com", UrlError::UnsupportedScheme),
            ("https://user:pw@a.b/", UrlError::Userinfo),
            ("https://a.b@evil.com/", UrlError::Userinfo),
            ("https:///path", UrlError::MissingHost),
            ("https://", UrlError::MissingHost),
            ("https://:443/", UrlError::MissingHost),
            ("https://a%2eb/", UrlError::InvalidHost),
            ("https://a..b/", UrlError::InvalidHost),
            ("https://.a.b/", UrlError::InvalidHost),
            ("https://[::1/", UrlError::InvalidHost),
            ("https://[::1]x/", UrlError::InvalidHost),
            ("https://[fe80::1%25eth0]/", UrlError::InvalidHost),
            ("https://[not-v6]/", UrlError::InvalidHost),
            ("https://a.b:/", UrlError::InvalidPort),
            ("https://a.b:0/", UrlError::InvalidPort),
            ("https://a.b:65536/", UrlError::InvalidPort),
            ("https://a.b:+80/", UrlError::InvalidPort),
            ("https://a.b:80:80/", UrlError::InvalidPort),
            ("https://a.b/%zz", UrlError::InvalidPercentEncoding),
            ("https://a.b/%2", UrlError::InvalidPercentEncoding),
            ("https://a.b/x?q=%", UrlError::InvalidPercentEncoding),
        ];
        for (input, want) in cases {
            assert_eq!(HttpUrl::parse(input), Err(want), "{input:?}");
        }
    }

    #[test]
    fn normalized_forms() {
        let cases = [
            (
                "HTTPS://Server.Example.COM:443/a/b",
                "https://server.example.com/a/b",
            ),
            ("http://example.com:80", "http://example.com/"),
            ("http://example.com:443/", "http://example.com:443/"),
            ("https://example.com:80/", "https://example.com:80/"),
            (
                "https://example.com/a/./b/../c?x=1#f",
                "https://example.com/a/c",
            ),
            ("https://example.com/a/%2e%2E/b", "https://example.com/b"),
            (
                "https://example.com/%7euser/%2fx/%3a",
                "https://example.com/~user/%2Fx/%3A",
            ),
            ("https://example.com/Path/", "https://example.com/Path/"),
            ("https://example.com/..", "https://example.com/"),
            ("https://[::1]:443/x", "https://[::1]/x"),
        ];
        for (input, want) in cases {
            assert_eq!(
                HttpUrl::parse(input).map(|u| u.normalized()),
                Ok(want.to_owned()),
                "{input}"
            );
        }
    }

    #[test]
    fn normalisation_keeps_what_distinguishes_resources() {
        let n = |s: &str| HttpUrl::parse(s).map(|u| u.normalized());
        assert_ne!(n("https://a.b/x"), n("https://a.b/x/"));
        assert_ne!(n("https://a.b/x"), n("https://a.b/X"));
        assert_ne!(n("https://a.b/x"), n("http://a.b/x"));
        assert_ne!(n("https://a.b/x"), n("https://a.b:8443/x"));
    }

    #[test]
    fn authority_and_path_and_query() {
        let cases = [
            ("https://a.b/x", "a.b", "/x"),
            ("https://a.b:8443/x?y=1", "a.b:8443", "/x?y=1"),
            ("http://[::1]:80", "[::1]:80", "/"),
            (
                "https://a.b/.well-known/openid-configuration",
                "a.b",
                "/.well-known/openid-configuration",
            ),
        ];
        for (input, authority, target) in cases {
            let u = HttpUrl::parse(input);
            assert_eq!(
                u.as_ref().map(HttpUrl::authority),
                Ok(authority.to_owned()),
                "{input}"
            );
            assert_eq!(
                u.as_ref().map(HttpUrl::path_and_query),
                Ok(target.to_owned()),
                "{input}"
            );
        }
    }

    #[test]
    fn display_round_trips_without_fragment() {
        let u = HttpUrl::parse("HTTPS://A.b:8443/x?y#z");
        assert_eq!(
            u.map(|u| u.to_string()),
            Ok("https://a.b:8443/x?y".to_owned())
        );
    }

    #[test]
    fn remove_dot_segments_rfc3986_examples() {
        let cases = [
            // RFC 3986 §5.2.4 worked examples
            ("/a/b/c/./../../g", "/a/g"),
            ("mid/content=5/../6", "mid/6"),
            // §5.4 reference resolution results, as merged paths
            ("/b/c/./g", "/b/c/g"),
            ("/b/c/g/", "/b/c/g/"),
            ("/b/c/..", "/b/"),
            ("/b/c/../", "/b/"),
            ("/b/c/../g", "/b/g"),
            ("/b/c/../..", "/"),
            ("/b/c/../../g", "/g"),
            ("/b/c/../../../g", "/g"),
            ("/b/c/../../../../g", "/g"),
            ("/./g", "/g"),
            ("/b/c/g.", "/b/c/g."),
            ("/b/c/.g", "/b/c/.g"),
            ("/b/c/g..", "/b/c/g.."),
            ("/b/c/..g", "/b/c/..g"),
            ("/b/c/./../g", "/b/g"),
            ("/b/c/g/./h", "/b/c/g/h"),
            ("/b/c/g/../h", "/b/c/h"),
            // edges
            ("", ""),
            ("/", "/"),
            (".", ""),
            ("..", ""),
            ("../a", "a"),
            ("./a", "a"),
            ("/.", "/"),
            ("/..", "/"),
            ("//..", "/"),
            ("/a//../b", "/a/b"),
            ("/a/...", "/a/..."),
        ];
        for (input, want) in cases {
            assert_eq!(remove_dot_segments(input), want, "{input:?}");
        }
    }

    #[test]
    fn percent_normalisation() {
        let cases = [
            ("/%41%62%2D%2e%5F%7e", "/Ab-._~"),
            ("/%2f%5c%25%3b", "/%2F%5C%25%3B"),
            ("/%", "/%"),
            ("/%4", "/%4"),
            ("/%zz", "/%zz"),
            ("/é%41", "/éA"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_percent_encoding(input), want, "{input:?}");
        }
    }
}
