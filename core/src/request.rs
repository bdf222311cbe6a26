//! The parts of a request the decision reads, taken from the request's header lines as the
//! host lists them in one call, and owned so they outlive the headers callback while the
//! request waits for keys.

use crate::authorize::RequestView;

/// What the decision reads. `method`, `path` and `authority` are `None` until known: Envoy
/// lists the pseudo-headers with the header lines, nginx-based hosts do not, and the shell
/// asks for those by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnedRequest {
    pub method: Option<String>,
    pub path: Option<String>,
    /// `https` when the downstream connection uses TLS (asked of the host for DPoP requests
    /// only, where the proof's `htu` needs it), else `http`.
    pub scheme: &'static str,
    /// The client's `Host` header where the host keeps one (nginx-based hosts give
    /// `:authority` as their own `server_name:port`), else `:authority`.
    pub authority: Option<String>,
    /// Every `Authorization` line, joined by commas as Envoy joins repeated headers, so that
    /// several lines read as several credentials on every host.
    pub authorization: Option<String>,
    /// Every `DPoP` line.
    pub dpop: Vec<String>,
    /// `X-Forwarded-*` lines, kept only when the configuration trusts them.
    pub forwarded: Vec<(String, String)>,
    has_origin: bool,
    has_preflight_method: bool,
}

/// Header bytes are the client's: bytes that are not UTF-8 become U+FFFD, so such a value is
/// an invalid credential rather than a trap.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl OwnedRequest {
    /// Reads the lines the decision needs out of every request header line (names in any
    /// case; Envoy and nginx give them in lower case).
    pub fn from_lines<'a>(
        lines: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
        trust_forwarded: bool,
    ) -> OwnedRequest {
        let mut request = OwnedRequest {
            scheme: "http",
            ..OwnedRequest::default()
        };
        let mut pseudo_authority = None;
        let mut host_header = None;
        for (name, value) in lines {
            let is = |wanted: &str| name.eq_ignore_ascii_case(wanted.as_bytes());
            if is(":method") {
                request.method = Some(text(value));
            } else if is(":path") {
                request.path = Some(text(value));
            } else if is(":authority") {
                pseudo_authority = Some(text(value));
            } else if is("host") {
                host_header = Some(text(value));
            } else if is("authorization") {
                match &mut request.authorization {
                    Some(joined) => {
                        joined.push(',');
                        joined.push_str(&String::from_utf8_lossy(value));
                    }
                    None => request.authorization = Some(text(value)),
                }
            } else if is("dpop") {
                request.dpop.push(text(value));
            } else if is("origin") {
                request.has_origin = true;
            } else if is("access-control-request-method") {
                request.has_preflight_method = true;
            } else if trust_forwarded
                && name.len() > 12
                && name
                    .get(..12)
                    .is_some_and(|p| p.eq_ignore_ascii_case(b"x-forwarded-"))
            {
                request.forwarded.push((text(name), text(value)));
            }
        }
        request.authority = host_header.or(pseudo_authority);
        request
    }

    /// Whether the request carries a DPoP proof (and so needs the scheme for `htu`).
    pub fn has_dpop(&self) -> bool {
        !self.dpop.is_empty()
    }

    pub fn view(&self) -> RequestView<'_> {
        let method = self.method.as_deref().unwrap_or_default();
        RequestView {
            method,
            path: self.path.as_deref().unwrap_or_default(),
            scheme: self.scheme,
            authority: self.authority.as_deref().unwrap_or_default(),
            authorization: self.authorization.as_deref(),
            dpop: &self.dpop,
            forwarded: &self.forwarded,
            cors_preflight: method == "OPTIONS" && self.has_origin && self.has_preflight_method,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(lines: &[(&str, &str)], trust_forwarded: bool) -> OwnedRequest {
        OwnedRequest::from_lines(
            lines.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
            trust_forwarded,
        )
    }

    #[test]
    fn envoy_lists_pseudo_headers_with_the_lines() {
        let request = read(
            &[
                (":authority", "api.example.com"),
                (":path", "/orders?x=1"),
                (":method", "GET"),
                (":scheme", "https"),
                ("authorization", "Bearer abc"),
                ("x-request-id", "1"),
            ],
            false,
        );
        let view = request.view();
        assert_eq!(
            (view.method, view.path, view.authority, view.authorization),
            ("GET", "/orders?x=1", "api.example.com", Some("Bearer abc"))
        );
        // The scheme comes from the connection, never from a header.
        assert_eq!(view.scheme, "http");
        assert!(!request.has_dpop());
    }

    #[test]
    fn nginx_hosts_need_the_pseudo_headers_asked_for() {
        let request = read(&[("Host", "api.example.com"), ("DPoP", "a.b.c")], false);
        assert_eq!((&request.method, &request.path), (&None, &None));
        assert_eq!(request.authority.as_deref(), Some("api.example.com"));
        assert!(request.has_dpop());
        // The client's Host wins over the server's own name.
        let request = read(
            &[(":authority", "kong:8000"), ("host", "api.example.com")],
            false,
        );
        assert_eq!(request.authority.as_deref(), Some("api.example.com"));
        assert_eq!(read(&[], false).authority, None);
    }

    #[test]
    fn repeated_lines_are_all_kept() {
        let request = read(
            &[
                ("authorization", "Bearer a"),
                ("dpop", "p1"),
                ("Authorization", "Bearer b"),
                ("dpop", "p2"),
            ],
            false,
        );
        assert_eq!(request.authorization.as_deref(), Some("Bearer a,Bearer b"));
        assert_eq!(request.dpop, ["p1", "p2"]);
        assert_eq!(
            crate::extract::credentials(request.view().authorization),
            crate::extract::Credentials::Multiple
        );
    }

    #[test]
    fn forwarded_lines_only_when_trusted() {
        let lines = [
            ("x-forwarded-proto", "https"),
            ("X-Forwarded-Host", "api.example.com"),
            ("x-forwarded-", "short"),
            ("x-forwardedness", "no"),
        ];
        assert!(read(&lines, false).forwarded.is_empty());
        assert_eq!(
            read(&lines, true).forwarded,
            [
                ("x-forwarded-proto".to_string(), "https".to_string()),
                (
                    "X-Forwarded-Host".to_string(),
                    "api.example.com".to_string()
                )
            ]
        );
    }

    #[test]
    fn cors_preflight_needs_options_origin_and_the_requested_method() {
        let preflight = |method: &str, origin: bool| {
            let mut lines = vec![
                (":method", method),
                ("access-control-request-method", "GET"),
            ];
            if origin {
                lines.push(("origin", "https://app.example.com"));
            }
            read(&lines, false).view().cors_preflight
        };
        assert!(preflight("OPTIONS", true));
        assert!(!preflight("OPTIONS", false));
        assert!(!preflight("GET", true));
    }

    #[test]
    fn bytes_that_are_not_utf8_do_not_trap() {
        let request =
            OwnedRequest::from_lines([(&b"authorization"[..], &b"Bearer \xff\xfe"[..])], false);
        assert_eq!(
            request.authorization.as_deref(),
            Some("Bearer \u{fffd}\u{fffd}")
        );
    }
}
