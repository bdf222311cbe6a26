//! OpenID Provider discovery (OpenID Connect Discovery 1.0 §4): the document must name the
//! configured issuer exactly (§4.3), and its `jwks_uri` tells where the keys are.

use crate::json;
use crate::url::HttpUrl;
use serde_json::Value;
use std::fmt;

/// Discovery documents are small; anything larger is refused before parsing.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryError {
    TooLarge,
    NotJson,
    IssuerMismatch,
    MissingJwksUri,
    BadJwksUri,
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DiscoveryError::TooLarge => "discovery document is too large",
            DiscoveryError::NotJson => "discovery document is not a JSON object",
            DiscoveryError::IssuerMismatch => "discovery document names another issuer",
            DiscoveryError::MissingJwksUri => "discovery document has no jwks_uri",
            DiscoveryError::BadJwksUri => {
                "discovery document's jwks_uri is not an absolute http(s) URL"
            }
        })
    }
}

/// Returns the `jwks_uri` of a discovery document published by `expected_issuer`.
pub fn jwks_uri(document: &[u8], expected_issuer: &str) -> Result<HttpUrl, DiscoveryError> {
    if document.len() > MAX_DOCUMENT_BYTES {
        return Err(DiscoveryError::TooLarge);
    }
    let doc = json::parse_object(document).map_err(|_| DiscoveryError::NotJson)?;
    if doc.get("issuer").and_then(Value::as_str) != Some(expected_issuer) {
        return Err(DiscoveryError::IssuerMismatch);
    }
    let uri = doc
        .get("jwks_uri")
        .and_then(Value::as_str)
        .ok_or(DiscoveryError::MissingJwksUri)?;
    HttpUrl::parse(uri).map_err(|_| DiscoveryError::BadJwksUri)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUER: &str = "https://tenant.example.com/";

    #[test]
    fn returns_jwks_uri_of_matching_issuer() {
        let doc = br#"{"issuer":"https://tenant.example.com/","jwks_uri":"https://keys.example.com/jwks.json"}"#;
        let url = jwks_uri(doc, ISSUER).map(|u| u.normalized());
        assert_eq!(url, Ok("https://keys.example.com/jwks.json".to_owned()));
    }

    #[test]
    fn refuses_other_issuer_even_without_trailing_slash() {
        for issuer in [
            "https://tenant.example.com",
            "https://evil.example.com/",
            "",
        ] {
            let doc = format!(r#"{{"issuer":"{issuer}","jwks_uri":"https://k.example.com/j"}}"#);
            assert_eq!(
                jwks_uri(doc.as_bytes(), ISSUER).err(),
                Some(DiscoveryError::IssuerMismatch)
            );
        }
    }

    #[test]
    fn refuses_bad_documents() {
        let cases: [(&[u8], DiscoveryError); 4] = [
            (b"[]", DiscoveryError::NotJson),
            (br#"{"issuer":"https://tenant.example.com/"}"#, DiscoveryError::MissingJwksUri),
            (br#"{"issuer":"https://tenant.example.com/","jwks_uri":"/relative"}"#, DiscoveryError::BadJwksUri),
            (br#"{"issuer":"https://tenant.example.com/","issuer":"https://tenant.example.com/","jwks_uri":"https://a/b"}"#, DiscoveryError::NotJson),
        ];
        for (doc, want) in cases {
            assert_eq!(jwks_uri(doc, ISSUER).err(), Some(want));
        }
        let big = vec![b' '; MAX_DOCUMENT_BYTES + 1];
        assert_eq!(jwks_uri(&big, ISSUER).err(), Some(DiscoveryError::TooLarge));
    }
}
