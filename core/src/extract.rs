//! Where the credentials are: the `Authorization` header (RFC 6750 §2.1, RFC 9449 §7.1) and
//! the `DPoP` proof header (RFC 9449 §4.1).
//!
//! Envoy joins repeated request headers into one value separated by commas, and neither a
//! token68 nor a compact JWS contains a comma, so a comma always means several headers.

/// What the `Authorization` header holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials<'a> {
    /// No header, an empty one, a scheme without credentials, or a scheme other than
    /// `Bearer`/`DPoP` (such as `Basic`): the request did not try to use a token.
    Missing,
    Bearer(&'a str),
    DPoP(&'a str),
    /// Several `Authorization` headers.
    Multiple,
}

/// HTTP optional whitespace (RFC 9110 §5.6.3).
fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// The scheme is matched case-insensitively (RFC 9110 §11.1) and may be followed by any
/// number of spaces or tabs. The credentials are returned as sent; their syntax is the
/// token parser's business, so a malformed token is an invalid token, not a missing one.
pub fn credentials(authorization: Option<&str>) -> Credentials<'_> {
    let Some(value) = authorization else {
        return Credentials::Missing;
    };
    if value.contains(',') {
        return Credentials::Multiple;
    }
    let value = value.trim_matches(is_ows);
    let Some((scheme, rest)) = value.split_once(is_ows) else {
        return Credentials::Missing;
    };
    let token = rest.trim_start_matches(is_ows);
    if scheme.eq_ignore_ascii_case("bearer") {
        Credentials::Bearer(token)
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Credentials::DPoP(token)
    } else {
        Credentials::Missing
    }
}

/// What the `DPoP` request headers hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpopHeader<'a> {
    /// No `DPoP` header, or only an empty one.
    Absent,
    One(&'a str),
    /// Several header lines, or one value with a comma.
    Multiple,
}

/// `values` holds every `DPoP` header line of the request, as the host reports them.
pub fn dpop_proof<'a>(values: &[&'a str]) -> DpopHeader<'a> {
    match values {
        [] => DpopHeader::Absent,
        [one] => {
            let proof = one.trim_matches(is_ows);
            if proof.contains(',') {
                DpopHeader::Multiple
            } else if proof.is_empty() {
                DpopHeader::Absent
            } else {
                DpopHeader::One(proof)
            }
        }
        _ => DpopHeader::Multiple,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_values() {
        let cases = [
            (None, Credentials::Missing),
            (Some(""), Credentials::Missing),
            (Some("   "), Credentials::Missing),
            (Some("Bearer"), Credentials::Missing),
            (Some("Bearer "), Credentials::Missing),
            (Some("Bearer \t "), Credentials::Missing),
            (Some("DPoP"), Credentials::Missing),
            (Some("Basic dXNlcjpwYXNz"), Credentials::Missing),
            (Some("Token abc"), Credentials::Missing),
            (Some("Bearerabc"), Credentials::Missing),
            (Some("abc.def.ghi"), Credentials::Missing),
            (
                Some("Bearer abc.def.ghi"),
                Credentials::Bearer("abc.def.ghi"),
            ),
            (Some("bearer abc"), Credentials::Bearer("abc")),
            (Some("BEARER abc"), Credentials::Bearer("abc")),
            (Some("bEaReR abc"), Credentials::Bearer("abc")),
            (Some("Bearer    abc"), Credentials::Bearer("abc")),
            (Some("Bearer\tabc"), Credentials::Bearer("abc")),
            (Some("Bearer \t abc"), Credentials::Bearer("abc")),
            (Some("  Bearer abc  "), Credentials::Bearer("abc")),
            (Some("\tBearer abc\t"), Credentials::Bearer("abc")),
            (Some("Bearer abc def"), Credentials::Bearer("abc def")),
            (Some("DPoP abc"), Credentials::DPoP("abc")),
            (Some("dpop abc"), Credentials::DPoP("abc")),
            (Some("DPOP\t\tabc"), Credentials::DPoP("abc")),
            (Some("Bearer a,Bearer b"), Credentials::Multiple),
            (Some("Bearer a, DPoP b"), Credentials::Multiple),
            (Some(","), Credentials::Multiple),
            (Some("Basic a,b"), Credentials::Multiple),
            (Some("Bearer abc,"), Credentials::Multiple),
        ];
        for (value, want) in cases {
            assert_eq!(credentials(value), want, "{value:?}");
        }
    }

    #[test]
    fn dpop_header_values() {
        let cases: [(&[&str], DpopHeader<'_>); 9] = [
            (&[], DpopHeader::Absent),
            (&[""], DpopHeader::Absent),
            (&[" \t"], DpopHeader::Absent),
            (&["a.b.c"], DpopHeader::One("a.b.c")),
            (&[" a.b.c "], DpopHeader::One("a.b.c")),
            (&["a.b.c,d.e.f"], DpopHeader::Multiple),
            (&[","], DpopHeader::Multiple),
            (&["a.b.c", "d.e.f"], DpopHeader::Multiple),
            (&["a.b.c", ""], DpopHeader::Multiple),
        ];
        for (values, want) in cases {
            assert_eq!(dpop_proof(values), want, "{values:?}");
        }
    }
}
